//! The health gate between waves, read on every endpoint of the wave just applied: the
//! cluster connected and every member online, `failOverSafe` (clusters of more than one
//! voter: a single member has no one to fail over to), the desired state's hash applied on
//! every member, and no job failed since the apply.

use std::time::Duration;

use proto::cluster::ClusterState;
use reqwest::Method;
use serde_json::Value;

use crate::cluster::{self, Cluster};
use crate::state::Manager;
use crate::sync::upgrade::rollout::{cluster_state, fail_over_safe, leader_json, member_call};

const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// One failed check of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub endpoint: String,
    pub text: String,
    /// A failure (a job failed) halts the rollout; anything else only holds the gate.
    pub fatal: bool,
}

/// Reads the gate on `endpoints` (id, desired hash): every problem found.
pub async fn read(mgr: &Manager, endpoints: &[(String, String)]) -> Vec<Problem> {
    let mut out = Vec::new();
    for (id, hash) in endpoints {
        let (texts, fatal) = match endpoint(mgr, id, hash).await {
            Ok(()) => continue,
            Err(Check::Hold(t)) => (t, false),
            Err(Check::Fail(t)) => (vec![t], true),
        };
        out.extend(texts.into_iter().map(|text| Problem {
            endpoint: id.clone(),
            text,
            fatal,
        }));
    }
    out
}

enum Check {
    /// Not healthy yet: the gate holds.
    Hold(Vec<String>),
    /// Broken: the rollout halts.
    Fail(String),
}

async fn endpoint(mgr: &Manager, id: &str, hash: &str) -> Result<(), Check> {
    let hold = |t: String| Check::Hold(vec![t]);
    let Some(c) = mgr.cluster(id) else {
        return Err(hold("not followed by the manager".into()));
    };
    let view = c.view();
    if view.status != cluster::CONNECTED {
        let why = view.error.map(|e| format!(": {e}")).unwrap_or_default();
        return Err(hold(format!("cluster {}{why}", view.status)));
    }
    let state = cluster_state(&c).await.map_err(|e| hold(e.to_string()))?;
    let mut problems: Vec<String> = state
        .nodes
        .iter()
        .filter(|n| !n.online)
        .map(|n| format!("member {} offline", n.consensus_id))
        .collect();
    if state.voters().len() > 1 && !fail_over_safe(&c).await.map_err(|e| hold(e.to_string()))? {
        problems.push("not failOverSafe".into());
    }
    problems.extend(hash_problems(&c, &state, hash).await);
    if !problems.is_empty() {
        return Err(Check::Hold(problems));
    }
    let since = mgr
        .registry
        .observed(id)
        .applied
        .map(|a| a.at)
        .unwrap_or_default();
    failed_job(&c, &since).await
}

/// Members whose applied VersionSet is not `hash` (offline members are reported already).
async fn hash_problems(c: &Cluster, state: &ClusterState, hash: &str) -> Vec<String> {
    let mut out = Vec::new();
    for n in state.nodes.iter().filter(|n| n.online) {
        let read = member_call(c, Method::GET, &n.api_url, proto::paths::VERSIONSET)
            .timeout(CALL_TIMEOUT)
            .send()
            .await;
        let applied = match read {
            Ok(resp) if resp.status().is_success() => resp.json::<Value>().await.ok(),
            _ => None,
        };
        let have = applied
            .as_ref()
            .and_then(|v| v.get("Hash"))
            .and_then(Value::as_str);
        if have != Some(hash) {
            out.push(format!(
                "member {} has applied hash {} (want {})",
                n.consensus_id,
                have.map_or("none", |h| h.get(..12).unwrap_or(h)),
                hash.get(..12).unwrap_or(hash)
            ));
        }
    }
    out
}

/// A job that failed at or after `since` (the apply's RFC 3339 time: the endpoint writes
/// both times in the same UTC form, so they compare as text).
async fn failed_job(c: &Cluster, since: &str) -> Result<(), Check> {
    let jobs = leader_json(c, "/api/v3/jobs?State=failed")
        .await
        .map_err(|e| Check::Hold(vec![e.to_string()]))?;
    let failed = jobs.as_array().into_iter().flatten().find(|j| {
        j.get("EndTime")
            .and_then(Value::as_str)
            .is_some_and(|t| !since.is_empty() && t >= since)
    });
    match failed {
        Some(j) => Err(Check::Fail(format!(
            "job {} ({}) failed at {} after the apply",
            j["Uuid"].as_str().unwrap_or("?"),
            j["Task"].as_str().unwrap_or("?"),
            j["EndTime"].as_str().unwrap_or("?")
        ))),
        None => Ok(()),
    }
}
