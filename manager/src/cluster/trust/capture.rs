//! First use: a verifier that records the chain a server presents.

use std::sync::{Arc, Mutex};

use rustls::client::danger::ServerCertVerified;
use rustls::crypto::CryptoProvider;
use rustls::Error as TlsError;
use rustls_pki_types::{CertificateDer, UnixTime};

/// Records the chain a server presents and accepts it (first use only). The handshake
/// signature is still verified, so the server does hold the presented certificate's key.
#[derive(Debug)]
pub struct Capture {
    pub(super) seen: Mutex<Option<Vec<CertificateDer<'static>>>>,
    pub(super) provider: Arc<CryptoProvider>,
}

impl Capture {
    /// The chain presented, end-entity first.
    pub fn chain(&self) -> Option<Vec<CertificateDer<'static>>> {
        self.seen.lock().ok()?.clone()
    }
}

impl Capture {
    /// Keeps the chain and accepts it: on first use there is nothing to verify it against yet.
    fn record(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(chain);
        }
        Ok(ServerCertVerified::assertion())
    }
}

super::server_cert_verifier!(Capture, record);
