//! Workload 7, federation (issue 14): N single-node clusters of M machines each under one
//! manager that keeps a replica of every cluster. Measured: the manager's federated list
//! (`limit=100`, unfiltered and filtered by endpoint), the lag from a write on a cluster to
//! its event on the manager's `/api/v3/ws`, the manager's RSS once every replica is current,
//! and a restart (SIGTERM, same data dir) → every replica current again. Ours only: etcd
//! has no counterpart, so the rows carry no peer figure.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::measure::{mib, ms, pct_ms};
use super::Config;
use crate::bench::load::{self, LoadStats, Op};
use crate::bench::ours::{self, basic_headers};
use crate::bench::proc::{rss_bytes, Proc};
use crate::bench::report::{num, Better, Goal, Report};
use crate::bench::{say, POLL};
use crate::cluster::{free_port, manager_bin, Cluster, Opts};
use crate::http::{ADMIN_PASSWORD, ADMIN_USER};
use proto::headers::{LIST_TOTAL_COUNT, STALE_ENDPOINTS};

/// How long the manager may take to make every replica current (initial lists, restart).
const CURRENT_TIMEOUT: Duration = Duration::from_secs(900);

/// One cluster of the fleet: its harness, a bearer token, and the machine the lag writes
/// patch.
struct Member {
    cluster: Cluster,
    auth: reqwest::header::HeaderMap,
    lag_uuid: String,
    /// Size of the lag machine's JSON as the cluster returned it.
    json_bytes: usize,
}

impl Member {
    fn base(&self) -> String {
        self.cluster.node(0).url()
    }
}

/// A `drp-manager serve` that can be stopped with SIGTERM and started again on the same
/// data dir and port (the suite's `ours::Manager` owns its process and cannot).
struct Mgr {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    max_parallel: usize,
    proc: Option<Proc>,
}

impl Mgr {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> Result<()> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .arg("--api-listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--max-parallel")
            .arg(self.max_parallel.to_string())
            .arg("--reconcile-ms")
            .arg("3000")
            // One client on 127.0.0.1 measures the manager, not its rate limit.
            .arg("--rate-limit-per-source")
            .arg("0")
            .env("RS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn");
        let log = self.dir.path().join("manager.log");
        self.proc = Some(Proc::spawn("drp-manager", &mut cmd, &log)?);
        Ok(())
    }

    fn pid(&self) -> Result<u32> {
        self.proc
            .as_ref()
            .and_then(Proc::pid)
            .ok_or_else(|| anyhow!("drp-manager is not running"))
    }

    fn log_tail(&self) -> String {
        self.proc
            .as_ref()
            .map(|p| p.log_tail(20))
            .unwrap_or_default()
    }

    /// SIGTERM and wait for the exit: how long the graceful stop took.
    async fn term(&mut self) -> Result<Duration> {
        let pid = self.pid()?;
        let t0 = Instant::now();
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        let p = self.proc.as_mut().ok_or_else(|| anyhow!("no manager"))?;
        while p.exited().is_none() {
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("drp-manager still running 60 s after SIGTERM");
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(t0.elapsed())
    }

    /// `GET /api/v3/machines?limit=1`: (stale endpoints header, total count), or None while
    /// the manager does not answer 2xx.
    async fn fleet_state(&self, http: &reqwest::Client) -> Option<(Option<String>, usize)> {
        let r = http
            .get(format!("{}/api/v3/machines?limit=1", self.url()))
            .headers(basic_headers())
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        let h = r.headers();
        let stale = h
            .get(STALE_ENDPOINTS)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let total = h.get(LIST_TOTAL_COUNT)?.to_str().ok()?.parse().ok()?;
        Some((stale, total))
    }

    /// Wait until no replica is stale and the manager lists `expected` machines: (first 2xx,
    /// all current), both measured from `t0`.
    async fn wait_current(
        &mut self,
        http: &reqwest::Client,
        expected: usize,
        t0: Instant,
    ) -> Result<(Option<Duration>, Duration)> {
        let mut first = None;
        let mut last = None;
        loop {
            if let Some(st) = self.fleet_state(http).await {
                first.get_or_insert_with(|| t0.elapsed());
                if st.0.is_none() && st.1 == expected {
                    return Ok((first, t0.elapsed()));
                }
                last = Some(st);
            }
            if let Some(p) = self.proc.as_mut() {
                if let Some(st) = p.exited() {
                    bail!("drp-manager exited: {st}\n{}", self.log_tail());
                }
            }
            if t0.elapsed() > CURRENT_TIMEOUT {
                bail!(
                    "replicas not all current after {CURRENT_TIMEOUT:?} (last: stale {:?}, {} of {expected} machines)\n{}",
                    last.as_ref().and_then(|s| s.0.clone()),
                    last.map_or(0, |s| s.1),
                    self.log_tail()
                );
            }
            tokio::time::sleep(POLL * 5).await;
        }
    }

    /// Register a cluster (its member URL and the admin credentials), nothing to apply.
    async fn register(&self, http: &reqwest::Client, c: &Cluster) -> Result<()> {
        let url = c.node(0).url();
        let body = json!({
            "Id": c.ha_id,
            "Params": {
                "manager/url": url,
                "manager/urls": [url],
                "manager/username": ADMIN_USER,
                "manager/password": ADMIN_PASSWORD,
            },
            "VersionSets": [],
            "Apply": false,
        });
        Op::new(Method::POST, format!("{}/api/v3/endpoints", self.url()))
            .headers(&basic_headers())
            .json_body(body.to_string().into_bytes())
            .send_ok(http, Duration::from_secs(10))
            .await
            .with_context(|| format!("registering {}", c.ha_id))?;
        Ok(())
    }
}

/// What the workload measured.
struct Fed {
    load: LoadStats,
    initial: Duration,
    list: Vec<Duration>,
    list_filtered: Vec<Duration>,
    lag: Vec<Duration>,
    lag_after_ack: Vec<Duration>,
    /// The same writes while one client keeps listing on the manager, and its list count.
    lag_listing: Vec<Duration>,
    lists_meanwhile: usize,
    machine_json_bytes: usize,
    rss: Option<u64>,
    term: Duration,
    restart: (Option<Duration>, Duration),
    rss_restarted: Option<u64>,
}

/// Starts the fleet and the manager, measures, adds the federation rows.
pub async fn federation(cfg: &Config, http: &reqwest::Client, report: &mut Report) -> Result<()> {
    let (n, m) = (cfg.fed_clusters, cfg.fed_machines);
    let mut fleet = start_fleet(http, n).await?;
    let load = load_fleet(cfg, http, &fleet).await?;
    let expected = n * (m + 1);
    let mut mgr = Mgr {
        bin: manager_bin()?,
        dir: tempfile::Builder::new()
            .prefix("drp-bench-fed-manager-")
            .tempdir()?,
        port: free_port()?,
        max_parallel: n,
        proc: None,
    };
    mgr.spawn()?;
    let t0 = Instant::now();
    mgr.wait_current(http, 0, t0).await?;
    say(format!("federation: registering {n} clusters"));
    let t0 = Instant::now();
    for f in &fleet {
        mgr.register(http, &f.cluster).await?;
    }
    let (_, initial) = mgr.wait_current(http, expected, t0).await?;
    say(format!(
        "  all {n} replicas current ({expected} machines) {initial:?} after the first registration"
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = rss_bytes(mgr.pid()?);
    let (reps, budget) = (cfg.fed_list_requests, cfg.fed_list_budget);
    let list = timed_gets(http, &mgr, "?limit=100", reps, budget).await?;
    let filter = format!("?Endpoint={}&limit=100", fleet[0].cluster.ha_id);
    let list_filtered = timed_gets(http, &mgr, &filter, reps, budget).await?;
    let (lag, lag_after_ack) = lags(http, &mgr, &fleet, cfg.fed_writes, "").await?;
    let (lag_listing, lists_meanwhile) =
        lags_listing(http, &mgr, &fleet, cfg.fed_writes / 2).await?;
    say("federation: SIGTERM the manager, start it again on the same data dir");
    let term = mgr.term().await?;
    let t0 = Instant::now();
    mgr.spawn()?;
    let restart = mgr.wait_current(http, expected, t0).await?;
    say(format!(
        "  stopped in {term:?}; first answer {:?}, all current {:?} after the spawn",
        restart.0, restart.1
    ));
    let rss_restarted = rss_bytes(mgr.pid()?);
    let fed = Fed {
        load,
        initial,
        list,
        list_filtered,
        lag,
        lag_after_ack,
        lag_listing,
        lists_meanwhile,
        machine_json_bytes: fleet.iter().map(|f| f.json_bytes).max().unwrap_or(0),
        rss,
        term,
        restart,
        rss_restarted,
    };
    rows(report, cfg, &fed);
    for f in &mut fleet {
        f.cluster.success();
    }
    Ok(())
}

/// N single-node clusters (a few at a time: 2 cores), each with a token and a lag machine.
async fn start_fleet(http: &reqwest::Client, n: usize) -> Result<Vec<Member>> {
    say(format!(
        "federation: starting {n} single-node drp-endpoint clusters"
    ));
    let opts = || Opts {
        // Every bench client comes from 127.0.0.1: no per-source limit.
        extra_args: vec!["--rate-limit-per-source".into(), "0".into()],
        ..Default::default()
    };
    let mut fleet = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(5) {
        let started =
            futures::future::try_join_all(chunk.iter().map(|_| Cluster::start_with(1, opts())))
                .await?;
        for cluster in started {
            let base = cluster.node(0).url();
            let auth = ours::bearer(http, &base, 24 * 3600).await?;
            let created = Op::new(Method::POST, format!("{base}/api/v3/machines"))
                .headers(&auth)
                .json_body(json!({"Name": "fed-lag"}).to_string().into_bytes())
                .send_ok(http, Duration::from_secs(10))
                .await?;
            let v: Value = serde_json::from_slice(&created)?;
            let lag_uuid = v["Uuid"]
                .as_str()
                .ok_or_else(|| anyhow!("no Uuid in {v}"))?
                .to_string();
            fleet.push(Member {
                cluster,
                auth,
                lag_uuid,
                json_bytes: created.len(),
            });
        }
    }
    Ok(fleet)
}

/// `cfg.fed_machines` machines into every cluster directly, all clusters at once.
async fn load_fleet(cfg: &Config, http: &reqwest::Client, fleet: &[Member]) -> Result<LoadStats> {
    let (n, m) = (fleet.len(), cfg.fed_machines);
    let clients = (cfg.load_clients / n.max(1)).max(2);
    say(format!(
        "federation: loading {m} machines into each of {n} clusters ({clients} clients each)"
    ));
    let t0 = Instant::now();
    let loads = fleet.iter().enumerate().map(|(c, f)| {
        let (base, auth) = (f.base(), f.auth.clone());
        let make: Arc<dyn Fn(usize) -> Op + Send + Sync> = Arc::new(move |i| {
            Op::new(Method::POST, format!("{base}/api/v3/machines"))
                .headers(&auth)
                .json_body(
                    json!({"Name": format!("fed-{c}-{i}")})
                        .to_string()
                        .into_bytes(),
                )
        });
        let timeout = Duration::from_secs(10);
        load::run_count(http, make, m, clients, timeout, Duration::from_secs(1800))
    });
    let done = futures::future::try_join_all(loads).await?;
    let secs = t0.elapsed().as_secs_f64();
    let errors = done.iter().map(|s| s.errors).sum();
    let mut stats = LoadStats::from_samples(n * clients, &[], errors, secs);
    stats.ok = n * m;
    stats.per_sec = (n * m) as f64 / secs;
    say(format!("  loaded at {:.0} machines/s", stats.per_sec));
    Ok(stats)
}

/// Sequential `GET /api/v3/machines<query>` on the manager (after 3 unmeasured): `reps`, or
/// fewer when `budget` runs out first (a slow list would otherwise take the run's hour).
async fn timed_gets(
    http: &reqwest::Client,
    mgr: &Mgr,
    query: &str,
    reps: usize,
    budget: Duration,
) -> Result<Vec<Duration>> {
    let op = Op::new(Method::GET, format!("{}/api/v3/machines{query}", mgr.url()))
        .headers(&basic_headers());
    let mut out = Vec::with_capacity(reps);
    let start = Instant::now();
    for i in 0..reps + 3 {
        if i > 3 && start.elapsed() > budget {
            break;
        }
        let t = Instant::now();
        let body = op.send_ok(http, Duration::from_secs(60)).await?;
        if i >= 3 {
            out.push(t.elapsed());
        }
        if i == 0 {
            let v: Value = serde_json::from_slice(&body)?;
            let got = v.as_array().map_or(0, Vec::len);
            if got == 0 {
                bail!("GET /api/v3/machines{query} returned no machine");
            }
        }
    }
    say(format!(
        "  GET /api/v3/machines{query}: p50 {} ms, p99 {} ms over {}",
        num(pct_ms(&out, 50.0)),
        num(pct_ms(&out, 99.0)),
        out.len()
    ));
    Ok(out)
}

/// `writes` patches, one at a time round-robin over the clusters, each directly on its
/// cluster; each is timed until its event arrives on the manager's `/api/v3/ws`: (from the
/// PATCH's send, from its acknowledgement).
async fn lags(
    http: &reqwest::Client,
    mgr: &Mgr,
    fleet: &[Member],
    writes: usize,
    tag: &str,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let mut seen = subscribe(mgr).await?;
    say(format!(
        "federation: {writes} writes on the clusters → events on the manager's websocket"
    ));
    let (mut lag, mut after_ack) = (Vec::new(), Vec::new());
    for i in 0..writes {
        let f = &fleet[i % fleet.len()];
        let want = format!("fed-lag-{tag}{i}");
        let patch = json!([{"op": "add", "path": "/Description", "value": want}]);
        let op = Op::new(
            Method::PATCH,
            format!("{}/api/v3/machines/{}", f.base(), f.lag_uuid),
        )
        .headers(&f.auth)
        .json_body(patch.to_string().into_bytes());
        let t0 = Instant::now();
        op.send_ok(http, Duration::from_secs(10)).await?;
        let acked = Instant::now();
        let at = loop {
            let next = tokio::time::timeout(Duration::from_secs(30), seen.recv()).await;
            match next {
                Ok(Some((d, at))) if d == want => break at,
                Ok(Some(_)) => continue,
                Ok(None) => bail!("the manager's websocket closed\n{}", mgr.log_tail()),
                Err(_) => bail!("{want} not on the manager's websocket within 30 s"),
            }
        };
        lag.push(at - t0);
        after_ack.push(at.saturating_duration_since(acked));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    say(format!(
        "  write → manager event: p50 {} ms, p99 {} ms",
        num(pct_ms(&lag, 50.0)),
        num(pct_ms(&lag, 99.0))
    ));
    Ok((lag, after_ack))
}

/// [`lags`] while one client lists `?limit=100` on the manager back to back (a list and the
/// follower's apply share the replica): the lags and how many lists ran meanwhile.
async fn lags_listing(
    http: &reqwest::Client,
    mgr: &Mgr,
    fleet: &[Member],
    writes: usize,
) -> Result<(Vec<Duration>, usize)> {
    let stop = Arc::new(AtomicBool::new(false));
    let op = Op::new(
        Method::GET,
        format!("{}/api/v3/machines?limit=100", mgr.url()),
    )
    .headers(&basic_headers());
    let lister = tokio::spawn({
        let (http, stop) = (http.clone(), stop.clone());
        async move {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                if op.send_ok(&http, Duration::from_secs(60)).await.is_ok() {
                    n += 1;
                }
            }
            n
        }
    });
    say("federation: the same writes while one client keeps listing on the manager");
    let r = lags(http, mgr, fleet, writes, "listing-").await;
    stop.store(true, Ordering::Relaxed);
    let n = lister.await.context("the listing task")?;
    Ok((r?.0, n))
}

/// The manager's `/api/v3/ws` registered for machine events: a channel of (Description, time
/// received) for every event whose machine has a `fed-lag-` Description. Returns once the
/// registration is acknowledged; the reader task ends with the socket.
async fn subscribe(mgr: &Mgr) -> Result<mpsc::UnboundedReceiver<(String, Instant)>> {
    let stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(("127.0.0.1", mgr.port)),
    )
    .await
    .context("connecting to the manager's websocket")??;
    let mut req = format!("ws://127.0.0.1:{}/api/v3/ws", mgr.port).into_client_request()?;
    if let Some(v) = basic_headers().get(reqwest::header::AUTHORIZATION) {
        req.headers_mut()
            .insert("authorization", v.to_str()?.parse()?);
    }
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async(req, stream),
    )
    .await
    .context("websocket handshake")??;
    let (mut sink, mut events) = ws.split();
    sink.send(Message::text("register machines.*.*")).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        // Owning the sink keeps the socket open while the reader runs.
        let _sink = sink;
        let mut ack = Some(ack_tx);
        while let Some(Ok(msg)) = events.next().await {
            let Message::Text(t) = msg else { continue };
            let at = Instant::now();
            let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                continue;
            };
            if v["Action"] == "register" {
                if let Some(a) = ack.take() {
                    let _ = a.send(());
                }
            }
            if let Some(d) = v["Object"]["Description"].as_str() {
                if d.starts_with("fed-lag-") && tx.send((d.to_string(), at)).is_err() {
                    return;
                }
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ack_rx)
        .await
        .context("no registration ack on the manager's websocket")?
        .context("the manager's websocket closed before the ack")?;
    Ok(rx)
}

fn workload(cfg: &Config) -> String {
    format!(
        "federation: {} clusters × {} machines",
        cfg.fed_clusters, cfg.fed_machines
    )
}

/// One report row: metric, unit, which way is better, our figure, note.
type Row = (String, &'static str, Better, Option<f64>, String);

/// A row of one figure.
fn row(metric: &str, unit: &'static str, better: Better, ours: Option<f64>, note: &str) -> Row {
    (metric.into(), unit, better, ours, note.into())
}

/// The p50 and p99 rows (ms, lower is better) of one sample set, the note on the p50.
fn percentile_rows(metric: &str, samples: &[Duration], note: &str) -> [Row; 2] {
    let at = |p: &str, q: f64, note: &str| {
        let metric = format!("{metric}, {p}");
        row(&metric, "ms", Better::Lower, pct_ms(samples, q), note)
    };
    [at("p50", 50.0, note), at("p99", 99.0, "")]
}

/// The federation rows (ours only) and details.
fn rows(report: &mut Report, cfg: &Config, f: &Fed) {
    let w = workload(cfg);
    let list_note = format!(
        "GET /api/v3/machines?limit=100 on the manager, 1 client, {} requests",
        f.list.len()
    );
    let filtered_note = format!(
        "filtered to one cluster, {} requests",
        f.list_filtered.len()
    );
    let busy_note = format!(
        "{} writes while 1 client listed limit=100 back to back ({} lists)",
        f.lag_listing.len(),
        f.lists_meanwhile
    );
    let lag_note = format!(
        "PATCH sent on a cluster → its event on the manager's /api/v3/ws, {} writes",
        f.lag.len()
    );
    let mut rows = vec![
        row(
            "load rate, all clusters at once",
            "creates/s",
            Better::Higher,
            Some(f.load.per_sec),
            "POST /machines directly on each cluster",
        ),
        row(
            "register → all replicas current",
            "ms",
            Better::Lower,
            Some(ms(f.initial)),
            "initial lists of every cluster",
        ),
    ];
    rows.extend(percentile_rows("list limit=100", &f.list, &list_note));
    rows.extend(percentile_rows(
        "list Endpoint=<id>&limit=100",
        &f.list_filtered,
        &filtered_note,
    ));
    rows.extend(percentile_rows("write → manager event", &f.lag, &lag_note));
    rows.extend(percentile_rows(
        "write ack → manager event",
        &f.lag_after_ack,
        "from the cluster's 2xx",
    ));
    rows.extend(percentile_rows(
        "write → manager event while listing",
        &f.lag_listing,
        &busy_note,
    ));
    rows.extend([
        row(
            "manager RSS, replicas current",
            "MiB",
            Better::Lower,
            f.rss.map(mib),
            "VmRSS, 1 s after all current, before any list",
        ),
        row(
            "SIGTERM → manager exited",
            "ms",
            Better::Lower,
            Some(ms(f.term)),
            "",
        ),
        row(
            "restart → first answer",
            "ms",
            Better::Lower,
            f.restart.0.map(ms),
            "from the spawn on the same data dir",
        ),
        row(
            "restart → all replicas current",
            "ms",
            Better::Lower,
            Some(ms(f.restart.1)),
            "no X-DRP-Stale-Endpoints and every machine listed",
        ),
        row(
            "manager RSS after restart",
            "MiB",
            Better::Lower,
            f.rss_restarted.map(mib),
            "",
        ),
    ]);
    for (metric, unit, better, ours, note) in rows {
        report.push(&w, &metric, unit, better, ours, None, &note);
    }
    let list_ms = |v: &[Duration]| v.iter().map(|d| ms(*d)).collect::<Vec<_>>();
    if let Value::Object(d) = &mut report.details {
        d.insert(
            "federation".into(),
            json!({
                "clusters": cfg.fed_clusters,
                "machines_per_cluster": cfg.fed_machines,
                "load": f.load,
                "machine_json_bytes": f.machine_json_bytes,
                "lag_listing_ms": list_ms(&f.lag_listing),
                "lag_ms": list_ms(&f.lag),
                "lag_after_ack_ms": list_ms(&f.lag_after_ack),
            }),
        );
    }
}

/// Issue 14's goals, from the rows (none when the workload did not run). Called after the
/// other goals, which replace the list.
pub fn goals(cfg: &Config, r: &mut Report) {
    let w = workload(cfg);
    let size = if cfg.fed_clusters >= 20 && cfg.fed_machines >= 5000 {
        String::new()
    } else {
        " (scaled down: the goal is for 20 × 5000)".to_string()
    };
    let find = |metric: &str| r.find(&w, metric).and_then(|x| x.ours);
    let goals = [
        (
            "federated list limit=100 p50 ≤ 20 ms",
            find("list limit=100, p50"),
            "ms",
            20.0,
        ),
        (
            "write → visible in the manager p99 ≤ 500 ms",
            find("write → manager event, p99"),
            "ms",
            500.0,
        ),
        (
            "manager RSS ≤ 1 GiB",
            find("manager RSS, replicas current"),
            "MiB",
            1024.0,
        ),
    ];
    // The lag with a list running beside it is shown with the goal, not judged by it.
    let busy = find("write → manager event while listing, p99")
        .map(|v| format!("; {} ms while 1 client lists", num(Some(v))));
    let mut out = Vec::new();
    for (goal, v, unit, max) in goals {
        if let Some(v) = v {
            let extra = match goal.starts_with("write") {
                true => busy.clone().unwrap_or_default(),
                false => String::new(),
            };
            out.push(Goal {
                goal: goal.into(),
                measured: format!("{} {unit}{extra}{size}", num(Some(v))),
                met: Some(v <= max),
            });
        }
    }
    r.goals.extend(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_set_gives_its_p50_and_p99_rows() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let [p50, p99] = percentile_rows("list", &samples, "100 requests");
        assert_eq!(p50.0, "list, p50");
        assert_eq!(p99.0, "list, p99");
        assert_eq!((p50.1, p50.2), ("ms", Better::Lower));
        assert_eq!(p50.3, pct_ms(&samples, 50.0));
        assert_eq!(p99.3, pct_ms(&samples, 99.0));
        assert!(p50.3 < p99.3, "{:?} {:?}", p50.3, p99.3);
        assert_eq!((p50.4.as_str(), p99.4.as_str()), ("100 requests", ""));
        let [none, _] = percentile_rows("list", &[], "");
        assert_eq!(none.3, None, "no samples, no figure");
    }
}
