//! Workload 4, fan-out: N single-node clusters under one manager, one git commit changing the
//! VersionSet they share, commit → all applied (peer: the same document put to N single-node
//! etcds). Its systems are many single-node ones, so it drives them directly rather than
//! through `Sut`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};

use super::measure::{ms, pct_ms};
use super::Config;
use crate::bench::etcd::{self, Etcd};
use crate::bench::load::Op;
use crate::bench::ours::{self, Manager, ManagerOpts, Repo};
use crate::bench::report::{Better, Report};
use crate::bench::{say, POLL};
use crate::cluster::{manager_bin, Cluster};

fn fanout_set(v: &str) -> String {
    format!(
        "Id: fanout\nDescription: drp-bench fan-out\nApply: true\nPrefs:\n  bench/fanout: \"{v}\"\n"
    )
}

/// Median and max over reps of "commit → all applied".
pub async fn fanout(cfg: &Config, http: &reqwest::Client, report: &mut Report) -> Result<()> {
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
