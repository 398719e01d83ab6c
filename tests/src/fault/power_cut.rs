//! What the power-cut fault did to a member, read from its log.
//!
//! `drp-endpoint --fault-power-cut-state` reverts the member's object store, at every start, to
//! its last durable checkpoint, as a power cut would (SIGKILL alone keeps the page cache). The
//! member logs the applied index redb recovered and the one it reverted to; openraft then logs
//! when it re-applies committed entries from the member's own Raft log.

use crate::cluster::{plain, since_last_spawn};

/// The hidden fault flag.
pub const FLAG: &str = "--fault-power-cut-state";
/// What a member logs when the fault reverts its store.
pub const REVERTED: &str = "power-cut fault: state machine reverted";
/// openraft's line when it applies committed entries from the local log at start.
pub const REAPPLYING: &str = "Re-applying committed logs";

/// The fault's revert at one start of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revert {
    /// The applied index the store held when it was opened (what redb recovered).
    pub opened_at: u64,
    /// The applied index after the revert: the last durable checkpoint.
    pub reverted_to: u64,
}

/// The fault's revert at the member's latest start, from its whole log.
pub fn last_revert(log: &str) -> Option<Revert> {
    let line = plain(
        since_last_spawn(log)
            .lines()
            .find(|l| l.contains(REVERTED))?,
    );
    Some(Revert {
        opened_at: field(&line, "applied_before")?,
        reverted_to: field(&line, "applied_after")?,
    })
}

/// openraft's re-apply line at the member's latest start, if it re-applied anything.
pub fn reapplied(log: &str) -> Option<String> {
    since_last_spawn(log)
        .lines()
        .find(|l| l.contains(REAPPLYING))
        .map(plain)
}

/// The number in `<name>=<number>` on a line.
fn field(line: &str, name: &str) -> Option<u64> {
    let key = format!("{name}=");
    let rest = &line[line.find(&key)? + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_latest_start_only() {
        let log = "==== harness: spawning a\n\
                   x \u{1b}[2mpower-cut fault: state machine reverted\u{1b}[0m applied_before=\u{1b}[1m90\u{1b}[0m applied_after=40\n\
                   ==== harness: spawning b\n\
                   INFO power-cut fault: state machine reverted applied_before=200 applied_after=150\n\
                   INFO Re-applying committed logs: 151..=230\n";
        assert_eq!(
            last_revert(log),
            Some(Revert {
                opened_at: 200,
                reverted_to: 150
            })
        );
        assert!(reapplied(log).is_some_and(|l| l.contains("151..=230")));
        assert_eq!(last_revert("==== harness: spawning a\nnothing\n"), None);
    }
}
