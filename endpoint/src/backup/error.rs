//! Why `snapshot save` or `snapshot restore` stopped. Each variant names the step (and the
//! file or URL); the cause is part of the text, as the command prints it.

use std::path::PathBuf;

use super::format::FormatError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A flag or argument that cannot be used; the text names it.
    #[error("{0}")]
    Usage(String),
    /// The backup file is not one that can be restored.
    #[error("refusing {}: {why}", .file.display())]
    Refused { file: PathBuf, why: FormatError },
    #[error("the downloaded snapshot is bad: {0}")]
    BadDownload(FormatError),
    /// A file step; `what` names it and the path.
    #[error("{what}: {why}")]
    File { what: String, why: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An HTTP step; `what` names it (and the URL).
    #[error("{what}: {why}")]
    Http { what: String, why: reqwest::Error },
    #[error("GET {url}: {status}: {body}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("the download ended after {written} of {total} bytes")]
    ShortDownload { written: u64, total: u64 },
    /// A step on the restored object store; `what` names it.
    #[error("{what}: {why}")]
    Store { what: &'static str, why: StoreError },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    #[error("making the restored store a Raft snapshot: {0}")]
    Snapshot(String),
}

impl BackupError {
    /// `map_err` for a file step; `what` names it and the path.
    pub fn file(what: String) -> impl FnOnce(std::io::Error) -> Self {
        move |why| BackupError::File { what, why }
    }

    /// `map_err` for an HTTP step; `what` names it.
    pub fn http(what: String) -> impl FnOnce(reqwest::Error) -> Self {
        move |why| BackupError::Http { what, why }
    }

    /// `map_err` for a store step; `what` names it.
    pub fn store(what: &'static str) -> impl FnOnce(StoreError) -> Self {
        move |why| BackupError::Store { what, why }
    }
}
