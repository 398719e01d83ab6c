//! `Node`: the one handle shared by the HTTP API and the cluster service. It routes writes
//! to the leader (locally or with one forwarded hop), fences linearizable reads, and owns
//! the pieces a member needs: Raft, the object store and channels to peers.

use std::sync::Arc;
use std::time::Duration;

pub mod advertised;
mod error;
mod follow;
pub mod messages;
mod raft_watch;
mod read;
mod seams;
mod telemetry;
mod write;

pub use telemetry::spawn_metrics;
pub(crate) use write::check_depth;

use proto::raft::cluster_service_client::ClusterServiceClient;
use tokio::sync::Mutex;

use crate::raft::network::Channels;
use crate::raft::{Changes, MemberInfo, Metrics, NodeId, RaftHandle};
use crate::store::ObjectStore;
pub use error::NodeError;

/// Settings a node serves with.
#[derive(Clone)] // no Debug: it holds the admin password
pub struct NodeSettings {
    pub ha_id: String,
    pub consensus_id: String,
    pub api_url: String,
    pub consensus_addr: String,
    pub api_port: u16,
    /// How long a write may wait for a quorum before the client gets a 503.
    pub write_timeout: Duration,
    pub read_timeout: Duration,
    pub election_max: Duration,
    pub election_min: Duration,
    /// The boot services this member runs, as `/api/v3/info` and rendered templates see them.
    pub boot: advertised::Advertised,
    /// `--admin-password`: only used to authenticate callers while this node has not
    /// joined a cluster yet (it then has no users of its own).
    pub admin_password: Option<String>,
    /// `--max-file-bytes`: the largest file `POST /files/<path>` accepts (413 beyond).
    pub max_file_bytes: u64,
}

pub struct NodeInner {
    pub settings: NodeSettings,
    pub node_id: NodeId,
    /// Raft, behind its facade. Not public: callers go through `Node`'s write and read paths
    /// and its state accessors.
    pub(crate) raft: RaftHandle,
    pub store: ObjectStore,
    pub channels: Channels,
    /// One membership change at a time; a second concurrent one is refused with 409.
    pub membership_lock: Mutex<()>,
    pub credentials: crate::auth::CredentialCache,
    /// Change events applied on this member, for `/api/v3/ws`.
    pub events: crate::events::Bus,
    /// The certificates this member serves, replaceable while it runs.
    pub tls: crate::tls::rotation::Live,
    /// Turns true when the member starts to stop: a response that would otherwise never end
    /// (a stream) ends on it, since the API server waits for open responses before it stops.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

#[derive(Clone)]
pub struct Node(pub Arc<NodeInner>);

impl std::ops::Deref for Node {
    type Target = NodeInner;
    fn deref(&self) -> &NodeInner {
        &self.0
    }
}

/// Who leads, as this node currently believes.
pub enum LeaderHint {
    Me,
    Other(NodeId, MemberInfo),
    Unknown,
}

/// Per-call budget for member-to-member calls beyond the caller's own deadline.
const PEER_CALL_TIMEOUT: Duration = Duration::from_secs(5);

impl Node {
    /// This member's Raft state (a snapshot).
    pub fn metrics(&self) -> Metrics {
        self.raft.metrics()
    }

    pub fn member_info(&self, metrics: &Metrics, id: NodeId) -> Option<MemberInfo> {
        metrics.member(id).cloned()
    }

    /// True until this node is part of a cluster's membership.
    pub fn is_unjoined(&self) -> bool {
        self.raft.members().is_empty()
    }

    /// The leader this member knows of.
    pub fn leader_id(&self) -> Option<NodeId> {
        self.raft.leader()
    }

    /// Index of the last entry this member knows committed (`None`: nothing yet).
    pub fn commit_index(&self) -> Option<u64> {
        self.raft.commit_index()
    }

    /// Index of the last entry this member applied: openraft's metric, or further when the
    /// state machine has already published events of later entries (the metric is updated
    /// after the apply returns, so a client that saw an event must not see a lower index).
    pub fn applied_index(&self) -> u64 {
        self.raft.applied_index().max(self.events.reached())
    }

    pub fn leader_hint(&self) -> LeaderHint {
        match self.raft.leader_info() {
            Some((id, _)) if id == self.node_id => LeaderHint::Me,
            Some((id, info)) => LeaderHint::Other(id, info),
            None if self.raft.leader() == Some(self.node_id) => LeaderHint::Me,
            None => LeaderHint::Unknown,
        }
    }

    /// The leader and how it is addressed, if one is known (without copying the whole state).
    pub fn leader_info(&self) -> Option<MemberInfo> {
        self.raft.leader_info().map(|(_, info)| info)
    }

    /// The leader's ConsensusID, if one is known.
    pub fn leader_consensus_id(&self, m: &Metrics) -> Option<String> {
        m.leader_info().map(|i| i.consensus_id.clone())
    }

    /// Follows this member's Raft state changes (a new leader, term or membership).
    pub fn changes(&self) -> Changes {
        self.raft.changes()
    }

    pub fn cluster_client(
        &self,
        addr: &str,
    ) -> Result<ClusterServiceClient<tonic::transport::Channel>, NodeError> {
        let ch = self
            .channels
            .get(addr)
            .map_err(|e| NodeError::Unavailable(e.to_string()))?;
        Ok(ClusterServiceClient::new(ch))
    }
}
