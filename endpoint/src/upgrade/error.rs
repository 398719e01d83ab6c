//! Why an upgrade call was refused or failed; `api::upgrade` turns it into an HTTP status.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeError {
    /// The request itself is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// Another upgrade step runs, nothing is staged, or the cluster is not ready (409).
    #[error("{0}")]
    Conflict(String),
    /// The binary is larger than the limit, in bytes (413).
    #[error("the binary is larger than the upgrade limit of {} MiB", .0 >> 20)]
    TooLarge(u64),
    /// The binary was checked and refused: sha256, `--version` or the preflight (422).
    #[error("{0}")]
    Refused(String),
    /// This member could not do it (500).
    #[error("{0}")]
    Internal(String),
}

impl UpgradeError {
    pub fn bad_request(why: impl Into<String>) -> Self {
        UpgradeError::BadRequest(why.into())
    }
    pub fn conflict(why: impl Into<String>) -> Self {
        UpgradeError::Conflict(why.into())
    }
    pub fn refused(why: impl Into<String>) -> Self {
        UpgradeError::Refused(why.into())
    }
    pub fn internal(why: impl Into<String>) -> Self {
        UpgradeError::Internal(why.into())
    }

    pub fn status(&self) -> u16 {
        match self {
            UpgradeError::BadRequest(_) => 400,
            UpgradeError::Conflict(_) => 409,
            UpgradeError::TooLarge(_) => 413,
            UpgradeError::Refused(_) => 422,
            UpgradeError::Internal(_) => 500,
        }
    }
}
