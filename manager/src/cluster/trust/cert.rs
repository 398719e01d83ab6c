//! A certificate in words: its fingerprint, subject and PEM text.

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of a certificate.
pub fn fingerprint(cert: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(cert)))
}

pub(super) fn short(cert: &[u8]) -> String {
    let f = fingerprint(cert);
    f[..f.len().min(23)].to_owned()
}

/// The subject of a certificate, for messages.
pub fn subject(cert: &[u8]) -> String {
    x509_parser::parse_x509_certificate(cert)
        .map(|(_, c)| c.subject().to_string())
        .unwrap_or_else(|_| "?".into())
}

pub(super) fn pem(cert: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(cert);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}
