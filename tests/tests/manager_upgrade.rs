//! Issue 15 step 4: the manager drives a rolling binary upgrade from a VersionSet's
//! `DRPVersion`. A 3-member cluster runs the "old build" (the same binary with the hidden
//! `--fault-cap-command-version 1`); the manager's catalog (`--drp-binary`, here through its
//! environment variable) maps the new version to a wrapper script that drops that flag and
//! execs the real binary: the manager runs each member with its own argv, so the catalog's
//! binary must accept the flags its members run with. Writes go through the manager's gateway
//! during the rollout. Then a version the catalog lacks, and a binary every member refuses.
// A poisoned lock in a helper task is a test failure: unwrap as rolling_upgrade.rs does.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use tests::bench::ours::Manager;
use tests::cluster::{endpoint_bin, serial, wait_for, Cluster, Opts};
use tests::http::{ADMIN_PASSWORD, ADMIN_USER};
use tests::upgrade::{start_monitor, Load, CAP_FLAG, MAX_FAILURE_GAP};

const MISSING: &str = "v9.9.8";
const BAD: &str = "v9.9.9";

fn script(dir: &Path, name: &str, body: &str) -> Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path.display().to_string())
}

/// The "new build": the real binary without the cap flag (a private copy, so that a rebuild
/// of the shared target dir during the test changes nothing).
fn wrapper(dir: &Path) -> Result<String> {
    let real = dir.join("drp-endpoint-real");
    std::fs::copy(endpoint_bin()?, &real)?;
    let body = format!(
        "skip=0\nfor a in \"$@\"; do\n  shift\n  if [ $skip = 1 ]; then skip=0; continue; fi\n  if [ \"$a\" = {CAP_FLAG} ]; then skip=1; continue; fi\n  set -- \"$@\" \"$a\"\ndone\nexec {} \"$@\"",
        real.display()
    );
    script(dir, "drp-endpoint-new", &body)
}

/// Writers through the gateway: each profile is retried with the same Idempotency-Key until
/// acknowledged (or the load stops); acknowledged names are recorded.
fn start_load(
    http: reqwest::Client,
    gateway: String,
    stop: Arc<AtomicBool>,
    load: Arc<Load>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..2)
        .map(|w| {
            let (http, gateway, stop, load) =
                (http.clone(), gateway.clone(), stop.clone(), load.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("up-{w}-{n}");
                    n += 1;
                    let mut first_failure: Option<Instant> = None;
                    while !stop.load(Ordering::SeqCst) {
                        let r = http
                            .post(format!("{gateway}/profiles"))
                            .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
                            .header("Idempotency-Key", &name)
                            .json(&json!({"Name": name}))
                            .timeout(Duration::from_secs(5))
                            .send()
                            .await;
                        if r.is_ok_and(|r| r.status().is_success()) {
                            load.ack(name.clone(), first_failure);
                            break;
                        }
                        first_failure.get_or_insert_with(Instant::now);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect()
}

async fn versions(c: &Cluster) -> Result<Vec<(String, String)>> {
    let l = c.leader().await?;
    let s = c.node(l).state().await?;
    Ok(s.nodes
        .iter()
        .map(|n| (n.consensus_id.clone(), n.version.clone()))
        .collect())
}

async fn upgrade_of(m: &Manager, http: &reqwest::Client, id: &str) -> Result<Value> {
    Ok(m.endpoint(http, id).await?["Upgrade"].clone())
}

async fn set_version(m: &Manager, http: &reqwest::Client, version: &str) -> Result<()> {
    m.op(Method::PUT, "/api/v3/version_sets/upgrade")
        .json_body(
            json!({"Id": "upgrade", "DRPVersion": version, "Apply": true})
                .to_string()
                .into_bytes(),
        )
        .send_ok(http, Duration::from_secs(10))
        .await?;
    Ok(())
}

async fn wait_state(
    m: &Manager,
    http: &reqwest::Client,
    id: &str,
    target: &str,
    state: &str,
    within: Duration,
) -> Result<Value> {
    wait_for(within, "the manager's upgrade status", async || {
        let u = upgrade_of(m, http, id).await?;
        Ok((u["Target"] == target && u["State"] == state).then_some(u))
    })
    .await
    .with_context(|| format!("manager log:\n{}", m.log_tail(40)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_rolls_out_the_versionset_drp_version_leader_last() -> Result<()> {
    let _g = serial().await;
    let work = tempfile::tempdir()?;
    let new_version = env!("CARGO_PKG_VERSION").to_string();
    let old_version = format!("{new_version}-cmd1");
    // VersionSets write versions with DRP's `v`; members publish theirs without it.
    let target = format!("v{new_version}");
    let new_bin = wrapper(work.path())?;
    let bad_bin = script(work.path(), "exit1", "exit 1")?;
    // Read by `drp-manager serve` (the flag's environment variable).
    std::env::set_var(
        "DRP_MANAGER_DRP_BINARY",
        format!("{new_version}={new_bin},{BAD}={bad_bin}"),
    );
    let opts = Opts {
        extra_args: vec![CAP_FLAG.into(), "1".into()],
        ..Opts::default()
    };
    let c = Cluster::start_with(3, opts).await?;
    c.wait_converged(3, Duration::from_secs(60)).await?;
    wait_for(
        Duration::from_secs(60),
        "every member at the old version",
        async || {
            let v = versions(&c).await?;
            Ok((v.len() == 3 && v.iter().all(|(_, v)| *v == old_version)).then_some(()))
        },
    )
    .await?;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let m = Manager::start_for_suite(&http).await?;
    m.op(Method::POST, "/api/v3/version_sets")
        .json_body(
            json!({"Id": "upgrade", "DRPVersion": target, "Apply": true})
                .to_string()
                .into_bytes(),
        )
        .send_ok(&http, Duration::from_secs(10))
        .await?;

    // Load and monitor first, then hand the cluster to the manager.
    let bases: Vec<String> = (0..3).map(|i| c.node(i).url()).collect();
    let gateway = format!("{}/{}/api/v3", m.url, c.ha_id);
    let stop = Arc::new(AtomicBool::new(false));
    let load = Arc::new(Load::default());
    let max_down = Arc::new(AtomicUsize::new(0));
    let writers = start_load(http.clone(), gateway.clone(), stop.clone(), load.clone());
    let monitor = start_monitor(&c.http, bases, stop.clone(), max_down.clone());
    let leader_before = c.node(c.leader().await?).consensus_id().to_string();
    m.register(&http, &c, &["upgrade"], true).await?;
    m.wait_connected(&http, &c.ha_id, Duration::from_secs(30))
        .await?;
    wait_for(Duration::from_secs(30), "the load to start", async || {
        Ok((load.acked.lock().unwrap().len() >= 10).then_some(()))
    })
    .await?;

    let done = wait_state(
        &m,
        &http,
        &c.ha_id,
        &target,
        "done",
        Duration::from_secs(600),
    )
    .await?;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await?;
    }
    monitor.await?;
    println!("upgrade status: {done}");

    let v = versions(&c).await?;
    ensure!(
        v.len() == 3 && v.iter().all(|(_, v)| *v == new_version),
        "every member at {new_version}: {v:?}"
    );
    let upgraded: Vec<String> = serde_json::from_value(done["Upgraded"].clone())?;
    ensure!(upgraded.len() == 3, "three members upgraded: {upgraded:?}");
    ensure!(
        upgraded.last() == Some(&leader_before),
        "the leader ({leader_before}) upgraded last: {upgraded:?}"
    );
    ensure!(
        done["Members"]
            .as_object()
            .is_some_and(|o| o.len() == 3 && o.values().all(|v| *v == json!(new_version))),
        "status lists every member at the new version: {done}"
    );
    let down = max_down.load(Ordering::SeqCst);
    ensure!(down <= 1, "{down} members down at once");

    // Every acknowledged write is there.
    let acked = load.acked.lock().unwrap().clone();
    let leader = c.leader().await?;
    let body = c
        .node(leader)
        .get("/profiles")
        .send()
        .await?
        .expect(200)?
        .value()?;
    let have: BTreeSet<String> = body
        .as_array()
        .context("profiles list")?
        .iter()
        .filter_map(|p| p["Name"].as_str().map(str::to_string))
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|n| !have.contains(*n)).collect();
    let gap = *load.longest_gap.lock().unwrap();
    println!(
        "acknowledged writes through the gateway: {}, lost: {}; longest write-failure window {:.3} s (bound {:.1} s); most members down at once: {down}",
        acked.len(),
        lost.len(),
        gap.as_secs_f64(),
        MAX_FAILURE_GAP.as_secs_f64()
    );
    ensure!(lost.is_empty(), "lost acknowledged writes: {lost:?}");
    ensure!(
        gap <= MAX_FAILURE_GAP,
        "a write through the gateway kept failing for {gap:?}"
    );

    // A version the catalog lacks: reported, nothing staged.
    set_version(&m, &http, MISSING).await?;
    let u = wait_state(
        &m,
        &http,
        &c.ha_id,
        MISSING,
        "no-binary",
        Duration::from_secs(60),
    )
    .await?;
    ensure!(u["Detail"].as_str().unwrap_or("").contains(MISSING), "{u}");

    // A binary every member refuses at stage: halted with the member's reason.
    set_version(&m, &http, BAD).await?;
    let u = wait_state(&m, &http, &c.ha_id, BAD, "halted", Duration::from_secs(120)).await?;
    let why = u["Detail"].as_str().unwrap_or("");
    ensure!(
        why.contains("stage on") && why.contains("refused") && why.contains("422"),
        "{u}"
    );
    println!("halted: {why}");
    let v = versions(&c).await?;
    ensure!(
        v.iter().all(|(_, v)| *v == new_version),
        "no member changed: {v:?}"
    );
    Ok(())
}
