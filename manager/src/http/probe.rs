//! The check made when an endpoint is registered: the cluster's HaID and, without
//! `manager/ca`, the certificate to pin.

use std::time::Duration;

use proto::paths;
use serde_json::Value;
use versionsets::Endpoint;

use crate::cluster::trust::{self, Anchor, Pin};
use crate::cluster::Connection;
use crate::http::{ApiError, ADMIN_USER};
use crate::state::Manager;

const MODEL: &str = "endpoints";
/// How long a registration waits for a member.
const ASK_TIMEOUT: Duration = Duration::from_secs(3);

/// How a registration treats an earlier pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pinning {
    /// POST/PUT: pin what the cluster presents now (re-registration is how a changed
    /// certificate is accepted).
    Repin,
    /// PATCH: keep the pin unless the cluster's URLs changed.
    Keep,
}

/// Checks the cluster's HaID when a member answers (within a few seconds) and, without
/// `manager/ca`, learns the certificate an https cluster presents. `ep` is the endpoint as it
/// will be in force; the registry's pin is updated before the endpoint is stored.
pub(super) async fn probe(
    mgr: &Manager,
    ep: &Endpoint,
    previous: Option<&Endpoint>,
    pinning: Pinning,
) -> Result<(), ApiError> {
    if let Some(Anchor::Invalid(m)) = ep.params.get(trust::CA_PARAM).map(trust::anchor_from_param) {
        return Err(ApiError::bad_request(MODEL, &ep.id, m));
    }
    let conn = mgr.connection(ep);
    let given = ep.params.contains_key(trust::CA_PARAM);
    let moved = previous.is_some_and(|p| mgr.connection(p).seeds != conn.seeds);
    let learn = !given
        && (pinning == Pinning::Repin || moved || conn.anchor == Anchor::Unpinned)
        && conn.seeds.iter().any(|u| trust::is_https(u));
    let learnt = ask_members(ep, &conn, learn).await?;
    if given {
        // manager/ca takes over; removing it later means pinning anew.
        mgr.registry
            .forget_pin(&ep.id)
            .map_err(ApiError::internal)?;
    }
    if learn {
        store_pin(mgr, &ep.id, learnt)?;
    }
    Ok(())
}

/// Asks up to three seeds for `Info`; the first that answers must be this cluster. Returns
/// the certificate it presented when `learn` (first use of an https member).
async fn ask_members(
    ep: &Endpoint,
    conn: &Connection,
    learn: bool,
) -> Result<Option<Pin>, ApiError> {
    let verified = trust::cluster_client(&conn.anchor).map_err(ApiError::internal)?;
    for url in conn.seeds.iter().take(3) {
        let url = url.trim_end_matches('/');
        // First use: learn the certificate unauthenticated; the credentials then go over a
        // connection verified against it.
        let (client, candidate) = if learn && trust::is_https(url) {
            match trust::first_use(url, ASK_TIMEOUT).await {
                Ok((client, pin)) => (client, Some(pin)),
                Err(trust::LearnError::Failed(_)) => continue,
                // Not pinned: the tracker reports why (ConnectionStatus `untrusted`).
                Err(trust::LearnError::Untrusted(e)) => {
                    tracing::warn!(endpoint = %ep.id, "{e}");
                    continue;
                }
            }
        } else {
            (verified.clone(), None)
        };
        let Some(info) = info(&client, url, conn).await else {
            continue;
        };
        let ha = info.get("ha_id").and_then(Value::as_str).unwrap_or("");
        if !ha.is_empty() && ha != ep.id {
            return Err(ApiError::bad_request(
                MODEL,
                &ep.id,
                format!(
                    "Id `{}` must be the cluster's HaID, but {url} belongs to cluster `{ha}`",
                    ep.id
                ),
            ));
        }
        return Ok(candidate);
    }
    Ok(None)
}

/// A member's `Info`, with the stored credentials; `None` when it does not answer with one.
async fn info(client: &reqwest::Client, url: &str, conn: &Connection) -> Option<Value> {
    let mut req = client
        .get(format!("{url}{}", paths::INFO))
        .timeout(ASK_TIMEOUT);
    if let Some(pw) = &conn.password {
        req = req.basic_auth(conn.username.as_deref().unwrap_or(ADMIN_USER), Some(pw));
    }
    let resp = req.send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json::<Value>().await.ok()
}

/// Pins what was learnt, or, when nothing answered, forgets the pin so that the first
/// successful connection pins instead.
fn store_pin(mgr: &Manager, id: &str, learnt: Option<Pin>) -> Result<(), ApiError> {
    let Some(pin) = learnt else {
        mgr.registry.forget_pin(id).map_err(ApiError::internal)?;
        return Ok(());
    };
    if let Some(old) = mgr.registry.pin(id) {
        if old.sha256 != pin.sha256 {
            tracing::warn!(endpoint = %id, old = %old.sha256, new = %pin.sha256, "re-registered: the cluster's certificate is pinned anew");
        }
    }
    tracing::info!(endpoint = %id, sha256 = %pin.sha256, subject = %pin.subject, url = %pin.url, "pinned the cluster's certificate");
    mgr.registry.set_pin(id, pin).map_err(ApiError::internal)
}
