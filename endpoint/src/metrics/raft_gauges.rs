//! Raft state as gauges. The node samples its Raft into a `RaftSample` just before a scrape
//! (metrics sits below Raft in the module layers, so it sees plain numbers, not openraft's
//! metrics).

use super::{global, MemberLabels};

/// One reading of this member's Raft state.
#[derive(Debug, Clone, Default)]
pub struct RaftSample {
    pub term: u64,
    pub is_leader: bool,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_log_index: u64,
    pub snapshot_index: u64,
    /// On a leader: each member's consensus address and the last log index it matched.
    pub replication: Vec<(String, u64)>,
}

/// Sets the Raft gauges from `s`.
pub fn set(s: &RaftSample) {
    let g = global();
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    g.term.set(as_i64(s.term));
    g.is_leader.set(i64::from(s.is_leader));
    g.commit_index.set(as_i64(s.commit_index));
    g.applied_index.set(as_i64(s.applied_index));
    g.last_log_index.set(as_i64(s.last_log_index));
    g.apply_lag
        .set(as_i64(s.commit_index.saturating_sub(s.applied_index)));
    g.snapshot_index.set(as_i64(s.snapshot_index));
    // Only a leader has replication progress; a member that stopped leading drops its rows.
    g.replication_lag.clear();
    for (member, matched) in &s.replication {
        let lag = s.last_log_index.saturating_sub(*matched);
        g.replication_lag
            .get_or_create(&MemberLabels {
                member: member.clone(),
            })
            .set(as_i64(lag));
    }
}

/// Counts one change of leader.
pub fn leader_changed() {
    global().leader_changes.inc();
}
