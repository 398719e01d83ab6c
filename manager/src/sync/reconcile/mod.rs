//! Per-endpoint reconciliation: merge the endpoint's VersionSets, resolve them against the
//! catalog, read what the cluster has, plan, and (when `Apply` is on) push the whole set to
//! the leader as one apply with an `Idempotency-Key` derived from the endpoint and the
//! desired state hash, so a retry across failover never applies twice.

mod apply;
mod desired;
mod observed;
mod read;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use versionsets::{plan, AppliedVersionSet, ElementAction};

pub use desired::{apply_body, apply_key, desired_for, Desired};
pub use read::{read_cluster, Reading};

use crate::cluster::{self, Cluster, View};
use crate::registry::Observed;
use crate::state::Manager;

const CALL_TIMEOUT: Duration = Duration::from_secs(2);
const READ_DEADLINE: Duration = Duration::from_secs(3);
const DRIFT_BACKOFF: Duration = Duration::from_secs(30);
const REJECTED_BACKOFF: Duration = Duration::from_secs(60);

/// What one endpoint's reconciler remembers between rounds.
#[derive(Default)]
struct Memory {
    last_drift_push: Option<Instant>,
    /// (idempotency key, when, why) of the last apply the cluster refused.
    rejected: Option<(String, Instant, String)>,
}

/// Runs until `stop` turns true.
pub async fn run(
    mgr: Arc<Manager>,
    id: String,
    cluster: Arc<Cluster>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut changed = cluster.subscribe();
    let mut memory = Memory::default();
    loop {
        once(&mgr, &id, &cluster, &mut memory).await;
        crate::sync::upgrade::consider(&mgr, &id, &cluster);
        tokio::select! {
            _ = tokio::time::sleep(mgr.config.reconcile_every) => {}
            _ = wake.notified() => {}
            _ = changed.changed() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

fn record(mgr: &Manager, id: &str, change: impl FnOnce(&mut Observed)) {
    if let Err(e) = mgr.registry.update_observed(id, change) {
        tracing::error!(endpoint = %id, "cannot record the observed state: {e}");
    }
}

/// Records this round's problems as the endpoint's errors.
fn record_errors(mgr: &Manager, id: &str, errors: Vec<String>) {
    record(mgr, id, |o| o.errors = errors);
}

/// One round: observe, plan, and push when the cluster should change.
async fn once(mgr: &Manager, id: &str, cluster: &Cluster, memory: &mut Memory) {
    let Some((ep, _)) = mgr.effective_endpoint(id) else {
        return;
    };
    let desired = desired_for(mgr, &ep);
    let view = cluster.view();
    let mut errors = desired_errors(mgr, &desired);
    record_connection(mgr, id, &view, desired.as_ref().ok());
    if view.status != cluster::CONNECTED {
        tracing::debug!(endpoint = %id, status = %view.status, "reconcile: not connected");
        errors.extend(view.error.clone());
        return record_errors(mgr, id, errors);
    }
    let started = Instant::now();
    let reading = read_cluster(cluster).await;
    tracing::debug!(endpoint = %id, ms = started.elapsed().as_millis() as u64, problems = reading.problems.len(), "reconcile: read the cluster");
    errors.extend(reading.problems.iter().cloned());
    let actions = plan_actions(desired.as_ref().ok(), &reading, &mut errors);
    let stored = mgr.registry.observed(id).applied;
    record_reading(mgr, id, &reading, &actions, desired.as_ref().ok());
    let Ok(d) = desired else {
        return record_errors(mgr, id, errors);
    };
    let push = match next_push(memory, id, &d, stored.as_ref(), &reading, &actions) {
        Ok(Some(push)) => push,
        Ok(None) => {
            tracing::debug!(endpoint = %id, "reconcile: nothing to push");
            return record_errors(mgr, id, errors);
        }
        Err(why) => {
            tracing::debug!(endpoint = %id, "reconcile: push waits: {why}");
            errors.push(why.to_string());
            return record_errors(mgr, id, errors);
        }
    };
    // A progressive rollout decides when this endpoint's wave may take the commit.
    if let Err(why) = mgr.rollout.admits(id, d.commit.as_deref()) {
        tracing::debug!(endpoint = %id, "reconcile: push waits: {why}");
        errors.push(why.to_string());
        return record_errors(mgr, id, errors);
    }
    match apply::push(mgr, id, cluster, memory, &d, push).await {
        Err(why) if !why.is_empty() => {
            errors.extend(why);
            record_errors(mgr, id, errors);
        }
        _ => {}
    }
}

/// Why the desired state cannot be computed, and a rejected git commit.
fn desired_errors(mgr: &Manager, desired: &Result<Desired, Vec<String>>) -> Vec<String> {
    let mut errors: Vec<String> = desired.as_ref().err().cloned().unwrap_or_default();
    if let Some(r) = mgr.registry.git().rejected {
        errors.push(format!(
            "git commit {} rejected ({} problem(s)); the last good commit stays in force",
            short_sha(&r.commit),
            r.errors.len()
        ));
    }
    errors
}

/// The tracker's view and the desired state's identity, recorded before any call.
fn record_connection(mgr: &Manager, id: &str, view: &View, desired: Option<&Desired>) {
    record(mgr, id, |o| {
        o.connection_status = Some(view.status.clone());
        o.leader = view.leader.clone();
        o.members = view.members.clone();
        if view.ha_id.is_some() {
            o.ha_id = view.ha_id.clone();
        }
        if let Some(d) = desired {
            o.desired_hash = Some(d.hash.clone());
            o.desired_commit = d.commit.clone();
        }
    });
}

/// The planner's actions from what the cluster has to what is desired.
fn plan_actions(
    desired: Option<&Desired>,
    reading: &Reading,
    errors: &mut Vec<String>,
) -> Vec<ElementAction> {
    let Some(d) = desired else {
        return Vec::new();
    };
    let observed = observed::observed_state(reading, Some(d));
    plan(&d.resolved, &observed).unwrap_or_else(|e| {
        errors.push(e.to_string());
        Vec::new()
    })
}

/// What the cluster reported, and the plan.
fn record_reading(
    mgr: &Manager,
    id: &str,
    reading: &Reading,
    actions: &[ElementAction],
    desired: Option<&Desired>,
) {
    record(mgr, id, |o| {
        o.drp_version = reading.version.clone();
        o.components = reading.components.clone();
        o.plugins = reading.plugins.clone();
        o.prefs = reading.prefs.clone();
        o.global = reading.global.clone();
        o.actions = actions.to_vec();
        // The cluster already holds the desired state (e.g. the manager's data was lost):
        // adopt it rather than push it again.
        if let (Some(d), Some((hash, index, at))) = (desired, &reading.applied) {
            if *hash == d.hash && o.applied.as_ref().is_none_or(|a| a.hash != d.hash) {
                o.applied = Some(AppliedVersionSet {
                    hash: hash.clone(),
                    git_commit: d.commit.clone().unwrap_or_default(),
                    index: *index,
                    at: at.clone(),
                });
            }
        }
    });
}

/// An apply to send: its idempotency key, and whether it re-asserts the state over drift.
struct Push {
    key: String,
    drift: bool,
}

/// Why a due push waits.
#[derive(Debug, thiserror::Error)]
enum PushWait {
    /// Drift was re-asserted less than [`DRIFT_BACKOFF`] ago.
    #[error("drift from the applied VersionSet; re-asserting it shortly")]
    Drift,
    /// The cluster refused this very apply less than [`REJECTED_BACKOFF`] ago: its reason.
    #[error("{0}")]
    Rejected(String),
}

/// Whether to push now: a new desired state, or drift from the applied one (at most every
/// [`DRIFT_BACKOFF`]); never the very apply the cluster refused within [`REJECTED_BACKOFF`].
fn next_push(
    memory: &Memory,
    id: &str,
    d: &Desired,
    stored: Option<&AppliedVersionSet>,
    reading: &Reading,
    actions: &[ElementAction],
) -> Result<Option<Push>, PushWait> {
    if !d.apply {
        return Ok(None);
    }
    let applied_hash = stored.map(|a| a.hash.as_str());
    let endpoint_has = reading.applied.as_ref().map(|a| a.0.as_str()) == Some(d.hash.as_str());
    let new_state = applied_hash != Some(d.hash.as_str()) && !endpoint_has;
    let drift = !new_state && observed::actionable(actions);
    if !new_state && !drift {
        return Ok(None);
    }
    if drift
        && memory
            .last_drift_push
            .is_some_and(|t| t.elapsed() < DRIFT_BACKOFF)
    {
        return Err(PushWait::Drift);
    }
    let salt = drift.then(|| reading.applied.as_ref().map(|a| a.1).unwrap_or(0));
    let key = apply_key(id, &d.hash, salt);
    if let Some((k, t, msg)) = &memory.rejected {
        if *k == key && t.elapsed() < REJECTED_BACKOFF {
            return Err(PushWait::Rejected(msg.clone()));
        }
    }
    Ok(Some(Push { key, drift }))
}

pub fn short_sha(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}
