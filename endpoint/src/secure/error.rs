//! What can go wrong sealing or opening secure params; `api::error` maps each variant to
//! the status a client hears (and, where one object is at fault, names it).

use crate::node::NodeError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SecureError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Creating the cluster's key went through the write path, which failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The key was committed but has not reached this member yet.
    #[error("the secure-params key is not committed yet")]
    KeyNotCommitted,
    /// A client's sealed value does not open with the object's public key.
    #[error(
        "param {name}: the sealed value does not open with the public key of {collection}/{key} \
         (GET /api/v3/{collection}/{key}/pubkey gives it)"
    )]
    ClientBox {
        name: String,
        collection: String,
        key: String,
    },
    /// A JSON Patch reaching inside a sealed param.
    #[error("secure param {name} is sealed: replace it whole, not {path}")]
    InsideSealed { name: String, path: String },
    /// The caller may not read the object's secure params in the clear.
    #[error("{user} has no role with a claim allowing {need}; secure params stay sealed")]
    Forbidden {
        user: String,
        need: String,
        scope: String,
        key: String,
    },
    /// A corrupt key or sealed value, or a cipher failure: the server's fault.
    #[error("{0}")]
    Internal(String),
}

impl SecureError {
    pub fn status(&self) -> u16 {
        match self {
            SecureError::Node(e) => e.status(),
            SecureError::KeyNotCommitted => 503,
            SecureError::ClientBox { .. } | SecureError::InsideSealed { .. } => 422,
            SecureError::Forbidden { .. } => 403,
            SecureError::Store(_) | SecureError::Internal(_) => 500,
        }
    }

    /// The object at fault, as DRP's error body names it (`Model`, `Key`).
    pub fn object(&self) -> Option<(&str, &str)> {
        match self {
            SecureError::ClientBox {
                collection, key, ..
            } => Some((collection, key)),
            SecureError::Forbidden { scope, key, .. } => Some((scope, key)),
            _ => None,
        }
    }
}
