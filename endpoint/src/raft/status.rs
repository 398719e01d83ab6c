//! A snapshot of this member's Raft state in our own plain types: what the rest of the
//! endpoint reads about terms, leaders, membership and log positions. openraft's metrics stay
//! behind this module, so an openraft upgrade changes only the conversion below.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{MemberInfo, NodeId, TypeConfig};

/// This member's Raft state at one moment.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Whether this member is the leader.
    pub is_leader: bool,
    /// The current term.
    pub current_term: u64,
    /// The leader this member knows of.
    pub current_leader: Option<NodeId>,
    /// Index of the last entry in this member's log.
    pub last_log_index: Option<u64>,
    /// Index of the last entry this member knows committed (`None`: nothing yet).
    pub commit_index: Option<u64>,
    /// Index of the last entry this member's state machine applied.
    pub applied_index: u64,
    /// Index of the last entry in this member's snapshot.
    pub snapshot_index: u64,
    /// Every member of the effective membership config, voters and learners.
    pub members: BTreeMap<NodeId, MemberInfo>,
    /// The voters of the effective membership config.
    pub voters: BTreeSet<NodeId>,
    /// Log index of the effective membership config: it changes with every membership change.
    pub membership_index: Option<u64>,
    /// Leader only: each member's matched log index.
    pub replication: Option<BTreeMap<NodeId, Option<u64>>>,
    /// Leader only: how long ago each member last acknowledged a message.
    acked_ago: Option<BTreeMap<NodeId, Option<Duration>>>,
    /// Leader only: how long ago a quorum last acknowledged this leader.
    quorum_acked_ago: Option<Duration>,
}

type RaftMetrics = openraft::RaftMetrics<TypeConfig>;

impl Metrics {
    /// Our view of openraft's metrics.
    pub(super) fn of(m: &RaftMetrics) -> Self {
        use openraft::Instant;
        let index = |id: Option<&super::LogId>| id.map_or(0, |l| l.index);
        let membership = m.membership_config.membership();
        Metrics {
            is_leader: m.state.is_leader(),
            current_term: m.current_term,
            current_leader: m.current_leader,
            last_log_index: m.last_log_index,
            commit_index: m.local_committed.as_ref().map(|l| l.index),
            applied_index: index(m.last_applied.as_ref()),
            snapshot_index: index(m.snapshot.as_ref()),
            members: membership
                .nodes()
                .map(|(id, info)| (*id, info.clone()))
                .collect(),
            voters: membership.voter_ids().collect(),
            membership_index: m.membership_config.log_id().as_ref().map(|l| l.index),
            replication: m.replication.as_ref().map(|r| {
                r.iter()
                    .map(|(id, l)| (*id, l.as_ref().map(|l| l.index)))
                    .collect()
            }),
            acked_ago: m.heartbeat.as_ref().map(|h| {
                h.iter()
                    .map(|(id, t)| (*id, t.as_ref().map(|t| t.elapsed())))
                    .collect()
            }),
            quorum_acked_ago: m.last_quorum_acked.as_ref().map(|t| t.elapsed()),
        }
    }

    /// How member `id` is addressed, if it is a member.
    pub fn member(&self, id: NodeId) -> Option<&MemberInfo> {
        self.members.get(&id)
    }

    /// The leader and how it is addressed, if one is known and listed.
    pub fn leader_info(&self) -> Option<&MemberInfo> {
        self.member(self.current_leader?)
    }

    /// Whether `id` is a voter.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    /// Whether the leader heard from `id` within `within` (leader-side only).
    pub fn acked_within(&self, id: NodeId, within: Duration) -> bool {
        self.acked_ago
            .as_ref()
            .and_then(|h| h.get(&id))
            .and_then(|t| t.as_ref())
            .is_some_and(|ago| *ago < within)
    }

    /// Whether member `me` leads and heard from a quorum within `within`: a leader cut off from
    /// the others stops counting as active after `within`, before any election elsewhere ends.
    /// The only voter is its own quorum (it gets no acks to count).
    pub fn leads_with_quorum(&self, me: NodeId, within: Duration) -> bool {
        let alone = self.voters.iter().all(|v| *v == me);
        self.current_leader == Some(me)
            && (alone || self.quorum_acked_ago.is_some_and(|ago| ago < within))
    }
}
