//! The five workloads of issue 7, each measured on our cluster and on etcd in the same run.
//!
//! 1. writes: a 256-byte value, 1 and 64 closed-loop clients, to the leader and to a follower;
//! 2. linearizable reads, same shape;
//! 3. failover: a steady single-client write load, `kill -9` of the leader, kill → new leader
//!    and kill → first acknowledged write (ours through the manager gateway; etcd's client
//!    round-robins over every member with a short per-attempt timeout);
//! 4. fan-out: N single-node clusters under one manager, one git commit changing the VersionSet
//!    they share, commit → all applied (peer: the same document put to N single-node etcds);
//! 5. scale: M machines loaded, RSS of every member, kill -9 all + restart → serving.
//!
//! Each workload is one file, written once against the `sut::Sut` trait that our cluster
//! (`ours_sut`) and etcd (`etcd_sut`) implement; this module only orchestrates. A workload
//! that fails is reported in the notes; the others still run.

mod config;
mod drive;
mod etcd_sut;
mod failover;
mod fanout;
mod goals;
mod measure;
mod ours_sut;
mod reads;
mod scale;
mod steady;
mod sut;
mod writes;

use anyhow::Result;

pub use config::{Config, Workload};
pub use drive::drive;
use etcd_sut::EtcdSut;
use ours_sut::Ours;

use super::etcd::Etcd;
use super::ours;
use super::report::Report;
use super::say;
use crate::cluster::Cluster;

/// The two 3-node clusters the first workloads share.
struct Pair {
    ours: Ours,
    etcd: EtcdSut,
}

/// Run every configured workload, filling `report`.
pub async fn run(cfg: &Config, http: &reqwest::Client, report: &mut Report) -> Result<()> {
    let value: String = (0..cfg.value_bytes)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let shared = [
        Workload::Writes,
        Workload::Reads,
        Workload::Failover,
        Workload::Scale,
    ];
    if shared.iter().any(|w| cfg.wants(*w)) {
        say("starting a 3-node drp-endpoint cluster and a 3-node etcd cluster");
        let max = cfg.clients.iter().copied().max().unwrap_or(1);
        let mut pair = start_pair(http, max).await?;
        if cfg.wants(Workload::Writes) {
            let r = writes::writes(cfg, http, &pair, &value, report).await;
            note_err(report, "writes", r);
        }
        if cfg.wants(Workload::Reads) {
            let r = reads::reads(cfg, http, &pair, &value, report).await;
            note_err(report, "reads", r);
        }
        if cfg.wants(Workload::Failover) {
            let r = failover::failover(cfg, http, &mut pair, &value, report).await;
            note_err(report, "failover", r);
        }
        if cfg.wants(Workload::Scale) {
            let r = scale::scale(cfg, http, &mut pair, report).await;
            note_err(report, "scale", r);
        }
        pair.ours.cluster.success();
    }
    if cfg.wants(Workload::Fanout) {
        let r = fanout::fanout(cfg, http, report).await;
        note_err(report, "fan-out", r);
    }
    goals::goals(cfg, report);
    Ok(())
}

fn note_err(report: &mut Report, what: &str, r: Result<()>) {
    if let Err(e) = r {
        say(format!("{what} failed: {e:#}"));
        report
            .notes
            .push(format!("{what}: not measured (error: {e:#})"));
    }
}

async fn start_pair(http: &reqwest::Client, max_clients: usize) -> Result<Pair> {
    // The benchmark's clients all come from 127.0.0.1 and measure raw throughput: the
    // per-source request limit would measure itself instead.
    let unthrottled = crate::cluster::Opts {
        extra_args: vec!["--rate-limit-per-source".into(), "0".into()],
        ..Default::default()
    };
    let cluster = Cluster::start_with(3, unthrottled).await?;
    let l = cluster.leader().await?;
    let auth = ours::bearer(http, &cluster.node(l).url(), 24 * 3600).await?;
    let ours = Ours::new(cluster, auth);
    ours_sut::create_profiles(&ours, http, max_clients).await?;
    let etcd = EtcdSut(Etcd::start(http, 3).await?);
    Ok(Pair { ours, etcd })
}
