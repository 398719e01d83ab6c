//! Certificate pairs kept in the replicated `_system` collection (the cluster CA and the
//! cluster-issued API certificate).

use super::{Pair, TlsError};
use crate::auth::token::SECRET_COLLECTION;
use crate::store::ObjectStore;

/// A stored `{CertPem, KeyPem}` object from the `_system` collection.
pub fn stored_pair(store: &ObjectStore, key: &str) -> Result<Option<Pair>, TlsError> {
    let Some(v) = store.get(SECRET_COLLECTION, key)? else {
        return Ok(None);
    };
    let field = |name: &str| v.get(name).and_then(|s| s.as_str()).map(str::to_string);
    match (field("CertPem"), field("KeyPem")) {
        (Some(cert_pem), Some(key_pem)) => Ok(Some(Pair { cert_pem, key_pem })),
        _ => Err(TlsError::Malformed(key.to_string())),
    }
}
