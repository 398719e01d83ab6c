//! Handing leadership to another voter before this member stops (a rolling upgrade).

use std::time::Duration;

use openraft::errors::Fatal;
use openraft::metrics::WaitError;

use super::{metrics_now, NodeId, Raft, TypeConfig};

/// Why leadership was not handed over.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("no other voter to hand leadership to")]
    NoOtherVoter,
    #[error("transferring leadership")]
    Trigger(#[source] Fatal<TypeConfig>),
    #[error("waiting for {to:x} to take over")]
    Await {
        to: NodeId,
        #[source]
        source: WaitError,
    },
}

/// When this member leads, asks the most caught-up other voter to take over and waits until
/// this member no longer leads. Returns the new leader (or `None` when this member did not
/// lead).
pub async fn hand_over(
    raft: &Raft,
    me: NodeId,
    timeout: Duration,
) -> Result<Option<NodeId>, TransferError> {
    let m = metrics_now(raft);
    if m.current_leader != Some(me) {
        return Ok(None);
    }
    let progress = |id: &NodeId| {
        m.replication
            .as_ref()
            .and_then(|r| r.get(id).cloned().flatten())
            .map_or(0, |l| l.index)
    };
    let to = m
        .membership_config
        .membership()
        .voter_ids()
        .filter(|id| *id != me)
        .max_by_key(progress)
        .ok_or(TransferError::NoOtherVoter)?;
    raft.trigger()
        .transfer_leader(to)
        .await
        .map_err(TransferError::Trigger)?;
    raft.wait(Some(timeout))
        .metrics(
            |m| m.current_leader.is_some_and(|l| l != me),
            "another member leads",
        )
        .await
        .map_err(|source| TransferError::Await { to, source })?;
    Ok(Some(to))
}
