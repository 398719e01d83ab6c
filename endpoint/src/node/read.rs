//! Linearizable reads: a fence that returns once this member's state machine reflects every
//! write acknowledged before it, through a read index the leader confirms with a quorum (on
//! the leader itself, or asked for by a follower).

use std::time::Instant;

use super::messages::ReadIndexOutcome;
use super::{LeaderHint, Node, NodeError, PEER_CALL_TIMEOUT};
use crate::raft::network::{decode, encode};
use crate::raft::{ApplyError, MemberInfo, ReadError, ReadPoint};

impl Node {
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
                    match tokio::time::timeout(budget, self.raft.read_index()).await {
                        Ok(Ok(point)) => match self.await_applied(point, deadline).await? {
                            None => return Ok(()),
                            Some(why) => last_problem = why,
                        },
                        Ok(Err(e)) => {
                            last_problem = e.to_string();
                            self.await_change_until(deadline).await;
                        }
                        Err(_) => last_problem = "no quorum confirmed leadership in time".into(),
                    }
                }
                LeaderHint::Other(_, info) => match self.remote_read_index(&info, deadline).await {
                    Ok(ReadIndexOutcome::Ready { read_log_id }) => {
                        match self.await_applied(read_log_id, deadline).await? {
                            None => return Ok(()),
                            Some(why) => last_problem = why,
                        }
                    }
                    Ok(ReadIndexOutcome::NotLeader(_)) => self.await_change_until(deadline).await,
                    Ok(ReadIndexOutcome::Unavailable(why)) => {
                        last_problem = why;
                        self.await_change_until(deadline).await;
                    }
                    Err(e) => {
                        last_problem = e.to_string();
                        self.await_change_until(deadline).await;
                    }
                },
                LeaderHint::Unknown => self.await_change_until(deadline).await,
            }
        }
        Err(NodeError::Unavailable(format!(
            "cannot serve a linearizable read ({last_problem}); send X-DRP-Stale-Read: true for a local read"
        )))
    }

    /// Waits until this member applied up to `point`: `None` once it has, `Some(why)` if the
    /// deadline passed first, and an error when Raft stopped.
    async fn await_applied(
        &self,
        point: ReadPoint,
        deadline: Instant,
    ) -> Result<Option<String>, NodeError> {
        let budget = deadline.saturating_duration_since(Instant::now());
        match self.raft.await_applied(point, budget).await {
            Ok(()) => Ok(None),
            Err(e @ ApplyError::Behind) => Ok(Some(e.to_string())),
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
