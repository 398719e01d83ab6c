//! The workloads of issues 7 and 19, each measured on our cluster and on etcd in the same run.
//!
//! 1. writes: a 256-byte value, 1 and 64 closed-loop clients, to the leader and to a follower,
//!    once per transport (both over TLS, the reference; both over plain HTTP);
//! 2. linearizable reads, same shape;
//! 3. failover: a steady single-client write load, `kill -9` of the leader, kill → new leader
//!    and kill → first acknowledged write (ours through the manager gateway; etcd's client
//!    round-robins over every member with a short per-attempt timeout);
//! 4. fan-out: N single-node clusters under one manager, one git commit changing the VersionSet
//!    they share, commit → all applied (peer: the same document put to N single-node etcds);
//! 5. scale: M machines loaded, RSS of every member, kill -9 all + restart → serving;
//! 6. availability zones: writes with every member-to-member link delayed 1, 5, 20 ms one way
//!    (the fault proxy), beside no delay;
//! 7. federation (ours only): N single-node clusters under one manager's replica, its
//!    federated list, write → visible lag, RSS and restart → all replicas current.
//!
//! Each workload is one file, written once against the `sut::Sut` trait that our cluster
//! (`ours_sut`) and etcd (`etcd_sut`) implement; this module only orchestrates. A workload
//! that fails is reported in the notes; the others still run.

mod az;
mod config;
mod drive;
mod etcd_sut;
mod failover;
mod fanout;
mod federation;
mod goals;
mod measure;
mod ours_sut;
mod reads;
mod scale;
mod steady;
mod sut;
mod transport;
mod writes;

use anyhow::Result;

pub use config::{Config, Workload};
pub use drive::drive;
use etcd_sut::EtcdSut;
use ours_sut::Ours;
pub use transport::Transport;

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
    let reference = cfg.reference_transport();
    if shared.iter().any(|w| cfg.wants(*w)) {
        say(format!(
            "starting a 3-node drp-endpoint cluster and a 3-node etcd cluster ({})",
            reference.label()
        ));
        let max = cfg.clients.iter().copied().max().unwrap_or(1);
        let mut pair = start_pair(http, max, reference).await?;
        load_cells(cfg, http, &pair, reference, &value, report).await;
        // The other transports' cells come next, while the machine is in the same state.
        if cfg.wants(Workload::Writes) || cfg.wants(Workload::Reads) {
            for &t in cfg.transports.iter().skip(1) {
                say(format!("starting both clusters again over {}", t.label()));
                match start_pair(http, max, t).await {
                    Ok(mut other) => {
                        load_cells(cfg, http, &other, t, &value, report).await;
                        other.ours.cluster.success();
                    }
                    Err(e) => note_err(report, t.label(), Err(e)),
                }
            }
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
    if cfg.wants(Workload::Az) {
        let r = az::az(cfg, http, &value, report).await;
        note_err(report, "availability zones", r);
    }
    if cfg.wants(Workload::Fanout) {
        let r = fanout::fanout(cfg, http, report).await;
        note_err(report, "fan-out", r);
    }
    if cfg.wants(Workload::Federation) {
        let r = federation::federation(cfg, http, report).await;
        note_err(report, "federation", r);
    }
    goals::goals(cfg, report);
    federation::goals(cfg, report);
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

/// The write and read cells of one transport (rows tagged unless it is the reference).
async fn load_cells(
    cfg: &Config,
    http: &reqwest::Client,
    pair: &Pair,
    t: Transport,
    value: &str,
    report: &mut Report,
) {
    let tag = t.tag(cfg.reference_transport());
    report.notes.push(format!(
        "load cells{}: ours and etcd both over {}",
        if tag.is_empty() {
            " without a tag".to_string()
        } else {
            format!(" tagged{tag}")
        },
        t.label()
    ));
    if cfg.wants(Workload::Writes) {
        let r = writes::writes(cfg, http, pair, value, &tag, report).await;
        note_err(report, &format!("writes{tag}"), r);
    }
    if cfg.wants(Workload::Reads) {
        let r = reads::reads(cfg, http, pair, value, &tag, report).await;
        note_err(report, &format!("reads{tag}"), r);
    }
}

async fn start_pair(http: &reqwest::Client, max_clients: usize, t: Transport) -> Result<Pair> {
    let ours = start_ours(http, max_clients, t.ours_args(), None).await?;
    let etcd = EtcdSut(Etcd::start_with(http, 3, &t.etcd_opts()).await?);
    Ok(Pair { ours, etcd })
}

/// Our 3-node cluster with `extra_args` (and a fault net's per-node arguments), its token and
/// the profiles the load cells write to.
async fn start_ours(
    http: &reqwest::Client,
    max_clients: usize,
    extra_args: Vec<String>,
    net: Option<&crate::fault::proxy::FaultNet>,
) -> Result<Ours> {
    // The benchmark's clients all come from 127.0.0.1 and measure raw throughput: the
    // per-source request limit would measure itself instead.
    let mut args = vec!["--rate-limit-per-source".into(), "0".into()];
    args.extend(extra_args);
    // `--no-tls` conflicts with the harness's `--tls-cert`: with `cluster_tls` it passes none
    // (the cluster CA it then trusts is unused over plain HTTP).
    let plain = args.iter().any(|a| a == "--no-tls");
    let mut opts = crate::cluster::Opts {
        extra_args: args,
        cluster_tls: plain,
        ..Default::default()
    };
    if let Some(net) = net {
        opts = net.opts(opts);
    }
    let cluster = Cluster::start_with(3, opts).await?;
    let l = cluster.leader().await?;
    let auth = ours::bearer(http, &cluster.node(l).url(), 24 * 3600).await?;
    let ours = Ours::new(cluster, auth);
    ours_sut::create_profiles(&ours, http, max_clients).await?;
    Ok(ours)
}
