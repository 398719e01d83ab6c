//! The legitimate client: from 127.0.0.1, as the admin, 50 requests a second at a fixed pace
//! (open loop: a stalled server shows as latency, not as fewer requests), nine reads of a
//! profile for each new profile written. A request that fails counts as an error with the
//! time it took (up to its 5 s timeout) among the samples.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::http::Http;

const EVERY: Duration = Duration::from_millis(20);
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Default, Clone)]
pub struct LegitStats {
    pub samples: Vec<Duration>,
    pub errors: usize,
}

/// Runs the client on a thread and runtime of its own, with its own connections: the attack
/// tasks busy drp-hostile's runtime, and a legitimate client is another machine, whose
/// timings must not include queueing behind the attacker's tasks (it still shares the cores).
pub async fn run(http: Http, base: String, until: Instant) -> LegitStats {
    let own = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let http = http.with_own_pool().ok()?;
        Some(rt.block_on(paced(http, base, until)))
    })
    .await;
    own.ok().flatten().unwrap_or_default()
}

async fn paced(http: Http, base: String, until: Instant) -> LegitStats {
    let stats = Arc::new(Mutex::new(LegitStats::default()));
    let mut tick = tokio::time::interval(EVERY);
    let mut tasks = Vec::new();
    let mut i: u64 = 0;
    while Instant::now() < until {
        tick.tick().await;
        i += 1;
        let (http, base, stats) = (http.clone(), base.clone(), stats.clone());
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let r = if i.is_multiple_of(10) {
                let name = format!("legit-{}", uuid::Uuid::new_v4().simple());
                http.post(format!("{base}/profiles"))
                    .json(&json!({"Name": name}))
                    .timeout(TIMEOUT)
                    .send()
                    .await
            } else {
                http.get(format!("{base}/profiles/{}", super::PROBE))
                    .timeout(TIMEOUT)
                    .send()
                    .await
            };
            let ok = r.is_ok_and(|r| r.is_success());
            if let Ok(mut s) = stats.lock() {
                s.samples.push(start.elapsed());
                if !ok {
                    s.errors += 1;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let out = stats.lock().map(|s| s.clone()).unwrap_or_default();
    out
}
