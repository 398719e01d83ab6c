//! Which certificates the manager accepts from a cluster's members.
//!
//! * `Params["manager/ca"]` (PEM, one or more certificates): every member's chain must verify to
//!   one of them.
//! * Otherwise trust on first use: when the endpoint is registered (POST/PUT), or at the first
//!   successful connection (endpoints from git, clusters down at registration, registries from
//!   before pinning), the manager records the chain the cluster presents and pins its LAST
//!   certificate (the cluster CA for a default drp-endpoint, the certificate itself for a single
//!   self-signed one). The pin lives in the registry, never in `Params`. Later chains must verify
//!   to it; a different certificate is refused ([`Untrusted`]) and never re-pinned silently.
//! * Host names are not checked: members are reached by addresses their (shared) certificate
//!   does not name. Everything else is: chain, signatures, validity, key usage, and the TLS
//!   handshake signature, all with the ring provider's algorithms.
//! * `http://` members (`drp-endpoint --no-tls`) have nothing to verify.

/// `ServerCertVerifier` for `$verifier`, whose `$verdict(end_entity, intermediates, now)`
/// decides on the chain. The handshake signature is checked the same way for every verifier
/// here, with the ring provider's algorithms (`self.provider`), so a server does hold the key
/// of the certificate it presents.
macro_rules! server_cert_verifier {
    ($verifier:ty, $verdict:ident) => {
        impl rustls::client::danger::ServerCertVerifier for $verifier {
            fn verify_server_cert(
                &self,
                end_entity: &rustls_pki_types::CertificateDer<'_>,
                intermediates: &[rustls_pki_types::CertificateDer<'_>],
                _server_name: &rustls_pki_types::ServerName<'_>,
                _ocsp_response: &[u8],
                now: rustls_pki_types::UnixTime,
            ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
                self.$verdict(end_entity, intermediates, now)
            }

            fn verify_tls12_signature(
                &self,
                message: &[u8],
                cert: &rustls_pki_types::CertificateDer<'_>,
                dss: &rustls::DigitallySignedStruct,
            ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
                rustls::crypto::verify_tls12_signature(
                    message,
                    cert,
                    dss,
                    &self.provider.signature_verification_algorithms,
                )
            }

            fn verify_tls13_signature(
                &self,
                message: &[u8],
                cert: &rustls_pki_types::CertificateDer<'_>,
                dss: &rustls::DigitallySignedStruct,
            ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
                rustls::crypto::verify_tls13_signature(
                    message,
                    cert,
                    dss,
                    &self.provider.signature_verification_algorithms,
                )
            }

            fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
                self.provider
                    .signature_verification_algorithms
                    .supported_schemes()
            }
        }
    };
}
use server_cert_verifier;

mod anchor;
mod capture;
mod cert;
mod client;
mod learn;
mod pin;
mod refusal;
#[cfg(test)]
mod tests;
mod verifier;

pub use anchor::{anchor_from_param, parse_pem, provider, Anchor, PemError, CA_PARAM};
pub use capture::Capture;
pub use cert::{fingerprint, subject};
pub use client::{capture_client, client_builder, cluster_client, ClientError};
pub use learn::{first_use, is_https, learn, LearnError};
pub use pin::{pin_from_chain, Pin};
pub use refusal::{describe, untrusted, Untrusted};
pub use verifier::AnchoredVerifier;
