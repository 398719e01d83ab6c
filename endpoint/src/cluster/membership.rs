//! Enrolment and removal of members, executed on the leader one change at a time.
//! A new member joins as a learner, catches up, then becomes a voter (unless an observer).

use std::time::Duration;

use proto::raft::{IdentifyRequest, Identity};
use serde::Deserialize;

use super::error::ClusterError;
use super::state::cluster_state;
use crate::node::messages::AdminReply;
use crate::node::{LeaderHint, Node};
use crate::raft::network::{decode, encode};
use crate::raft::{node_id_of, MemberInfo, MembershipChange, NodeId};

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    #[serde(rename = "ConsensusAddr")]
    pub consensus_addr: String,
    #[serde(rename = "ApiUrl")]
    pub api_url: String,
    #[serde(rename = "Observer", default)]
    pub observer: bool,
}

const IDENTIFY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a new member may take to catch up before the enrol call gives up (it stays a
/// learner and a retried enrol continues from there).
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);
const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);

impl EnrollRequest {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.consensus_addr.parse::<std::net::SocketAddr>().is_err()
            && !looks_like_host_port(&self.consensus_addr)
        {
            problems.push(format!(
                "ConsensusAddr {:?} is not a host:port address",
                self.consensus_addr
            ));
        }
        if !(self.api_url.starts_with("http://") || self.api_url.starts_with("https://")) {
            problems.push(format!(
                "ApiUrl {:?} must be an http:// or https:// URL",
                self.api_url
            ));
        }
        problems
    }
}

fn looks_like_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

fn busy() -> ClusterError {
    ClusterError::Conflict(
        "another membership change is in progress; retry when it completes".into(),
    )
}

fn raft_failure(what: &str, e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Unavailable(format!("{what} failed: {e}"))
}

pub fn reply_of(result: Result<serde_json::Value, ClusterError>) -> AdminReply {
    match result {
        Ok(body) => AdminReply { status: 200, body },
        Err(e) => {
            let status = e.status();
            AdminReply {
                status,
                body: crate::command::error_body(status, "", "", e.messages()),
            }
        }
    }
}

async fn call_leader(
    node: &Node,
    leader: &MemberInfo,
    payload: proto::raft::Payload,
    enroll: bool,
) -> Result<AdminReply, ClusterError> {
    let mut client = node.cluster_client(&leader.consensus_addr)?;
    let budget = CATCH_UP_TIMEOUT + CHANGE_TIMEOUT;
    let call = async {
        if enroll {
            client.enroll(payload).await
        } else {
            client.remove_node(payload).await
        }
    };
    match tokio::time::timeout(budget, call).await {
        Err(_) => Err(ClusterError::Unavailable(format!(
            "leader {} did not answer in time",
            leader.consensus_id
        ))),
        Ok(Err(status)) => Err(ClusterError::Unavailable(format!(
            "leader {}: {}",
            leader.consensus_id,
            status.message()
        ))),
        Ok(Ok(resp)) => decode(resp.get_ref()).map_err(|e| ClusterError::Internal(e.to_string())),
    }
}

/// Enrols a node from any member: executed here when this node leads, else forwarded once.
pub async fn enroll(node: &Node, req: EnrollRequest) -> Result<AdminReply, ClusterError> {
    match node.leader_hint() {
        LeaderHint::Me => Ok(reply_of(enroll_on_leader(node, req).await)),
        LeaderHint::Other(_, leader) => {
            let payload = encode(&req).map_err(|e| ClusterError::Internal(e.to_string()))?;
            call_leader(node, &leader, payload, true).await
        }
        LeaderHint::Unknown => Err(no_leader()),
    }
}

pub async fn remove(node: &Node, consensus_id: String) -> Result<AdminReply, ClusterError> {
    match node.leader_hint() {
        LeaderHint::Me => Ok(reply_of(remove_on_leader(node, &consensus_id).await)),
        LeaderHint::Other(_, leader) => {
            let payload =
                encode(&consensus_id).map_err(|e| ClusterError::Internal(e.to_string()))?;
            call_leader(node, &leader, payload, false).await
        }
        LeaderHint::Unknown => Err(no_leader()),
    }
}

fn no_leader() -> ClusterError {
    ClusterError::Unavailable("no leader elected; retry shortly".into())
}

pub async fn enroll_on_leader(
    node: &Node,
    req: EnrollRequest,
) -> Result<serde_json::Value, ClusterError> {
    let problems = req.problems();
    if !problems.is_empty() {
        return Err(ClusterError::Invalid(problems));
    }
    let _guard = node.membership_lock.try_lock().map_err(|_| busy())?;
    let (id, identity) = identify(node, &req).await?;
    let (already_member, already_voter) = standing(node, &req, id)?;
    if !already_member && identity.initialized {
        return Err(ClusterError::Conflict(format!(
            "the node at {} already holds cluster state; wipe its data dir to join it as a new member",
            req.consensus_addr
        )));
    }
    let info = MemberInfo {
        consensus_id: identity.consensus_id.clone(),
        consensus_addr: req.consensus_addr.clone(),
        api_url: req.api_url.clone(),
        observer: req.observer,
    };
    if !already_member || !already_voter {
        add_learner(node, id, info.clone()).await?;
    }
    if !req.observer && !already_voter {
        promote(node, id, &info).await?;
    }
    serde_json::to_value(cluster_state(node).await)
        .map_err(|e| ClusterError::Internal(e.to_string()))
}

/// Reaches the node on its consensus address first: that proves the address is right and
/// tells its identity and which cluster it belongs to (it must be this one).
async fn identify(node: &Node, req: &EnrollRequest) -> Result<(NodeId, Identity), ClusterError> {
    let mut client = node
        .cluster_client(&req.consensus_addr)
        .map_err(|e| ClusterError::Unreachable(e.to_string()))?;
    let identity =
        match tokio::time::timeout(IDENTIFY_TIMEOUT, client.identify(IdentifyRequest {})).await {
            Err(_) => {
                return Err(ClusterError::Unreachable(format!(
                    "ConsensusAddr {} did not answer within {IDENTIFY_TIMEOUT:?}",
                    req.consensus_addr
                )))
            }
            Ok(Err(status)) => {
                return Err(ClusterError::Unreachable(format!(
                    "cannot reach ConsensusAddr {}: {}",
                    req.consensus_addr,
                    status.message()
                )))
            }
            Ok(Ok(r)) => r.into_inner(),
        };
    if identity.ha_id != node.settings.ha_id {
        return Err(ClusterError::Conflict(format!(
            "the node at {} belongs to HA cluster {:?}, not {:?}",
            req.consensus_addr, identity.ha_id, node.settings.ha_id
        )));
    }
    let id = node_id_of(&identity.consensus_id).ok_or_else(|| {
        ClusterError::Unreachable(format!(
            "the node at {} reports a malformed ConsensusID",
            req.consensus_addr
        ))
    })?;
    Ok((id, identity))
}

/// Whether node `id` is already a member and a voter; refuses an address or identity that
/// clashes with another member's.
fn standing(node: &Node, req: &EnrollRequest, id: NodeId) -> Result<(bool, bool), ClusterError> {
    let m = node.metrics();
    for (member_id, info) in &m.members {
        if info.consensus_addr == req.consensus_addr && *member_id != id {
            return Err(ClusterError::Conflict(format!(
                "ConsensusAddr {} is already used by member {}; remove it first",
                req.consensus_addr, info.consensus_id
            )));
        }
        if *member_id == id && info.consensus_addr != req.consensus_addr {
            return Err(ClusterError::Conflict(format!(
                "member {} is already enrolled with ConsensusAddr {}",
                info.consensus_id, info.consensus_addr
            )));
        }
    }
    let already_member = m.member(id).is_some();
    let already_voter = m.is_voter(id);
    Ok((already_member, already_voter))
}

/// Adds the node as a learner and waits until it caught up.
async fn add_learner(node: &Node, id: NodeId, info: MemberInfo) -> Result<(), ClusterError> {
    tracing::info!(member = %info.consensus_id, addr = %info.consensus_addr, "enrolling as learner");
    match tokio::time::timeout(CATCH_UP_TIMEOUT, node.raft.add_learner(id, info)).await {
        Err(_) => Err(ClusterError::Unavailable(
            "the new member did not catch up in time; retry the enrol".into(),
        )),
        Ok(Err(e)) => Err(raft_failure("adding the learner", e)),
        Ok(Ok(_)) => Ok(()),
    }
}

/// Makes the learner a voter.
async fn promote(node: &Node, id: NodeId, info: &MemberInfo) -> Result<(), ClusterError> {
    tracing::info!(member = %info.consensus_id, "promoting to voter");
    let change = MembershipChange::AddVoter(id);
    match tokio::time::timeout(CHANGE_TIMEOUT, node.raft.change_membership(change)).await {
        Err(_) => Err(ClusterError::Unavailable(
            "promoting the member to voter did not commit in time".into(),
        )),
        Ok(Err(e)) => Err(raft_failure("promoting to voter", e)),
        Ok(Ok(_)) => Ok(()),
    }
}

pub async fn remove_on_leader(
    node: &Node,
    consensus_id: &str,
) -> Result<serde_json::Value, ClusterError> {
    let id: NodeId = node_id_of(consensus_id).ok_or_else(|| {
        ClusterError::Invalid(vec![format!(
            "{consensus_id:?} is not a ConsensusID (a UUID)"
        )])
    })?;
    let _guard = node.membership_lock.try_lock().map_err(|_| busy())?;
    let m = node.metrics();
    if m.member(id).is_none() {
        return Err(ClusterError::NotFound(format!(
            "no member with ConsensusID {consensus_id}"
        )));
    }
    if m.is_voter(id) {
        if m.voters.len() == 1 {
            return Err(ClusterError::Conflict(
                "cannot remove the last voter of the cluster".into(),
            ));
        }
        let change = MembershipChange::RemoveVoter(id);
        match tokio::time::timeout(CHANGE_TIMEOUT, node.raft.change_membership(change)).await {
            Err(_) => {
                return Err(ClusterError::Unavailable(
                    "removing the voter did not commit in time".into(),
                ))
            }
            Ok(Err(e)) => return Err(raft_failure("removing the voter", e)),
            Ok(Ok(_)) => {}
        }
    }
    let still_listed = node.raft.members().contains_key(&id);
    if still_listed && node.raft.is_leader() {
        let change = MembershipChange::RemoveNode(id);
        if let Ok(Err(e)) =
            tokio::time::timeout(CHANGE_TIMEOUT, node.raft.change_membership(change)).await
        {
            return Err(raft_failure("removing the learner", e));
        }
    }
    tracing::info!(member = %consensus_id, "member removed");
    serde_json::to_value(cluster_state(node).await)
        .map_err(|e| ClusterError::Internal(e.to_string()))
}
