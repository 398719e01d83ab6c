//! The five workloads of issue 7, each measured on our cluster and on etcd in the same run.
//!
//! 1. writes: a 256-byte value, 1 and 64 closed-loop clients, to the leader and to a follower;
//! 2. linearizable reads, same shape;
//! 3. failover: a steady single-client write load, `kill -9` of the leader, kill → new leader
//!    and kill → first acknowledged write (ours through the manager gateway; etcd's client
//!    round-robins over every member with a short per-attempt timeout);
//! 4. fan-out: N single-node clusters under one manager, one git commit changing the VersionSet
//!    they share, commit → all applied (peer: the same document put to N single-node etcds);
//! 5. scale: M machines loaded, RSS of every member, kill -9 all + restart → serving.
//!
//! A workload that fails is reported in the notes; the others still run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use super::etcd::{self, Etcd};
use super::load::{self, LoadStats, Op, Shape};
use super::ours::{self, Manager, ManagerOpts, Repo};
use super::proc::{cpu_secs_sum, pid_with_arg, rss_bytes};
use super::report::{Better, Goal, Report};
use super::{say, POLL};
use crate::cluster::{manager_bin, Cluster, Start};
use crate::stats::percentile;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Writes,
    Reads,
    Failover,
    Fanout,
    Scale,
}

impl Workload {
    pub const ALL: [Workload; 5] = [
        Workload::Writes,
        Workload::Reads,
        Workload::Failover,
        Workload::Fanout,
        Workload::Scale,
    ];

    pub fn parse(s: &str) -> Result<Workload> {
        Ok(match s {
            "writes" => Workload::Writes,
            "reads" => Workload::Reads,
            "failover" => Workload::Failover,
            "fanout" | "fan-out" => Workload::Fanout,
            "scale" => Workload::Scale,
            o => bail!("unknown workload {o:?} (writes, reads, failover, fanout, scale)"),
        })
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub mode: String,
    pub only: Vec<Workload>,
    pub warmup: Duration,
    pub measure: Duration,
    pub clients: Vec<usize>,
    pub value_bytes: usize,
    pub failover_reps: usize,
    /// etcd client: per-attempt timeout while the leader is gone (then the next member).
    pub etcd_attempt_timeout: Duration,
    pub fanout_clusters: usize,
    pub fanout_reps: usize,
    pub max_parallel: usize,
    pub machines: usize,
    pub load_clients: usize,
}

impl Config {
    pub fn full() -> Config {
        Config {
            mode: "full".into(),
            only: Workload::ALL.to_vec(),
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(10),
            clients: vec![1, 64],
            value_bytes: 256,
            failover_reps: 20,
            etcd_attempt_timeout: Duration::from_millis(250),
            fanout_clusters: 20,
            fanout_reps: 5,
            max_parallel: 20,
            machines: 100_000,
            load_clients: 64,
        }
    }

    pub fn quick() -> Config {
        Config {
            mode: "quick".into(),
            warmup: Duration::from_millis(300),
            measure: Duration::from_millis(2000),
            failover_reps: 3,
            fanout_clusters: 5,
            fanout_reps: 2,
            max_parallel: 5,
            machines: 5_000,
            ..Config::full()
        }
    }

    fn wants(&self, w: Workload) -> bool {
        self.only.contains(&w)
    }

    pub fn settings(&self) -> Value {
        json!({
            "mode": self.mode,
            "workloads": self.only.iter().map(|w| format!("{w:?}").to_lowercase()).collect::<Vec<_>>(),
            "warmup_s": self.warmup.as_secs_f64(),
            "measure_s": self.measure.as_secs_f64(),
            "clients": self.clients,
            "value_bytes": self.value_bytes,
            "failover_reps": self.failover_reps,
            "etcd_attempt_timeout_ms": self.etcd_attempt_timeout.as_millis() as u64,
            "fanout_clusters": self.fanout_clusters,
            "fanout_reps": self.fanout_reps,
            "manager_max_parallel": self.max_parallel,
            "machines": self.machines,
            "load_clients": self.load_clients,
        })
    }
}

const PROFILE: &str = "bench";
/// Param written and read by the load cells; client `c` uses profile `bench-c<c>` (one object
/// per client, as etcd gets one key per client).
const PARAM: &str = "bench/value";

fn client_profile(c: usize) -> String {
    format!("bench-c{c}")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct_ms(samples: &[Duration], p: f64) -> Option<f64> {
    percentile(samples, p).map(ms)
}

fn mib(b: u64) -> f64 {
    b as f64 / 1024.0 / 1024.0
}

/// The two 3-node clusters the first workloads share.
struct Pair {
    ours: Cluster,
    etcd: Etcd,
    auth: HeaderMap,
}

/// Run every configured workload, filling `report`.
pub async fn run(cfg: &Config, http: &reqwest::Client, report: &mut Report) -> Result<()> {
    let value: String = (0..cfg.value_bytes)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let shared = [
        Workload::Writes,
        Workload::Reads,
        Workload::Failover,
        Workload::Scale,
    ];
    if shared.iter().any(|w| cfg.wants(*w)) {
        say("starting a 3-node drp-endpoint cluster and a 3-node etcd cluster");
        let max = cfg.clients.iter().copied().max().unwrap_or(1);
        let mut pair = start_pair(http, max).await?;
        if cfg.wants(Workload::Writes) {
            let r = writes(cfg, http, &pair, &value, report).await;
            note_err(report, "writes", r);
        }
        if cfg.wants(Workload::Reads) {
            let r = reads(cfg, http, &pair, &value, report).await;
            note_err(report, "reads", r);
        }
        if cfg.wants(Workload::Failover) {
            let r = failover(cfg, http, &mut pair, &value, report).await;
            note_err(report, "failover", r);
        }
        if cfg.wants(Workload::Scale) {
            let r = scale(cfg, http, &mut pair, report).await;
            note_err(report, "scale", r);
        }
        pair.ours.success();
    }
    if cfg.wants(Workload::Fanout) {
        let r = fanout(cfg, http, report).await;
        note_err(report, "fan-out", r);
    }
    goals(cfg, report);
    Ok(())
}

fn note_err(report: &mut Report, what: &str, r: Result<()>) {
    if let Err(e) = r {
        say(format!("{what} failed: {e:#}"));
        report
            .notes
            .push(format!("{what}: not measured (error: {e:#})"));
    }
}

async fn start_pair(http: &reqwest::Client, max_clients: usize) -> Result<Pair> {
    // The benchmark's clients all come from 127.0.0.1 and measure raw throughput: the
    // per-source request limit would measure itself instead.
    let unthrottled = crate::cluster::Opts {
        extra_args: vec!["--rate-limit-per-source".into(), "0".into()],
        ..Default::default()
    };
    let ours = Cluster::start_with(3, unthrottled).await?;
    let l = ours.leader().await?;
    let auth = ours::bearer(http, &ours.node(l).url(), 24 * 3600).await?;
    let mut names = vec![PROFILE.to_string()];
    names.extend((0..max_clients).map(client_profile));
    for name in names {
        Op::new(Method::POST, ours.node(l).api("/profiles"))
            .headers(&auth)
            .json_body(
                json!({"Name": name, "Description": "drp-bench"})
                    .to_string()
                    .into_bytes(),
            )
            .send_ok(http, Duration::from_secs(10))
            .await?;
    }
    let etcd = Etcd::start(http, 3).await?;
    Ok(Pair { ours, etcd, auth })
}

fn shape(cfg: &Config, clients: usize) -> Shape {
    Shape {
        clients,
        warmup: cfg.warmup,
        measure: cfg.measure,
        timeout: Duration::from_secs(5),
    }
}

/// (index of the leader, index of a follower) of our cluster.
async fn ours_targets(c: &Cluster) -> Result<(usize, usize)> {
    let l = c.wait_converged(3, Duration::from_secs(30)).await?;
    let f = c
        .live()
        .into_iter()
        .find(|&i| i != l)
        .ok_or_else(|| anyhow!("no follower"))?;
    Ok((l, f))
}

async fn etcd_targets(e: &Etcd, http: &reqwest::Client) -> Result<(usize, usize)> {
    let l = e.wait_leader(http, Duration::from_secs(30)).await?;
    let f = e
        .live()
        .into_iter()
        .find(|&i| i != l)
        .ok_or_else(|| anyhow!("no etcd follower"))?;
    Ok((l, f))
}

fn ours_pids(c: &Cluster) -> Vec<u32> {
    c.nodes
        .iter()
        .filter_map(|n| pid_with_arg("--data-dir", &n.data_dir()))
        .collect()
}

fn etcd_pids(e: &Etcd) -> Vec<u32> {
    e.members.iter().filter_map(|m| m.pid()).collect()
}

/// One load cell, also measuring the CPU time the servers (`pids`) used per acknowledged
/// request: (stats, CPU ms per request summed over members).
async fn cell(
    http: &reqwest::Client,
    ops: Vec<Op>,
    shape: Shape,
    pids: &[u32],
) -> Result<(LoadStats, Option<f64>)> {
    // The warm-up is in the CPU window too; count its requests by rate (closed loop, steady).
    let before = cpu_secs_sum(pids);
    let stats = load::run(http, ops, shape).await?;
    let used = cpu_secs_sum(pids) - before;
    let total = shape.warmup.as_secs_f64() + shape.measure.as_secs_f64();
    let requests = stats.per_sec * total;
    let per = (requests > 0.0 && used > 0.0).then(|| used * 1000.0 / requests);
    Ok((stats, per))
}

fn key(c: usize) -> String {
    format!("bench/c{c}")
}

fn load_note(o: &LoadStats, e: &LoadStats) -> String {
    let mut n = Vec::new();
    if o.errors > 0 {
        n.push(format!(
            "ours: {} errors ({})",
            o.errors,
            o.first_error.as_deref().unwrap_or("")
        ));
    }
    if e.errors > 0 {
        n.push(format!(
            "etcd: {} errors ({})",
            e.errors,
            e.first_error.as_deref().unwrap_or("")
        ));
    }
    crate::http::truncate(&n.join("; "), 200)
}

fn summary(o: &LoadStats, e: &LoadStats) -> String {
    use super::report::num;
    format!(
        "  ours {:.0}/s p50 {} ms p99 {} ms | etcd {:.0}/s p50 {} ms p99 {} ms",
        o.per_sec,
        num(o.p50_ms),
        num(o.p99_ms),
        e.per_sec,
        num(e.p50_ms),
        num(e.p99_ms)
    )
}

fn push_load(
    report: &mut Report,
    workload: &str,
    unit: &str,
    o: &LoadStats,
    e: &LoadStats,
    cpu: (Option<f64>, Option<f64>),
) {
    let note = load_note(o, e);
    report.push(
        workload,
        "throughput",
        unit,
        Better::Higher,
        Some(o.per_sec),
        Some(e.per_sec),
        &note,
    );
    report.push(
        workload,
        "p50 latency",
        "ms",
        Better::Lower,
        o.p50_ms,
        e.p50_ms,
        "",
    );
    report.push(
        workload,
        "p99 latency",
        "ms",
        Better::Lower,
        o.p99_ms,
        e.p99_ms,
        "",
    );
    report.push(
        workload,
        "server CPU per request, all members",
        "ms",
        Better::Lower,
        cpu.0,
        cpu.1,
        "",
    );
    if let Value::Object(d) = &mut report.details {
        d.insert(
            workload.to_string(),
            json!({"ours": o, "etcd": e, "ours_cpu_ms_per_request": cpu.0, "etcd_cpu_ms_per_request": cpu.1}),
        );
    }
}

async fn writes(
    cfg: &Config,
    http: &reqwest::Client,
    p: &Pair,
    value: &str,
    report: &mut Report,
) -> Result<()> {
    for target in ["leader", "follower"] {
        for &n in &cfg.clients {
            let (ol, of) = ours_targets(&p.ours).await?;
            let base = p.ours.node(if target == "leader" { ol } else { of }).url();
            say(format!("writes → {target}, {n} client(s): ours"));
            let ops: Vec<Op> = (0..n)
                .map(|c| ours::param_write(&base, &client_profile(c), PARAM, value, &p.auth))
                .collect();
            let (o, ocpu) = cell(http, ops, shape(cfg, n), &ours_pids(&p.ours)).await?;
            let (el, ef) = etcd_targets(&p.etcd, http).await?;
            let url = p.etcd.url(if target == "leader" { el } else { ef });
            say(format!("writes → {target}, {n} client(s): etcd"));
            let ops: Vec<Op> = (0..n)
                .map(|c| etcd::put_op(&url, key(c).as_bytes(), value.as_bytes()))
                .collect();
            let (e, ecpu) = cell(http, ops, shape(cfg, n), &etcd_pids(&p.etcd)).await?;
            say(summary(&o, &e));
            let w = format!(
                "writes → {target}, {n} client{}",
                if n == 1 { "" } else { "s" }
            );
            push_load(report, &w, "writes/s", &o, &e, (ocpu, ecpu));
        }
    }
    Ok(())
}

async fn reads(
    cfg: &Config,
    http: &reqwest::Client,
    p: &Pair,
    value: &str,
    report: &mut Report,
) -> Result<()> {
    // Every key exists before it is read.
    let max = cfg.clients.iter().copied().max().unwrap_or(1);
    let (ol, _) = ours_targets(&p.ours).await?;
    let (el, _) = etcd_targets(&p.etcd, http).await?;
    for c in 0..max {
        ours::param_write(
            &p.ours.node(ol).url(),
            &client_profile(c),
            PARAM,
            value,
            &p.auth,
        )
        .send_ok(http, Duration::from_secs(10))
        .await?;
        etcd::put_op(&p.etcd.url(el), key(c).as_bytes(), value.as_bytes())
            .send_ok(http, Duration::from_secs(10))
            .await?;
    }
    for target in ["leader", "follower"] {
        for &n in &cfg.clients {
            let (ol, of) = ours_targets(&p.ours).await?;
            let base = p.ours.node(if target == "leader" { ol } else { of }).url();
            say(format!(
                "linearizable reads ← {target}, {n} client(s): ours"
            ));
            let ops: Vec<Op> = (0..n)
                .map(|c| ours::param_read(&base, &client_profile(c), PARAM, &p.auth))
                .collect();
            let (o, ocpu) = cell(http, ops, shape(cfg, n), &ours_pids(&p.ours)).await?;
            let (el, ef) = etcd_targets(&p.etcd, http).await?;
            let url = p.etcd.url(if target == "leader" { el } else { ef });
            say(format!(
                "linearizable reads ← {target}, {n} client(s): etcd"
            ));
            let ops: Vec<Op> = (0..n)
                .map(|c| etcd::range_op(&url, key(c).as_bytes()))
                .collect();
            let (e, ecpu) = cell(http, ops, shape(cfg, n), &etcd_pids(&p.etcd)).await?;
            say(summary(&o, &e));
            let w = format!(
                "linearizable reads ← {target}, {n} client{}",
                if n == 1 { "" } else { "s" }
            );
            push_load(report, &w, "reads/s", &o, &e, (ocpu, ecpu));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Failover
// ---------------------------------------------------------------------------------------------

/// `(sent, acknowledged)` of every acknowledged write of a steady writer.
type Acks = Arc<Mutex<Vec<(Instant, Instant)>>>;

/// A single client writing back to back; attempt `k` goes to `ops[k % ops.len()]` (one op:
/// always the same target; several: round robin, moving on after any failure or timeout).
struct SteadyWriter {
    acks: Acks,
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: Option<tokio::task::JoinHandle<usize>>,
}

impl SteadyWriter {
    fn start(http: &reqwest::Client, ops: Vec<Op>, attempt_timeout: Duration) -> SteadyWriter {
        let acks: Acks = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (h, a, s) = (http.clone(), acks.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut k = 0usize;
            let mut failed = 0usize;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let op = &ops[k % ops.len()];
                let sent = Instant::now();
                match op.send_ok(&h, attempt_timeout).await {
                    Ok(_) => a
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((sent, Instant::now())),
                    Err(_) => {
                        failed += 1;
                        if ops.len() == 1 {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
                k += 1;
            }
            failed
        });
        SteadyWriter {
            acks,
            stop,
            task: Some(task),
        }
    }

    /// Wait for the first write sent at or after `t0` to be acknowledged: `ack - t0`.
    async fn first_ack_sent_after(&self, t0: Instant, timeout: Duration) -> Option<Duration> {
        loop {
            {
                let acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((_, ack)) = acks.iter().rev().take_while(|(s, _)| *s >= t0).last() {
                    return Some(*ack - t0);
                }
            }
            if t0.elapsed() > timeout {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn stop(mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        match self.task.take() {
            Some(t) => t.await.unwrap_or(0),
            None => 0,
        }
    }
}

impl Drop for SteadyWriter {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Poll `probe` every 10 ms (for up to 30 s from `t0`) until it says yes: `yes - t0`.
fn watch<F, Fut>(t0: Instant, mut probe: F) -> tokio::task::JoinHandle<Option<Duration>>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    tokio::spawn(async move {
        while t0.elapsed() < Duration::from_secs(30) {
            if probe().await {
                return Some(t0.elapsed());
            }
            tokio::time::sleep(POLL).await;
        }
        None
    })
}

#[derive(Default, serde::Serialize)]
struct FailoverSamples {
    leader: Vec<Duration>,
    write: Vec<Duration>,
    missed: usize,
}

async fn failover(
    cfg: &Config,
    http: &reqwest::Client,
    p: &mut Pair,
    value: &str,
    report: &mut Report,
) -> Result<()> {
    let ours = failover_ours(cfg, http, p, value).await?;
    let etcd = failover_etcd(cfg, http, p, value).await?;
    let w = format!("failover (kill -9 leader, {} reps)", cfg.failover_reps);
    let pct = |s: &[Duration], q| pct_ms(s, q);
    report.push(
        &w,
        "kill → new leader, median",
        "ms",
        Better::Lower,
        pct(&ours.leader, 50.0),
        pct(&etcd.leader, 50.0),
        "",
    );
    report.push(
        &w,
        "kill → new leader, p99",
        "ms",
        Better::Lower,
        pct(&ours.leader, 99.0),
        pct(&etcd.leader, 99.0),
        "",
    );
    let missed = if ours.missed + etcd.missed > 0 {
        format!(
            "no ack within 30 s: ours {}, etcd {}",
            ours.missed, etcd.missed
        )
    } else {
        String::new()
    };
    report.push(
        &w,
        "kill → first acked write, median",
        "ms",
        Better::Lower,
        pct(&ours.write, 50.0),
        pct(&etcd.write, 50.0),
        &format!(
            "ours via the manager gateway; etcd client round-robin over all members, {} ms attempts{}",
            cfg.etcd_attempt_timeout.as_millis(),
            if missed.is_empty() {
                String::new()
            } else {
                format!("; {missed}")
            }
        ),
    );
    report.push(
        &w,
        "kill → first acked write, p99",
        "ms",
        Better::Lower,
        pct(&ours.write, 99.0),
        pct(&etcd.write, 99.0),
        "",
    );
    if let Value::Object(d) = &mut report.details {
        let list = |s: &[Duration]| s.iter().map(|d| ms(*d)).collect::<Vec<_>>();
        d.insert(
            "failover".into(),
            json!({
                "ours": {"leader_ms": list(&ours.leader), "write_ms": list(&ours.write), "missed": ours.missed},
                "etcd": {"leader_ms": list(&etcd.leader), "write_ms": list(&etcd.write), "missed": etcd.missed},
            }),
        );
    }
    Ok(())
}

async fn failover_ours(
    cfg: &Config,
    http: &reqwest::Client,
    p: &mut Pair,
    value: &str,
) -> Result<FailoverSamples> {
    let c = &mut p.ours;
    let mbin = manager_bin()?;
    let m = Manager::start(
        http,
        &mbin,
        ManagerOpts {
            git_repo: None,
            max_parallel: 1,
            reconcile_ms: 500,
        },
    )
    .await?;
    m.register(http, c, &[], false).await?;
    m.wait_connected(http, &c.ha_id, Duration::from_secs(30))
        .await?;
    let op = m
        .op(
            Method::POST,
            &format!(
                "/{}/api/v3/profiles/{PROFILE}/params/bench/failover",
                c.ha_id
            ),
        )
        .json_body(Value::String(value.into()).to_string().into_bytes());
    let writer = SteadyWriter::start(http, vec![op], Duration::from_secs(10));
    let mut s = FailoverSamples::default();
    for rep in 0..cfg.failover_reps {
        let l = c.wait_converged(3, Duration::from_secs(30)).await?;
        c.wait_caught_up(Duration::from_secs(30)).await?;
        // Steady state: the writer gets acks again.
        let settle = Instant::now();
        if writer
            .first_ack_sent_after(settle, Duration::from_secs(30))
            .await
            .is_none()
        {
            bail!("the gateway writer gets no acks\n{}", m.log_tail(20));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let old = c.node(l).consensus_id().to_string();
        let survivors: Vec<(String, String)> = c
            .live()
            .into_iter()
            .filter(|&i| i != l)
            .map(|i| {
                (
                    c.node(i).api("/system/consensus/leader"),
                    c.node(i).consensus_id().to_string(),
                )
            })
            .collect();
        let t0 = Instant::now();
        c.node_mut(l).kill();
        let h = c.http.clone();
        let watcher = watch(t0, move || {
            let (h, survivors, old) = (h.clone(), survivors.clone(), old.clone());
            async move {
                let ids: Vec<&String> = survivors.iter().map(|s| &s.1).collect();
                for (url, _) in &survivors {
                    if let Ok(r) = h
                        .get(url.as_str())
                        .timeout(Duration::from_millis(200))
                        .send()
                        .await
                    {
                        if let Ok(id) = r.json::<String>() {
                            if id != old && ids.contains(&&id) {
                                return true;
                            }
                        }
                    }
                }
                false
            }
        });
        let write = writer
            .first_ack_sent_after(t0, Duration::from_secs(30))
            .await;
        let leader = watcher.await.ok().flatten();
        say(format!(
            "failover ours {}/{}: new leader {:?}, first acked write {:?}",
            rep + 1,
            cfg.failover_reps,
            leader,
            write
        ));
        s.leader.extend(leader);
        match write {
            Some(w) => s.write.push(w),
            None => s.missed += 1,
        }
        c.node_mut(l).restart().await?;
    }
    c.wait_converged(3, Duration::from_secs(30)).await?;
    let failed = writer.stop().await;
    say(format!(
        "failover ours: {failed} failed gateway writes in total"
    ));
    Ok(s)
}

async fn failover_etcd(
    cfg: &Config,
    http: &reqwest::Client,
    p: &mut Pair,
    value: &str,
) -> Result<FailoverSamples> {
    let e = &mut p.etcd;
    let ops: Vec<Op> = (0..e.members.len())
        .map(|i| etcd::put_op(&e.url(i), b"bench/failover", value.as_bytes()))
        .collect();
    let writer = SteadyWriter::start(http, ops, cfg.etcd_attempt_timeout);
    let mut s = FailoverSamples::default();
    for rep in 0..cfg.failover_reps {
        let l = e.wait_leader(http, Duration::from_secs(30)).await?;
        let settle = Instant::now();
        if writer
            .first_ack_sent_after(settle, Duration::from_secs(30))
            .await
            .is_none()
        {
            bail!("the etcd writer gets no acks");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let old = e.members[l].id.clone();
        let survivors: Vec<(String, String)> = e
            .live()
            .into_iter()
            .filter(|&i| i != l)
            .map(|i| (e.url(i), e.members[i].id.clone()))
            .collect();
        let t0 = Instant::now();
        e.kill(l);
        let h = http.clone();
        let watcher = watch(t0, move || {
            let (h, survivors, old) = (h.clone(), survivors.clone(), old.clone());
            async move {
                let ids: Vec<&String> = survivors.iter().map(|s| &s.1).collect();
                for (url, _) in &survivors {
                    if let Ok((_, leader)) =
                        etcd::status_at(&h, url, Duration::from_millis(200)).await
                    {
                        if leader != old && ids.contains(&&leader) {
                            return true;
                        }
                    }
                }
                false
            }
        });
        let write = writer
            .first_ack_sent_after(t0, Duration::from_secs(30))
            .await;
        let leader = watcher.await.ok().flatten();
        say(format!(
            "failover etcd {}/{}: new leader {:?}, first acked put {:?}",
            rep + 1,
            cfg.failover_reps,
            leader,
            write
        ));
        s.leader.extend(leader);
        match write {
            Some(w) => s.write.push(w),
            None => s.missed += 1,
        }
        e.spawn(l)?;
        e.wait_member_serving(http, l, Duration::from_secs(30))
            .await?;
    }
    e.wait_leader(http, Duration::from_secs(30)).await?;
    let failed = writer.stop().await;
    say(format!(
        "failover etcd: {failed} failed put attempts in total"
    ));
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// Fan-out
// ---------------------------------------------------------------------------------------------

fn fanout_set(v: &str) -> String {
    format!(
        "Id: fanout\nDescription: drp-bench fan-out\nApply: true\nPrefs:\n  bench/fanout: \"{v}\"\n"
    )
}

/// Median and max over reps of "commit → all applied".
async fn fanout(cfg: &Config, http: &reqwest::Client, report: &mut Report) -> Result<()> {
    let n = cfg.fanout_clusters;
    let ours = fanout_ours(cfg, http).await?;
    let etcd = fanout_etcd(cfg, http).await?;
    let w = format!(
        "fan-out to {n} single-node clusters ({} commits)",
        cfg.fanout_reps
    );
    report.push(
        &w,
        "commit → all applied, median",
        "ms",
        Better::Lower,
        pct_ms(&ours, 50.0),
        pct_ms(&etcd, 50.0),
        &format!("ours: git commit + refresh webhook → every endpoint serves the new pref (manager --max-parallel {}); etcd: the VersionSet document put to {n} single-node etcds at once", cfg.max_parallel),
    );
    report.push(
        &w,
        "commit → all applied, max",
        "ms",
        Better::Lower,
        pct_ms(&ours, 100.0),
        pct_ms(&etcd, 100.0),
        "",
    );
    if let Value::Object(d) = &mut report.details {
        d.insert(
            "fanout".into(),
            json!({
                "ours_ms": ours.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
                "etcd_ms": etcd.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
            }),
        );
    }
    Ok(())
}

async fn pref_of(http: &reqwest::Client, base: &str) -> Option<String> {
    let body = Op::new(Method::GET, format!("{base}/api/v3/prefs"))
        .headers(&ours::basic_headers())
        .send_ok(http, Duration::from_secs(2))
        .await
        .ok()?;
    let v: Value = serde_json::from_slice(&body).ok()?;
    v["bench/fanout"].as_str().map(str::to_string)
}

/// Wait until every base serves pref `want`: the time each took from `t0`.
async fn wait_prefs(
    http: &reqwest::Client,
    bases: &[String],
    want: &str,
    t0: Instant,
    timeout: Duration,
) -> Result<Vec<Duration>> {
    let waits = bases.iter().map(|b| {
        let (h, b, want) = (http.clone(), b.clone(), want.to_string());
        async move {
            loop {
                if pref_of(&h, &b).await.as_deref() == Some(want.as_str()) {
                    return Ok(t0.elapsed());
                }
                if t0.elapsed() > timeout {
                    bail!("{b} does not serve bench/fanout={want} after {timeout:?}");
                }
                tokio::time::sleep(POLL).await;
            }
        }
    });
    futures::future::try_join_all(waits).await
}

async fn fanout_ours(cfg: &Config, http: &reqwest::Client) -> Result<Vec<Duration>> {
    let n = cfg.fanout_clusters;
    say(format!(
        "fan-out: starting {n} single-node drp-endpoint clusters"
    ));
    let repo = Repo::new()?;
    repo.commit(&[("version_sets/fanout.yaml", &fanout_set("v0"))])?;
    let mut clusters = Vec::new();
    // A few at a time: 2 cores.
    for chunk in (0..n).collect::<Vec<_>>().chunks(5) {
        let started =
            futures::future::try_join_all(chunk.iter().map(|_| Cluster::start(1))).await?;
        clusters.extend(started);
    }
    let bases: Vec<String> = clusters.iter().map(|c| c.node(0).url()).collect();
    let mbin = manager_bin()?;
    let m = Manager::start(
        http,
        &mbin,
        ManagerOpts {
            git_repo: Some(&repo.path()),
            max_parallel: cfg.max_parallel,
            reconcile_ms: 500,
        },
    )
    .await?;
    for c in &clusters {
        m.register(http, c, &["fanout"], true).await?;
    }
    wait_prefs(http, &bases, "v0", Instant::now(), Duration::from_secs(120))
        .await
        .with_context(|| format!("initial apply\n{}", m.log_tail(20)))?;
    let mut all = Vec::new();
    for rep in 1..=cfg.fanout_reps {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let v = format!("v{rep}");
        repo.commit(&[("version_sets/fanout.yaml", &fanout_set(&v))])?;
        let t0 = Instant::now();
        m.git_refresh(http).await?;
        let times = wait_prefs(http, &bases, &v, t0, Duration::from_secs(60))
            .await
            .with_context(|| m.log_tail(20))?;
        let max = times.iter().max().copied().unwrap_or_default();
        say(format!(
            "fan-out ours {rep}/{}: all {n} applied after {max:?} (first {:?})",
            cfg.fanout_reps,
            times.iter().min()
        ));
        all.push(max);
    }
    for c in &mut clusters {
        c.success();
    }
    Ok(all)
}

async fn fanout_etcd(cfg: &Config, http: &reqwest::Client) -> Result<Vec<Duration>> {
    let n = cfg.fanout_clusters;
    say(format!("fan-out: starting {n} single-node etcd clusters"));
    let mut clusters = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(5) {
        let started =
            futures::future::try_join_all(chunk.iter().map(|_| Etcd::start(http, 1))).await?;
        clusters.extend(started);
    }
    let mut all = Vec::new();
    for rep in 1..=cfg.fanout_reps {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let doc = fanout_set(&format!("v{rep}"));
        let t0 = Instant::now();
        let puts = clusters.iter().map(|e| {
            let op = etcd::put_op(&e.url(0), b"version_sets/fanout", doc.as_bytes());
            let h = http.clone();
            async move {
                loop {
                    if op.send_ok(&h, Duration::from_secs(5)).await.is_ok() {
                        return Ok(t0.elapsed());
                    }
                    if t0.elapsed() > Duration::from_secs(60) {
                        bail!("etcd put keeps failing");
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
        });
        let times: Vec<Duration> = futures::future::try_join_all(puts).await?;
        let max = times.iter().max().copied().unwrap_or_default();
        say(format!(
            "fan-out etcd {rep}/{}: all {n} acked after {max:?}",
            cfg.fanout_reps
        ));
        all.push(max);
    }
    Ok(all)
}

// ---------------------------------------------------------------------------------------------
// Scale
// ---------------------------------------------------------------------------------------------

async fn scale(
    cfg: &Config,
    http: &reqwest::Client,
    p: &mut Pair,
    report: &mut Report,
) -> Result<()> {
    let n = cfg.machines;
    // --- ours: load ---
    let l = p.ours.wait_converged(3, Duration::from_secs(30)).await?;
    let base = p.ours.node(l).url();
    let probe = Op::new(Method::POST, format!("{base}/api/v3/machines"))
        .headers(&p.auth)
        .json_body(json!({"Name": "probe"}).to_string().into_bytes())
        .send_ok(http, Duration::from_secs(10))
        .await?;
    let probe_v: Value = serde_json::from_slice(&probe)?;
    let uuid = probe_v["Uuid"]
        .as_str()
        .ok_or_else(|| anyhow!("no Uuid in {probe_v}"))?
        .to_string();
    let sample = Op::new(Method::GET, format!("{base}/api/v3/machines/{uuid}"))
        .headers(&p.auth)
        .send_ok(http, Duration::from_secs(10))
        .await?;
    say(format!(
        "scale: loading {n} machines into ours ({} clients; a machine is {} bytes of JSON)",
        cfg.load_clients,
        sample.len()
    ));
    let (b, a) = (base.clone(), p.auth.clone());
    let make: Arc<dyn Fn(usize) -> Op + Send + Sync> = Arc::new(move |i| {
        Op::new(Method::POST, format!("{b}/api/v3/machines"))
            .headers(&a)
            .json_body(format!("{{\"Name\":\"m{i}\"}}").into_bytes())
    });
    let deadline = Duration::from_secs(1800);
    let ol = load::run_count(
        http,
        make,
        n,
        cfg.load_clients,
        Duration::from_secs(10),
        deadline,
    )
    .await?;
    say(format!("  ours loaded at {:.0} machines/s", ol.per_sec));
    p.ours.wait_caught_up(Duration::from_secs(120)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ours_rss: Vec<u64> = p
        .ours
        .nodes
        .iter()
        .filter_map(|nd| pid_with_arg("--data-dir", &nd.data_dir()).and_then(rss_bytes))
        .collect();

    // --- etcd: load ---
    let el = p.etcd.wait_leader(http, Duration::from_secs(30)).await?;
    let eurl = p.etcd.url(el);
    etcd::put_op(&eurl, b"machines/probe", &sample)
        .send_ok(http, Duration::from_secs(10))
        .await?;
    say(format!("scale: loading {n} machines into etcd"));
    let (u, s) = (eurl.clone(), Arc::new(sample.clone()));
    let make: Arc<dyn Fn(usize) -> Op + Send + Sync> =
        Arc::new(move |i| etcd::put_op(&u, format!("machines/m{i:08}").as_bytes(), &s));
    let el_stats = load::run_count(
        http,
        make,
        n,
        cfg.load_clients,
        Duration::from_secs(10),
        deadline,
    )
    .await?;
    say(format!("  etcd loaded at {:.0} puts/s", el_stats.per_sec));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let etcd_rss: Vec<u64> = p
        .etcd
        .members
        .iter()
        .filter_map(|m| m.pid().and_then(rss_bytes))
        .collect();

    // --- cold restarts ---
    let ours_restart = restart_ours(http, p, &uuid).await?;
    let ours_rss_after: Vec<u64> = p
        .ours
        .nodes
        .iter()
        .filter_map(|nd| pid_with_arg("--data-dir", &nd.data_dir()).and_then(rss_bytes))
        .collect();
    let etcd_restart = restart_etcd(http, p).await?;
    let etcd_rss_after: Vec<u64> = p
        .etcd
        .members
        .iter()
        .filter_map(|m| m.pid().and_then(rss_bytes))
        .collect();

    let w = format!("scale: {n} machines, 3 members");
    let max_mib = |v: &[u64]| v.iter().max().map(|b| mib(*b));
    report.push(
        &w,
        "load rate (64 clients)",
        "creates/s",
        Better::Higher,
        Some(ol.per_sec),
        Some(el_stats.per_sec),
        "ours: POST /machines; etcd: put of the same machine JSON",
    );
    report.push(
        &w,
        "RSS after load, largest member",
        "MiB",
        Better::Lower,
        max_mib(&ours_rss),
        max_mib(&etcd_rss),
        "",
    );
    report.push(
        &w,
        "RSS after cold restart, largest member",
        "MiB",
        Better::Lower,
        max_mib(&ours_rss_after),
        max_mib(&etcd_rss_after),
        "",
    );
    report.push(
        &w,
        "kill -9 all → first member answers",
        "ms",
        Better::Lower,
        ours_restart.0.map(ms),
        etcd_restart.0.map(ms),
        "ours: GET /api/v3/info; etcd: /v3/maintenance/status",
    );
    report.push(
        &w,
        "kill -9 all → serving (linearizable read)",
        "ms",
        Better::Lower,
        Some(ms(ours_restart.1)),
        Some(ms(etcd_restart.1)),
        "time from spawning all 3 again",
    );
    if let Value::Object(d) = &mut report.details {
        d.insert(
            "scale".into(),
            json!({
                "machines": n,
                "machine_json_bytes": sample.len(),
                "ours": {"load": ol, "rss_mib": ours_rss.iter().map(|b| mib(*b)).collect::<Vec<_>>(),
                         "rss_after_restart_mib": ours_rss_after.iter().map(|b| mib(*b)).collect::<Vec<_>>()},
                "etcd": {"load": el_stats, "rss_mib": etcd_rss.iter().map(|b| mib(*b)).collect::<Vec<_>>(),
                         "rss_after_restart_mib": etcd_rss_after.iter().map(|b| mib(*b)).collect::<Vec<_>>()},
            }),
        );
    }
    Ok(())
}

/// Kill -9 every member, spawn them all again: (first `/info` answer, first linearizable read
/// of machine `uuid`), both from the spawn.
async fn restart_ours(
    http: &reqwest::Client,
    p: &mut Pair,
    uuid: &str,
) -> Result<(Option<Duration>, Duration)> {
    say("scale: kill -9 all our members, restart");
    for i in 0..p.ours.nodes.len() {
        p.ours.node_mut(i).kill();
    }
    let t0 = Instant::now();
    for i in 0..p.ours.nodes.len() {
        p.ours.node_mut(i).spawn(Start::Restart)?;
    }
    let bases: Vec<String> = p.ours.nodes.iter().map(|n| n.url()).collect();
    let info: Vec<Op> = bases
        .iter()
        .map(|b| Op::new(Method::GET, format!("{b}/api/v3/info")))
        .collect();
    let reads: Vec<Op> = bases
        .iter()
        .map(|b| Op::new(Method::GET, format!("{b}/api/v3/machines/{uuid}")).headers(&p.auth))
        .collect();
    let mut first_info = None;
    let serving = loop {
        if first_info.is_none() {
            for op in &info {
                if op.send_ok(http, Duration::from_millis(500)).await.is_ok() {
                    first_info = Some(t0.elapsed());
                    break;
                }
            }
        }
        if first_info.is_some() {
            let attempts = reads
                .iter()
                .map(|op| op.send_ok(http, Duration::from_millis(1000)));
            if futures::future::join_all(attempts)
                .await
                .iter()
                .any(Result::is_ok)
            {
                break t0.elapsed();
            }
        }
        if t0.elapsed() > Duration::from_secs(300) {
            bail!("our cluster is not serving 300 s after a cold restart");
        }
        tokio::time::sleep(POLL).await;
    };
    say(format!(
        "  ours: first /info after {first_info:?}, serving after {serving:?}"
    ));
    for i in 0..p.ours.nodes.len() {
        p.ours
            .node_mut(i)
            .wait_ready(Duration::from_secs(120))
            .await?;
    }
    p.ours.wait_converged(3, Duration::from_secs(60)).await?;
    Ok((first_info, serving))
}

async fn restart_etcd(
    http: &reqwest::Client,
    p: &mut Pair,
) -> Result<(Option<Duration>, Duration)> {
    say("scale: kill -9 all etcd members, restart");
    let n = p.etcd.members.len();
    for i in 0..n {
        p.etcd.kill(i);
    }
    let t0 = Instant::now();
    for i in 0..n {
        p.etcd.spawn(i)?;
    }
    let urls: Vec<String> = (0..n).map(|i| p.etcd.url(i)).collect();
    let reads: Vec<Op> = urls
        .iter()
        .map(|u| etcd::range_op(u, b"machines/m00000000"))
        .collect();
    let mut first_info = None;
    let serving = loop {
        if first_info.is_none() {
            for u in &urls {
                if etcd::status_at(http, u, Duration::from_millis(500))
                    .await
                    .is_ok()
                {
                    first_info = Some(t0.elapsed());
                    break;
                }
            }
        }
        if first_info.is_some() {
            let attempts = reads
                .iter()
                .map(|op| op.send_ok(http, Duration::from_millis(1000)));
            let ok = futures::future::join_all(attempts)
                .await
                .into_iter()
                .any(|r| r.is_ok_and(|b| etcd::range_count(&b) > 0));
            if ok {
                break t0.elapsed();
            }
        }
        if t0.elapsed() > Duration::from_secs(300) {
            bail!("etcd is not serving 300 s after a cold restart");
        }
        tokio::time::sleep(POLL).await;
    };
    say(format!(
        "  etcd: first status after {first_info:?}, serving after {serving:?}"
    ));
    p.etcd.wait_leader(http, Duration::from_secs(60)).await?;
    Ok((first_info, serving))
}

// ---------------------------------------------------------------------------------------------
// Goals
// ---------------------------------------------------------------------------------------------

fn goals(cfg: &Config, r: &mut Report) {
    let mut g = Vec::new();
    if let Some(row) = r.find("writes → leader, 64 clients", "throughput") {
        let ratio = row.ratio();
        g.push(Goal {
            goal: "writes/s at 64 clients ≥ 1.5× etcd".into(),
            measured: ratio.map_or("-".into(), |x| {
                format!(
                    "{x:.2}× ({:.0} vs {:.0} writes/s)",
                    row.ours.unwrap_or(0.0),
                    row.etcd.unwrap_or(0.0)
                )
            }),
            met: ratio.map(|x| x >= 1.5),
        });
    }
    if let Some(row) = r.find("writes → leader, 1 client", "p50 latency") {
        let ratio = row.ratio();
        g.push(Goal {
            goal: "single-client p50 write latency ≤ etcd".into(),
            measured: ratio.map_or("-".into(), |x| {
                format!(
                    "{x:.2}× ({:.2} vs {:.2} ms)",
                    row.ours.unwrap_or(0.0),
                    row.etcd.unwrap_or(0.0)
                )
            }),
            met: ratio.map(|x| x <= 1.0),
        });
    }
    let fw = format!("failover (kill -9 leader, {} reps)", cfg.failover_reps);
    let med = r
        .find(&fw, "kill → first acked write, median")
        .and_then(|x| x.ours);
    let p99 = r
        .find(&fw, "kill → first acked write, p99")
        .and_then(|x| x.ours);
    if med.is_some() || p99.is_some() {
        g.push(Goal {
            goal: "failover (kill → first acked write via gateway) median ≤ 500 ms, p99 ≤ 1 s"
                .into(),
            measured: format!(
                "median {} ms, p99 {} ms ({} reps{})",
                super::report::num(med),
                super::report::num(p99),
                cfg.failover_reps,
                if cfg.failover_reps < 100 {
                    "; p99 of so few reps is their max"
                } else {
                    ""
                }
            ),
            met: match (med, p99) {
                (Some(m), Some(p)) => Some(m <= 500.0 && p <= 1000.0),
                _ => None,
            },
        });
    }
    let fo = format!(
        "fan-out to {} single-node clusters ({} commits)",
        cfg.fanout_clusters, cfg.fanout_reps
    );
    if let Some(v) = r
        .find(&fo, "commit → all applied, median")
        .and_then(|x| x.ours)
    {
        g.push(Goal {
            goal: "fan-out to 20 clusters ≤ 2 s".into(),
            measured: format!(
                "{v:.0} ms median to {} clusters{}",
                cfg.fanout_clusters,
                if cfg.fanout_clusters < 20 {
                    " (scaled down: not the goal's 20)"
                } else {
                    ""
                }
            ),
            met: (cfg.fanout_clusters >= 20).then_some(v <= 2000.0),
        });
    }
    let sw = format!("scale: {} machines, 3 members", cfg.machines);
    let scaled = if cfg.machines < 100_000 {
        " (scaled down: not the goal's 100k)"
    } else {
        ""
    };
    if let Some(v) = r
        .find(&sw, "RSS after load, largest member")
        .and_then(|x| x.ours)
    {
        g.push(Goal {
            goal: "100k machines in ≤ 300 MB RSS".into(),
            measured: format!("{v:.0} MiB with {} machines{scaled}", cfg.machines),
            met: (cfg.machines >= 100_000).then_some(v * 1.048_576 <= 300.0),
        });
    }
    if let Some(v) = r
        .find(&sw, "kill -9 all → serving (linearizable read)")
        .and_then(|x| x.ours)
    {
        g.push(Goal {
            goal: "cold restart with 100k machines ≤ 3 s".into(),
            measured: format!("{v:.0} ms with {} machines{scaled}", cfg.machines),
            met: (cfg.machines >= 100_000).then_some(v <= 3000.0),
        });
    }
    r.goals = g;
}

// ---------------------------------------------------------------------------------------------
// Driving a running endpoint (for profiling)
// ---------------------------------------------------------------------------------------------

/// `drp-bench drive`: the writes (or linearizable reads) cell of the bench against an endpoint
/// that is already running (e.g. under `perf record`), with the harness admin password.
pub async fn drive(
    http: &reqwest::Client,
    base: &str,
    clients: usize,
    secs: f64,
    value_bytes: usize,
    reads: bool,
) -> Result<LoadStats> {
    let auth = ours::bearer(http, base, 3600).await?;
    let value: String = (0..value_bytes)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    for c in 0..clients {
        Op::new(Method::POST, format!("{base}/api/v3/profiles"))
            .headers(&auth)
            .json_body(
                json!({"Name": client_profile(c), "Description": "drp-bench"})
                    .to_string()
                    .into_bytes(),
            )
            .send(http, Duration::from_secs(10))
            .await?;
        ours::param_write(base, &client_profile(c), PARAM, &value, &auth)
            .send_ok(http, Duration::from_secs(10))
            .await?;
    }
    let ops: Vec<Op> = (0..clients)
        .map(|c| {
            if reads {
                ours::param_read(base, &client_profile(c), PARAM, &auth)
            } else {
                ours::param_write(base, &client_profile(c), PARAM, &value, &auth)
            }
        })
        .collect();
    load::run(
        http,
        ops,
        Shape {
            clients,
            warmup: Duration::from_millis(500),
            measure: Duration::from_secs_f64(secs),
            timeout: Duration::from_secs(5),
        },
    )
    .await
}
