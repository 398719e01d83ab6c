//! What can go wrong issuing, storing or rotating certificates; `api::error` maps each
//! variant to the status a client hears.

/// A certificate operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The cluster CA has not reached this member yet (it arrives with the first snapshot
    /// or log entry after joining).
    #[error("this member has not received the cluster CA yet")]
    NoCa,
    /// A replicated `{CertPem, KeyPem}` object is missing a field.
    #[error("stored {0} is malformed")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Issuing, loading or saving a certificate failed on this member.
    #[error("{0}")]
    Internal(String),
    /// Committing the new certificate was refused or did not happen: the write path's status
    /// and message, passed through unchanged.
    #[error("{message}")]
    Refused { status: u16, message: String },
}
