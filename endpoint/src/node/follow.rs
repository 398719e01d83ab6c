//! Following the leader: the retry loop that writes and linearizable reads share. Each round
//! asks who leads and makes one attempt; a failure that a new leader may mend waits for the
//! next Raft state change (at most [`STEP`]) on one subscription held across rounds, so a
//! change landing between two rounds is not missed and a wait never spins.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{LeaderHint, Node, NodeError};
use crate::raft::MemberInfo;

/// Longest wait for a state change before the next round looks again anyway.
const STEP: Duration = Duration::from_millis(100);

/// What one attempt came to.
pub(super) enum Step<T> {
    Done(T),
    /// Failed for this reason; the next round may start at once.
    Again(String),
    /// Failed (for this reason, if it says one) until the leader or its term changes.
    Wait(Option<String>),
}

/// Who leads, when this member knows.
pub(super) enum Leader {
    Me,
    Other(MemberInfo),
}

impl<T> Step<T> {
    /// A call to the leader that failed: wait for a change, remembering why.
    pub(super) fn wait_after(e: impl ToString) -> Self {
        Step::Wait(Some(e.to_string()))
    }
}

impl Node {
    /// Runs `attempt` against the leader as this member sees it (none known: a wait), round
    /// after round until it is done, fails outright (`Err`) or `deadline` passes; then
    /// `give_up` makes the error from the last problem seen.
    pub(super) async fn follow_leader<T, F, Fut>(
        &self,
        deadline: Instant,
        mut attempt: F,
        give_up: impl FnOnce(String) -> NodeError,
    ) -> Result<T, NodeError>
    where
        F: FnMut(Leader) -> Fut,
        Fut: Future<Output = Result<Step<T>, NodeError>>,
    {
        let mut changes = self.changes();
        let mut last_problem = "no leader elected".to_string();
        while Instant::now() < deadline {
            let step = match self.leader_hint() {
                LeaderHint::Me => attempt(Leader::Me).await?,
                LeaderHint::Other(_, info) => attempt(Leader::Other(info)).await?,
                LeaderHint::Unknown => Step::Wait(None),
            };
            match step {
                Step::Done(value) => return Ok(value),
                Step::Again(why) => last_problem = why,
                Step::Wait(why) => {
                    if let Some(why) = why {
                        last_problem = why;
                    }
                    let wait = deadline.saturating_duration_since(Instant::now()).min(STEP);
                    changes.changed_within(wait).await;
                }
            }
        }
        Err(give_up(last_problem))
    }
}
