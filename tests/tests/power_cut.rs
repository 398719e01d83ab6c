//! Power cut (issue 19): the state machine commits without fsync, so durability rests on the
//! Raft log alone. Every member runs with `--fault-power-cut-state` (each start reverts the
//! object store to its last durable checkpoint, as a power cut would; SIGKILL alone keeps the
//! page cache), acknowledged writes go in, and all three members are SIGKILLed right after the
//! last acknowledgement and started again.
//!
//! Proves: 0 acknowledged writes lost (every profile read back from every member with its
//! value), at least one member restarted with a store behind what it had applied and re-applied
//! committed entries from its own log at start (its log says so), and the cluster serves writes
//! again. The same after a graceful stop of every member (SIGTERM), where redb's close makes
//! everything durable and only the fault's revert loses the tail: there it must have reverted
//! a store that still held more.
//!
//! Run: `cargo test -p tests --test power_cut`.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use tests::cluster::{serial, Cluster, Opts, Start};
use tests::fault::power_cut::{last_revert, reapplied, FLAG, REVERTED};
use tests::workload::create_profiles;

const WRITES: usize = 300;

/// How every member is stopped right after the last acknowledgement.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    Kill,
    Terminate,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_every_member_after_acked_writes_loses_none() -> Result<()> {
    power_cut(Stop::Kill).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_reverts_even_a_graceful_stop_and_loses_none() -> Result<()> {
    power_cut(Stop::Terminate).await
}

async fn power_cut(stop: Stop) -> Result<()> {
    let _g = serial().await;
    let opts = Opts {
        extra_args: vec![FLAG.into()],
        ..Opts::default()
    };
    let mut c = Cluster::start_with(3, opts).await?;
    c.wait_converged(3, Duration::from_secs(30)).await?;
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();

    let names: Vec<String> = (0..WRITES).map(|i| format!("pc-{i:04}")).collect();
    let acked = create_profiles(&c.http, &urls, names, 8, Duration::from_secs(180)).await?;
    ensure!(acked.len() == WRITES, "only {} writes acked", acked.len());
    // What each member had applied (a lower bound: it may apply more before the kill).
    let mut applied_before = Vec::new();
    for n in &c.nodes {
        applied_before.push(n.state().await?.applied_index);
    }
    for i in 0..3 {
        match stop {
            Stop::Kill => c.node_mut(i).kill(),
            Stop::Terminate => c.node_mut(i).terminate()?,
        }
    }
    if stop == Stop::Terminate {
        for i in 0..3 {
            let status = c.node_mut(i).wait_exit(Duration::from_secs(30)).await?;
            ensure!(status.success(), "{} exited with {status}", c.node(i).name);
        }
    }

    for i in 0..3 {
        c.node_mut(i).spawn(Start::Restart)?;
    }
    for i in 0..3 {
        c.node_mut(i).wait_ready(Duration::from_secs(60)).await?;
    }
    c.wait_converged(3, Duration::from_secs(60)).await?;
    c.wait_caught_up(Duration::from_secs(60)).await?;

    let mut lost_somewhere = false;
    let mut fault_reverted = false;
    let mut replayed_from_own_log = false;
    for (i, n) in c.nodes.iter().enumerate() {
        let log = n.log();
        let revert = last_revert(&log)
            .with_context(|| format!("{} logged no '{REVERTED}' line at start", n.name))?;
        let (opened_at, reverted_to) = (revert.opened_at, revert.reverted_to);
        let reapplied = reapplied(&log);
        eprintln!(
            "{}: applied {} before the stop; at start the store held {opened_at} (what redb \
             recovered), {reverted_to} after the fault; {}",
            n.name,
            applied_before[i],
            reapplied
                .as_deref()
                .unwrap_or("no re-apply from its own log at start")
        );
        lost_somewhere |= reverted_to < applied_before[i];
        fault_reverted |= reverted_to < opened_at;
        replayed_from_own_log |= reapplied.is_some();
    }
    ensure!(
        lost_somewhere,
        "no member's store was behind what it had applied: the scenario proves nothing"
    );
    ensure!(
        stop == Stop::Kill || fault_reverted,
        "after a graceful stop the fault reverted no member's store"
    );
    ensure!(
        replayed_from_own_log,
        "no member re-applied committed entries from its own log at start"
    );

    every_member_has(&c, &acked).await?;
    // And it serves: a new write is acknowledged and read back.
    let more = create_profiles(
        &c.http,
        &urls,
        vec!["pc-after".into()],
        1,
        Duration::from_secs(60),
    )
    .await?;
    // Acknowledged means committed on a quorum; a follower applies it a heartbeat later.
    c.wait_caught_up(Duration::from_secs(60)).await?;
    every_member_has(&c, &more).await?;
    c.success();
    Ok(())
}

/// Every acknowledged profile on each member's own copy (a local read, after catch-up), with
/// the value its write carried.
async fn every_member_has(c: &Cluster, acked: &BTreeSet<String>) -> Result<()> {
    for n in &c.nodes {
        let list: Vec<Value> = n
            .get("/profiles")
            .stale()
            .timeout(Duration::from_secs(30))
            .send()
            .await?
            .expect(200)?
            .json()?;
        let have: BTreeSet<(String, String)> = list
            .iter()
            .filter_map(|p| {
                let name = p.get("Name")?.as_str()?;
                let value = p.pointer("/Params/workload~1seq")?.as_str()?;
                Some((name.to_string(), value.to_string()))
            })
            .collect();
        let lost: Vec<&String> = acked
            .iter()
            .filter(|name| !have.contains(&((*name).clone(), (*name).clone())))
            .collect();
        ensure!(
            lost.is_empty(),
            "{}: {} of {} acknowledged writes missing or wrong, e.g. {:?}",
            n.name,
            lost.len(),
            acked.len(),
            &lost[..lost.len().min(10)]
        );
    }
    Ok(())
}
