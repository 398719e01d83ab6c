//! `drp-hostile`: attacks a 3-node cluster on loopback, one attack at a time, while a
//! legitimate client measures its own latency against the same member. Attackers connect
//! from 127.0.0.2 (a source the member's limits count apart from the legitimate client on
//! 127.0.0.1). Every attack is bounded in connections and in time.
//!
//! Per attack it reports the legitimate p50/p99 beside the no-attack baseline, the elections
//! seen (Raft term increase over all members), each member's peak RSS, and whether every
//! member is still running.

pub mod attacks;
pub mod legit;
pub mod report;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use crate::cluster::{Cluster, Opts};

/// Where attackers connect from.
pub const ATTACKER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The user the request-rate attack and the websocket attack authenticate as.
pub const MALLORY: &str = "mallory";
pub const MALLORY_PASSWORD: &str = "mallory-password-1";
/// The profile the legitimate client reads.
pub const PROBE: &str = "hostile-probe";

/// What the attacks aim at: one member's API and consensus listeners.
#[derive(Clone)]
pub struct Target {
    pub api: SocketAddr,
    pub consensus: SocketAddr,
    /// `https://127.0.0.1:<port>/api/v3`
    pub base: String,
    pub tls: Arc<rustls::ClientConfig>,
    pub ca_pem: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Attack {
    /// 10,000 idle TCP connections (nothing sent), reopened when closed.
    IdleConns,
    /// 1,000 clients sending request headers one line a second.
    SlowHeaders,
    /// 64 clients doing TLS handshakes back to back.
    HandshakeFlood,
    /// One user sending 200 requests/s.
    UserRate,
    /// 1,000 websocket subscribers that never read.
    IdleWebsockets,
    /// 1,000 connections writing junk to the consensus port.
    ConsensusJunk,
}

impl Attack {
    pub const ALL: [Attack; 6] = [
        Attack::IdleConns,
        Attack::SlowHeaders,
        Attack::HandshakeFlood,
        Attack::UserRate,
        Attack::IdleWebsockets,
        Attack::ConsensusJunk,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Attack::IdleConns => "10,000 idle connections",
            Attack::SlowHeaders => "1,000 slow-header clients",
            Attack::HandshakeFlood => "TLS handshake flood (64 clients)",
            Attack::UserRate => "one user at 200 req/s",
            Attack::IdleWebsockets => "1,000 idle websocket subscribers",
            Attack::ConsensusJunk => "junk on the consensus port (1,000 conns)",
        }
    }
}

pub struct Options {
    pub attacks: Vec<Attack>,
    pub seconds: u64,
    pub baseline_seconds: u64,
    /// Extra `serve` flags for every member.
    pub extra_args: Vec<String>,
}

/// Starts the cluster, measures the baseline, then runs each attack in turn.
pub async fn run(opts: &Options) -> Result<Vec<report::Row>> {
    let mut cluster = Cluster::start_with(
        3,
        Opts {
            extra_args: opts.extra_args.clone(),
            rust_log: std::env::var("DRP_NODE_LOG").unwrap_or_else(|_| "warn".into()),
            ..Opts::default()
        },
    )
    .await?;
    let leader = cluster
        .wait_leader(Duration::from_secs(20))
        .await
        .context("no leader")?;
    let node = cluster.node(leader);
    let api: SocketAddr = format!("127.0.0.1:{}", node.api_port()).parse()?;
    let consensus: SocketAddr = node.consensus_addr().parse()?;
    let ca_pem = crate::tls::test_tls().ca_pem.clone();
    let target = Target {
        api,
        consensus,
        base: format!("https://127.0.0.1:{}/api/v3", node.api_port()),
        tls: attacks::client_tls(&ca_pem)?,
        ca_pem,
    };
    setup(&cluster, leader).await?;
    eprintln!(
        "cluster up; attacking {} (the leader): api {api}, consensus {consensus}",
        node.name
    );

    let mut rows = Vec::new();
    rows.push(measure(&cluster, &target, None, opts.baseline_seconds).await?);
    for &attack in &opts.attacks {
        eprintln!("attack: {}", attack.label());
        rows.push(measure(&cluster, &target, Some(attack), opts.seconds).await?);
        // Let the member settle (closed connections drained) before the next attack.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    cluster.success();
    Ok(rows)
}

/// The attacking user (may read profiles) and the profile the legitimate client reads.
async fn setup(cluster: &Cluster, leader: usize) -> Result<()> {
    let n = cluster.node(leader);
    n.post("/roles")
        .json(&json!({"Name": "mallory-role", "Claims": [{"Scope": "profiles", "Action": "get,list", "Specific": "*"}]}))
        .send()
        .await?
        .ok()?;
    n.post("/users")
        .json(&json!({"Name": MALLORY, "Password": MALLORY_PASSWORD, "Roles": ["mallory-role"]}))
        .send()
        .await?
        .ok()?;
    n.create_profile(PROBE, json!({})).await?.ok()?;
    Ok(())
}

/// One row: the legitimate client's latency while `attack` (or nothing) runs for `seconds`.
async fn measure(
    cluster: &Cluster,
    target: &Target,
    attack: Option<Attack>,
    seconds: u64,
) -> Result<report::Row> {
    let until = Instant::now() + Duration::from_secs(seconds);
    let term_before = max_term(cluster).await;
    let pids: Vec<Option<u32>> = cluster
        .nodes
        .iter()
        .map(|n| crate::bench::proc::pid_with_arg("--data-dir", &n.data_dir()))
        .collect();
    let rss = report::RssPeak::sample_until(pids.clone(), until);
    let legit = legit::run(cluster.http.clone(), target.base.clone(), until);
    let attacking = async {
        match attack {
            None => String::new(),
            Some(a) => attacks::run(a, target, until).await,
        }
    };
    let (legit, attacker, rss) = tokio::join!(legit, attacking, rss);
    let term_after = max_term(cluster).await;
    let alive = pids
        .iter()
        .map(|p| p.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists()))
        .collect();
    Ok(report::Row {
        name: attack
            .map_or("baseline (no attack)", Attack::label)
            .to_string(),
        legit,
        elections: term_after.saturating_sub(term_before),
        rss_peak: rss,
        alive,
        attacker,
    })
}

/// The highest Raft term any member reports (an election raises it).
async fn max_term(cluster: &Cluster) -> u64 {
    let mut best = 0;
    for n in &cluster.nodes {
        if let Ok(st) = n.state().await {
            best = best.max(st.term);
        }
    }
    best
}
