//! Why `serve` could not start (or stopped early): each variant names the step, its cause
//! follows as the error's source. Only `main` turns it into a process exit.

use std::io;

use crate::auth::password::HashError;
use crate::backup::BackupError;
use crate::metrics::http::BindError;
use crate::node::NodeError;
use crate::raft::runtime::RuntimeError;
use crate::raft::RaftFailure;
use crate::store::StoreError;
use crate::tls::{CertError, ObtainError};

/// A start-up step that failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A flag contradicts another or the data dir (the text says which and how).
    #[error("{0}")]
    Config(String),
    /// A file, a directory or a socket (`what` names the step and the path or address).
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{what}")]
    Store {
        what: &'static str,
        #[source]
        source: StoreError,
    },
    /// Making, loading or saving this member's certificates.
    #[error("{what}")]
    Cert {
        what: &'static str,
        #[source]
        source: CertError,
    },
    /// Something the data dir should hold and does not (the text says what to do).
    #[error("{0}")]
    Missing(&'static str),
    #[error("obtaining a member certificate through --join")]
    Join(#[source] ObtainError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Raft(#[from] RaftFailure),
    #[error("hashing the admin password")]
    Hash(#[source] HashError),
    #[error("seeding the cluster")]
    Seed(#[source] NodeError),
    #[error("finishing the restore")]
    Restore(#[source] BackupError),
    #[error(transparent)]
    Metrics(#[from] BindError),
    /// A start-up step run off the async workers panicked.
    #[error("a blocking start-up task failed")]
    Task(#[source] tokio::task::JoinError),
}

impl ServeError {
    /// An I/O step that failed: `what` says which, with its path or address.
    pub(super) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> ServeError {
        let what = what.into();
        move |source| ServeError::Io { what, source }
    }

    /// A certificate step that failed.
    pub(super) fn cert(what: &'static str) -> impl FnOnce(CertError) -> ServeError {
        move |source| ServeError::Cert { what, source }
    }
}
