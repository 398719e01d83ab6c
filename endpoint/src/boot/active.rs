//! Whether this member is the active one (DRP's `HaIsActive`): the Raft leader, while it
//! still hears from a quorum. Boot services and the virtual address follow it.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::node::Node;

/// How often leadership is re-judged when nothing else wakes the watcher: a leader that loses
/// its quorum changes no metric, only the age of its last quorum ack grows.
const RECHECK: Duration = Duration::from_millis(25);

/// A watch of "this member is active", and the task keeping it current until `shutdown`.
pub fn watch(
    node: &Node,
    mut shutdown: watch::Receiver<bool>,
) -> (watch::Receiver<bool>, JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let node = node.clone();
    // A leader that has not heard from a quorum for the leader lease (openraft's: the longest
    // election timeout, during which followers refuse to vote) plus the shortest election
    // timeout lets go: that is the earliest a follower may start an election, so a new leader
    // may hold the address only after this one dropped it (but for one election's round
    // trip). A shorter bound made a busy leader (heartbeats delayed behind a large upload)
    // drop and retake the address while nobody else could have been elected.
    let within = node.settings.election_max + node.settings.election_min;
    let task = tokio::spawn(async move {
        // One subscription for the task's life: a change while leadership is judged wakes
        // the next wait at once.
        let mut changes = node.changes();
        loop {
            let active = node.metrics().leads_with_quorum(node.node_id, within);
            tx.send_if_modified(|held| std::mem::replace(held, active) != active);
            tokio::select! {
                _ = changes.changed_within(RECHECK) => {}
                _ = shutdown.changed() => break,
            }
        }
        tx.send_replace(false);
    });
    (rx, task)
}
