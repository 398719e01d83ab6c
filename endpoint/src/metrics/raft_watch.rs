//! Raft state as gauges, read from openraft's metrics watch, and a task counting leader
//! changes as they happen (a scrape every 15 s would miss a quick flap).

use tokio::sync::watch;

use super::{global, MemberLabels};
use crate::node::Node;
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
                global().leader_changes.inc();
            }
            if now.is_some() {
                leader = now;
            }
        }
    })
}

/// Sets the Raft gauges from the latest metrics, just before a scrape.
pub(super) fn refresh(node: &Node) {
    let m = node.metrics();
    let g = global();
    let index = |id: Option<&raft::LogId>| id.map_or(0, |l| l.index);
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let committed = index(m.local_committed.as_ref());
    let applied = index(m.last_applied.as_ref());
    let last_log = m.last_log_index.unwrap_or(0);
    g.term.set(as_i64(m.current_term));
    g.is_leader
        .set(i64::from(matches!(m.state, ServerState::Leader)));
    g.commit_index.set(as_i64(committed));
    g.applied_index.set(as_i64(applied));
    g.last_log_index.set(as_i64(last_log));
    g.apply_lag.set(as_i64(committed.saturating_sub(applied)));
    g.snapshot_index.set(as_i64(index(m.snapshot.as_ref())));
    // Only a leader has replication progress; a member that stopped leading drops its rows.
    g.replication_lag.clear();
    if let Some(progress) = &m.replication {
        for (id, matched) in progress {
            let Some(info) = node.member_info(&m, *id) else {
                continue;
            };
            let lag = last_log.saturating_sub(index(matched.as_ref()));
            g.replication_lag
                .get_or_create(&MemberLabels {
                    member: info.consensus_addr,
                })
                .set(as_i64(lag));
        }
    }
}
