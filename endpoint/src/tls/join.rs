//! The first half of `--join`: before a new node can take part in consensus it needs a member
//! certificate. It generates its key, sends a CSR to any listed member
//! (`POST /api/v3/system/consensus/certificate`, as the admin) and gets back its certificate,
//! the cluster CA and the shared API certificate.
//!
//! The member's API certificate cannot be verified yet (this node does not know the CA): the
//! first contact is trust-on-first-use, protected by the admin credentials; everything after
//! it is pinned to the CA received here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::authority::new_member_key;
use super::{MemberTls, ObtainError, Pair};

const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const RETRY_EVERY: Duration = Duration::from_secs(1);

#[derive(Serialize, Deserialize)]
pub struct CertificateRequest {
    #[serde(rename = "ConsensusID")]
    pub consensus_id: String,
    #[serde(rename = "Csr")]
    pub csr: String,
}

#[derive(Serialize, Deserialize)]
pub struct CertificateReply {
    #[serde(rename = "Ca")]
    pub ca: String,
    #[serde(rename = "Certificate")]
    pub certificate: String,
    #[serde(rename = "ApiCertificate")]
    pub api_certificate: String,
    #[serde(rename = "ApiKey")]
    pub api_key: String,
}

impl std::fmt::Debug for CertificateReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateReply").finish_non_exhaustive()
    }
}

/// Asks the members at `urls` (in turn, until one answers) for this node's certificates.
pub async fn obtain(
    urls: &[String],
    consensus_id: &str,
    admin_password: Option<&str>,
) -> Result<(MemberTls, Pair), ObtainError> {
    let (key, csr) = new_member_key()?;
    let http = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(ObtainError::Client)?;
    let body = CertificateRequest {
        consensus_id: consensus_id.to_string(),
        csr,
    };
    loop {
        for url in urls {
            let target = format!(
                "{}/api/v3/system/consensus/certificate",
                url.trim_end_matches('/')
            );
            let mut request = http.post(&target).json(&body);
            if let Some(pw) = admin_password {
                request = request.basic_auth(crate::auth::ADMIN_USER, Some(pw));
            }
            match request.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let reply: CertificateReply =
                        resp.json().await.map_err(|why| ObtainError::Malformed {
                            url: url.clone(),
                            why,
                        })?;
                    tracing::info!(via = %url, "received the member certificate");
                    let member = MemberTls {
                        ca_pem: reply.ca,
                        member: Pair {
                            cert_pem: reply.certificate,
                            key_pem: key.serialize_pem(),
                        },
                    };
                    let api = Pair {
                        cert_pem: reply.api_certificate,
                        key_pem: reply.api_key,
                    };
                    return Ok((member, api));
                }
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    if status == reqwest::StatusCode::UNAUTHORIZED
                        || status == reqwest::StatusCode::FORBIDDEN
                    {
                        tracing::error!(via = %url, %status, "the member refused our admin credentials (set RS_ADMIN_PASSWORD to the cluster's admin password); retrying");
                    } else {
                        tracing::warn!(via = %url, %status, reply = %text, "certificate request refused; retrying");
                    }
                }
                Err(e) => {
                    tracing::warn!(via = %url, error = %e, "certificate request failed; retrying")
                }
            }
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}
