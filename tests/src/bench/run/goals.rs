//! The goals, each checked against the measured rows (or marked unmet/unknown when
//! the run was scaled down).

use std::time::Duration;

use super::az::{az_what, KEPT};
use super::measure::{cell_name, ms};
use super::Config;
use crate::bench::report::{num, Goal, Report};

/// Fills `r.goals` from the rows measured so far.
pub fn goals(cfg: &Config, r: &mut Report) {
    let mut g = Vec::new();
    load_goals(r, &mut g);
    failover_goal(cfg, r, &mut g);
    fanout_goal(cfg, r, &mut g);
    scale_goals(cfg, r, &mut g);
    az_goals(cfg, r, &mut g);
    r.goals = g;
}

/// Write throughput at 64 clients and single-client latency against etcd.
fn load_goals(r: &Report, g: &mut Vec<Goal>) {
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
}

/// Kill → first acknowledged write through the gateway.
fn failover_goal(cfg: &Config, r: &Report, g: &mut Vec<Goal>) {
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
                num(med),
                num(p99),
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
}

/// Commit → every cluster applied.
fn fanout_goal(cfg: &Config, r: &Report, g: &mut Vec<Goal>) {
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
}

/// Memory and cold restart with many machines.
fn scale_goals(cfg: &Config, r: &Report, g: &mut Vec<Goal>) {
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
}

/// Availability zones: throughput kept at the most clients, and single-client p50 beside one
/// round trip plus one fsync.
fn az_goals(cfg: &Config, r: &Report, g: &mut Vec<Goal>) {
    let delays: Vec<Duration> = cfg
        .az_steps()
        .into_iter()
        .filter(|d| !d.is_zero())
        .collect();
    let n = cfg.clients.iter().copied().max().unwrap_or(1);
    let kept: Vec<(Duration, Option<f64>, Option<f64>)> = delays
        .iter()
        .filter_map(|&d| {
            let row = r.find(&cell_name(&az_what(d), "leader", n, ""), KEPT)?;
            Some((d, row.ours, row.etcd))
        })
        .collect();
    if !kept.is_empty() {
        let measured = kept
            .iter()
            .map(|(d, o, e)| format!("{} ms: {}× (etcd {}×)", ms(*d), num(*o), num(*e)))
            .collect::<Vec<_>>()
            .join("; ");
        g.push(Goal {
            goal: format!("availability zones: writes/s at {n} clients ≥ 0.9× no added delay"),
            measured,
            met: kept
                .iter()
                .map(|(_, o, _)| o.map(|x| x >= 0.9))
                .collect::<Option<Vec<bool>>>()
                .map(|v| v.iter().all(|x| *x)),
        });
    }
    let fsync = r.machine.fsync_p50_ms;
    let p50: Vec<String> = delays
        .iter()
        .filter_map(|&d| {
            let row = r.find(&cell_name(&az_what(d), "leader", 1, ""), "p50 latency")?;
            let floor = fsync.map(|f| 2.0 * ms(d) + f);
            Some(format!(
                "{} ms: {} ms (round trip + fsync {} ms; etcd {} ms)",
                ms(d),
                num(row.ours),
                num(floor),
                num(row.etcd)
            ))
        })
        .collect();
    if !p50.is_empty() {
        g.push(Goal {
            goal: "availability zones: 1-client write p50 near one round trip plus one fsync"
                .into(),
            measured: p50.join("; "),
            // "Near" has no threshold: the figures are given, not judged.
            met: None,
        });
    }
}
