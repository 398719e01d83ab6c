//! What the load cells share: the keys each client writes, one measured cell (throughput,
//! latency and server CPU per request) and the report rows it becomes.

use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};

use super::config::Config;
use super::sut::Sut;
use crate::bench::load::{self, LoadStats, Op, Shape};
use crate::bench::proc::cpu_secs_sum;
use crate::bench::report::{Better, Report};
use crate::bench::say;
use crate::stats::percentile;

/// Profile the failover writer writes to.
pub const PROFILE: &str = "bench";
/// Param written and read by the load cells; client `c` uses profile `bench-c<c>` (one object
/// per client, as etcd gets one key per client).
pub const PARAM: &str = "bench/value";

/// Client `c`'s profile on our side.
pub fn client_profile(c: usize) -> String {
    format!("bench-c{c}")
}

/// Client `c`'s key on etcd's side.
pub fn key(c: usize) -> String {
    format!("bench/c{c}")
}

/// A load cell's workload name: `writes → leader, 64 clients [plain HTTP]`.
pub fn cell_name(what: &str, target: &str, clients: usize, tag: &str) -> String {
    let s = if clients == 1 { "" } else { "s" };
    format!("{what} {target}, {clients} client{s}{tag}")
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p`th percentile of `samples` in milliseconds.
pub fn pct_ms(samples: &[Duration], p: f64) -> Option<f64> {
    percentile(samples, p).map(ms)
}

/// Bytes in MiB.
pub fn mib(b: u64) -> f64 {
    b as f64 / 1024.0 / 1024.0
}

/// The `n`-client load shape of `cfg`.
pub fn shape(cfg: &Config, clients: usize) -> Shape {
    Shape {
        clients,
        warmup: cfg.warmup,
        measure: cfg.measure,
        timeout: Duration::from_secs(5),
    }
}

/// One cell against `sut`'s leader or follower (`target`) with `n` clients: each client's
/// op from `op(sut, base, client)`.
pub async fn sut_cell<S: Sut>(
    sut: &S,
    http: &reqwest::Client,
    cfg: &Config,
    (what, target, n): (&str, &str, usize),
    op: impl Fn(&S, &str, usize) -> Op,
) -> Result<(LoadStats, Option<f64>)> {
    let (l, f) = sut.targets(http).await?;
    let base = sut.url(if target == "leader" { l } else { f });
    say(format!("{what} {target}, {n} client(s): {}", sut.name()));
    let ops: Vec<Op> = (0..n).map(|c| op(sut, &base, c)).collect();
    cell(http, ops, shape(cfg, n), &sut.pids()).await
}

/// One load cell, also measuring the CPU time the servers (`pids`) used per acknowledged
/// request: (stats, CPU ms per request summed over members).
pub async fn cell(
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

pub fn summary(o: &LoadStats, e: &LoadStats) -> String {
    use crate::bench::report::num;
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

/// The throughput and p50 rows of a cell (its errors in the note).
pub fn push_rate_p50(
    report: &mut Report,
    workload: &str,
    unit: &str,
    o: &LoadStats,
    e: &LoadStats,
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
}

pub fn push_load(
    report: &mut Report,
    workload: &str,
    unit: &str,
    o: &LoadStats,
    e: &LoadStats,
    cpu: (Option<f64>, Option<f64>),
) {
    push_rate_p50(report, workload, unit, o, e);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_names_keep_the_goal_rows() {
        // goals.rs finds the reference rows by these exact names.
        assert_eq!(
            cell_name("writes →", "leader", 64, ""),
            "writes → leader, 64 clients"
        );
        assert_eq!(
            cell_name("writes →", "leader", 1, " [plain HTTP]"),
            "writes → leader, 1 client [plain HTTP]"
        );
    }
}
