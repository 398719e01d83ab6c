//! The bench's own CA and certificate for etcd over TLS. The harness's test certificate is a
//! server certificate only, while etcd's members also present theirs to each other as client
//! certificates (`--peer-trusted-ca-file` verifies them: mutual TLS between members, as ours
//! have), so etcd gets a loopback certificate valid for both. The bench's HTTP client trusts
//! this CA beside the harness's.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use rcgen::ExtendedKeyUsagePurpose;

use crate::tls::{loopback_leaf, new_ca};

/// A CA (PEM) and one leaf it signed, with the leaf's key.
pub struct EtcdTls {
    /// The CA clients trust.
    pub ca_pem: String,
    /// The leaf, for `localhost` and 127.0.0.1, server and client use.
    pub cert_pem: String,
    /// The leaf's private key.
    pub key_pem: String,
}

/// The certificate files of one etcd cluster.
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// This process's etcd CA and certificate, made once.
pub fn etcd_tls() -> Result<&'static EtcdTls> {
    static TLS: OnceLock<std::result::Result<EtcdTls, String>> = OnceLock::new();
    TLS.get_or_init(|| generate().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("making the bench's etcd certificates: {e}"))
}

fn generate() -> Result<EtcdTls> {
    let (ca, ca_key) = new_ca("drp-bench etcd CA")?;
    let usages = [
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let (cert_pem, key_pem) = loopback_leaf(&ca, &ca_key, &usages)?;
    Ok(EtcdTls {
        ca_pem: ca.pem(),
        cert_pem,
        key_pem,
    })
}

/// Writes the certificate, key and CA into `dir`.
pub fn write_files(dir: &Path) -> Result<TlsFiles> {
    let t = etcd_tls()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        ca: dir.join("ca.pem"),
    };
    for (path, pem) in [
        (&files.cert, &t.cert_pem),
        (&files.key, &t.key_pem),
        (&files.ca, &t.ca_pem),
    ] {
        std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use rcgen::CertificateParams;

    use super::*;

    #[test]
    fn files_hold_a_client_and_server_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let f = write_files(dir.path()).unwrap();
        let cert = std::fs::read_to_string(&f.cert).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        let params = CertificateParams::from_ca_cert_pem(&cert).unwrap();
        assert!(params
            .extended_key_usages
            .contains(&ExtendedKeyUsagePurpose::ClientAuth));
        assert!(params
            .extended_key_usages
            .contains(&ExtendedKeyUsagePurpose::ServerAuth));
        assert!(std::fs::read_to_string(&f.key)
            .unwrap()
            .contains("PRIVATE KEY"));
        // The client trusts the CA that signed it.
        reqwest::Certificate::from_pem(std::fs::read(&f.ca).unwrap().as_slice()).unwrap();
    }
}
