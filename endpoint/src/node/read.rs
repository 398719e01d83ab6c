//! Linearizable reads: a fence that returns once this member's state machine reflects every
//! write acknowledged before it, through a read index the leader confirms with a quorum (on
//! the leader itself, or asked for by a follower).

use std::time::Instant;

use super::follow::{Leader, Step};
use super::messages::ReadIndexOutcome;
use super::{Node, NodeError};
use crate::raft::network::encode;
use crate::raft::{ApplyError, MemberInfo, ReadError, ReadPoint};

impl Node {
    /// Returns once this node's state machine reflects every write acknowledged before the
    /// call (read index through the leader), or fails with 503 when no leader can confirm.
    pub async fn read_barrier(&self) -> Result<(), NodeError> {
        let deadline = Instant::now() + self.settings.read_timeout;
        let attempt = move |leader| async move {
            match leader {
                Leader::Me => self.read_index_here(deadline).await,
                Leader::Other(info) => self.read_index_there(&info, deadline).await,
            }
        };
        self.follow_leader(deadline, attempt, |last_problem| {
            NodeError::Unavailable(format!(
                "cannot serve a linearizable read ({last_problem}); send X-DRP-Stale-Read: true for a local read"
            ))
        })
        .await
    }

    /// One round of a read on the leader: its own read index, then waiting to apply up to it.
    async fn read_index_here(&self, deadline: Instant) -> Result<Step<()>, NodeError> {
        crate::metrics::read_index_round("leader");
        let budget = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(budget, self.raft.read_index()).await {
            Ok(Ok(point)) => self.await_applied(point, deadline).await,
            Ok(Err(e)) => Ok(Step::wait_after(e)),
            Err(_) => Ok(Step::Again("no quorum confirmed leadership in time".into())),
        }
    }

    /// One round of a read on a follower: the leader's read index, then waiting to apply up
    /// to it.
    async fn read_index_there(
        &self,
        leader: &MemberInfo,
        deadline: Instant,
    ) -> Result<Step<()>, NodeError> {
        Ok(match self.remote_read_index(leader, deadline).await {
            Ok(ReadIndexOutcome::Ready { read_log_id }) => {
                self.await_applied(read_log_id, deadline).await?
            }
            Ok(ReadIndexOutcome::NotLeader(_)) => Step::Wait(None),
            Ok(ReadIndexOutcome::Unavailable(why)) => Step::wait_after(why),
            Err(e) => Step::wait_after(e),
        })
    }

    /// Waits until this member applied up to `point`: done once it has, to be tried again if
    /// the deadline passed first, and an error when Raft stopped.
    async fn await_applied(
        &self,
        point: ReadPoint,
        deadline: Instant,
    ) -> Result<Step<()>, NodeError> {
        let budget = deadline.saturating_duration_since(Instant::now());
        match self.raft.await_applied(point, budget).await {
            Ok(()) => Ok(Step::Done(())),
            Err(e @ ApplyError::Behind) => Ok(Step::Again(e.to_string())),
            Err(e @ ApplyError::Stopped(_)) => Err(NodeError::Unavailable(e.to_string())),
        }
    }

    async fn remote_read_index(
        &self,
        leader: &MemberInfo,
        deadline: Instant,
    ) -> Result<ReadIndexOutcome, NodeError> {
        crate::metrics::read_index_round("follower");
        let mut client = self.cluster_client(&leader.consensus_addr)?;
        let payload = encode(&()).map_err(|e| NodeError::Internal(e.to_string()))?;
        super::write::ask_leader(leader, deadline, client.read_index(payload)).await
    }

    /// The leader's half of a follower read: confirm leadership with a quorum (in a round
    /// shared with the other reads that arrive meanwhile).
    pub async fn leader_read_index(&self) -> ReadIndexOutcome {
        let budget = self.settings.read_timeout;
        match tokio::time::timeout(budget, self.raft.read_index()).await {
            Err(_) => {
                ReadIndexOutcome::Unavailable("no quorum confirmed leadership in time".into())
            }
            Ok(Ok(point)) => ReadIndexOutcome::Ready { read_log_id: point },
            Ok(Err(ReadError::NotLeader(leader))) => ReadIndexOutcome::NotLeader(leader),
            Ok(Err(e)) => ReadIndexOutcome::Unavailable(e.to_string()),
        }
    }
}
