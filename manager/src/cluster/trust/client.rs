//! HTTP clients whose TLS verifies to a cluster's anchor (or captures, on first use).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;

use super::anchor::{provider, Anchor};
use super::{AnchoredVerifier, Capture};

/// Why an HTTP client for a cluster could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A reqwest client builder whose TLS is `verifier` (rustls, ring).
pub fn client_builder(
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<reqwest::ClientBuilder, ClientError> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(reqwest::Client::builder().use_preconfigured_tls(config))
}

/// The client for every call to a cluster whose certificates must verify to `anchor`.
pub fn cluster_client(anchor: &Anchor) -> Result<reqwest::Client, ClientError> {
    Ok(
        client_builder(Arc::new(AnchoredVerifier::new(anchor.clone())))?
            .connect_timeout(Duration::from_millis(700))
            .pool_idle_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(60))
            .build()?,
    )
}

/// A one-connection client recording the chain its server presents.
pub fn capture_client() -> Result<(reqwest::Client, Arc<Capture>), ClientError> {
    let capture = Arc::new(Capture {
        seen: Mutex::new(None),
        provider: provider(),
    });
    let client = client_builder(capture.clone())?
        .connect_timeout(Duration::from_millis(700))
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()?;
    Ok((client, capture))
}
