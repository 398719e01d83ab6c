//! When a member snapshots: once it has applied `--snapshot-every` entries since its last
//! snapshot, or `--snapshot-stretch` entries per object its store holds (default 1),
//! whichever is more.
//!
//! A snapshot is a dump of the whole store. At a fixed interval, loading N objects dumps the
//! store N / every times, a cost that grows with N²: loading 300k machines ran at half the
//! 100k rate. Stretching the interval with the store keeps the dumps' share of each write
//! constant, as etcd's larger default interval and Redis's growth-sized AOF rewrites do. What
//! a crash replays is bounded by the state machine's checkpoints (`store::durability`), not by
//! snapshots; a longer log costs disk, and a lagging follower is sent entries instead of the
//! store.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::RaftHandle;
use crate::store::ObjectStore;

/// How often the schedule looks at the applied index.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// The operator's knobs.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// `--snapshot-every`: entries between snapshots, at least.
    pub every: u64,
    /// `--snapshot-stretch`: entries per stored object between snapshots, at least (0: the
    /// interval is `every` whatever the store holds).
    pub stretch: f64,
}

impl Schedule {
    /// Whether a snapshot is due after `since` entries applied past the last one (or the
    /// last request for one), with `objects` in the store.
    pub fn due(&self, since: u64, objects: u64) -> bool {
        since >= self.every.max((objects as f64 * self.stretch) as u64)
    }
}

/// Asks Raft for a snapshot whenever [`Schedule::due`]; stops on shutdown or when Raft has stopped.
pub fn spawn(
    raft: RaftHandle,
    store: ObjectStore,
    schedule: Schedule,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // The applied index at the last request: a request Raft dropped (a build already
        // running) is not repeated before another interval has passed.
        let mut requested_at = 0u64;
        let mut look = tokio::time::interval(LOOK_EVERY);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() {
                    return;
                },
                _ = look.tick() => {}
            }
            let m = raft.metrics();
            let since = m
                .applied_index
                .saturating_sub(m.snapshot_index.max(requested_at));
            if since < schedule.every {
                continue; // the common case: no store read
            }
            // A length read from the table header, not a walk.
            let objects = match store.object_count() {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "snapshot schedule: counting objects");
                    continue;
                }
            };
            if !schedule.due(since, objects) {
                continue;
            }
            tracing::info!(applied = m.applied_index, since, objects, "snapshot due");
            if let Err(e) = raft.trigger_snapshot().await {
                tracing::warn!(error = %e, "snapshot schedule: raft has stopped");
                return;
            }
            requested_at = m.applied_index;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    #[test]
    fn the_interval_grows_with_the_store() {
        let s = Schedule {
            every: 10_000,
            stretch: 1.0,
        };
        // A small store snapshots at the operator's interval...
        assert!(!s.due(9_999, 500));
        assert!(s.due(10_000, 500));
        // ...a large one after as many entries as it holds objects.
        assert!(!s.due(10_000, 300_000));
        assert!(!s.due(299_999, 300_000));
        assert!(s.due(300_000, 300_000));
        // Without the stretch the interval is fixed.
        let fixed = Schedule { stretch: 0.0, ..s };
        assert!(fixed.due(10_000, 300_000));
    }
}
