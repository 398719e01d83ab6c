//! Workload 3, failover: a steady single-client write load, `kill -9` of the leader, then
//! kill → new leader and kill → first acknowledged write (ours through the manager gateway;
//! etcd's client round-robins over every member with a short per-attempt timeout).

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use super::measure::{ms, pct_ms};
use super::steady::{watch, SteadyWriter};
use super::sut::{LeaderProbe, Sut};
use super::{Config, Pair};
use crate::bench::report::{Better, Report};
use crate::bench::say;

/// One system's failover timings over every rep.
#[derive(Default, serde::Serialize)]
struct FailoverSamples {
    leader: Vec<Duration>,
    write: Vec<Duration>,
    missed: usize,
}

/// Measures both systems and adds the failover rows.
pub async fn failover(
    cfg: &Config,
    http: &reqwest::Client,
    p: &mut Pair,
    value: &str,
    report: &mut Report,
) -> Result<()> {
    let ours = failover_sut(&mut p.ours, cfg, http, value).await?;
    let etcd = failover_sut(&mut p.etcd, cfg, http, value).await?;
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

/// `cfg.failover_reps` leader kills of `s` under its steady writer.
async fn failover_sut<S: Sut>(
    s: &mut S,
    cfg: &Config,
    http: &reqwest::Client,
    value: &str,
) -> Result<FailoverSamples> {
    let (ops, attempt_timeout) = s.failover_ops(http, cfg, value).await?;
    let writer = SteadyWriter::start(http, ops, attempt_timeout);
    let mut samples = FailoverSamples::default();
    for rep in 0..cfg.failover_reps {
        let (l, leader, write) = kill_leader(s, http, &writer).await?;
        say(format!(
            "failover {} {}/{}: new leader {:?}, first acked write {:?}",
            s.name(),
            rep + 1,
            cfg.failover_reps,
            leader,
            write
        ));
        samples.leader.extend(leader);
        match write {
            Some(w) => samples.write.push(w),
            None => samples.missed += 1,
        }
        s.restart(http, l).await?;
    }
    s.settle(http, Duration::from_secs(30)).await?;
    let failed = writer.stop().await;
    say(format!(
        "failover {}: {failed} failed write attempts in total",
        s.name()
    ));
    Ok(samples)
}

/// Once the writer gets acks, kills the leader: (its index, kill → a survivor names a new
/// leader, kill → first acknowledged write sent after the kill).
async fn kill_leader<S: Sut>(
    s: &mut S,
    http: &reqwest::Client,
    writer: &SteadyWriter,
) -> Result<(usize, Option<Duration>, Option<Duration>)> {
    let l = s.settle(http, Duration::from_secs(30)).await?;
    // Steady state: the writer gets acks again.
    let settle = Instant::now();
    if writer
        .first_ack_sent_after(settle, Duration::from_secs(30))
        .await
        .is_none()
    {
        bail!("the {} writer gets no acks\n{}", s.name(), s.diagnostics());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let old = s.member_id(l);
    let survivors: Vec<(LeaderProbe, String)> = s
        .live()
        .into_iter()
        .filter(|&i| i != l)
        .map(|i| (s.leader_probe(http, i), s.member_id(i)))
        .collect();
    let t0 = Instant::now();
    s.kill(l);
    let watcher = watch(t0, move || {
        let (survivors, old) = (survivors.clone(), old.clone());
        async move {
            for (probe, _) in &survivors {
                if let Some(id) = probe().await {
                    if id != old && survivors.iter().any(|(_, s)| *s == id) {
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
    Ok((l, leader, write))
}
