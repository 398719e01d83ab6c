//! A writer thread for failover tests: it writes one object after another, retrying each
//! (the caller's request carries the name as its Idempotency-Key) until it is acknowledged,
//! and records what was acknowledged when, so a test can check that none is lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{http, wait, PASSWORD};

/// Pause between two attempts at the same write.
const RETRY: Duration = Duration::from_millis(20);

/// Writes acknowledged so far, with when.
pub struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, Instant)>>>,
    /// Ends with the name of a write given up on after its budget, if any.
    thread: Option<JoinHandle<Option<String>>>,
}

impl Writer {
    /// Writes `{prefix}-0`, `{prefix}-1`, ...: `attempt(client, name)` sends one attempt and
    /// says whether it was acknowledged; a write not acknowledged within `budget` stops the
    /// writer (and [`Writer::finish`] fails the test).
    pub fn start(
        prefix: &str,
        budget: Duration,
        attempt: impl Fn(&reqwest::blocking::Client, &str) -> bool + Send + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (s, a, prefix) = (stop.clone(), acked.clone(), prefix.to_owned());
        let thread = std::thread::spawn(move || {
            let client = http();
            for n in 0.. {
                let name = format!("{prefix}-{n}");
                let give_up = Instant::now() + budget;
                // A write still unacknowledged at the stop is simply not counted.
                while !s.load(Ordering::SeqCst) {
                    if attempt(&client, &name) {
                        a.lock().unwrap().push((name.clone(), Instant::now()));
                        break;
                    }
                    if Instant::now() > give_up {
                        return Some(name);
                    }
                    std::thread::sleep(RETRY);
                }
                if s.load(Ordering::SeqCst) {
                    break;
                }
            }
            None
        });
        Self {
            stop,
            acked,
            thread: Some(thread),
        }
    }

    /// Machines created through the manager's federated `POST /api/v3/machines`, each naming
    /// its cluster with `Endpoint` in the body (and its name as the Idempotency-Key).
    pub fn machines(manager: String, endpoint: String, prefix: &str, budget: Duration) -> Self {
        Self::start(prefix, budget, move |client, name| {
            client
                .post(format!("{manager}/api/v3/machines"))
                .basic_auth("rocketskates", Some(PASSWORD))
                .header("Idempotency-Key", name)
                .json(&json!({"Name": name, "Endpoint": endpoint}))
                .timeout(Duration::from_secs(30))
                .send()
                .is_ok_and(|r| r.status().is_success())
        })
    }

    /// How many writes were acknowledged.
    pub fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// The first acknowledgement after `t`.
    pub fn first_after(&self, t: Instant) -> Option<Instant> {
        self.acked
            .lock()
            .unwrap()
            .iter()
            .map(|(_, at)| *at)
            .find(|at| *at > t)
    }

    /// Waits until `n` writes are acknowledged; panics naming `what` after `within`.
    pub fn wait_count(&self, n: usize, within: Duration, what: &str) {
        wait(within, || (self.count() >= n).then_some(()))
            .unwrap_or_else(|| panic!("{what}: only {} writes acknowledged", self.count()));
    }

    /// Stops the writer: every acknowledged name, in order. Panics if a write was given up.
    pub fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let given_up = t.join().unwrap();
            assert_eq!(given_up, None, "a write was never acknowledged");
        }
        let acked = self.acked.lock().unwrap();
        acked.iter().map(|(n, _)| n.clone()).collect()
    }
}
