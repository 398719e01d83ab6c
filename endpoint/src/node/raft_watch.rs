//! This member's Raft state for the metrics: a sample of the Raft state for the gauges, and a
//! task counting leader changes as they happen (a scrape every 15 s would miss a quick flap).

use tokio::sync::watch;

use super::Node;
use crate::metrics::raft_gauges::{self, RaftSample};
use crate::raft::RaftHandle;

/// Counts every change of leader until shutdown or until Raft stops.
pub fn spawn_raft_watch(
    raft: RaftHandle,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut changes = raft.changes();
        let mut leader = changes.leader();
        loop {
            tokio::select! {
                more = changes.changed() => if !more { return },
                _ = shutdown.changed() => return,
            }
            let now = changes.leader();
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
    let replication = m
        .replication
        .iter()
        .flatten()
        .filter_map(|(id, matched)| {
            let info = m.member(*id)?;
            Some((info.consensus_addr.clone(), matched.unwrap_or(0)))
        })
        .collect();
    RaftSample {
        term: m.current_term,
        is_leader: m.is_leader,
        commit_index: m.commit_index.unwrap_or(0),
        applied_index: m.applied_index,
        last_log_index: m.last_log_index.unwrap_or(0),
        snapshot_index: m.snapshot_index,
        replication,
    }
}
