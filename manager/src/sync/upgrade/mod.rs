//! Rolling binary upgrades driven by an endpoint's merged `DRPVersion`: when a member runs
//! another version and the catalog (`--drp-binary`) has the target, stage it on every member,
//! then run it one member at a time, followers first and the leader last.

pub mod catalog;
mod error;
pub mod progress;
pub(crate) mod rollout;

use std::sync::Arc;

use crate::cluster::{self, Cluster};
use crate::state::Manager;
use crate::sync::reconcile::desired_for;

/// A version without its leading `v`.
pub(crate) fn bare(v: &str) -> &str {
    v.trim().trim_start_matches('v')
}

/// Called after each reconcile round: starts a rollout when one is due and none runs.
pub fn consider(mgr: &Arc<Manager>, id: &str, cluster: &Arc<Cluster>) {
    let Some((ep, _)) = mgr.effective_endpoint(id) else {
        return;
    };
    let Ok(d) = desired_for(mgr, &ep) else {
        return;
    };
    let Some(target) = d.resolved.drp_version.clone() else {
        return;
    };
    // Apply off means plan only, as for the rest of the VersionSet.
    if !d.apply || cluster.view().status != cluster::CONNECTED {
        return;
    }
    let Some(entry) = catalog::get(&target) else {
        return progress::no_binary(id, &target);
    };
    if !progress::begin(id, &target) {
        return;
    }
    tracing::info!(endpoint = %id, %target, "checking the members' drp versions");
    tokio::spawn(rollout::run(
        mgr.shutdown_signal(),
        id.to_string(),
        cluster.clone(),
        target,
        entry,
    ));
}
