//! The harness's own TLS: one test CA per process and an API certificate for loopback, given
//! to every node the harness starts (`--tls-cert/--tls-key`), and trusted by [`crate::http::Http`].
//! Certificates are verified as a real client would; nothing is disabled. (The cluster's own
//! generated certificates are covered by `tests/tests/security.rs`.)

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

pub struct TestTls {
    pub ca_pem: String,
    /// Leaf followed by the CA, as a server presents it.
    pub chain_pem: String,
    pub key_pem: String,
    ca_key_pem: String,
}

pub fn test_tls() -> &'static TestTls {
    static TLS: OnceLock<TestTls> = OnceLock::new();
    TLS.get_or_init(|| generate().expect("generating the harness's test certificates"))
}

fn generate() -> Result<TestTls> {
    let (ca_cert, ca_key) = new_ca("drp test harness CA")?;
    let (chain_pem, key_pem) = leaf_from(&ca_cert, &ca_key, &ca_cert.pem())?;
    Ok(TestTls {
        ca_pem: ca_cert.pem(),
        chain_pem,
        key_pem,
        ca_key_pem: ca_key.serialize_pem(),
    })
}

/// A new self-signed CA named `name` that signs leaves only (path length 0), with its key.
pub fn new_ca(name: &str) -> Result<(Certificate, KeyPair)> {
    let key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let cert = ca.self_signed(&key)?;
    Ok((cert, key))
}

/// A new certificate for `localhost` and 127.0.0.1 signed by `ca`, valid for `usages` (a
/// server's, or also a client's where peers authenticate each other): (leaf PEM, key PEM).
pub fn loopback_leaf(
    ca: &Certificate,
    ca_key: &KeyPair,
    usages: &[ExtendedKeyUsagePurpose],
) -> Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()])?;
    leaf.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse()?));
    leaf.extended_key_usages = usages.to_vec();
    let leaf = leaf.signed_by(&key, ca, ca_key)?;
    Ok((leaf.pem(), key.serialize_pem()))
}

/// A new loopback API certificate (chain ending in `ca_pem`, key) from `ca`.
fn leaf_from(ca: &Certificate, ca_key: &KeyPair, ca_pem: &str) -> Result<(String, String)> {
    let (leaf, key) = loopback_leaf(ca, ca_key, &[ExtendedKeyUsagePurpose::ServerAuth])?;
    Ok((format!("{leaf}{ca_pem}"), key))
}

/// Another API certificate from the test CA (a renewal): (chain, key).
pub fn renewed_api_cert() -> Result<(String, String)> {
    let tls = test_tls();
    let ca_key = KeyPair::from_pem(&tls.ca_key_pem)?;
    // Rebuilt from the CA's PEM and key: same subject and key, so the leaf chains to the CA
    // clients already trust.
    let ca = CertificateParams::from_ca_cert_pem(&tls.ca_pem)?.self_signed(&ca_key)?;
    leaf_from(&ca, &ca_key, &tls.ca_pem)
}

/// Writes the API certificate and key into `dir`; returns (cert, key) paths.
pub fn write_api_cert(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let tls = test_tls();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (cert, key) = (dir.join("api-cert.pem"), dir.join("api-key.pem"));
    std::fs::write(&cert, &tls.chain_pem).with_context(|| format!("writing {}", cert.display()))?;
    std::fs::write(&key, &tls.key_pem).with_context(|| format!("writing {}", key.display()))?;
    Ok((cert, key))
}
