//! What the tracker believes about a cluster, and the `ConnectionStatus` words it reports.

use std::time::{Duration, Instant};

use versionsets::{LeaderRef, Member};

/// How often the members are polled while no member's watch stream is open.
pub const POLL_EVERY: Duration = Duration::from_millis(250);
/// How often while one is: the streams tell of a new leader at once, the poll keeps members'
/// liveness and the rest of the view current.
pub const POLL_WHILE_PUSHED: Duration = Duration::from_secs(2);
pub const POLL_TIMEOUT: Duration = Duration::from_millis(600);
/// The longest a whole poll may take (a first use makes two calls of [`POLL_TIMEOUT`] each).
pub const POLL_ROUND_LIMIT: Duration = Duration::from_secs(5);

/// What changed the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Poll,
    /// A member's consensus watch stream.
    Push,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Poll => "poll",
            Source::Push => "push",
        }
    }
}

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
    /// When a member's stream last changed the view.
    pub pushed_at: Option<Instant>,
}
