//! One rollout: read the members' versions, stage the binary on every member that needs it,
//! then run it one member at a time (followers first, the leader last), waiting until each
//! is back at the target, caught up and the cluster failOverSafe before the next.

use std::time::{Duration, Instant};

use proto::cluster::ClusterState;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::watch;

use super::bare;
use super::catalog::Entry;
use super::error::{LeaderError, MemberCallError, NotBackYet, NotReady, RolloutError};
use super::progress::{self, DONE, HALTED};
use crate::cluster::Cluster;

/// Sized for a ~100 MB body over a slow link, hashed and fsynced on the member.
const STAGE_TIMEOUT: Duration = Duration::from_secs(600);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one member may take to come back at the target, caught up, failOverSafe.
const MEMBER_BACK: Duration = Duration::from_secs(180);
/// How long the cluster may take to be whole before the next member goes down.
const READY_WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(300);

pub(super) async fn run(
    stop: watch::Receiver<bool>,
    id: String,
    cluster: std::sync::Arc<Cluster>,
    target: String,
    entry: Entry,
) {
    let outcome = steps(&stop, &id, &cluster, &target, &entry).await;
    let (state, detail) = match outcome {
        Ok(detail) => (DONE, detail),
        Err(why) => (HALTED, why.to_string()),
    };
    if state == HALTED {
        tracing::error!(endpoint = %id, %target, "rollout halted: {detail}");
    } else {
        tracing::info!(endpoint = %id, %target, "rollout: {detail}");
    }
    progress::update(&id, |p| {
        p.state = state.into();
        p.detail = detail;
    });
}

fn note(id: &str, detail: String) {
    tracing::info!(endpoint = %id, "rollout: {detail}");
    progress::update(id, |p| p.detail = detail);
}

async fn steps(
    stop: &watch::Receiver<bool>,
    id: &str,
    c: &Cluster,
    target: &str,
    entry: &Entry,
) -> Result<String, RolloutError> {
    let state = ready(stop, id, c).await?;
    let pending: Vec<(String, String)> = state
        .nodes
        .iter()
        .filter(|n| bare(&n.version) != bare(target))
        .map(|n| (n.consensus_id.clone(), n.api_url.clone()))
        .collect();
    if pending.is_empty() {
        return Ok(format!("every member runs {target}"));
    }
    let body = tokio::fs::read(&entry.path)
        .await
        .map_err(|source| RolloutError::ReadBinary {
            path: entry.path.clone(),
            source,
        })?;
    for (member, url) in &pending {
        note(id, format!("staging {target} on {member}"));
        stage(c, url, &body, &entry.sha256)
            .await
            .map_err(|source| RolloutError::Stage {
                member: member.clone(),
                source,
            })?;
    }
    let mut left = pending;
    while !left.is_empty() {
        let state = ready(stop, id, c).await?;
        // Followers first: the leader only once it is the last one left.
        let pick = left
            .iter()
            .position(|(m, _)| *m != state.leader_id)
            .unwrap_or(0);
        let (member, url) = left.remove(pick);
        note(id, format!("running {target} on {member}"));
        run_member(c, &url)
            .await
            .map_err(|source| RolloutError::Run {
                member: member.clone(),
                source,
            })?;
        wait_back(stop, id, c, &member, &url, target, state.commit_index).await?;
        progress::update(id, |p| p.upgraded.push(member.clone()));
    }
    ready(stop, id, c).await?;
    Ok(format!("every member runs {target}"))
}

/// The leader's cluster state, once every member is online and the cluster failOverSafe
/// (so that taking one member down never leaves two down); records the members' versions.
async fn ready(
    stop: &watch::Receiver<bool>,
    id: &str,
    c: &Cluster,
) -> Result<ClusterState, RolloutError> {
    let end = Instant::now() + READY_WAIT;
    loop {
        if *stop.borrow() {
            return Err(RolloutError::Stopping);
        }
        let last = match whole(c).await {
            Ok(s) => {
                record_versions(id, &s);
                return Ok(s);
            }
            Err(e) => e,
        };
        if Instant::now() >= end {
            return Err(RolloutError::NotWhole(last));
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn whole(c: &Cluster) -> Result<ClusterState, NotReady> {
    let s = cluster_state(c).await?;
    if let Some(n) = s.nodes.iter().find(|n| !n.online) {
        return Err(NotReady::Offline(n.consensus_id.clone()));
    }
    if !fail_over_safe(c).await? {
        return Err(NotReady::NotFailOverSafe);
    }
    Ok(s)
}

fn record_versions(id: &str, s: &ClusterState) {
    progress::update(id, |p| {
        p.members = s
            .nodes
            .iter()
            .map(|n| (n.consensus_id.clone(), n.version.clone()))
            .collect();
    });
}

pub(crate) async fn leader_json(c: &Cluster, path: &str) -> Result<Value, LeaderError> {
    match c
        .json(Method::GET, path, None, &[], CALL_TIMEOUT, CALL_TIMEOUT)
        .await
    {
        Ok((status, v)) if status.is_success() => Ok(v),
        Ok((status, body)) => Err(LeaderError::Status {
            path: path.to_owned(),
            status,
            body,
        }),
        Err(source) => Err(LeaderError::Send {
            path: path.to_owned(),
            source,
        }),
    }
}

pub(crate) async fn cluster_state(c: &Cluster) -> Result<ClusterState, LeaderError> {
    let v = leader_json(c, "/api/v3/system/consensus/state").await?;
    serde_json::from_value(v).map_err(LeaderError::State)
}

pub(crate) async fn fail_over_safe(c: &Cluster) -> Result<bool, LeaderError> {
    let v = leader_json(c, "/api/v3/system/consensus/failOverSafe").await?;
    Ok(v["Safe"] == Value::Bool(true))
}

pub(crate) fn member_call(
    c: &Cluster,
    method: Method,
    url: &str,
    path: &str,
) -> reqwest::RequestBuilder {
    let url = format!("{}{path}", url.trim_end_matches('/'));
    c.authorize(c.client().request(method, url))
}

/// Sends `req` to a member; `Ok` when it answers with `expected` or 200.
async fn expect(req: reqwest::RequestBuilder, expected: StatusCode) -> Result<(), MemberCallError> {
    let resp = req.send().await.map_err(MemberCallError::Send)?;
    let status = resp.status();
    if status == expected || status == StatusCode::OK {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    Err(MemberCallError::Refused {
        status,
        body: text.chars().take(300).collect(),
    })
}

async fn stage(c: &Cluster, url: &str, body: &[u8], sha: &str) -> Result<(), MemberCallError> {
    let req = member_call(c, Method::POST, url, "/api/v3/system/upgrade/stage")
        .header("Content-Type", "application/octet-stream")
        .header("X-DRP-Sha256", sha)
        .body(body.to_vec())
        .timeout(STAGE_TIMEOUT);
    expect(req, StatusCode::CREATED).await
}

/// Runs the staged binary with the member's own argv (no `Args`): the binary in the catalog
/// must accept the flags its members were started with.
async fn run_member(c: &Cluster, url: &str) -> Result<(), MemberCallError> {
    let req = member_call(c, Method::POST, url, "/api/v3/system/upgrade/run")
        .timeout(Duration::from_secs(30));
    expect(req, StatusCode::ACCEPTED).await
}

/// Waits (bounded) until `member` publishes `target`, has caught up with the commit index
/// from before it went down, and the cluster is failOverSafe; a member that reports
/// `rolled-back` or `failed` halts the rollout.
#[allow(clippy::too_many_arguments)]
async fn wait_back(
    stop: &watch::Receiver<bool>,
    id: &str,
    c: &Cluster,
    member: &str,
    url: &str,
    target: &str,
    commit: u64,
) -> Result<(), RolloutError> {
    let end = Instant::now() + MEMBER_BACK;
    loop {
        if *stop.borrow() {
            return Err(RolloutError::Stopping);
        }
        if let Ok(resp) = member_call(c, Method::GET, url, "/api/v3/system/upgrade/status")
            .timeout(CALL_TIMEOUT)
            .send()
            .await
        {
            if let Ok(v) = resp.json::<Value>().await {
                let state = v["State"].as_str().unwrap_or("");
                if state == "rolled-back" || state == "failed" {
                    return Err(RolloutError::MemberFailed {
                        member: member.to_owned(),
                        state: state.to_owned(),
                        error: v["Error"].as_str().unwrap_or("").to_owned(),
                    });
                }
            }
        }
        let last = match back(c, member, target, commit).await {
            Ok(true) => {
                if let Ok(s) = cluster_state(c).await {
                    record_versions(id, &s);
                }
                return Ok(());
            }
            Ok(false) => NotBackYet::Pending {
                member: member.to_owned(),
                target: target.to_owned(),
            },
            Err(e) => e,
        };
        if Instant::now() >= end {
            return Err(RolloutError::NotBack {
                member: member.to_owned(),
                within: MEMBER_BACK,
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn back(c: &Cluster, member: &str, target: &str, commit: u64) -> Result<bool, NotBackYet> {
    let s = cluster_state(c).await?;
    let Some(n) = s.nodes.iter().find(|n| n.consensus_id == member) else {
        return Ok(false);
    };
    let caught_up = n.consensus_id == s.leader_id || n.match_index.is_some_and(|m| m >= commit);
    Ok(bare(&n.version) == bare(target) && n.online && caught_up && fail_over_safe(c).await?)
}
