//! What the tracker believes about a cluster, and the `ConnectionStatus` words it reports.

use std::time::Duration;

use versionsets::{LeaderRef, Member};

pub const POLL_EVERY: Duration = Duration::from_millis(250);
pub const POLL_TIMEOUT: Duration = Duration::from_millis(600);

/// ConnectionStatus values.
pub const CONNECTED: &str = "connected";
pub const UNAVAILABLE: &str = "unavailable";
pub const UNAUTHORIZED: &str = "unauthorized";
pub const MISMATCH: &str = "mismatch";
/// The cluster's certificate does not verify to `manager/ca` or to the pinned one.
pub const UNTRUSTED: &str = "untrusted";

/// What the tracker currently believes.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub ha_id: Option<String>,
    pub leader: Option<LeaderRef>,
    /// The leader answered the last poll itself.
    pub leader_answered: bool,
    pub members: Vec<Member>,
    /// API URLs that answered the last poll.
    pub reachable: Vec<String>,
    pub status: String,
    pub error: Option<String>,
    pub term: u64,
    pub polled: bool,
}
