//! Certificates replaced while the node serves: new handshakes use the new certificate,
//! connections already open finish on the old one; nothing restarts.
//! - `POST /api/v3/system/tls/rotate`: a new API certificate from the cluster CA, committed to
//!   the replicated state; every member notices it in its own store and serves it.
//! - `POST /api/v3/system/consensus/rotate`: a new key and member certificate for the member
//!   asked, used at once by its consensus listener and for the connections it dials.
//! - `--tls-cert/--tls-key`: the files are read again when they change (a renewal by certbot or
//!   cert-manager needs no restart); a pair that does not load is logged and not used.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::authority::Authority;
use super::context::RotationHost;
use super::{
    stored_pair, ApiCertError, CertError, MemberTls, Pair, TlsDir, TlsError, API_CERT_KEY, CA_KEY,
};
use netguard::LiveConfig;

/// How often a member looks for a new API certificate (store or files).
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Where this member's API certificate comes from.
#[derive(Debug, Clone)]
pub enum ApiSource {
    /// The cluster's own, in the replicated state (`_system/api-tls`).
    Cluster,
    /// An operator's files (`--tls-cert/--tls-key`).
    Files { cert: PathBuf, key: PathBuf },
}

/// The certificates this member serves now, and the means to replace them.
pub struct Live {
    data_dir: PathBuf,
    api_source: Option<ApiSource>,
    api: Option<(watch::Sender<Arc<rustls::ServerConfig>>, Mutex<String>)>,
    member: watch::Sender<Arc<rustls::ServerConfig>>,
}

/// The SHA-256 of the first certificate in `pem` (what a client pinning the leaf compares).
pub fn fingerprint(pem: &str) -> String {
    super::certs(pem)
        .ok()
        .and_then(|c| c.first().map(|d| hex::encode(Sha256::digest(d.as_ref()))))
        .unwrap_or_default()
}

impl Live {
    /// `api` is the API pair served at start (`None`: `--no-tls`). Returns the live configs
    /// for the API listener (if any) and the consensus listener.
    pub fn new(
        data_dir: PathBuf,
        api_source: Option<ApiSource>,
        api: Option<&Pair>,
        member_tls: MemberTls,
    ) -> Result<(Live, Option<LiveConfig>, LiveConfig), CertError> {
        let (member, member_rx) =
            watch::channel(Arc::new(super::member_server_config(&member_tls)?));
        let (api, api_rx) = match api {
            Some(pair) => {
                let (tx, rx) = watch::channel(Arc::new(super::api_server_config(pair)?));
                (Some((tx, Mutex::new(pair.cert_pem.clone()))), Some(rx))
            }
            None => (None, None),
        };
        let live = Live {
            data_dir,
            api_source,
            api,
            member,
        };
        Ok((live, api_rx, member_rx))
    }

    /// Serves `pair` on the API listener from the next handshake, if it differs from the
    /// pair served now. Returns whether it changed.
    fn set_api(&self, pair: &Pair) -> Result<bool, ApiCertError> {
        let Some((tx, current)) = &self.api else {
            return Ok(false);
        };
        let mut current = current.lock().map_err(|_| ApiCertError::Poisoned)?;
        if *current == pair.cert_pem {
            return Ok(false);
        }
        tx.send_replace(Arc::new(super::api_server_config(pair)?));
        *current = pair.cert_pem.clone();
        Ok(true)
    }

    /// A new key and member certificate for this member, from the replicated CA: saved,
    /// then served and presented from the next connection on.
    pub async fn rotate_member(&self, node: &impl RotationHost) -> Result<String, TlsError> {
        let ca = stored_pair(node.store(), CA_KEY)?.ok_or(TlsError::NoCa)?;
        let consensus_id = node.consensus_id().to_string();
        let ca_pem = ca.cert_pem.clone();
        let member = tokio::task::spawn_blocking(move || {
            Authority::load(&ca).and_then(|a| a.issue_own_member(&consensus_id))
        })
        .await
        .map_err(|e| TlsError::Internal(e.to_string()))?
        .map_err(|e| TlsError::Internal(format!("issuing the member certificate: {e}")))?;
        let tls = MemberTls { ca_pem, member };
        let config = super::member_server_config(&tls)
            .map_err(|e| TlsError::Internal(format!("the new member certificate: {e}")))?;
        let dir = TlsDir::new(&self.data_dir);
        let saved = tls.clone();
        tokio::task::spawn_blocking(move || dir.replace_member(&saved))
            .await
            .map_err(|e| TlsError::Internal(e.to_string()))?
            .map_err(|e| TlsError::Internal(format!("saving the member certificate: {e}")))?;
        self.member.send_replace(Arc::new(config));
        node.channels().set_tls(super::member_client_config(&tls));
        let print = fingerprint(&tls.member.cert_pem);
        tracing::info!(sha256 = %print, "member certificate rotated");
        Ok(print)
    }

    /// Whether this member serves the cluster's API certificate (not `--no-tls`, not files).
    pub fn serves_cluster_api_cert(&self) -> bool {
        matches!(self.api_source, Some(ApiSource::Cluster))
    }
}

/// One look for a new API certificate: in the store (cluster certificate) or the files.
async fn check_api(node: &impl RotationHost, live: &Live) -> Result<(), ApiCertError> {
    let pair = match &live.api_source {
        None => return Ok(()),
        Some(ApiSource::Cluster) => match stored_pair(node.store(), API_CERT_KEY) {
            Ok(Some(pair)) => pair,
            Ok(None) => return Ok(()),
            Err(e) => return Err(ApiCertError::Stored(e)),
        },
        Some(ApiSource::Files { cert, key }) => {
            let (cert, key) = (cert.clone(), key.clone());
            let read = tokio::task::spawn_blocking(move || {
                Ok::<_, std::io::Error>(Pair {
                    cert_pem: std::fs::read_to_string(cert)?,
                    key_pem: std::fs::read_to_string(key)?,
                })
            })
            .await??;
            read
        }
    };
    if live.set_api(&pair)? {
        if let Some(ApiSource::Cluster) = live.api_source {
            let dir = TlsDir::new(&live.data_dir);
            let saved = pair.clone();
            tokio::task::spawn_blocking(move || dir.save_api(&saved)).await??;
        }
        tracing::info!(sha256 = %fingerprint(&pair.cert_pem), "API certificate rotated");
    }
    Ok(())
}

/// Watches for new API certificates until `shutdown`.
pub fn spawn_watcher<H: RotationHost + 'static>(
    node: H,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let live = node.live();
        let mut last_problem = String::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(WATCH_EVERY) => {}
                _ = shutdown.changed() => return,
            }
            match check_api(&node, live).await {
                Ok(()) => last_problem.clear(),
                Err(e) => {
                    // A half-written renewal is normal for a moment: say it once, keep serving
                    // the certificate that works.
                    let problem = e.to_string();
                    if problem != last_problem {
                        tracing::warn!(error = %problem, "new API certificate not used");
                        last_problem = problem;
                    }
                }
            }
        }
    })
}

/// Commits a new cluster API certificate (valid for every member's API host and the loopback
/// names); members serve it once they apply it.
pub async fn rotate_api(node: &impl RotationHost) -> Result<(String, Vec<String>), TlsError> {
    let ca = stored_pair(node.store(), CA_KEY)?.ok_or(TlsError::NoCa)?;
    let mut hosts = Vec::new();
    for api_url in node.member_api_urls() {
        for host in super::hosts::api_hosts(&api_url) {
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
    }
    let issue_for = hosts.clone();
    let pair = tokio::task::spawn_blocking(move || {
        Authority::load(&ca).and_then(|a| a.issue_api(&issue_for))
    })
    .await
    .map_err(|e| TlsError::Internal(e.to_string()))?
    .map_err(|e| TlsError::Internal(format!("issuing the API certificate: {e}")))?;
    let print = fingerprint(&pair.cert_pem);
    let request = crate::command::Request {
        idempotency: None,
        at_ms: crate::clock::now_ms(),
        if_match: None,
        principal: crate::auth::current_user(),
        op: crate::command::Op::PutSystem {
            key: API_CERT_KEY.to_string(),
            object: serde_json::json!({ "CertPem": pair.cert_pem, "KeyPem": pair.key_pem }),
        },
    };
    let outcome = node.commit(request).await?;
    if outcome.status >= 300 {
        return Err(TlsError::Refused {
            status: outcome.status,
            message: outcome.body.to_string(),
        });
    }
    Ok((print, hosts))
}
