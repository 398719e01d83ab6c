//! Sending one apply to the cluster's leader and recording how it went.

use std::time::{Duration, Instant};

use proto::{headers, paths};
use reqwest::Method;
use serde_json::Value;
use versionsets::AppliedVersionSet;

use super::observed::actionable;
use super::read::short;
use super::{apply_body, record, Desired, Memory, Push};
use crate::cluster::Cluster;
use crate::state::Manager;

const APPLY_TIMEOUT: Duration = Duration::from_secs(10);
const APPLY_DEADLINE: Duration = Duration::from_secs(15);

/// Builds the body and sends the apply (one at a time across clusters, `--max-parallel`). On
/// success the applied state is recorded and the errors cleared; `Err` holds the problems to
/// record (none when the manager is stopping).
pub(super) async fn push(
    mgr: &Manager,
    id: &str,
    cluster: &Cluster,
    memory: &mut Memory,
    d: &Desired,
    push: Push,
) -> Result<(), Vec<String>> {
    let git_files = mgr.registry.git().good.map(|g| g.files).unwrap_or_default();
    let body = apply_body(d, &mgr.catalog(), &git_files)?;
    let Ok(_permit) = mgr.apply_slots.acquire().await else {
        return Err(Vec::new());
    };
    tracing::info!(endpoint = %id, hash = %d.hash, commit = ?d.commit, drift = push.drift, "applying VersionSet");
    if push.drift {
        memory.last_drift_push = Some(Instant::now());
        crate::metrics::drift_detected(id);
    }
    let started = Instant::now();
    let result = cluster
        .json(
            Method::POST,
            paths::VERSIONSET_APPLY,
            Some(&body),
            &[(headers::IDEMPOTENCY_KEY, push.key.as_str())],
            APPLY_TIMEOUT,
            APPLY_DEADLINE,
        )
        .await;
    let outcome = match &result {
        Ok((status, _)) if status.is_success() => "ok",
        Ok(_) => "refused",
        Err(_) => "failed",
    };
    crate::metrics::apply_done(id, outcome, started.elapsed());
    match result {
        Ok((status, reply)) if status.is_success() => {
            applied(mgr, id, d, &reply);
            memory.rejected = None;
            cluster.poke();
            Ok(())
        }
        Ok((status, reply)) => {
            let msg = format!("apply refused with HTTP {status}: {}", short(&reply));
            tracing::warn!(endpoint = %id, "{msg}");
            if status.is_client_error() {
                memory.rejected = Some((push.key, Instant::now(), msg.clone()));
                mgr.rollout.refused(id, d.commit.as_deref(), &msg);
            }
            Err(vec![msg])
        }
        Err(e) => {
            let msg = format!("apply failed: {e}");
            tracing::warn!(endpoint = %id, "{msg}");
            Err(vec![msg])
        }
    }
}

/// Records the state the cluster accepted (its commit index and time from the reply).
fn applied(mgr: &Manager, id: &str, d: &Desired, reply: &Value) {
    let index = reply.get("Index").and_then(Value::as_u64).unwrap_or(0);
    let at = reply
        .get("At")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    tracing::info!(endpoint = %id, index, commit = ?d.commit, "VersionSet applied");
    record(mgr, id, |o| {
        o.applied = Some(AppliedVersionSet {
            hash: d.hash.clone(),
            git_commit: d.commit.clone().unwrap_or_default(),
            index,
            at,
        });
        o.actions.retain(|a| !actionable(std::slice::from_ref(a)));
        o.errors = Vec::new();
    });
}
