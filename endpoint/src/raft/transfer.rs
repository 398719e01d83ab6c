//! Handing leadership to another voter before this member stops (a rolling upgrade).

use std::time::Duration;

use super::{metrics_now, NodeId, Raft};

/// When this member leads, asks the most caught-up other voter to take over and waits until
/// this member no longer leads. Returns the new leader (or `None` when this member did not
/// lead).
pub async fn hand_over(
    raft: &Raft,
    me: NodeId,
    timeout: Duration,
) -> anyhow::Result<Option<NodeId>> {
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
        .ok_or_else(|| anyhow::anyhow!("no other voter to hand leadership to"))?;
    raft.trigger()
        .transfer_leader(to)
        .await
        .map_err(|e| anyhow::anyhow!("transferring leadership: {e}"))?;
    raft.wait(Some(timeout))
        .metrics(
            |m| m.current_leader.is_some_and(|l| l != me),
            "another member leads",
        )
        .await
        .map_err(|e| anyhow::anyhow!("waiting for {to:x} to take over: {e}"))?;
    Ok(Some(to))
}
