//! Replicated writes: committed on the leader, locally or with one forwarded hop, retried
//! across leader changes until the write deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use proto::raft::Payload;
use serde::de::DeserializeOwned;

use super::follow::{Leader, Step};
use super::messages::ForwardOutcome;
use super::{Node, NodeError, PEER_CALL_TIMEOUT};
use crate::command::{Request, Response};
use crate::raft::network::{decode, encode};
use crate::raft::{MemberInfo, WriteError};

impl Node {
    /// Commits one write through the leader and returns its outcome. Retries across leader
    /// changes until the write deadline; safe because every request carries an idempotency
    /// key, so a retry of a write that did commit replays its first outcome.
    pub async fn write(&self, req: Request) -> Result<Response, NodeError> {
        check_depth(&req)?;
        let deadline = Instant::now() + self.settings.write_timeout;
        let req = &req;
        let attempt = move |leader| async move {
            // An unknown outcome here is retried at once; one from the leader after a wait.
            let (outcome, unknown): (_, fn(String) -> Step<Response>) = match leader {
                Leader::Me => (
                    Ok(self.write_as_leader(req.clone(), deadline).await),
                    Step::Again,
                ),
                Leader::Other(info) => (
                    self.forward_write(&info, req, deadline).await,
                    Step::wait_after,
                ),
            };
            Ok(match outcome {
                Ok(ForwardOutcome::Applied(resp)) => Step::Done(resp),
                Ok(ForwardOutcome::NotLeader(_)) => Step::Wait(None),
                Ok(ForwardOutcome::Unknown(why)) => unknown(why),
                Err(e) => Step::wait_after(e),
            })
        };
        self.follow_leader(deadline, attempt, |last_problem| {
            NodeError::Unavailable(format!(
                "write not committed within {:?} ({last_problem}); the cluster may have lost its quorum. \
                 Its outcome is unknown: retry with the same Idempotency-Key",
                self.settings.write_timeout
            ))
        })
        .await
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
        match tokio::time::timeout(budget, self.raft.write(req)).await {
            Err(_) => ForwardOutcome::Unknown(format!(
                "no quorum acknowledged the write within {budget:?}"
            )),
            Ok(Ok(resp)) => ForwardOutcome::Applied(resp),
            Ok(Err(WriteError::NotLeader(leader))) => ForwardOutcome::NotLeader(leader),
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
        let payload = encode(req).map_err(|e| NodeError::Internal(e.to_string()))?;
        ask_leader(leader, deadline, client.forward_write(payload)).await
    }
}

/// One call to the leader, given the time left before `deadline` but at most
/// [`PEER_CALL_TIMEOUT`], and its answer decoded: no answer in time, or a refusal, is 503.
pub(super) async fn ask_leader<T: DeserializeOwned>(
    leader: &MemberInfo,
    deadline: Instant,
    call: impl Future<Output = Result<tonic::Response<Payload>, tonic::Status>>,
) -> Result<T, NodeError> {
    let budget = deadline
        .saturating_duration_since(Instant::now())
        .min(PEER_CALL_TIMEOUT);
    match tokio::time::timeout(budget, call).await {
        Err(_) => Err(NodeError::Unavailable(format!(
            "leader {} did not answer within {budget:?}",
            leader.consensus_id
        ))),
        Ok(Err(status)) => Err(NodeError::Unavailable(format!(
            "leader {}: {}",
            leader.consensus_id,
            status.message()
        ))),
        Ok(Ok(resp)) => decode(resp.get_ref()).map_err(|e| NodeError::Internal(e.to_string())),
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
