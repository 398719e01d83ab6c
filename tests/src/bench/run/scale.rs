//! Workload 5, scale: M machines loaded, RSS of every member, `kill -9` of every member and a
//! restart → first answer and → serving a linearizable read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use reqwest::Method;
use serde_json::{json, Value};

use super::measure::{mib, ms};
use super::sut::Sut;
use super::{Config, Pair};
use crate::bench::etcd;
use crate::bench::load::{self, LoadStats, Op};
use crate::bench::report::{Better, Report};
use crate::bench::{say, POLL};

/// What one system measured.
struct Scaled {
    load: LoadStats,
    rss: Vec<u64>,
    rss_after: Vec<u64>,
    /// kill → first answer, kill → serving.
    restart: (Option<Duration>, Duration),
}

/// Loads, measures and cold-restarts both systems, then adds the scale rows.
pub async fn scale(
    cfg: &Config,
    http: &reqwest::Client,
    p: &mut Pair,
    report: &mut Report,
) -> Result<()> {
    let sample = probe_machine(http, p).await?;
    let (ours_load, ours_rss) = load_sut(&mut p.ours, cfg, http, &sample).await?;
    let (etcd_load, etcd_rss) = load_sut(&mut p.etcd, cfg, http, &sample).await?;
    let ours_restart = cold_restart(&mut p.ours, http).await?;
    let ours = Scaled {
        load: ours_load,
        rss: ours_rss,
        rss_after: p.ours.rss(),
        restart: ours_restart,
    };
    let etcd_restart = cold_restart(&mut p.etcd, http).await?;
    let etcd = Scaled {
        load: etcd_load,
        rss: etcd_rss,
        rss_after: p.etcd.rss(),
        restart: etcd_restart,
    };
    scale_rows(report, cfg, sample.len(), &ours, &etcd);
    Ok(())
}

/// Creates machine `probe` on our side (its JSON is the sample every etcd put stores, and a
/// read of it tells our cluster serves); puts the same JSON to etcd.
async fn probe_machine(http: &reqwest::Client, p: &mut Pair) -> Result<Vec<u8>> {
    let (l, _) = p.ours.targets(http).await?;
    let base = p.ours.url(l);
    let probe = Op::new(Method::POST, format!("{base}/api/v3/machines"))
        .headers(&p.ours.auth)
        .json_body(json!({"Name": "probe"}).to_string().into_bytes())
        .send_ok(http, Duration::from_secs(10))
        .await?;
    let probe_v: Value = serde_json::from_slice(&probe)?;
    let uuid = probe_v["Uuid"]
        .as_str()
        .ok_or_else(|| anyhow!("no Uuid in {probe_v}"))?
        .to_string();
    let sample = Op::new(Method::GET, format!("{base}/api/v3/machines/{uuid}"))
        .headers(&p.ours.auth)
        .send_ok(http, Duration::from_secs(10))
        .await?;
    p.ours.probe_machine = uuid;
    let (el, _) = p.etcd.targets(http).await?;
    etcd::put_op(&p.etcd.url(el), b"machines/probe", &sample)
        .send_ok(http, Duration::from_secs(10))
        .await?;
    Ok(sample)
}

/// Loads `cfg.machines` machines through the leader: the load's stats and each member's RSS.
async fn load_sut<S: Sut>(
    s: &mut S,
    cfg: &Config,
    http: &reqwest::Client,
    sample: &[u8],
) -> Result<(LoadStats, Vec<u64>)> {
    let (l, _) = s.targets(http).await?;
    say(format!(
        "scale: loading {} machines into {} ({} clients; a machine is {} bytes of JSON)",
        cfg.machines,
        s.name(),
        cfg.load_clients,
        sample.len()
    ));
    let make = s.machine_ops(&s.url(l), Arc::new(sample.to_vec()));
    let timeout = Duration::from_secs(10);
    let deadline = Duration::from_secs(1800);
    let clients = cfg.load_clients;
    let load = load::run_count(http, make, cfg.machines, clients, timeout, deadline).await?;
    say(format!(
        "  {} loaded at {:.0} machines/s",
        s.name(),
        load.per_sec
    ));
    s.settle(http, Duration::from_secs(120)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok((load, s.rss()))
}

/// Kill -9 every member, spawn them all again: (first status answer, first linearizable read
/// of the first machine), both from the spawn.
async fn cold_restart<S: Sut>(
    s: &mut S,
    http: &reqwest::Client,
) -> Result<(Option<Duration>, Duration)> {
    say(format!("scale: kill -9 all {} members, restart", s.name()));
    let n = s.members();
    for i in 0..n {
        s.kill(i);
    }
    let t0 = Instant::now();
    for i in 0..n {
        s.spawn(i)?;
    }
    let mut first_info = None;
    let serving = loop {
        if first_info.is_none() {
            for i in 0..n {
                if s.answers(http, i).await {
                    first_info = Some(t0.elapsed());
                    break;
                }
            }
        }
        if first_info.is_some() {
            let reads = (0..n).map(|i| s.serves(http, i));
            if futures::future::join_all(reads)
                .await
                .into_iter()
                .any(|ok| ok)
            {
                break t0.elapsed();
            }
        }
        if t0.elapsed() > Duration::from_secs(300) {
            bail!("{} is not serving 300 s after a cold restart", s.name());
        }
        tokio::time::sleep(POLL).await;
    };
    say(format!(
        "  {}: first answer after {first_info:?}, serving after {serving:?}",
        s.name()
    ));
    s.after_cold_restart(http).await?;
    Ok((first_info, serving))
}

/// The scale rows and details.
fn scale_rows(report: &mut Report, cfg: &Config, sample_len: usize, o: &Scaled, e: &Scaled) {
    let w = format!("scale: {} machines, 3 members", cfg.machines);
    let max_mib = |v: &[u64]| v.iter().max().map(|b| mib(*b));
    let rows = [
        (
            "load rate (64 clients)",
            "creates/s",
            Better::Higher,
            Some(o.load.per_sec),
            Some(e.load.per_sec),
            "ours: POST /machines; etcd: put of the same machine JSON",
        ),
        (
            "RSS after load, largest member",
            "MiB",
            Better::Lower,
            max_mib(&o.rss),
            max_mib(&e.rss),
            "",
        ),
        (
            "RSS after cold restart, largest member",
            "MiB",
            Better::Lower,
            max_mib(&o.rss_after),
            max_mib(&e.rss_after),
            "",
        ),
        (
            "kill -9 all → first member answers",
            "ms",
            Better::Lower,
            o.restart.0.map(ms),
            e.restart.0.map(ms),
            "ours: GET /api/v3/info; etcd: /v3/maintenance/status",
        ),
        (
            "kill -9 all → serving (linearizable read)",
            "ms",
            Better::Lower,
            Some(ms(o.restart.1)),
            Some(ms(e.restart.1)),
            "time from spawning all 3 again",
        ),
    ];
    for (metric, unit, better, ours, etcd, note) in rows {
        report.push(&w, metric, unit, better, ours, etcd, note);
    }
    let mibs = |v: &[u64]| v.iter().map(|b| mib(*b)).collect::<Vec<_>>();
    if let Value::Object(d) = &mut report.details {
        d.insert(
            "scale".into(),
            json!({
                "machines": cfg.machines,
                "machine_json_bytes": sample_len,
                "ours": {"load": o.load, "rss_mib": mibs(&o.rss), "rss_after_restart_mib": mibs(&o.rss_after)},
                "etcd": {"load": e.load, "rss_mib": mibs(&e.rss), "rss_after_restart_mib": mibs(&e.rss_after)},
            }),
        );
    }
}
