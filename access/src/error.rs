//! Why a caller was not authenticated or a token not issued. The messages are what a client
//! reads in a 401, so each names the problem without saying which part of a credential was
//! right.

/// An authentication failure.
#[allow(missing_docs)] // each variant's message says it
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("malformed Basic credentials")]
    MalformedBasic,
    #[error("invalid username or password")]
    BadPassword,
    #[error("unsupported Authorization scheme (use Basic or Bearer)")]
    UnsupportedScheme,
    #[error("malformed token")]
    MalformedToken,
    #[error("invalid token")]
    BadToken,
    #[error("token expired")]
    Expired,
    #[error("token machine no longer exists")]
    MachineGone,
    #[error("token user no longer exists")]
    UserGone,
    /// The token secret has not been created (or has not arrived) yet.
    #[error("tokens are not set up")]
    NotSetUp,
    #[error("token secret is corrupt")]
    CorruptSecret,
    /// A MAC or encoding failure: a bug, not the caller's fault.
    #[error("{0}")]
    Internal(String),
}
