//! Reading a failed request: was it the certificate that was refused?

use std::sync::Arc;

use rustls::{CertificateError, Error as TlsError, OtherError};

/// Why a cluster's certificate was refused (carried through rustls and reqwest errors).
#[derive(Debug, Clone)]
pub struct Untrusted(pub String);

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Untrusted {}

impl From<String> for Untrusted {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for Untrusted {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

pub(super) fn reject(why: Untrusted) -> TlsError {
    TlsError::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(why))))
}

fn untrusted_in(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(u) = e.downcast_ref::<Untrusted>() {
        return Some(u.0.clone());
    }
    match e.downcast_ref::<TlsError>()? {
        TlsError::InvalidCertificate(CertificateError::Other(o)) => {
            o.0.downcast_ref::<Untrusted>().map(|u| u.0.clone())
        }
        _ => None,
    }
}

/// The certificate refusal behind a failed request, if that is what failed it.
pub fn untrusted(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(m) = untrusted_in(e) {
            return Some(m);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            let inner: &(dyn std::error::Error + 'static) = inner;
            if let Some(m) = untrusted(inner) {
                return Some(m);
            }
        }
        cur = e.source();
    }
    None
}

/// A failed request in words: the certificate refusal, or the error and its causes.
pub fn describe(err: &reqwest::Error) -> String {
    if let Some(m) = untrusted(err) {
        return m;
    }
    let mut out = err.to_string();
    let mut cur = std::error::Error::source(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}
