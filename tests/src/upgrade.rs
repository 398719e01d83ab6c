//! What the rolling-upgrade suites share (`rolling_upgrade`, through each member's own API,
//! and `manager_upgrade`, through the manager's rollout): the "old build" flag, the bound on
//! how long a write may keep failing, the writers' record of what they saw, and the monitor
//! of how many members are down at once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http::Http;

/// The hidden flag that makes a member the "old build" (`--fault-cap-command-version 1`).
pub const CAP_FLAG: &str = "--fault-cap-command-version";
/// The nodes' `--election-timeout-ms` (the serve default); elections last up to twice it.
pub const ELECTION_MS: u64 = 100;
/// The longest a write may keep failing: generous (a loaded 2-core machine running debug
/// builds), but tied to the election window: 40 windows of the lease plus the longest
/// timeout (2 x 100 + 2 x 100 ms).
pub const MAX_FAILURE_GAP: Duration = Duration::from_millis(40 * 4 * ELECTION_MS);

/// What the writers saw.
#[derive(Default)]
pub struct Load {
    /// The names of the acknowledged writes.
    pub acked: Mutex<Vec<String>>,
    /// The longest time from a write's first failed attempt to its acknowledgement.
    pub longest_gap: Mutex<Duration>,
    /// Writes refused with a client error, which no upgrade step should cause.
    pub unexpected: Mutex<Vec<String>>,
}

impl Load {
    /// Records an acknowledged write, and its failure gap when an attempt failed first.
    pub fn ack(&self, name: String, first_failure: Option<Instant>) {
        if let Some(since) = first_failure {
            let mut longest = self.longest_gap.lock().unwrap();
            *longest = (*longest).max(since.elapsed());
        }
        self.acked.lock().unwrap().push(name);
    }
}

/// Polls every member's `/api/v3/info` until `stop`; records the most members down at once.
pub fn start_monitor(
    http: &Http,
    bases: Vec<String>,
    stop: Arc<AtomicBool>,
    max_down: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    let http = http.clone();
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let probes = bases.iter().map(|b| {
                http.get(format!("{b}/api/v3/info"))
                    .timeout(Duration::from_secs(3))
                    .send()
            });
            let down = futures::future::join_all(probes)
                .await
                .into_iter()
                .filter(|r| !r.as_ref().is_ok_and(|r| r.status == 200))
                .count();
            max_down.fetch_max(down, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}
