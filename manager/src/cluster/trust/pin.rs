//! A certificate pinned on first use, as the registry keeps it.

use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};

use super::cert::{fingerprint, pem, subject};
use super::{parse_pem, Anchor, AnchoredVerifier, Untrusted};

/// A pinned certificate, as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub pem: String,
    pub sha256: String,
    pub subject: String,
    /// The member URL it was learnt from.
    pub url: String,
    /// Unix seconds.
    pub pinned_at: u64,
}

impl Pin {
    pub fn new(cert: &CertificateDer<'_>, url: &str) -> Self {
        Self {
            pem: pem(cert),
            sha256: fingerprint(cert),
            subject: subject(cert),
            url: url.to_owned(),
            pinned_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    pub fn anchor(&self) -> Anchor {
        match parse_pem(&self.pem) {
            Ok(mut c) if c.len() == 1 => Anchor::Pinned(c.remove(0)),
            Ok(_) => Anchor::Invalid("the stored pin holds several certificates".into()),
            Err(e) => Anchor::Invalid(format!("the stored pin {e}")),
        }
    }
}

/// The pin a captured chain gives: its last certificate, provided the chain verifies to it.
pub fn pin_from_chain(chain: &[CertificateDer<'_>], url: &str) -> Result<Pin, Untrusted> {
    let (Some(first), Some(last)) = (chain.first(), chain.last()) else {
        return Err(Untrusted(format!("{url} presented no certificate")));
    };
    let last = last.clone().into_owned();
    let pin = Pin::new(&last, url);
    AnchoredVerifier::new(Anchor::Pinned(last))
        .check(first, &chain[1..], UnixTime::now())
        .map_err(|e| Untrusted(format!("cannot pin the certificate {url} presents: {e}")))?;
    Ok(pin)
}
