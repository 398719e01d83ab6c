//! TLS for both listeners.
//!
//! * A cluster CA is created by the bootstrapping node and kept in the replicated state, so any
//!   member can issue certificates after a leader change.
//! * Members talk to each other over mutual TLS 1.3: each holds a member certificate issued by
//!   the cluster CA (CN = its ConsensusID), obtained when it joins ([`join`]), and accepts only
//!   peers whose certificate chains to that CA ([`peer`]; the listeners are `netguard`'s).
//! * The API serves HTTPS by default: `--tls-cert/--tls-key`, or one API certificate issued by
//!   the cluster CA at bootstrap and handed to every member, so all members present the same
//!   identity. Its chain includes the CA certificate, so a client can pin the CA on first use.
//!
//! Files, in `<data-dir>/tls/`: `ca.pem` (public), `member.pem` + `member.key`, `api.pem` +
//! `api.key`. Keys are written mode 0600 and never logged.

pub mod authority;
mod context;
mod error;
pub mod hosts;
pub mod join;
pub mod peer;
pub mod rotation;
mod stored;

pub use context::RotationHost;
pub use error::{ApiCertError, CertError, ObtainError, TlsError};
pub use stored::stored_pair;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The DNS name every member certificate carries and every member dials: members are told
/// apart by the certificate's CN (their ConsensusID) and the RPC's target header, not by host
/// names, which change with addresses.
pub const MEMBER_NAME: &str = "member.drp-cluster";

/// `_system` objects (replicated, never served by the object API).
pub const CA_KEY: &str = "cluster-ca";
pub const API_CERT_KEY: &str = "api-tls";

/// A certificate chain and its private key, PEM.
#[derive(Clone)]
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Pair").finish_non_exhaustive()
    }
}

/// What this node needs for mutual TLS with the other members.
#[derive(Clone, Debug)]
pub struct MemberTls {
    pub ca_pem: String,
    pub member: Pair,
}

/// The files of one node.
pub struct TlsDir(PathBuf);

impl TlsDir {
    pub fn new(data_dir: &Path) -> Self {
        TlsDir(data_dir.join("tls"))
    }
    pub fn ca_path(&self) -> PathBuf {
        self.0.join("ca.pem")
    }

    /// The member material, if this node already has it.
    pub fn load_member(&self) -> Result<Option<MemberTls>, CertError> {
        self.finish_member_rotation()?;
        let Some(member) = self.load_pair("member")? else {
            return Ok(None);
        };
        let ca_pem = std::fs::read_to_string(self.ca_path()).map_err(CertError::file(format!(
            "reading {}",
            self.ca_path().display()
        )))?;
        Ok(Some(MemberTls { ca_pem, member }))
    }

    /// The CA itself (certificate and key): only the bootstrapping node has it on disk, to
    /// seed it into the replicated state (every member has it there afterwards).
    pub fn save_ca_authority(&self, ca: &Pair) -> Result<(), CertError> {
        std::fs::create_dir_all(&self.0)
            .map_err(CertError::file(format!("creating {}", self.0.display())))?;
        write_file(&self.0.join("ca.key"), &ca.key_pem, true)?;
        write_file(&self.ca_path(), &ca.cert_pem, false)
    }

    pub fn load_ca_authority(&self) -> Result<Option<Pair>, CertError> {
        self.load_pair("ca")
    }

    pub fn load_api(&self) -> Result<Option<Pair>, CertError> {
        self.load_pair("api")
    }

    fn load_pair(&self, name: &str) -> Result<Option<Pair>, CertError> {
        let cert = self.0.join(format!("{name}.pem"));
        let key = self.0.join(format!("{name}.key"));
        match (
            std::fs::read_to_string(&cert),
            std::fs::read_to_string(&key),
        ) {
            (Ok(cert_pem), Ok(key_pem)) => Ok(Some(Pair { cert_pem, key_pem })),
            (Err(e), _) | (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            (Err(e), _) | (_, Err(e)) => Err(CertError::File {
                what: format!("reading {name} certificate in {}", self.0.display()),
                why: e,
            }),
        }
    }

    /// Replaces the member pair (a rotation). The new pair is first written whole as
    /// `member-next.*`, then moved over the old one; a crash in between is finished at the
    /// next start, so the key and certificate on disk always belong together.
    pub fn replace_member(&self, member: &MemberTls) -> Result<(), CertError> {
        write_file(
            &self.0.join("member-next.key"),
            &member.member.key_pem,
            true,
        )?;
        write_file(
            &self.0.join("member-next.pem"),
            &member.member.cert_pem,
            false,
        )?;
        std::fs::File::open(&self.0)?.sync_all()?;
        self.finish_member_rotation()
    }

    fn finish_member_rotation(&self) -> Result<(), CertError> {
        let (key, cert) = (
            self.0.join("member-next.key"),
            self.0.join("member-next.pem"),
        );
        if !cert.exists() {
            // Without the certificate the next pair was never complete: the old one stands.
            let _ = std::fs::remove_file(&key);
            return Ok(());
        }
        if key.exists() {
            std::fs::rename(&key, self.0.join("member.key"))?;
        }
        std::fs::rename(&cert, self.0.join("member.pem"))?;
        std::fs::File::open(&self.0)?.sync_all()?;
        Ok(())
    }

    /// Replaces the saved API pair (what this member serves after a restart, before it
    /// reads the replicated one).
    pub fn save_api(&self, api: &Pair) -> Result<(), CertError> {
        write_file(&self.0.join("api.key"), &api.key_pem, true)?;
        write_file(&self.0.join("api.pem"), &api.cert_pem, false)?;
        std::fs::File::open(&self.0)?.sync_all()?;
        Ok(())
    }

    /// Writes everything durably; the member pair last, because its presence means "done".
    pub fn save(&self, member: &MemberTls, api: Option<&Pair>) -> Result<(), CertError> {
        std::fs::create_dir_all(&self.0)
            .map_err(CertError::file(format!("creating {}", self.0.display())))?;
        write_file(&self.ca_path(), &member.ca_pem, false)?;
        if let Some(api) = api {
            write_file(&self.0.join("api.key"), &api.key_pem, true)?;
            write_file(&self.0.join("api.pem"), &api.cert_pem, false)?;
        }
        write_file(&self.0.join("member.key"), &member.member.key_pem, true)?;
        write_file(&self.0.join("member.pem"), &member.member.cert_pem, false)?;
        std::fs::File::open(&self.0)?.sync_all()?;
        Ok(())
    }
}

/// Writes `text` atomically and durably (temp file, fsync, rename); `private` files are 0600.
pub(crate) fn write_file(path: &Path, text: &str, private: bool) -> Result<(), CertError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, if private { 0o600 } else { 0o644 });
    let mut file = options
        .open(&tmp)
        .map_err(CertError::file(format!("writing {}", tmp.display())))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).map_err(CertError::file(format!("writing {}", path.display())))?;
    Ok(())
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|why| CertError::Pem {
            what: "certificate",
            why,
        })?;
    if certs.is_empty() {
        return Err(CertError::NoCertificate);
    }
    Ok(certs)
}

pub fn key(pem: &str) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|why| CertError::Pem {
        what: "private key",
        why,
    })
}

/// The API listener's server config (HTTP/2 and HTTP/1.1).
pub fn api_server_config(pair: &Pair) -> Result<rustls::ServerConfig, CertError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(CertError::rustls("TLS versions"))?
        .with_no_client_auth()
        .with_single_cert(certs(&pair.cert_pem)?, key(&pair.key_pem)?)
        .map_err(CertError::rustls(
            "the API certificate and key do not match",
        ))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The consensus listener's server config: TLS 1.3 only, a client certificate issued by the
/// cluster CA required.
pub fn member_server_config(tls: &MemberTls) -> Result<rustls::ServerConfig, CertError> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in certs(&tls.ca_pem)? {
        roots
            .add(ca)
            .map_err(CertError::rustls("the cluster CA certificate"))?;
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(CertError::Verifier)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(CertError::rustls("TLS versions"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&tls.member.cert_pem)?, key(&tls.member.key_pem)?)
        .map_err(CertError::rustls(
            "the member certificate and key do not match",
        ))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// tonic's client side of member TLS: trust only the cluster CA, present our member
/// certificate, expect a member certificate on the other end.
pub fn member_client_config(tls: &MemberTls) -> tonic::transport::ClientTlsConfig {
    tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&tls.ca_pem))
        .identity(tonic::transport::Identity::from_pem(
            &tls.member.cert_pem,
            &tls.member.key_pem,
        ))
        .domain_name(MEMBER_NAME)
}
