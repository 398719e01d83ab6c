//! `Node`: the one handle shared by the HTTP API and the cluster service. It routes writes
//! to the leader (locally or with one forwarded hop), fences linearizable reads, and owns
//! the pieces a member needs: Raft, the object store and channels to peers.

use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod advertised;
mod error;
pub mod messages;
mod raft_watch;
mod seams;
mod telemetry;

pub use telemetry::spawn_metrics;

use proto::raft::cluster_service_client::ClusterServiceClient;
use tokio::sync::Mutex;

use crate::command::{Request, Response};
use crate::raft::network::{decode, encode, Channels};
use crate::raft::{
    self, ClientWriteError, MemberInfo, Metrics, NodeId, Raft, RaftError, ReadPolicy,
};
use crate::store::ObjectStore;
pub use error::NodeError;
use messages::{ForwardOutcome, ReadIndexOutcome};

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
    pub raft: Raft,
    pub store: ObjectStore,
    pub channels: Channels,
    /// One membership change at a time; a second concurrent one is refused with 409.
    pub membership_lock: Mutex<()>,
    pub credentials: crate::auth::CredentialCache,
    /// Change events applied on this member, for `/api/v3/ws`.
    pub events: crate::events::Bus,
    /// The certificates this member serves, replaceable while it runs.
    pub tls: crate::tls::rotation::Live,
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

const STEP: Duration = Duration::from_millis(100);
/// Per-call budget for member-to-member calls beyond the caller's own deadline.
const PEER_CALL_TIMEOUT: Duration = Duration::from_secs(5);

impl Node {
    pub fn metrics(&self) -> Metrics {
        raft::metrics_now(&self.raft)
    }

    pub fn member_info(&self, metrics: &Metrics, id: NodeId) -> Option<MemberInfo> {
        metrics
            .membership_config
            .membership()
            .get_node(&id)
            .cloned()
    }

    /// True until this node is part of a cluster's membership.
    pub fn is_unjoined(&self) -> bool {
        self.metrics()
            .membership_config
            .membership()
            .nodes()
            .next()
            .is_none()
    }

    pub fn leader_hint(&self) -> LeaderHint {
        let m = self.metrics();
        match m.current_leader {
            Some(id) if id == self.node_id => LeaderHint::Me,
            Some(id) => match self.member_info(&m, id) {
                Some(info) => LeaderHint::Other(id, info),
                None => LeaderHint::Unknown,
            },
            None => LeaderHint::Unknown,
        }
    }

    /// The leader's ConsensusID, if one is known.
    pub fn leader_consensus_id(&self, m: &Metrics) -> Option<String> {
        let id = m.current_leader?;
        self.member_info(m, id).map(|i| i.consensus_id)
    }

    /// Waits (bounded) for the next metrics change, e.g. a new leader.
    async fn await_change(&self, deadline: Instant) {
        let wait = deadline.saturating_duration_since(Instant::now()).min(STEP);
        raft::metrics_changed(&self.raft, wait).await;
    }

    pub fn cluster_client(
        &self,
        addr: &str,
    ) -> Result<ClusterServiceClient<tonic::transport::Channel>, NodeError> {
        let ch = self.channels.get(addr).map_err(NodeError::Unavailable)?;
        Ok(ClusterServiceClient::new(ch))
    }

    /// Commits one write through the leader and returns its outcome. Retries across leader
    /// changes until the write deadline; safe because every request carries an idempotency
    /// key, so a retry of a write that did commit replays its first outcome.
    pub async fn write(&self, req: Request) -> Result<Response, NodeError> {
        check_depth(&req)?;
        let deadline = Instant::now() + self.settings.write_timeout;
        let mut last_problem = "no leader elected".to_string();
        while Instant::now() < deadline {
            match self.leader_hint() {
                LeaderHint::Me => match self.write_as_leader(req.clone(), deadline).await {
                    ForwardOutcome::Applied(resp) => return Ok(resp),
                    ForwardOutcome::NotLeader(_) => self.await_change(deadline).await,
                    ForwardOutcome::Unknown(why) => last_problem = why,
                },
                LeaderHint::Other(_, info) => match self.forward_write(&info, &req, deadline).await
                {
                    Ok(ForwardOutcome::Applied(resp)) => return Ok(resp),
                    Ok(ForwardOutcome::NotLeader(_)) => self.await_change(deadline).await,
                    Ok(ForwardOutcome::Unknown(why)) => {
                        last_problem = why;
                        self.await_change(deadline).await;
                    }
                    Err(e) => {
                        last_problem = e.to_string();
                        self.await_change(deadline).await;
                    }
                },
                LeaderHint::Unknown => self.await_change(deadline).await,
            }
        }
        Err(NodeError::Unavailable(format!(
            "write not committed within {:?} ({last_problem}); the cluster may have lost its quorum. \
             Its outcome is unknown: retry with the same Idempotency-Key",
            self.settings.write_timeout
        )))
    }

    /// Proposes on this node, which must be the leader. Never forwards.
    pub async fn write_as_leader(&self, req: Request, deadline: Instant) -> ForwardOutcome {
        // A retry of a write that already committed is answered from the replicated record
        // (a key not yet applied here is still deduplicated when its entry applies).
        match self.store.recorded_outcome(&req) {
            Ok(Some(resp)) => return ForwardOutcome::Applied(resp),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "reading idempotency records"),
        }
        let budget = deadline.saturating_duration_since(Instant::now());
        let outcome = self.propose(req, budget).await;
        if !matches!(outcome, ForwardOutcome::Applied(_)) {
            crate::metrics::global().proposals_failed.inc();
        }
        outcome
    }

    async fn propose(&self, req: Request, budget: Duration) -> ForwardOutcome {
        match tokio::time::timeout(budget, self.raft.client_write(req)).await {
            Err(_) => ForwardOutcome::Unknown(format!(
                "no quorum acknowledged the write within {budget:?}"
            )),
            Ok(Ok(resp)) => ForwardOutcome::Applied(resp.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                ForwardOutcome::NotLeader(f.leader_id)
            }
            Ok(Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_)))) => {
                ForwardOutcome::Unknown("leadership changed before the write committed".into())
            }
            Ok(Err(e)) => ForwardOutcome::Unknown(e.to_string()),
        }
    }

    async fn forward_write(
        &self,
        leader: &MemberInfo,
        req: &Request,
        deadline: Instant,
    ) -> Result<ForwardOutcome, NodeError> {
        crate::metrics::global().forwarded_writes.inc();
        let mut client = self.cluster_client(&leader.consensus_addr)?;
        let payload = encode(req).map_err(NodeError::Internal)?;
        let budget = deadline
            .saturating_duration_since(Instant::now())
            .min(PEER_CALL_TIMEOUT);
        match tokio::time::timeout(budget, client.forward_write(payload)).await {
            Err(_) => Err(NodeError::Unavailable(format!(
                "leader {} did not answer within {budget:?}",
                leader.consensus_id
            ))),
            Ok(Err(status)) => Err(NodeError::Unavailable(format!(
                "leader {}: {}",
                leader.consensus_id,
                status.message()
            ))),
            Ok(Ok(resp)) => decode(resp.get_ref()).map_err(NodeError::Internal),
        }
    }

    /// Returns once this node's state machine reflects every write acknowledged before the
    /// call (read index through the leader), or fails with 503 when no leader can confirm.
    pub async fn read_barrier(&self) -> Result<(), NodeError> {
        let deadline = Instant::now() + self.settings.read_timeout;
        let mut last_problem = "no leader elected".to_string();
        while Instant::now() < deadline {
            let budget = deadline.saturating_duration_since(Instant::now());
            match self.leader_hint() {
                LeaderHint::Me => {
                    crate::metrics::read_index_round("leader");
                    match tokio::time::timeout(
                        budget,
                        self.raft.ensure_linearizable(ReadPolicy::ReadIndex),
                    )
                    .await
                    {
                        Ok(Ok(_)) => return Ok(()),
                        Ok(Err(e)) => {
                            last_problem = e.to_string();
                            self.await_change(deadline).await;
                        }
                        Err(_) => last_problem = "no quorum confirmed leadership in time".into(),
                    }
                }
                LeaderHint::Other(_, info) => match self.remote_read_index(&info, deadline).await {
                    Ok(ReadIndexOutcome::Ready { read_log_id }) => {
                        let linearizer = raft::linearizer(self.node_id, read_log_id);
                        let budget = deadline.saturating_duration_since(Instant::now());
                        match linearizer.try_await_ready(&self.raft, Some(budget)).await {
                            Ok(Ok(_)) => return Ok(()),
                            Ok(Err(_)) => {
                                last_problem =
                                    "this member did not catch up with the leader in time".into()
                            }
                            Err(fatal) => {
                                return Err(NodeError::Unavailable(format!(
                                    "raft stopped: {fatal}"
                                )))
                            }
                        }
                    }
                    Ok(ReadIndexOutcome::NotLeader(_)) => self.await_change(deadline).await,
                    Ok(ReadIndexOutcome::Unavailable(why)) => {
                        last_problem = why;
                        self.await_change(deadline).await;
                    }
                    Err(e) => {
                        last_problem = e.to_string();
                        self.await_change(deadline).await;
                    }
                },
                LeaderHint::Unknown => self.await_change(deadline).await,
            }
        }
        Err(NodeError::Unavailable(format!(
            "cannot serve a linearizable read ({last_problem}); send X-DRP-Stale-Read: true for a local read"
        )))
    }

    async fn remote_read_index(
        &self,
        leader: &MemberInfo,
        deadline: Instant,
    ) -> Result<ReadIndexOutcome, NodeError> {
        crate::metrics::read_index_round("follower");
        let mut client = self.cluster_client(&leader.consensus_addr)?;
        let budget = deadline
            .saturating_duration_since(Instant::now())
            .min(PEER_CALL_TIMEOUT);
        let payload = encode(&()).map_err(NodeError::Internal)?;
        match tokio::time::timeout(budget, client.read_index(payload)).await {
            Err(_) => Err(NodeError::Unavailable(format!(
                "leader {} did not answer within {budget:?}",
                leader.consensus_id
            ))),
            Ok(Err(status)) => Err(NodeError::Unavailable(format!(
                "leader {}: {}",
                leader.consensus_id,
                status.message()
            ))),
            Ok(Ok(resp)) => decode(resp.get_ref()).map_err(NodeError::Internal),
        }
    }

    /// The leader's half of a follower read: confirm leadership with a quorum.
    pub async fn leader_read_index(&self) -> ReadIndexOutcome {
        let budget = self.settings.read_timeout;
        match tokio::time::timeout(budget, self.raft.get_read_linearizer(ReadPolicy::ReadIndex))
            .await
        {
            Err(_) => {
                ReadIndexOutcome::Unavailable("no quorum confirmed leadership in time".into())
            }
            Ok(Ok(lin)) => ReadIndexOutcome::Ready {
                read_log_id: *lin.read_log_id(),
            },
            Ok(Err(e)) => match e.forward_to_leader() {
                Some(f) => ReadIndexOutcome::NotLeader(f.leader_id),
                None => ReadIndexOutcome::Unavailable(e.to_string()),
            },
        }
    }
}

/// Refuses a command nested too deeply to be decoded back from the log (413): checked before
/// it is proposed, by the member that received it and, for a forwarded write, by the leader.
pub(crate) fn check_depth(req: &Request) -> Result<(), NodeError> {
    let bytes = serde_json::to_vec(req).map_err(|e| NodeError::Internal(e.to_string()))?;
    let depth = crate::command::json_depth(&bytes);
    if depth > crate::command::MAX_COMMAND_DEPTH {
        return Err(NodeError::TooDeep {
            depth,
            limit: crate::command::MAX_COMMAND_DEPTH,
        });
    }
    Ok(())
}
