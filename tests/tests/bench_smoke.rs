//! `drp-bench`'s quick smoke run: the write cells over both transports (etcd over TLS with the
//! bench's certificates, ours over plain HTTP with `--no-tls`) and the availability-zone
//! workload through the fault proxy, every cell cut to 0.3 s. It checks that each cell was
//! measured on both systems and that both served requests in each part, never how fast.
//!
//! Needs etcd (scripts/install-bench-deps.sh); without it the test says so and passes, unless
//! `DRP_REQUIRE_ETCD=1`.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use tests::cluster::{endpoint_bin, manager_bin};

/// The throughput row of `workload`, if the report has one.
fn throughput<'a>(rows: &'a [Value], workload: &str) -> Option<&'a Value> {
    rows.iter()
        .find(|r| r["workload"] == workload && r["metric"] == "throughput")
}

/// Picks the cells of one part of the run by workload name.
type Pick = fn(&str) -> bool;

/// Requests `system` had acknowledged over the cells whose names `pick` accepts.
fn acked(details: &Value, system: &str, pick: impl Fn(&str) -> bool) -> u64 {
    details
        .as_object()
        .map(|d| {
            d.iter()
                .filter(|(k, _)| pick(k))
                .filter_map(|(_, v)| v[system]["ok"].as_u64())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_writes_and_availability_zones() -> Result<()> {
    if tests::bench::etcd::etcd_bin().is_err() {
        ensure!(
            std::env::var_os("DRP_REQUIRE_ETCD").is_none(),
            "DRP_REQUIRE_ETCD is set but etcd is not installed"
        );
        eprintln!("SKIPPED: etcd is not installed (scripts/install-bench-deps.sh)");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let json = dir.path().join("smoke.json");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_drp-bench"))
        .args(["--quick", "--only", "writes,az", "--secs", "0.3"])
        .args(["--clients", "1,2", "--az-delays-ms", "5", "--json"])
        .arg(&json)
        .env("DRP_ENDPOINT_BIN", endpoint_bin()?)
        .env("DRP_MANAGER_BIN", manager_bin()?)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(600), out)
        .await
        .context("drp-bench did not finish in 600 s")??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: String = stderr.lines().rev().take(30).collect::<Vec<_>>().join("\n");
    ensure!(
        out.status.success(),
        "drp-bench failed: {}\n{tail}",
        out.status
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&json)?)?;
    let rows = report["rows"].as_array().context("rows")?;
    let notes = report["notes"].to_string();
    ensure!(
        !notes.contains("not measured"),
        "a workload failed: {notes}"
    );

    for tag in ["", " [plain HTTP]"] {
        for target in ["leader", "follower"] {
            for n in ["1 client", "2 clients"] {
                let w = format!("writes → {target}, {n}{tag}");
                ensure!(throughput(rows, &w).is_some(), "no row {w:?}");
            }
        }
    }
    for step in ["no added delay", "members 5 ms apart"] {
        for n in ["1 client", "2 clients"] {
            let w = format!("az: {step}, writes → leader, {n}");
            ensure!(throughput(rows, &w).is_some(), "no row {w:?}");
        }
    }
    ensure!(
        rows.iter()
            .any(|r| r["metric"] == "throughput vs no added delay"),
        "no row compares a delay with no delay"
    );
    ensure!(
        report["machine"].is_object() && notes.contains("both over TLS"),
        "the report names the reference transport: {notes}"
    );

    // Each part served requests on both systems (over TLS, over plain HTTP, behind the proxy).
    let details = &report["details"];
    let parts: [(&str, Pick); 3] = [
        ("writes over TLS", |k| {
            k.starts_with("writes") && !k.ends_with(']')
        }),
        ("writes over plain HTTP", |k| k.ends_with("[plain HTTP]")),
        ("availability zones", |k| k.starts_with("az:")),
    ];
    for (part, pick) in parts {
        for system in ["ours", "etcd"] {
            let n = acked(details, system, pick);
            ensure!(n > 0, "{system} acknowledged no write in {part}\n{tail}");
        }
    }
    Ok(())
}
