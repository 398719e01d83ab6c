//! This member's Raft state for the metrics: a sample of openraft's metrics for the gauges,
//! and a task counting leader changes as they happen (a scrape every 15 s would miss a
//! quick flap).

use tokio::sync::watch;

use super::Node;
use crate::metrics::raft_gauges::{self, RaftSample};
use crate::raft::{self, Raft, ServerState};

/// Counts every change of leader until shutdown or until Raft stops.
pub fn spawn_raft_watch(
    raft: Raft,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use openraft::async_runtime::WatchReceiver;
        let mut rx = raft.metrics();
        let mut leader = rx.borrow_watched().current_leader;
        loop {
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                _ = shutdown.changed() => return,
            }
            let now = rx.borrow_watched().current_leader;
            if now.is_some() && now != leader {
                raft_gauges::leader_changed();
            }
            if now.is_some() {
                leader = now;
            }
        }
    })
}

/// Samples this member's Raft state for the gauges (`metrics::raft_gauges`).
pub fn sample(node: &Node) -> RaftSample {
    let m = node.metrics();
    let index = |id: Option<&raft::LogId>| id.map_or(0, |l| l.index);
    let last_log_index = m.last_log_index.unwrap_or(0);
    let replication = m
        .replication
        .iter()
        .flatten()
        .filter_map(|(id, matched)| {
            let info = node.member_info(&m, *id)?;
            Some((info.consensus_addr, index(matched.as_ref())))
        })
        .collect();
    RaftSample {
        term: m.current_term,
        is_leader: matches!(m.state, ServerState::Leader),
        commit_index: index(m.local_committed.as_ref()),
        applied_index: index(m.last_applied.as_ref()),
        last_log_index,
        snapshot_index: index(m.snapshot.as_ref()),
        replication,
    }
}
