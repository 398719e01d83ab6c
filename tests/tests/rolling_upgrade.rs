//! Rolling upgrade of a live 3-member cluster (issue 15), with real processes. The "old
//! build" is the same binary started with the hidden `--fault-cap-command-version 1`; each
//! member is upgraded through its own API (stage the binary, run it with the cap dropped
//! from its argv), followers first and the leader last, while writers keep creating profiles
//! through every member. Bad binaries and a failing start are refused or rolled back.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tests::cluster::{endpoint_bin, serial, wait_for, Cluster, Opts};
use tests::http::Http;
use tests::upgrade::{start_monitor, Load, CAP_FLAG, MAX_FAILURE_GAP};
use tests::workload::post_profile;

/// Writers that create `up-<t>-<seq>` profiles; a failed write is retried with the same
/// Idempotency-Key on the next member until it is acknowledged, and the time from its first
/// failure to its acknowledgement is its failure gap.
fn start_load(
    http: &Http,
    bases: Vec<String>,
    stop: Arc<AtomicBool>,
    load: Arc<Load>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..3)
        .map(|t| {
            let (http, bases, stop, load) =
                (http.clone(), bases.clone(), stop.clone(), load.clone());
            tokio::spawn(async move {
                let mut target = t;
                let mut seq = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("up-{t}-{seq:05}");
                    seq += 1;
                    let mut first_failure: Option<Instant> = None;
                    loop {
                        let base = &bases[target % bases.len()];
                        match post_profile(&http, base, &name, Duration::from_secs(3)).await {
                            Ok(r) if r.status == 201 => break,
                            Ok(r) if r.is_client_error() => {
                                load.unexpected.lock().unwrap().push(format!(
                                    "{name}: {} {}",
                                    r.status,
                                    r.text()
                                ));
                                break;
                            }
                            _ => {
                                first_failure.get_or_insert_with(Instant::now);
                                target += 1;
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                    load.ack(name, first_failure);
                }
            })
        })
        .collect()
}

/// The process's argv after argv[0], from /proc (the same pid across every exec).
fn argv_of(pid: u32) -> Result<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline"))?;
    let mut args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    args.remove(0);
    Ok(args)
}

fn without_cap(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
        } else if a == CAP_FLAG {
            skip = true;
        } else {
            out.push(a.clone());
        }
    }
    out
}

async fn upgrade_status(c: &Cluster, i: usize) -> Result<Value> {
    c.node(i)
        .get("/system/upgrade/status")
        .timeout(Duration::from_secs(2))
        .send()
        .await?
        .expect(200)?
        .value()
}

async fn stage(c: &Cluster, i: usize, bytes: &[u8]) -> Result<tests::http::Resp> {
    let sha = hex::encode(Sha256::digest(bytes));
    c.node(i)
        .post("/system/upgrade/stage")
        .header("X-DRP-Sha256", &sha)
        .raw_json(bytes.to_vec())
        .timeout(Duration::from_secs(120))
        .send()
        .await
}

/// The version member `id` published, as the cluster state at node `via` reports it.
async fn published_version(c: &Cluster, via: usize, id: &str) -> Result<String> {
    let state = c.node(via).state().await?;
    Ok(state
        .nodes
        .iter()
        .find(|n| n.consensus_id == id)
        .map(|n| n.version.clone())
        .unwrap_or_default())
}

async fn put_target(c: &Cluster, i: usize) -> Result<tests::http::Resp> {
    c.node(i)
        .put("/system/upgrade/target")
        .json(&json!({"Version": "next"}))
        .timeout(Duration::from_secs(10))
        .send()
        .await
}

async fn features(c: &Cluster, i: usize) -> Result<Vec<String>> {
    let info = c.node(i).get("/info").send().await?.expect(200)?.value()?;
    Ok(serde_json::from_value(info["features"].clone())?)
}

/// Waits until member `i` serves `version` again, caught up with the leader's commit index at
/// the time it came back, and the cluster is failOverSafe.
async fn wait_back(c: &Cluster, i: usize, state: &str, version: &str) -> Result<()> {
    let id = c.node(i).consensus_id().to_string();
    wait_for(
        Duration::from_secs(120),
        "the member's upgrade status",
        async || {
            let s = upgrade_status(c, i).await?;
            Ok((s["State"] == state).then_some(()))
        },
    )
    .await?;
    wait_for(
        Duration::from_secs(60),
        "the member's published version",
        async || Ok((published_version(c, i, &id).await? == version).then_some(())),
    )
    .await?;
    let leader = c.leader().await?;
    let commit = c.node(leader).state().await?.commit_index;
    wait_for(
        Duration::from_secs(60),
        "the member catching up",
        async || {
            let leader = c.leader().await?;
            let s = c.node(leader).state().await?;
            let m = s
                .nodes
                .iter()
                .find(|n| n.consensus_id == id)
                .context("member listed")?;
            Ok(m.match_index.is_some_and(|mi| mi >= commit).then_some(()))
        },
    )
    .await?;
    wait_for(Duration::from_secs(60), "failOverSafe", async || {
        let leader = c.leader().await?;
        let r = c
            .node(leader)
            .get("/system/consensus/failOverSafe")
            .send()
            .await?
            .expect(200)?;
        Ok((r.value()?["Safe"] == true).then_some(()))
    })
    .await
}

fn script(dir: &Path, name: &str, body: &str) -> Result<Vec<u8>> {
    let text = format!("#!/bin/sh\n{body}\n");
    std::fs::write(dir.join(name), &text)?;
    Ok(text.into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_upgrade_under_load_followers_first_leader_last() -> Result<()> {
    let _g = serial().await;
    let work = tempfile::tempdir()?;
    let new_bin = std::fs::read(endpoint_bin()?)?;
    let opts = Opts {
        extra_args: vec![CAP_FLAG.into(), "1".into()],
        ..Opts::default()
    };
    let mut c = Cluster::start_with(3, opts).await?;
    c.wait_converged(3, Duration::from_secs(60)).await?;
    let old_version = format!("{}-cmd1", env!("CARGO_PKG_VERSION"));
    let new_version = env!("CARGO_PKG_VERSION").to_string();
    for i in 0..3 {
        let id = c.node(i).consensus_id().to_string();
        wait_for(
            Duration::from_secs(60),
            "every member's published version",
            async || Ok((published_version(&c, 0, &id).await? == old_version).then_some(())),
        )
        .await?;
    }

    // The gated command and feature, while every voter is old.
    let refused = put_target(&c, 0).await?;
    ensure!(
        refused.status == 409,
        "target on an old cluster: {} {}",
        refused.status,
        refused.text()
    );
    let why = refused.messages().join(" ");
    ensure!(
        why.contains("needs command version 2") && why.contains(&old_version),
        "{why}"
    );
    ensure!(!features(&c, 0)
        .await?
        .contains(&"upgrade-target".to_string()));

    // Bad binaries, on a follower: each refused with its reason; the member keeps serving.
    let leader = c.leader().await?;
    let victim = (0..3).find(|&i| i != leader).unwrap();
    let exits = script(work.path(), "exit1", "exit 1")?;
    let r = stage(&c, victim, &exits).await?;
    ensure!(
        r.status == 422 && r.text().contains("--version"),
        "exit-1 script staged: {} {}",
        r.status,
        r.text()
    );
    let mut wrong = new_bin[..1000].to_vec();
    wrong.extend_from_slice(b"different");
    let r = c
        .node(victim)
        .post("/system/upgrade/stage")
        .header(
            "X-DRP-Sha256",
            &hex::encode(Sha256::digest(b"something else")),
        )
        .raw_json(wrong)
        .send()
        .await?;
    ensure!(
        r.status == 422 && r.text().contains("sha256 mismatch"),
        "{} {}",
        r.status,
        r.text()
    );
    ensure!(!c.node(victim).data_dir().join("upgrade/staged").exists());
    let liar = script(
        work.path(),
        "liar",
        "[ \"$1\" = --version ] && echo 'drp-endpoint 9.9.9' && exit 0\nexit 1",
    )?;
    stage(&c, victim, &liar).await?.expect(201)?;
    let r = c.node(victim).post("/system/upgrade/run").send().await?;
    ensure!(
        r.status == 422 && r.text().contains("preflight"),
        "{} {}",
        r.status,
        r.text()
    );
    let s = upgrade_status(&c, victim).await?;
    ensure!(
        s["State"] == "failed" && s["Error"].as_str().unwrap_or("").contains("preflight"),
        "{s}"
    );
    // A real binary whose start fails (an argument it rejects) execs the old one back.
    stage(&c, victim, &new_bin).await?.expect(201)?;
    let pid = c.node(victim).pid().context("victim pid")?;
    let mut bad_args = without_cap(&argv_of(pid)?);
    bad_args.push("--no-such-flag".into());
    c.node(victim)
        .post("/system/upgrade/run")
        .json(&json!({"Args": bad_args}))
        .send()
        .await?
        .expect(202)?;
    wait_back(&c, victim, "rolled-back", &old_version).await?;
    let s = upgrade_status(&c, victim).await?;
    ensure!(
        s["Error"].as_str().unwrap_or("").contains("--no-such-flag"),
        "{s}"
    );
    ensure!(
        c.node(victim).pid() == Some(pid),
        "the same process came back"
    );
    println!("rollback: {s}");

    // The rollout under load.
    let bases: Vec<String> = (0..3).map(|i| c.node(i).url()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let load = Arc::new(Load::default());
    let max_down = Arc::new(AtomicUsize::new(0));
    let writers = start_load(&c.http, bases.clone(), stop.clone(), load.clone());
    let monitor = start_monitor(&c.http, bases.clone(), stop.clone(), max_down.clone());
    wait_for(Duration::from_secs(30), "the load to start", async || {
        Ok((load.acked.lock().unwrap().len() >= 20).then_some(()))
    })
    .await?;

    let leader = c.leader().await?;
    let order: Vec<usize> = (0..3).filter(|&i| i != leader).chain([leader]).collect();
    let mut timings = Vec::new();
    for (n, &i) in order.iter().enumerate() {
        let started = Instant::now();
        stage(&c, i, &new_bin).await?.expect(201)?;
        let staged_in = started.elapsed();
        let args = without_cap(&argv_of(c.node(i).pid().context("pid")?)?);
        let run_at = Instant::now();
        c.node(i)
            .post("/system/upgrade/run")
            .json(&json!({"Args": args}))
            .send()
            .await?
            .expect(202)?;
        wait_back(&c, i, "done", &new_version).await?;
        let took = started.elapsed();
        println!(
            "upgraded member {} ({}{}): stage {:.2} s; run to back, caught up and failOverSafe {:.2} s; total {:.2} s",
            i,
            c.node(i).consensus_id(),
            if i == leader { ", the leader" } else { "" },
            staged_in.as_secs_f64(),
            run_at.elapsed().as_secs_f64(),
            took.as_secs_f64()
        );
        timings.push(took);
        if n + 1 < order.len() {
            let r = put_target(&c, order[n + 1]).await?;
            ensure!(
                r.status == 409,
                "target with an old voter left: {} {}",
                r.status,
                r.text()
            );
        }
    }

    // Every voter is new: the gated command and its feature are accepted.
    wait_for(
        Duration::from_secs(30),
        "the cluster-wide feature",
        async || {
            Ok(features(&c, 0)
                .await?
                .contains(&"upgrade-target".to_string())
                .then_some(()))
        },
    )
    .await?;
    put_target(&c, 0).await?.expect(200)?;

    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await?;
    }
    monitor.await?;

    // Nothing acknowledged is lost.
    let acked: Vec<String> = load.acked.lock().unwrap().clone();
    let leader = c.leader().await?;
    let listed = c
        .node(leader)
        .get("/profiles")
        .timeout(Duration::from_secs(30))
        .send()
        .await?
        .expect(200)?
        .value()?;
    let present: BTreeSet<String> = listed
        .as_array()
        .context("profiles list")?
        .iter()
        .filter_map(|p| p["Name"].as_str().map(str::to_string))
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|n| !present.contains(*n)).collect();
    let gap = *load.longest_gap.lock().unwrap();
    let down = max_down.load(Ordering::SeqCst);
    println!(
        "rolling upgrade: {} writes acknowledged, {} lost; longest write-failure window {:.3} s (bound {:.1} s); at most {down} member(s) down at once; per member: {:?}",
        acked.len(),
        lost.len(),
        gap.as_secs_f64(),
        MAX_FAILURE_GAP.as_secs_f64(),
        timings
    );
    ensure!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    let unexpected = load.unexpected.lock().unwrap().clone();
    ensure!(unexpected.is_empty(), "writes refused: {unexpected:?}");
    ensure!(gap <= MAX_FAILURE_GAP, "a write kept failing for {gap:?}");
    ensure!(down <= 1, "{down} members were down at once");
    c.success();
    Ok(())
}
