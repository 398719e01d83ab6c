//! Snapshot-and-purge on demand: after a member bootstraps from a restored store, its
//! state machine holds data no log entry produced, so every later member must be sent a
//! snapshot rather than replay the log from the start.

use std::time::Duration;

use openraft::errors::Fatal;
use openraft::metrics::WaitError;

use super::{Raft, TypeConfig};

/// The step of a snapshot-and-purge that failed.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("triggering a snapshot")]
    TriggerSnapshot(#[source] Fatal<TypeConfig>),
    #[error("waiting for the snapshot")]
    AwaitSnapshot(#[source] WaitError),
    #[error("triggering the log purge")]
    TriggerPurge(#[source] Fatal<TypeConfig>),
    #[error("waiting for the log purge")]
    AwaitPurge(#[source] WaitError),
}

/// Builds a snapshot covering everything applied so far and purges the log behind it;
/// returns the index it covers.
pub async fn snapshot_and_purge(raft: &Raft, timeout: Duration) -> Result<u64, CompactError> {
    let applied = super::metrics_now(raft)
        .last_applied
        .map(|l| l.index)
        .unwrap_or(0);
    raft.trigger()
        .snapshot()
        .await
        .map_err(CompactError::TriggerSnapshot)?;
    raft.wait(Some(timeout))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= applied),
            "snapshot covering the restored store",
        )
        .await
        .map_err(CompactError::AwaitSnapshot)?;
    raft.trigger()
        .purge_log(applied)
        .await
        .map_err(CompactError::TriggerPurge)?;
    raft.wait(Some(timeout))
        .metrics(
            |m| m.purged.is_some_and(|p| p.index >= applied),
            "log purged behind the snapshot",
        )
        .await
        .map_err(CompactError::AwaitPurge)?;
    Ok(applied)
}
