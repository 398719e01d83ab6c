//! The goals, each checked against the measured rows (or marked unmet/unknown when
//! the run was scaled down).

use super::Config;
use crate::bench::report::{num, Goal, Report};

/// Fills `r.goals` from the rows measured so far.
pub fn goals(cfg: &Config, r: &mut Report) {
    let mut g = Vec::new();
    load_goals(r, &mut g);
    failover_goal(cfg, r, &mut g);
    fanout_goal(cfg, r, &mut g);
    scale_goals(cfg, r, &mut g);
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
