//! `drp-bench`: measures (never asserts) the Raft-replicated DRP endpoint beside a 3-node etcd
//! 3.4 cluster started in the same run, and prints every figure with its ratio to etcd.
//!
//! ```text
//! drp-bench [--quick] [--only writes,reads,failover,fanout,scale,az,federation]
//!           [--transport tls,plain] [--az-delays-ms 1,5,20] [--fed-clusters 20]
//!           [--fed-machines 5000] [--json FILE] [--docs FILE]
//! drp-bench ha-quick [--secs 5] [--failover-reps 10]      # ours only, the older self-check
//! drp-bench drive --url http://127.0.0.1:8092 [--clients 64] [--reads]   # load a running node
//! ```
//! Needs `etcd` (scripts/install-bench-deps.sh) and release builds of `drp-endpoint` and
//! `drp-manager` (built on first use, or `$DRP_ENDPOINT_BIN` / `$DRP_MANAGER_BIN`).
//! Every process it starts dies with it (also on Ctrl-C).
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use tests::bench::machine;
use tests::bench::report::Report;
use tests::bench::run::{self, Config, Transport, Workload};
use tests::bench::{backup, boot_files, dhcp, etcd, ha_quick, job_cycle, load, say};
use tests::cluster::{endpoint_bin, manager_bin};

#[derive(Parser)]
#[command(
    name = "drp-bench",
    about = "Benchmarks of the Raft-replicated DRP endpoint, side by side with etcd",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    side: SideBySide,
}

#[derive(Args)]
struct SideBySide {
    /// Every workload scaled down (2 s per load cell, 3 failovers, 5 clusters, 5k machines):
    /// a few minutes (writes and reads run once per transport).
    #[arg(long)]
    quick: bool,
    /// Only these workloads (comma separated): writes, reads, failover, fanout, scale, az,
    /// federation.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Seconds measured per load cell (default 10, quick 2).
    #[arg(long)]
    secs: Option<f64>,
    /// Client counts of the write and read cells (default 1,64).
    #[arg(long, value_delimiter = ',')]
    clients: Vec<usize>,
    /// Leader kills per system (default 20, quick 3).
    #[arg(long)]
    failover_reps: Option<usize>,
    /// Single-node clusters under the manager for the fan-out (default 20, quick 5).
    #[arg(long)]
    fanout_clusters: Option<usize>,
    /// Commits measured in the fan-out (default 5, quick 2).
    #[arg(long)]
    fanout_reps: Option<usize>,
    /// The manager's --max-parallel in the fan-out (default: the number of clusters).
    #[arg(long)]
    max_parallel: Option<usize>,
    /// Machines loaded for the scale workload (default 100000, quick 5000).
    #[arg(long)]
    machines: Option<usize>,
    /// Single-node clusters under the manager in the federation workload (default 20, quick 4).
    #[arg(long)]
    fed_clusters: Option<usize>,
    /// Machines loaded into each of them (default 5000, quick 500).
    #[arg(long)]
    fed_machines: Option<usize>,
    /// The etcd client's per-attempt timeout during failover (it then tries the next member).
    #[arg(long, default_value_t = 250)]
    etcd_attempt_timeout_ms: u64,
    /// Transports of the write and read cells, both systems alike (default tls,plain): the
    /// first is the reference, used by every other workload and compared in the goals.
    #[arg(long, value_delimiter = ',')]
    transport: Vec<String>,
    /// One-way delays between members in the availability-zone workload, in ms (default
    /// 1,5,20; no delay is always measured first).
    #[arg(long, value_delimiter = ',')]
    az_delays_ms: Vec<u64>,
    /// Where the JSON results go (default: target/drp-bench/<mode>.json in the workspace).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write the results into this markdown file (e.g. docs/benchmarks.md), replacing
    /// only the generated section.
    #[arg(long)]
    docs: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Ours only: write latency/throughput at 1 and 32 clients, and leader failover time.
    HaQuick {
        /// Seconds of load per concurrency level.
        #[arg(long, default_value_t = 5)]
        secs: u64,
        /// Leader kills to measure.
        #[arg(long, default_value_t = 10)]
        failover_reps: usize,
        /// Size of the written param value in bytes.
        #[arg(long, default_value_t = 256)]
        value_bytes: usize,
        /// Client timeout of each write attempt after the kill (a member may hold a write
        /// until the new leader is known, then forward it).
        #[arg(long, default_value_t = 2000)]
        attempt_timeout_ms: u64,
        /// Concurrency levels to measure.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 32])]
        clients: Vec<usize>,
    },
    /// Ours only: jobs per second through DRP's whole agent cycle (create, running, actions,
    /// log, finish) with N concurrent agents, and the p50/p99 of one cycle.
    JobCycle {
        #[arg(long, default_value_t = 64)]
        agents: usize,
        #[arg(long, default_value_t = 20)]
        secs: u64,
    },
    /// Ours only: snapshot save and restore of a cluster holding N machines (file size,
    /// save, restore, restored member serving, a member joining it).
    Backup {
        #[arg(long, default_value_t = 100_000)]
        machines: usize,
        #[arg(long, default_value_t = 16)]
        clients: usize,
    },
    /// Static HTTP: MB/s of one large file from the active member's static file server,
    /// beside `busybox httpd` serving it from disk, both fetched by curl.
    BootFiles {
        #[arg(long, default_value_t = 1024)]
        mib: u64,
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
    /// DHCP: leases/s (four-way, each lease committed through Raft) by perfdhcp at rising
    /// offered rates, beside dnsmasq --no-ping on the same namespace network. Needs root.
    Dhcp {
        #[arg(long, value_delimiter = ',', default_values_t = vec![100u32, 200, 400, 800])]
        rates: Vec<u32>,
        #[arg(long, default_value_t = 10)]
        secs: u32,
    },
    /// Drive an endpoint that is already running (e.g. under `perf record`) with the bench's
    /// write or read cell; prints rate and latency.
    Drive {
        /// Base URL of the member to load, e.g. http://127.0.0.1:8092.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        #[arg(long, default_value_t = 256)]
        value_bytes: usize,
        /// Linearizable reads instead of writes.
        #[arg(long)]
        reads: bool,
    },
}

fn config(a: &SideBySide) -> Result<Config> {
    let mut c = if a.quick {
        Config::quick()
    } else {
        Config::full()
    };
    if !a.only.is_empty() {
        c.only = a
            .only
            .iter()
            .map(|s| Workload::parse(s.trim()))
            .collect::<Result<_>>()?;
    }
    if let Some(s) = a.secs {
        c.measure = Duration::from_secs_f64(s);
    }
    if !a.clients.is_empty() {
        c.clients = a.clients.clone();
    }
    if let Some(n) = a.failover_reps {
        c.failover_reps = n;
    }
    if let Some(n) = a.fanout_clusters {
        c.fanout_clusters = n;
        c.max_parallel = n;
    }
    if let Some(n) = a.fanout_reps {
        c.fanout_reps = n;
    }
    if let Some(n) = a.max_parallel {
        c.max_parallel = n;
    }
    if let Some(n) = a.machines {
        c.machines = n;
    }
    if let Some(n) = a.fed_clusters {
        c.fed_clusters = n.max(1);
    }
    if let Some(n) = a.fed_machines {
        c.fed_machines = n;
    }
    if !a.transport.is_empty() {
        c.transports = Transport::parse_list(&a.transport)?;
    }
    if !a.az_delays_ms.is_empty() {
        c.az_delays = a
            .az_delays_ms
            .iter()
            .map(|&d| Duration::from_millis(d))
            .collect();
    }
    c.etcd_attempt_timeout = Duration::from_millis(a.etcd_attempt_timeout_ms);
    Ok(c)
}

async fn side_by_side(a: SideBySide) -> Result<()> {
    let cfg = config(&a)?;
    let etcd_bin = etcd::etcd_bin()?;
    // Locating the binaries may build them; the run's time starts after.
    let ours_bin = endpoint_bin()?;
    manager_bin()?;
    let started = Instant::now();
    say(format!(
        "{} mode; ours {}; peer {} ({})",
        cfg.mode,
        ours_bin.display(),
        etcd_bin.display(),
        etcd::etcd_version(&etcd_bin)
    ));
    let http = load::client()?;
    let mut report = Report {
        date: machine::utc_now(),
        mode: cfg.mode.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: machine::describe(),
        ours_binary: format!(
            "{} ({})",
            ours_bin.display(),
            machine::provenance(&ours_bin)
        ),
        etcd_version: etcd::etcd_version(&etcd_bin),
        settings: cfg.settings(),
        rows: Vec::new(),
        goals: Vec::new(),
        details: json!({}),
        notes: Vec::new(),
    };
    if cfg.mode == "quick" {
        report.notes.push(format!(
            "quick mode: scaled down ({} s per load cell, {} failovers, {} fan-out clusters, {} machines); the goals are stated for the full mode",
            cfg.measure.as_secs_f64(),
            cfg.failover_reps,
            cfg.fanout_clusters,
            cfg.machines
        ));
    }
    report.notes.push(
        "both systems run on the same 2-core loopback host as the load generator; ratios are ours/etcd (for latencies and times, < 1 is better for us)".into(),
    );
    run::run(&cfg, &http, &mut report).await?;
    let elapsed = started.elapsed();
    report
        .notes
        .push(format!("the run took {:.0} s", elapsed.as_secs_f64()));
    println!("{}", report.markdown());
    let json_path = a.json.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/drp-bench")
            .join(format!("{}.json", cfg.mode))
    });
    report.write_json(&json_path)?;
    say(format!("JSON written to {}", json_path.display()));
    if let Some(d) = &a.docs {
        report.write_docs(d)?;
        say(format!("results written into {}", d.display()));
    }
    Ok(())
}

async fn shutdown_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let work = async move {
        match cli.cmd {
            Some(Cmd::HaQuick {
                secs,
                failover_reps,
                value_bytes,
                clients,
                attempt_timeout_ms,
            }) => {
                ha_quick::ha_quick(
                    secs,
                    failover_reps,
                    value_bytes,
                    clients,
                    Duration::from_millis(attempt_timeout_ms),
                )
                .await
            }
            Some(Cmd::JobCycle { agents, secs }) => job_cycle::job_cycle(agents, secs).await,
            Some(Cmd::Backup { machines, clients }) => backup::backup(machines, clients).await,
            Some(Cmd::BootFiles { mib, reps }) => boot_files::boot_files(mib, reps).await,
            Some(Cmd::Dhcp { rates, secs }) => dhcp::dhcp(rates, secs).await,
            Some(Cmd::Drive {
                url,
                clients,
                secs,
                value_bytes,
                reads,
            }) => {
                let http = load::client()?;
                let s = run::drive(&http, &url, clients, secs, value_bytes, reads).await?;
                println!("{}", serde_json::to_string_pretty(&s)?);
                Ok(())
            }
            None => side_by_side(cli.side).await,
        }
    };
    let r = rt.block_on(async {
        tokio::select! {
            r = work => r,
            s = shutdown_signal() => {
                s?;
                // Dropping `work` kills every process it started (and removes their dirs).
                Err(anyhow!("interrupted: every process it started was stopped"))
            }
        }
    });
    // Runtime shutdown aborts what is left (e.g. load tasks) without waiting for them.
    rt.shutdown_timeout(Duration::from_secs(2));
    r
}

// Not `tests`: that name is the library crate this binary uses.
#[cfg(test)]
mod cli_tests {
    use super::*;

    fn cfg(args: &[&str]) -> Result<Config> {
        let cli = Cli::try_parse_from(std::iter::once("drp-bench").chain(args.iter().copied()))?;
        config(&cli.side)
    }

    #[test]
    fn transports_and_az_delays_parse() {
        let c = cfg(&[
            "--quick",
            "--only",
            "writes,az",
            "--transport",
            "plain,tls",
            "--az-delays-ms",
            "2,10",
        ])
        .unwrap();
        assert_eq!(c.only, vec![Workload::Writes, Workload::Az]);
        assert_eq!(c.transports, vec![Transport::Plain, Transport::Tls]);
        assert_eq!(c.reference_transport(), Transport::Plain);
        assert_eq!(c.az_steps(), [0, 2, 10].map(Duration::from_millis).to_vec());
    }

    #[test]
    fn federation_sizes_parse() {
        let c = cfg(&["--quick", "--only", "federation"]).unwrap();
        assert_eq!(c.only, vec![Workload::Federation]);
        assert_eq!((c.fed_clusters, c.fed_machines), (4, 500));
        let c = cfg(&[
            "--only",
            "fed",
            "--fed-clusters",
            "3",
            "--fed-machines",
            "7",
        ])
        .unwrap();
        assert_eq!((c.fed_clusters, c.fed_machines), (3, 7));
        let c = cfg(&[]).unwrap();
        assert_eq!((c.fed_clusters, c.fed_machines), (20, 5000));
        assert!(c.only.contains(&Workload::Federation));
    }

    #[test]
    fn defaults_and_bad_values() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.transports, vec![Transport::Tls, Transport::Plain]);
        assert!(c.only.contains(&Workload::Az));
        assert!(cfg(&["--transport", "tls,tls"]).is_err());
        assert!(cfg(&["--transport", "quic"]).is_err());
        assert!(cfg(&["--only", "zones"]).is_err());
        assert!(cfg(&["--az-delays-ms", "-1"]).is_err());
    }
}
