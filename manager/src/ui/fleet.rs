//! The dashboard's view of the fleet: every cluster with its members, desired and applied
//! state, and the git source. Built from the same observed state as `GET /api/v3/status`.

use serde_json::{json, Value};

use crate::http::{git_view, live_observed};
use crate::state::Manager;

pub fn snapshot(mgr: &Manager) -> Value {
    let clusters: Vec<Value> = mgr
        .effective_endpoints()
        .values()
        .map(|(ep, source)| {
            let o = live_observed(mgr, &ep.id);
            let top = o.members.iter().map(|m| m.match_index).max().unwrap_or(0);
            let members: Vec<Value> = o
                .members
                .iter()
                .map(|m| {
                    json!({
                        "ConsensusID": m.consensus_id,
                        "ApiUrl": m.api_url,
                        "Role": m.role,
                        "Online": m.online,
                        "Version": o.drp_version,
                        "Lag": top.saturating_sub(m.match_index),
                    })
                })
                .collect();
            json!({
                "Id": ep.id,
                "Source": source.as_str(),
                "Apply": ep.apply,
                "Status": o.status(),
                "Leader": o.leader.as_ref().map(|l| l.api_url.clone()),
                "Members": members,
                "VersionSets": ep.version_sets,
                "Desired": {"Hash": o.desired_hash, "Commit": o.desired_commit},
                "Applied": o.applied.as_ref().map(|a| json!({"Hash": a.hash, "Commit": a.git_commit, "Index": a.index, "At": a.at})),
                "InSync": o.in_sync(),
                "Pending": o.actions.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "Drift": o.applied.is_some() && !o.actions.is_empty(),
                "LastError": o.errors.last(),
            })
        })
        .collect();
    json!({ "Git": git_view(mgr), "Clusters": clusters })
}
