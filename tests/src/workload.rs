//! Client workloads shared by the suites and the bench: bulk profile creation with retries,
//! and a background writer that records which writes were acknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::http::{Http, Resp};

/// `POST <base>/api/v3/profiles` creating `name`, with `Idempotency-Key: name`.
pub async fn post_profile(http: &Http, base: &str, name: &str, timeout: Duration) -> Result<Resp> {
    http.post(format!("{base}/api/v3/profiles"))
        .json(&json!({"Name": name, "Description": "workload", "Params": {"workload/seq": name}}))
        .idem(name)
        .timeout(timeout)
        .send()
        .await
}

/// How long one write may keep failing before [`create_profiles`] gives up.
pub const STALL: Duration = Duration::from_secs(30);

/// Create every profile in `names` with `concurrency` client tasks, spreading them over the
/// API base URLs `bases` (round robin). Each write carries `Idempotency-Key: <name>` and is
/// retried (rotating the target) until it gets a 201; it is an error if `deadline` passes or one
/// write keeps failing for [`STALL`].
/// Returns the acknowledged names (all of them on success).
pub async fn create_profiles(
    http: &Http,
    bases: &[String],
    names: Vec<String>,
    concurrency: usize,
    deadline: Duration,
) -> Result<BTreeSet<String>> {
    anyhow::ensure!(!bases.is_empty(), "no target");
    let names = Arc::new(names);
    let next = Arc::new(AtomicUsize::new(0));
    let bases = Arc::new(bases.to_vec());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency.max(1) {
        let (http, names, next, bases) = (http.clone(), names.clone(), next.clone(), bases.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut target = t % bases.len();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(name) = names.get(i) else { break };
                let first_try = Instant::now();
                loop {
                    let r =
                        post_profile(&http, &bases[target], name, Duration::from_secs(10)).await;
                    match r {
                        Ok(r) if r.status == 201 => break,
                        Ok(r) if r.is_client_error() && r.status != 409 && r.status != 429 => {
                            bail!("{}: unexpected {}: {}", r.what, r.status, r.text())
                        }
                        other => {
                            if start.elapsed() > deadline {
                                bail!(
                                    "creating {name}: still failing after {deadline:?}: {other:?}"
                                );
                            }
                            if first_try.elapsed() > STALL {
                                bail!("creating {name}: no success for {STALL:?} (cluster stuck?): {other:?}");
                            }
                            target = (target + 1) % bases.len();
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                acked.push(name.clone());
            }
            Ok::<_, anyhow::Error>(acked)
        }));
    }
    let mut all = BTreeSet::new();
    for t in tasks {
        all.extend(t.await.context("writer task panicked")??);
    }
    Ok(all)
}

/// What a [`BackgroundWriter`] saw.
#[derive(Debug, Default, Clone)]
pub struct WriterReport {
    /// Names whose creation was acknowledged with 201.
    pub acked: BTreeSet<String>,
    /// The API base that acknowledged each name.
    pub acked_via: BTreeMap<String, String>,
    /// Attempts that were not acknowledged (outcome unknown or refused).
    pub failed: usize,
    /// Statuses/errors of failed attempts, first few.
    pub failures: Vec<String>,
    /// Every attempt, in the order they finished: when, where, and how it ended.
    pub attempts: Vec<Attempt>,
}

/// One write attempt of a [`BackgroundWriter`].
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The API base it was sent to.
    pub target: String,
    /// When it was sent.
    pub started: Instant,
    /// When its reply (or error) came back.
    pub ended: Instant,
    /// How it ended.
    pub outcome: Outcome,
}

impl Attempt {
    /// Sent before `t` and answered after it.
    pub fn spans(&self, t: Instant) -> bool {
        self.started <= t && t <= self.ended
    }
}

/// How a request ended, as far as the client can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A complete HTTP reply with this status (201 is an acknowledged write).
    Status(u16),
    /// No connection was made (refused, unreachable): the server never saw the request.
    NotConnected,
    /// The client's timeout passed first.
    TimedOut,
    /// The connection broke after it was made (reset, closed mid-response): outcome unknown.
    Broken(String),
}

impl Outcome {
    /// Classifies a [`Http`] result.
    pub fn of(r: &Result<Resp>) -> Outcome {
        let e = match r {
            Ok(r) => return Outcome::Status(r.status),
            Err(e) => e,
        };
        match e.chain().find_map(|c| c.downcast_ref::<reqwest::Error>()) {
            Some(re) if re.is_connect() => Outcome::NotConnected,
            Some(re) if re.is_timeout() => Outcome::TimedOut,
            _ => Outcome::Broken(format!("{e:#}")),
        }
    }
}

/// Writes new profiles `<prefix>-<client>-<seq>` in a loop until stopped, recording which were
/// acknowledged. On any failure it moves to the next URL.
pub struct BackgroundWriter {
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<WriterReport>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl BackgroundWriter {
    pub fn start(http: &Http, bases: Vec<String>, prefix: &str, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(WriterReport::default()));
        let bases = Arc::new(bases);
        let tasks = (0..clients.max(1))
            .map(|c| {
                let (http, stop, report, bases) =
                    (http.clone(), stop.clone(), report.clone(), bases.clone());
                let prefix = prefix.to_string();
                tokio::spawn(async move {
                    let mut target = c % bases.len().max(1);
                    let mut seq = 0u64;
                    while !stop.load(Ordering::Relaxed) && !bases.is_empty() {
                        let name = format!("{prefix}-{c}-{seq:06}");
                        seq += 1;
                        let started = Instant::now();
                        let r = post_profile(&http, &bases[target], &name, Duration::from_secs(8))
                            .await;
                        let ok = matches!(&r, Ok(r) if r.status == 201);
                        {
                            let mut rep = report.lock().unwrap_or_else(|p| p.into_inner());
                            rep.attempts.push(Attempt {
                                target: bases[target].clone(),
                                started,
                                ended: Instant::now(),
                                outcome: Outcome::of(&r),
                            });
                            if ok {
                                rep.acked_via.insert(name.clone(), bases[target].clone());
                                rep.acked.insert(name);
                            } else {
                                rep.failed += 1;
                                if rep.failures.len() < 20 {
                                    rep.failures.push(match r {
                                        Ok(r) => format!("{} -> {} {}", r.what, r.status, r.text()),
                                        Err(e) => format!("{e:#}"),
                                    });
                                }
                            }
                        }
                        if !ok {
                            target = (target + 1) % bases.len();
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                })
            })
            .collect();
        BackgroundWriter {
            stop,
            report,
            tasks,
        }
    }

    /// Acknowledged so far.
    pub fn acked_count(&self) -> usize {
        self.report
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .acked
            .len()
    }

    /// Stop the clients, wait for their in-flight requests, return the report.
    pub async fn stop(mut self) -> Result<WriterReport> {
        self.stop.store(true, Ordering::Relaxed);
        for t in std::mem::take(&mut self.tasks) {
            t.await.context("background writer panicked")?;
        }
        let r = self
            .report
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(r)
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Names of all profiles as seen by `base` (linearizable unless `stale`).
pub async fn profile_names(http: &Http, base: &str, stale: bool) -> Result<BTreeSet<String>> {
    let mut req = http
        .get(format!("{base}/api/v3/profiles"))
        .timeout(Duration::from_secs(30));
    if stale {
        req = req.stale();
    }
    let r = req.send().await?.expect(200)?;
    let list: Vec<Value> = r.json()?;
    Ok(list
        .iter()
        .filter_map(|p| p.get("Name").and_then(Value::as_str).map(str::to_string))
        .collect())
}

/// The names in `want` missing from `have` (at most 10, for messages).
pub fn missing(want: &BTreeSet<String>, have: &BTreeSet<String>) -> (usize, Vec<String>) {
    let m: Vec<&String> = want.difference(have).collect();
    (m.len(), m.into_iter().take(10).cloned().collect())
}
