//! `--join`: a new, empty node asks the listed members to enrol it, retrying until it is a
//! member of the cluster or the node shuts down.

use std::time::Duration;

use tokio::sync::watch;

use crate::node::Node;

const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(150);
const RETRY_EVERY: Duration = Duration::from_secs(1);

pub async fn join_until_member(
    node: Node,
    urls: Vec<String>,
    admin_password: Option<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Same trust as the certificate request before it (tls::join): the first contact with
    // the cluster is trust-on-first-use, guarded by the admin credentials; the API may present
    // an operator's certificate (`--tls-cert`) this node has no way to check yet.
    let http = match reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .danger_accept_invalid_certs(true)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client for --join");
            return;
        }
    };
    let body = serde_json::json!({
        "ConsensusAddr": node.settings.consensus_addr,
        "ApiUrl": node.settings.api_url,
        "Observer": false,
    });
    loop {
        if is_member(&node) {
            tracing::info!("joined the cluster");
            return;
        }
        for url in &urls {
            let target = format!(
                "{}/api/v3/system/consensus/enroll",
                url.trim_end_matches('/')
            );
            let mut request = http.post(&target).json(&body);
            if let Some(pw) = &admin_password {
                request = request.basic_auth(crate::auth::ADMIN_USER, Some(pw));
            }
            let attempt = tokio::select! {
                r = request.send() => r,
                _ = shutdown.changed() => return,
            };
            match attempt {
                Ok(resp) if resp.status().is_success() => {
                    tracing::info!(via = %url, "enrolled");
                    return;
                }
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    tracing::warn!(via = %url, %status, reply = %text, "enrol refused; retrying");
                }
                Err(e) => tracing::warn!(via = %url, error = %e, "enrol attempt failed; retrying"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn is_member(node: &Node) -> bool {
    node.raft.voters().contains(&node.node_id)
}
