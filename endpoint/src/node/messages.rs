//! Bodies of the member-to-member cluster calls (serde-encoded inside `Payload`).

use serde::{Deserialize, Serialize};

use crate::command::Response;
use crate::raft::{NodeId, ReadPoint};

/// The leader's answer to a forwarded write.
#[derive(Debug, Serialize, Deserialize)]
pub enum ForwardOutcome {
    Applied(Response),
    /// The receiver is not the leader (any more); nothing was proposed.
    NotLeader(Option<NodeId>),
    /// Proposed, outcome unknown (no quorum in time, or the entry was discarded).
    Unknown(String),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum ReadIndexOutcome {
    /// The leader's read index: a read is linearizable once the reading member has
    /// applied up to it.
    Ready {
        read_log_id: ReadPoint,
    },
    NotLeader(Option<NodeId>),
    Unavailable(String),
}

/// The leader's replication view of one member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberProgress {
    pub node_id: NodeId,
    pub match_index: Option<u64>,
    pub online: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaderView {
    pub leader: NodeId,
    pub last_log_index: Option<u64>,
    pub members: Vec<MemberProgress>,
}

/// An admin call executed on the leader; the reply is an HTTP status and JSON body.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdminReply {
    pub status: u16,
    pub body: serde_json::Value,
}
