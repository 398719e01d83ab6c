//! `ClusterState` as DESIGN.md gives it, from this node's metrics plus the leader's view of
//! replication progress (match index and liveness), fetched when this node is a follower.

use std::time::Duration;

use crate::node::messages::{LeaderView, MemberProgress};
use crate::node::Node;
use crate::raft::network::{decode, encode};
use crate::raft::Metrics;

/// The shape served is the workspace's one definition (the manager and the tests read it).
pub use proto::cluster::{ClusterState, NodeInfo};

const VIEW_TIMEOUT: Duration = Duration::from_millis(700);

/// The leader's replication view, computed locally (this node leads) or fetched.
pub async fn leader_view(node: &Node, m: &Metrics) -> Option<LeaderView> {
    let leader = m.current_leader?;
    if leader == node.node_id {
        return local_leader_view(node, m);
    }
    let info = node.member_info(m, leader)?;
    let mut client = node.cluster_client(&info.consensus_addr).ok()?;
    let payload = encode(&()).ok()?;
    let resp = tokio::time::timeout(VIEW_TIMEOUT, client.leader_view(payload))
        .await
        .ok()?
        .ok()?;
    decode::<Option<LeaderView>>(resp.get_ref()).ok().flatten()
}

/// Only meaningful on the leader: Raft tracks replication progress there.
pub fn local_leader_view(node: &Node, m: &Metrics) -> Option<LeaderView> {
    if m.current_leader != Some(node.node_id) {
        return None;
    }
    let online_within = node.settings.election_max * 3;
    let replication = m.replication.as_ref();
    let members = m
        .members
        .keys()
        .map(|id| {
            if *id == node.node_id {
                return MemberProgress {
                    node_id: *id,
                    match_index: m.last_log_index,
                    online: true,
                };
            }
            let match_index = replication.and_then(|r| r.get(id)).copied().flatten();
            let online = m.acked_within(*id, online_within);
            MemberProgress {
                node_id: *id,
                match_index,
                online,
            }
        })
        .collect();
    Some(LeaderView {
        leader: node.node_id,
        last_log_index: m.last_log_index,
        members,
    })
}

pub async fn cluster_state(node: &Node) -> ClusterState {
    let m = node.metrics();
    let view = leader_view(node, &m).await;
    let published = crate::store::member_attributes::read_all(&node.store).unwrap_or_default();
    let nodes = m
        .members
        .iter()
        .map(|(id, info)| {
            let progress = view
                .as_ref()
                .and_then(|v| v.members.iter().find(|p| p.node_id == *id));
            let voter = m.is_voter(*id);
            let role = if m.current_leader == Some(*id) {
                proto::cluster::LEADER
            } else if voter {
                proto::cluster::FOLLOWER
            } else {
                proto::cluster::LEARNER
            };
            let online = progress.map_or(*id == node.node_id, |p| p.online);
            let match_index = progress.and_then(|p| p.match_index);
            // Versions come from the members' replicated attributes; the sha only for self.
            let version = published
                .get(&info.consensus_id)
                .map(|a| a.version.clone())
                .unwrap_or_default();
            let sha_sum = if *id == node.node_id {
                own_sha256()
            } else {
                String::new()
            };
            NodeInfo {
                consensus_id: info.consensus_id.clone(),
                consensus_addr: info.consensus_addr.clone(),
                api_url: info.api_url.clone(),
                role: role.to_owned(),
                voter,
                observer: info.observer,
                match_index,
                online,
                passive: m.current_leader != Some(*id),
                offline: !online,
                version,
                sha_sum,
                last_artifact_commit_handled: match_index.unwrap_or(0),
                virt_interface: String::new(),
                virt_interface_script: String::new(),
            }
        })
        .collect();
    let leader = m.current_leader.and_then(|id| node.member_info(&m, id));
    let active_uri = leader
        .as_ref()
        .map(|l| l.api_url.clone())
        .unwrap_or_default();
    ClusterState {
        ha_id: node.settings.ha_id.clone(),
        leader_id: leader
            .as_ref()
            .map(|l| l.consensus_id.clone())
            .unwrap_or_default(),
        valid: leader.is_some(),
        consensus_join: active_uri.clone(),
        active_uri,
        term: m.current_term,
        commit_index: m.commit_index.unwrap_or(0),
        applied_index: m.applied_index,
        nodes,
        enabled: true,
        consensus_enabled: true,
        virt_addr: node
            .settings
            .boot
            .virt_addr
            .map(|a| a.to_string())
            .unwrap_or_default(),
        load_balanced: false,
        server_hostname: crate::host::hostname(),
    }
}

/// The sha256 of this member's binary: empty until one blocking task has hashed it (the first
/// `ClusterState` starts it), so no async worker ever reads and hashes the file. The file is
/// streamed through the hash rather than read whole (a debug binary is about 100 MB).
fn own_sha256() -> String {
    use std::sync::atomic::{AtomicBool, Ordering};
    static SHA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static STARTED: AtomicBool = AtomicBool::new(false);
    if let Some(sha) = SHA.get() {
        return sha.clone();
    }
    if !STARTED.swap(true, Ordering::AcqRel) {
        tokio::task::spawn_blocking(|| {
            SHA.get_or_init(|| hash_file(std::env::current_exe().ok()).unwrap_or_default());
        });
    }
    String::new()
}

fn hash_file(path: Option<std::path::PathBuf>) -> Option<String> {
    use sha2::Digest;
    let mut file = std::fs::File::open(path?).ok()?;
    let mut hash = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hash).ok()?;
    Some(hex::encode(hash.finalize()))
}

/// At least one voter other than the leader is online and fully caught up.
pub async fn fail_over_safe(node: &Node) -> bool {
    let m = node.metrics();
    let Some(view) = leader_view(node, &m).await else {
        return false;
    };
    view.members.iter().any(|p| {
        p.node_id != view.leader
            && m.is_voter(p.node_id)
            && p.online
            && p.match_index == view.last_log_index
    })
}
