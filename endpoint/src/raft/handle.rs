//! `RaftHandle`: the one way the rest of the endpoint talks to Raft. Writes, read fences,
//! membership changes and the state snapshot, all in our own types; openraft's API, errors and
//! metrics stay inside `raft/`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use serde::{Deserialize, Serialize};

use super::coalesce::Coalescer;
use super::log_store::LogStore;
use super::network::NetworkFactory;
use super::runtime::ConsensusRuntime;
use super::state_machine::StateMachineStore;
use super::status::Metrics;
use super::{LogId, MemberInfo, NodeId, Raft, Timing, TypeConfig};
use crate::command::{Request, Response};

/// The read index a leader confirmed: a read is linearizable once the reading member's state
/// machine applied up to it. Opaque; it crosses the wire from leader to follower (encoded as
/// the log id openraft's `ReadLogId` is, so members of either build understand each other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReadPoint(LogId);

impl ReadPoint {
    /// The log index to apply up to.
    pub fn index(&self) -> u64 {
        self.0.index
    }
}

/// Why a write was not applied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// This member does not lead; nothing was proposed.
    #[error("this member is not the leader")]
    NotLeader(Option<NodeId>),
    /// Proposed, but leadership changed before it committed: its outcome is unknown.
    #[error("leadership changed before the write committed")]
    Discarded,
    /// Any other failure (Raft stopped, a storage error).
    #[error("{0}")]
    Failed(String),
}

/// Why a read index could not be confirmed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// This member does not lead.
    #[error("this member is not the leader")]
    NotLeader(Option<NodeId>),
    /// No quorum confirmed leadership, or Raft stopped.
    #[error("{0}")]
    Failed(String),
}

/// Why this member's state machine did not reach a read point.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApplyError {
    /// It did not apply up to the read point within the budget.
    #[error("this member did not catch up with the leader in time")]
    Behind,
    /// Raft stopped.
    #[error("raft stopped: {0}")]
    Stopped(String),
}

/// A failed Raft admin call (start, bootstrap, membership change, snapshot, shutdown).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RaftFailure(String);

impl RaftFailure {
    fn of(what: &str, e: impl std::fmt::Display) -> Self {
        RaftFailure(format!("{what}: {e}"))
    }

    /// `e` and each of its causes, so one line says what failed and why.
    fn with_causes(e: &dyn std::error::Error) -> Self {
        let mut text = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            text = format!("{text}: {c}");
            cause = c.source();
        }
        RaftFailure(text)
    }
}

/// A change of the voter set or the member list.
#[derive(Debug, Clone, Copy)]
pub enum MembershipChange {
    /// Make a learner a voter.
    AddVoter(NodeId),
    /// Make a voter a learner (it stays listed).
    RemoveVoter(NodeId),
    /// Drop a learner from the member list.
    RemoveNode(NodeId),
}

/// Largest time one read-index round may take before its readers hear it failed; each reader
/// also has its own, usually shorter, deadline.
const ROUND_CEILING: Duration = Duration::from_secs(30);

/// This member's Raft, cheap to clone.
#[derive(Clone)]
pub struct RaftHandle {
    pub(super) raft: Raft,
    me: NodeId,
    reads: Arc<Coalescer<Result<ReadPoint, ReadError>>>,
}

impl RaftHandle {
    /// Starts Raft for member `me` on the consensus runtime.
    pub async fn start(
        runtime: &ConsensusRuntime,
        me: NodeId,
        ha_id: &str,
        timing: &Timing,
        network: NetworkFactory,
        stores: (LogStore, StateMachineStore),
    ) -> Result<Self, RaftFailure> {
        let config = super::raft_config(ha_id, timing).map_err(|e| RaftFailure(e.to_string()))?;
        let (log_store, state_machine) = stores;
        let raft = runtime
            .run(Raft::new(me, config, network, log_store, state_machine))
            .await
            .map_err(|e| RaftFailure::of("starting raft", e))?
            .map_err(|e| RaftFailure::of("starting raft", e))?;
        Ok(Self::of(raft, me))
    }

    fn of(raft: Raft, me: NodeId) -> Self {
        let r = raft.clone();
        let reads = Coalescer::new(move || {
            let raft = r.clone();
            Box::pin(async move {
                super::observe::read_rounds().inc();
                read_index_round(&raft).await
            })
        });
        RaftHandle { raft, me, reads }
    }

    /// The state snapshot.
    pub fn metrics(&self) -> Metrics {
        Metrics::of(&self.raft.metrics().borrow_watched())
    }

    /// The leader this member knows of.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// The leader and how it is addressed, without copying the whole state.
    pub fn leader_info(&self) -> Option<(NodeId, MemberInfo)> {
        let rx = self.raft.metrics();
        let m = rx.borrow_watched();
        let id = m.current_leader?;
        let info = m.membership_config.membership().get_node(&id)?.clone();
        Some((id, info))
    }

    /// Index of the last entry this member knows committed (`None`: nothing yet).
    pub fn commit_index(&self) -> Option<u64> {
        let rx = self.raft.metrics();
        let m = rx.borrow_watched();
        m.local_committed.as_ref().map(|l| l.index)
    }

    /// Index of the last entry this member applied.
    pub fn applied_index(&self) -> u64 {
        let rx = self.raft.metrics();
        let m = rx.borrow_watched();
        m.last_applied.as_ref().map_or(0, |l| l.index)
    }

    /// Every member (voters and learners).
    pub fn members(&self) -> BTreeMap<NodeId, MemberInfo> {
        let rx = self.raft.metrics();
        let m = rx.borrow_watched();
        let members = m.membership_config.membership().nodes();
        members.map(|(id, info)| (*id, info.clone())).collect()
    }

    /// The voters.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        let rx = self.raft.metrics();
        let m = rx.borrow_watched();
        m.membership_config.membership().voter_ids().collect()
    }

    /// Follows state changes from now on (see [`Changes`]). Hold one across the rounds of a
    /// loop: a change between two rounds is then still seen, which a new subscription each
    /// round would miss.
    pub fn changes(&self) -> Changes {
        let mut rx = self.raft.metrics();
        // openraft hands out a clone of a receiver that never marks anything seen: without
        // this the first `changed()` returned at once for every change before the call.
        rx.borrow_and_update();
        Changes(rx)
    }

    /// Proposes `req` on this member, which should lead, and returns its applied outcome.
    /// The caller bounds the wait.
    pub async fn write(&self, req: Request) -> Result<Response, WriteError> {
        use openraft::errors::{ClientWriteError, RaftError};
        match self.raft.client_write(req).await {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(WriteError::NotLeader(f.leader_id))
            }
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_))) => {
                Err(WriteError::Discarded)
            }
            Err(e) => Err(WriteError::Failed(e.to_string())),
        }
    }

    /// The leader's read index, confirmed by a quorum (read-index, no lease). Concurrent
    /// callers share one round: each gets the next round that starts after its call, never
    /// one already in flight (`coalesce`). The caller bounds the wait.
    pub async fn read_index(&self) -> Result<ReadPoint, ReadError> {
        match self.reads.join().await {
            Some(outcome) => outcome,
            None => Err(ReadError::Failed(
                "the read-index round was cancelled".into(),
            )),
        }
    }

    /// Read-index rounds run by this member so far (each serves one or more reads).
    pub fn read_rounds(&self) -> u64 {
        self.reads.rounds()
    }

    /// Waits until this member's state machine applied up to `point`, at most `budget`.
    pub async fn await_applied(
        &self,
        point: ReadPoint,
        budget: Duration,
    ) -> Result<(), ApplyError> {
        use openraft::raft::linearizable_read::{Linearizer, ReadLogId};
        // This member's own applied position is left unknown, so awaiting waits until THIS
        // member applied up to the read index (the leader's applied position would make a
        // lagging member answer at once).
        let read_log_id = ReadLogId::<TypeConfig>::from_log_id(point.0);
        let linearizer = Linearizer::new(self.me, read_log_id, None);
        match linearizer.try_await_ready(&self.raft, Some(budget)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ApplyError::Behind),
            Err(fatal) => Err(ApplyError::Stopped(fatal.to_string())),
        }
    }

    /// Whether this member leads (its own state; no quorum check).
    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    /// Whether Raft holds cluster state (this member bootstrapped or joined).
    pub async fn is_initialized(&self) -> Result<bool, RaftFailure> {
        self.raft
            .is_initialized()
            .await
            .map_err(|e| RaftFailure::of("reading raft state", e))
    }

    /// Makes a one-member cluster of this member.
    pub async fn initialize(&self, me: MemberInfo) -> Result<(), RaftFailure> {
        self.raft
            .initialize(BTreeMap::from([(self.me, me)]))
            .await
            .map_err(|e| RaftFailure::of("bootstrapping a one-node cluster", e))
    }

    /// Adds a learner and waits until it caught up (the caller bounds the wait).
    pub async fn add_learner(&self, id: NodeId, info: MemberInfo) -> Result<(), RaftFailure> {
        self.raft
            .add_learner(id, info, true)
            .await
            .map(|_| ())
            .map_err(|e| RaftFailure(e.to_string()))
    }

    /// Commits a membership change (the caller bounds the wait).
    pub async fn change_membership(&self, change: MembershipChange) -> Result<(), RaftFailure> {
        use openraft::ChangeMembers;
        let change: ChangeMembers<NodeId, MemberInfo> = match change {
            MembershipChange::AddVoter(id) => ChangeMembers::AddVoterIds(BTreeSet::from([id])),
            MembershipChange::RemoveVoter(id) => ChangeMembers::RemoveVoters(BTreeSet::from([id])),
            MembershipChange::RemoveNode(id) => ChangeMembers::RemoveNodes(BTreeSet::from([id])),
        };
        self.raft
            .change_membership(change, false)
            .await
            .map(|_| ())
            .map_err(|e| RaftFailure(e.to_string()))
    }

    /// Hands leadership to the most caught-up other voter when this member leads (see
    /// `transfer`); the new leader, or `None` when this member did not lead.
    pub async fn hand_over(&self, timeout: Duration) -> Result<Option<NodeId>, RaftFailure> {
        super::transfer::hand_over(&self.raft, self.me, timeout)
            .await
            .map_err(|e| RaftFailure::with_causes(&e))
    }

    /// Snapshots the applied state and purges the log behind it; the snapshot's index.
    pub async fn snapshot_and_purge(&self, timeout: Duration) -> Result<u64, RaftFailure> {
        super::compact::snapshot_and_purge(&self.raft, timeout)
            .await
            .map_err(|e| RaftFailure::with_causes(&e))
    }

    /// Asks Raft to build a snapshot of everything applied (at once; ignored while one is
    /// being built). Fails only once Raft has stopped.
    pub async fn trigger_snapshot(&self) -> Result<(), RaftFailure> {
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| RaftFailure::of("snapshot trigger", e))
    }

    /// Stops Raft (the caller bounds the wait).
    pub async fn shutdown(&self) -> Result<(), RaftFailure> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| RaftFailure::of("raft shutdown", e))
    }
}

/// One read-index round on the leader: confirms leadership with a quorum and fixes the read
/// index for every read queued before it started.
async fn read_index_round(raft: &Raft) -> Result<ReadPoint, ReadError> {
    use openraft::ReadPolicy;
    match tokio::time::timeout(
        ROUND_CEILING,
        raft.get_read_linearizer(ReadPolicy::ReadIndex),
    )
    .await
    {
        Err(_) => Err(ReadError::Failed(
            "no quorum confirmed leadership in time".into(),
        )),
        Ok(Ok(lin)) => Ok(ReadPoint(*lin.read_log_id().log_id())),
        Ok(Err(e)) => match e.forward_to_leader() {
            Some(f) => Err(ReadError::NotLeader(f.leader_id)),
            None => Err(ReadError::Failed(e.to_string())),
        },
    }
}

/// A subscription to this member's state changes.
pub struct Changes(openraft::alias::WatchReceiverOf<TypeConfig, openraft::RaftMetrics<TypeConfig>>);

impl Changes {
    /// Waits for the next change; false once Raft stopped.
    pub async fn changed(&mut self) -> bool {
        self.0.changed().await.is_ok()
    }

    /// Waits for the next change, at most `wait`. Once Raft stopped it waits out `wait`, so a
    /// loop that retries on each change does not spin.
    pub async fn changed_within(&mut self, wait: Duration) {
        let next = async {
            if !self.changed().await {
                std::future::pending::<()>().await;
            }
        };
        let _ = tokio::time::timeout(wait, next).await;
    }

    /// The leader as of the last change seen.
    pub fn leader(&self) -> Option<NodeId> {
        self.0.borrow_watched().current_leader
    }

    /// The whole state as of the last change seen.
    pub fn metrics(&self) -> Metrics {
        Metrics::of(&self.0.borrow_watched())
    }
}
