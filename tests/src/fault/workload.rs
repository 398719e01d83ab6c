//! The register workload: concurrent clients doing reads, writes and compare-and-set on a few
//! params of a few profiles, each operation sent to a random member and recorded in a
//! [`History`].
//!
//! | operation | request | outcomes |
//! |---|---|---|
//! | read | `GET /profiles/<p>/params/<k>` (linearizable) | 200 → ok(value); 404 → ok(absent: impossible after setup, so a violation); else dropped |
//! | write | `POST /profiles/<p>/params/<k>` body `<v>` | 2xx → ok; 4xx → fail; 5xx / timeout / broken connection → unknown; refused connection → fail |
//! | CAS | `PATCH /profiles/<p>` `[test /Params/<k> old, replace /Params/<k> new]` | 2xx → ok; 409 → cas-mismatch; other 4xx → fail; 5xx / timeout → unknown |
//!
//! Every written value is unique in the run. A client that sees an unknown outcome continues
//! as a new process (Jepsen's convention), since its operation may still be in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::history::{History, Op, Outcome, Val};
use crate::http::Http;

/// The value a read reports when the param (or its profile) is missing: never written, so
/// the checker rejects it.
pub const ABSENT: Val = u64::MAX;

/// Workload shape.
#[derive(Debug, Clone)]
pub struct WorkloadCfg {
    pub clients: usize,
    pub profiles: usize,
    pub params_per_profile: usize,
    /// Per-request client timeout; past it the outcome is unknown.
    pub op_timeout: Duration,
    /// Pause between a client's operations (uniform in `[0, think]`).
    pub think: Duration,
    /// Percent of reads and writes; the rest is CAS.
    pub read_pct: u32,
    pub write_pct: u32,
}

impl Default for WorkloadCfg {
    fn default() -> Self {
        WorkloadCfg {
            clients: 5,
            profiles: 2,
            params_per_profile: 2,
            op_timeout: Duration::from_secs(4),
            think: Duration::from_millis(40),
            read_pct: 45,
            write_pct: 30,
        }
    }
}

impl WorkloadCfg {
    pub fn keys(&self) -> usize {
        self.profiles * self.params_per_profile
    }
    /// (profile, param) of key `k`.
    pub fn key(&self, k: usize) -> (String, String) {
        (
            format!("fault-p{}", k / self.params_per_profile),
            format!("k{}", k % self.params_per_profile),
        )
    }
}

/// Create the workload's profiles with every param at 0 (retried until acknowledged).
pub async fn setup(http: &Http, base: &str, cfg: &WorkloadCfg) -> Result<()> {
    for p in 0..cfg.profiles {
        let name = format!("fault-p{p}");
        let params: serde_json::Map<String, Value> = (0..cfg.params_per_profile)
            .map(|k| (format!("k{k}"), json!(0)))
            .collect();
        crate::cluster::wait_for(
            Duration::from_secs(30),
            &format!("creating {name}"),
            async || {
                let r = http
                    .post(format!("{base}/api/v3/profiles"))
                    .json(&json!({"Name": name, "Description": "fault workload", "Params": params}))
                    .idem(&format!("setup-{name}"))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await?;
                Ok((r.is_success() || r.status == 409).then_some(()))
            },
        )
        .await?;
    }
    Ok(())
}

/// Where clients send requests: (node name, API base URL). Updated by scenarios when
/// members come and go.
pub type Targets = Arc<RwLock<Vec<(String, String)>>>;

/// Running clients.
pub struct Workload {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Workload {
    /// Start `cfg.clients` clients recording into `history`; client `c` draws from
    /// `seed + c`.
    pub fn start(
        http: &Http,
        targets: Targets,
        cfg: &WorkloadCfg,
        history: Arc<History>,
        seed: u64,
    ) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let next_process = Arc::new(AtomicU64::new(cfg.clients as u64));
        let next_value = Arc::new(AtomicU64::new(1));
        let tasks = (0..cfg.clients)
            .map(|c| {
                let client = Client {
                    http: http.clone(),
                    targets: targets.clone(),
                    cfg: cfg.clone(),
                    history: history.clone(),
                    stop: stop.clone(),
                    next_process: next_process.clone(),
                    next_value: next_value.clone(),
                    rng: StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(c as u64)),
                    process: c as u64,
                };
                tokio::spawn(client.run())
            })
            .collect();
        Workload { stop, tasks }
    }

    /// Stop the clients and wait for their in-flight operations (at most one op timeout).
    pub async fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        for t in std::mem::take(&mut self.tasks) {
            t.await.context("a workload client panicked")?;
        }
        Ok(())
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Client {
    http: Http,
    targets: Targets,
    cfg: WorkloadCfg,
    history: Arc<History>,
    stop: Arc<AtomicBool>,
    next_process: Arc<AtomicU64>,
    next_value: Arc<AtomicU64>,
    rng: StdRng,
    process: u64,
}

impl Client {
    async fn run(mut self) {
        let mut last_seen: HashMap<usize, Val> = HashMap::new();
        while !self.stop.load(Ordering::Relaxed) {
            let target = {
                let t = self.targets.read().unwrap_or_else(|p| p.into_inner());
                if t.is_empty() {
                    None
                } else {
                    Some(t[self.rng.random_range(0..t.len())].clone())
                }
            };
            let Some((name, base)) = target else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let key = self.rng.random_range(0..self.cfg.keys());
            let dice = self.rng.random_range(0..100);
            let op = if dice < self.cfg.read_pct {
                Op::Read
            } else if dice < self.cfg.read_pct + self.cfg.write_pct {
                Op::Write(self.next_value.fetch_add(1, Ordering::Relaxed))
            } else {
                let old = last_seen.get(&key).copied().unwrap_or(0);
                Op::Cas(old, self.next_value.fetch_add(1, Ordering::Relaxed))
            };
            let id = self.history.invoke(self.process, key, op, &name);
            let outcome = execute(&self.http, &self.cfg, &base, key, op).await;
            match (&outcome, op) {
                (Outcome::Ok(Some(v)), Op::Read) => {
                    last_seen.insert(key, *v);
                }
                (Outcome::Ok(_), Op::Write(v) | Op::Cas(_, v)) => {
                    last_seen.insert(key, v);
                }
                _ => {}
            }
            let unknown = matches!(outcome, Outcome::Unknown(_));
            self.history.complete(id, outcome);
            if unknown {
                self.process = self.next_process.fetch_add(1, Ordering::Relaxed);
            }
            let think = self.cfg.think.as_millis() as u64;
            if think > 0 {
                let ms = self.rng.random_range(0..=think);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
    }
}

/// Run one operation against `base` and classify its outcome.
pub async fn execute(http: &Http, cfg: &WorkloadCfg, base: &str, key: usize, op: Op) -> Outcome {
    let (profile, param) = cfg.key(key);
    let t = cfg.op_timeout;
    let r = match op {
        Op::Read => {
            http.get(format!("{base}/api/v3/profiles/{profile}/params/{param}"))
                .timeout(t)
                .send()
                .await
        }
        Op::Write(v) => {
            http.post(format!("{base}/api/v3/profiles/{profile}/params/{param}"))
                .json(&json!(v))
                .timeout(t)
                .send()
                .await
        }
        Op::Cas(old, new) => {
            http.request(
                reqwest::Method::PATCH,
                format!("{base}/api/v3/profiles/{profile}"),
            )
            .json(&json!([
                {"op": "test", "path": format!("/Params/{param}"), "value": old},
                {"op": "replace", "path": format!("/Params/{param}"), "value": new},
            ]))
            .timeout(t)
            .send()
            .await
        }
    };
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            // A refused connection never reached the server; anything else may have.
            let refused = e.chain().any(|c| {
                c.downcast_ref::<reqwest::Error>()
                    .is_some_and(|re| re.is_connect())
            });
            return if refused {
                Outcome::Fail(format!("{e:#}"))
            } else {
                Outcome::Unknown(format!("{e:#}"))
            };
        }
    };
    let why = || format!("{} {}", r.status, crate::http::truncate(&r.text(), 200));
    match op {
        Op::Read => match r.status {
            200 => match r.json::<Value>().ok().and_then(|v| v.as_u64()) {
                Some(v) => Outcome::Ok(Some(v)),
                None => Outcome::Ok(Some(ABSENT - 1)),
            },
            404 => Outcome::Ok(Some(ABSENT)),
            _ => Outcome::Unknown(why()),
        },
        Op::Write(_) => match r.status {
            200..=299 => Outcome::Ok(None),
            400..=499 => Outcome::Fail(why()),
            _ => Outcome::Unknown(why()),
        },
        Op::Cas(..) => match r.status {
            200..=299 => Outcome::Ok(None),
            409 => Outcome::CasMismatch,
            400..=499 => Outcome::Fail(why()),
            _ => Outcome::Unknown(why()),
        },
    }
}
