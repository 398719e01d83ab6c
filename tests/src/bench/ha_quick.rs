//! `drp-bench ha-quick`: ours only, no peer. A 3-node cluster of real `drp-endpoint`
//! processes; write latency and throughput at a few concurrency levels (HTTP Basic, straight to
//! the leader) and the time from `kill -9` of the leader to the first acknowledged write through
//! a survivor. Kept as the quick self-check it was before the side-by-side bench.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::cluster::{endpoint_bin, Cluster};
use crate::http::Http;
use crate::stats::{fmt_ms, percentile};

const PROFILE: &str = "bench";
const PARAM_PATH: &str = "/profiles/bench/params/bench/value";

struct LoadResult {
    clients: usize,
    ok: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

async fn load(
    http: &Http,
    url: String,
    clients: usize,
    secs: u64,
    value: Value,
) -> Result<LoadResult> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, stop, value) = (http.clone(), url.clone(), stop.clone(), value.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = Vec::new();
            let mut errors = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match http
                    .post(url.as_str())
                    .json(&value)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                {
                    Ok(r) if r.status == 200 => ok.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (ok, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut res = LoadResult {
        clients,
        ok: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (ok, errors) = t.await.context("load task panicked")?;
        res.ok.extend(ok);
        res.errors += errors;
    }
    res.elapsed = start.elapsed();
    Ok(res)
}

/// One failover measurement.
struct Failover {
    /// Kill → a survivor names another survivor as leader.
    leader: Option<Duration>,
    /// Kill → first acknowledged write through a survivor.
    write: Duration,
    /// Write attempts that failed or timed out before that.
    failed_attempts: usize,
}

/// Kill -9 the leader, then write through the survivors (`attempt_timeout` per attempt,
/// rotating) until one write is acknowledged; meanwhile poll the survivors for the new leader.
/// Then restart the killed node and wait for 3 caught-up voters.
async fn one_failover(
    c: &mut Cluster,
    value: &Value,
    attempt_timeout: Duration,
) -> Result<Failover> {
    let l = c.wait_converged(3, Duration::from_secs(30)).await?;
    let old = c.node(l).consensus_id().to_string();
    let survivors: Vec<usize> = c.live().into_iter().filter(|&i| i != l).collect();
    let urls: Vec<String> = survivors
        .iter()
        .map(|&i| c.node(i).api(PARAM_PATH))
        .collect();
    let probes: Vec<(String, String)> = survivors
        .iter()
        .map(|&i| {
            (
                c.node(i).api("/system/consensus/leader"),
                c.node(i).consensus_id().to_string(),
            )
        })
        .collect();
    let t0 = Instant::now();
    c.node_mut(l).kill();
    let watcher = {
        let http = c.http.clone();
        tokio::spawn(async move {
            let ids: Vec<String> = probes.iter().map(|p| p.1.clone()).collect();
            while t0.elapsed() < Duration::from_secs(30) {
                for (url, _) in &probes {
                    let r = http
                        .get(url.as_str())
                        .timeout(Duration::from_millis(200))
                        .send()
                        .await;
                    if let Ok(id) = r.and_then(|r| r.json::<String>()) {
                        if id != old && ids.contains(&id) {
                            return Some(t0.elapsed());
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            None
        })
    };
    let mut attempts = 0usize;
    let mut k = 0usize;
    let write = loop {
        let r = c
            .http
            .post(urls[k % urls.len()].as_str())
            .json(value)
            .timeout(attempt_timeout)
            .send()
            .await;
        if matches!(&r, Ok(r) if r.status == 200) {
            break t0.elapsed();
        }
        attempts += 1;
        k += 1;
        if t0.elapsed() > Duration::from_secs(30) {
            anyhow::bail!("no acknowledged write within 30 s of the kill; last: {r:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let leader = watcher.await.context("leader watcher panicked")?;
    c.node_mut(l).restart().await?;
    c.wait_converged(3, Duration::from_secs(30)).await?;
    c.wait_caught_up(Duration::from_secs(30)).await?;
    Ok(Failover {
        leader,
        write,
        failed_attempts: attempts,
    })
}

pub async fn ha_quick(
    secs: u64,
    reps: usize,
    value_bytes: usize,
    levels: Vec<usize>,
    attempt_timeout: Duration,
) -> Result<()> {
    let bin = endpoint_bin()?;
    eprintln!("drp-bench: using {}", bin.display());
    let mut c = Cluster::start(3).await?;
    let l = c.leader().await?;
    c.node(l)
        .create_profile(PROFILE, json!({}))
        .await?
        .expect(201)?;
    let value = json!("v".repeat(value_bytes.saturating_sub(2)));

    let mut rows = Vec::new();
    for &n in &levels {
        let l = c.leader().await?;
        eprintln!("drp-bench: {n} client(s) for {secs} s");
        let r = load(&c.http, c.node(l).api(PARAM_PATH), n, secs, value.clone()).await?;
        rows.push(r);
    }

    let mut failovers = Vec::new();
    let mut elections = Vec::new();
    let mut failed_attempts = 0usize;
    let mut rep_errors = Vec::new();
    for rep in 0..reps {
        match one_failover(&mut c, &value, attempt_timeout).await {
            Ok(f) => {
                eprintln!(
                    "drp-bench: failover {}/{reps}: new leader seen after {:?}, first acked write after {:?} ({} failed attempts)",
                    rep + 1,
                    f.leader,
                    f.write,
                    f.failed_attempts
                );
                failovers.push(f.write);
                elections.extend(f.leader);
                failed_attempts += f.failed_attempts;
            }
            Err(e) => {
                eprintln!("drp-bench: failover {}/{reps} failed: {e:#}", rep + 1);
                rep_errors.push(format!("{e:#}"));
                break;
            }
        }
    }

    println!("## drp-bench ha-quick\n");
    println!(
        "3 nodes on loopback, binary `{}`, {value_bytes}-byte param value via `POST /api/v3{PARAM_PATH}` to the leader, {secs} s per level; after a kill, write attempts rotate over the survivors with a {} ms client timeout.\n",
        bin.display(),
        attempt_timeout.as_millis()
    );
    println!("| scenario | acked writes | writes/s | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} client{} | {} | {:.0} | {} | {} | {} |",
            r.clients,
            if r.clients == 1 { "" } else { "s" },
            r.ok.len(),
            r.ok.len() as f64 / r.elapsed.as_secs_f64(),
            fmt_ms(percentile(&r.ok, 50.0)),
            fmt_ms(percentile(&r.ok, 99.0)),
            r.errors
        );
    }
    println!(
        "| kill -9 leader → first acked write ({} of {reps} reps) | {} | - | {} | {} | {} |",
        failovers.len(),
        failovers.len(),
        fmt_ms(percentile(&failovers, 50.0)),
        fmt_ms(percentile(&failovers, 99.0)),
        failed_attempts
    );
    println!(
        "| kill -9 leader → new leader seen on a survivor ({} of {reps} reps) | - | - | {} | {} | - |",
        elections.len(),
        fmt_ms(percentile(&elections, 50.0)),
        fmt_ms(percentile(&elections, 99.0)),
    );
    if !rep_errors.is_empty() {
        println!("\nfailover errors: {rep_errors:?}");
    }
    c.success();
    Ok(())
}
