//! What a cluster's certificate chain must verify to: `manager/ca`, or the pinned certificate.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::cert::fingerprint;

/// The endpoint param holding the CA certificate(s) to verify a cluster against.
pub const CA_PARAM: &str = "manager/ca";

/// The ring provider, shared.
pub fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// What a cluster's certificate chain must verify to.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Anchor {
    /// Nothing yet: https calls are refused until a certificate is pinned.
    #[default]
    Unpinned,
    /// `manager/ca`.
    Given(Vec<CertificateDer<'static>>),
    /// Pinned on first use.
    Pinned(CertificateDer<'static>),
    /// `manager/ca` (or the stored pin) cannot be used; every https call is refused with this.
    Invalid(String),
}

impl std::fmt::Debug for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unpinned => f.write_str("Unpinned"),
            Self::Given(c) => write!(
                f,
                "Given({:?})",
                c.iter().map(|c| fingerprint(c)).collect::<Vec<_>>()
            ),
            Self::Pinned(c) => write!(f, "Pinned({})", fingerprint(c)),
            Self::Invalid(m) => write!(f, "Invalid({m})"),
        }
    }
}

/// Why a PEM text gives no trust anchor (the messages follow what is wrong with the text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error("not PEM certificates: {0}")]
    NotPem(String),
    #[error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty,
    #[error("a certificate cannot be a trust anchor: {0}")]
    NotAnAnchor(String),
}

/// The certificates of a PEM text (at least one).
pub fn parse_pem(text: &str) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::NotPem(e.to_string()))?;
    if certs.is_empty() {
        return Err(PemError::Empty);
    }
    let mut roots = RootCertStore::empty();
    for c in &certs {
        roots
            .add(c.clone())
            .map_err(|e| PemError::NotAnAnchor(e.to_string()))?;
    }
    Ok(certs)
}

/// The anchor `manager/ca` describes (a PEM string, or a list of them).
pub fn anchor_from_param(value: &serde_json::Value) -> Anchor {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => return Anchor::Invalid(format!("{CA_PARAM} must be PEM text")),
    };
    match parse_pem(&text) {
        Ok(certs) => Anchor::Given(certs),
        Err(e) => Anchor::Invalid(format!("{CA_PARAM} {e}")),
    }
}
