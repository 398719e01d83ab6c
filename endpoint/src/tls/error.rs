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

/// Making, reading or writing this member's own certificates and keys failed. Each variant
/// names the step; the cause is part of the text, so one line says what failed and why.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused a step: generating a key, building or signing a certificate.
    #[error("{what}: {why}")]
    Rcgen {
        what: &'static str,
        why: rcgen::Error,
    },
    #[error("Csr is not a PEM certificate signing request: {0}")]
    Csr(rcgen::Error),
    #[error("{host:?} is not a DNS name: {why}")]
    DnsName { host: String, why: rcgen::Error },
    #[error("bad {what} PEM: {why}")]
    Pem {
        what: &'static str,
        why: rustls_pki_types::pem::Error,
    },
    #[error("no certificate in PEM")]
    NoCertificate,
    /// rustls refused the material: protocol versions, a CA, a key that does not match.
    #[error("{what}: {why}")]
    Rustls {
        what: &'static str,
        why: rustls::Error,
    },
    #[error("building the member certificate verifier: {0}")]
    Verifier(rustls::server::VerifierBuilderError),
    /// A file step; `what` names it and the path.
    #[error("{what}: {why}")]
    File { what: String, why: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl CertError {
    /// `map_err` for an rcgen step named `what`.
    pub fn rcgen(what: &'static str) -> impl FnOnce(rcgen::Error) -> Self {
        move |why| CertError::Rcgen { what, why }
    }

    /// `map_err` for a rustls step named `what`.
    pub fn rustls(what: &'static str) -> impl FnOnce(rustls::Error) -> Self {
        move |why| CertError::Rustls { what, why }
    }

    /// `map_err` for a file step; `what` names it and the path.
    pub fn file(what: String) -> impl FnOnce(std::io::Error) -> Self {
        move |why| CertError::File { what, why }
    }
}

/// Why a new API certificate was not put in service (logged once; the old one keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum ApiCertError {
    #[error("reading the replicated API certificate: {0}")]
    Stored(TlsError),
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    #[error("poisoned")]
    Poisoned,
}

/// Why `--join` could not get its certificates (the members are asked until one answers, so
/// these are the failures that no retry mends).
#[derive(Debug, thiserror::Error)]
pub enum ObtainError {
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error("building the HTTP client for --join: {0}")]
    Client(reqwest::Error),
    #[error("{url} sent a malformed certificate reply: {why}")]
    Malformed { url: String, why: reqwest::Error },
}
