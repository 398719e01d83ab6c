//! `drp-bench backup`: snapshot save and restore of a cluster holding N machines (issue 15):
//! the file size, the save time (CLI through a follower), the restore time (CLI), how long
//! the restored member takes to serve, and how long a fresh member takes to join it (it is
//! sent the whole store as a Raft snapshot).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::json;

use super::say;
use crate::cluster::{endpoint_bin, Cluster, Start};
use crate::http::{ADMIN_PASSWORD, ADMIN_USER};

/// Runs `drp-endpoint snapshot ARGS` off the runtime; its wall time.
async fn snapshot(args: Vec<String>) -> Result<Duration> {
    let bin = endpoint_bin()?;
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let out = Command::new(bin)
            .arg("snapshot")
            .args(&args)
            .env("RS_KEY", format!("{ADMIN_USER}:{ADMIN_PASSWORD}"))
            .env_remove("RS_TOKEN")
            .output()
            .context("running drp-endpoint snapshot")?;
        ensure!(
            out.status.success(),
            "drp-endpoint snapshot {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(started.elapsed())
    })
    .await?
}

fn s(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

pub async fn backup(machines: usize, clients: usize) -> Result<()> {
    let work = tempfile::tempdir()?;
    let ca = work.path().join("ca.pem");
    std::fs::write(&ca, &crate::tls::test_tls().ca_pem)?;
    let old = Cluster::start(3).await?;
    let leader = old.leader().await?;
    let follower = old
        .live()
        .into_iter()
        .find(|&i| i != leader)
        .context("no follower")?;

    say(format!(
        "backup: loading {machines} machines ({clients} clients)"
    ));
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients.max(1))
        .map(|c| {
            let (http, next) = (old.http.clone(), next.clone());
            let base = old.node(c % old.nodes.len()).url();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= machines {
                        return Ok::<_, anyhow::Error>(());
                    }
                    let name = format!("m{i}");
                    // Retried under one key: a 503 during a busy moment is not a lost machine.
                    for attempt in 0.. {
                        let r = http
                            .post(format!("{base}/api/v3/machines"))
                            .json(&json!({"Name": name}))
                            .idem(&name)
                            .timeout(Duration::from_secs(30))
                            .send()
                            .await;
                        match r {
                            Ok(r) if r.is_success() => break,
                            _ if attempt < 20 => {
                                tokio::time::sleep(Duration::from_millis(200)).await
                            }
                            Ok(r) => r.ok().map(|_| ())?,
                            Err(e) => return Err(e),
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let load = started.elapsed();
    say(format!("  loaded in {load:?}"));

    let file = work.path().join("cluster.snap");
    let save = snapshot(vec![
        "save".into(),
        "--from".into(),
        old.node(follower).url(),
        "--ca".into(),
        ca.to_string_lossy().into_owned(),
        file.to_string_lossy().into_owned(),
    ])
    .await?;
    let bytes = std::fs::metadata(&file)?.len();
    say(format!("  saved {bytes} bytes in {save:?}"));

    let mut new = Cluster::start(1).await?;
    new.node_mut(0).wipe()?;
    let dir = new.node(0).data_dir();
    let restore = restore_into(&file, &dir, &new.ha_id.clone()).await?;
    say(format!("  restored in {restore:?}"));
    let started = Instant::now();
    new.node_mut(0).spawn(Start::Restart)?;
    new.node_mut(0).wait_ready(Duration::from_secs(600)).await?;
    new.wait_leader(Duration::from_secs(60)).await?;
    let serve = started.elapsed();
    let started = Instant::now();
    new.add_node().await?;
    let join = started.elapsed();
    // The joined member's first linearizable read may wait out the end of its snapshot
    // install on a busy machine (503): retried, not timed.
    let node = new.node(1);
    let count = crate::cluster::wait_for(
        Duration::from_secs(300),
        "the joined member's machine count",
        async || {
            let r = node
                .head("/machines")
                .timeout(Duration::from_secs(60))
                .send()
                .await?;
            if r.status == 503 {
                return Ok(None);
            }
            let r = r.ok()?;
            Ok(r.header(crate::http::HDR_COUNT)
                .and_then(|v| v.parse::<usize>().ok()))
        },
    )
    .await?;
    ensure!(
        count >= machines,
        "the joined member lists {count} machines"
    );
    let result = json!({
        "machines": machines,
        "load_secs": s(load),
        "file_bytes": bytes,
        "save_secs": s(save),
        "restore_secs": s(restore),
        "restored_member_serving_secs": s(serve),
        "second_member_join_secs": s(join),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

async fn restore_into(file: &Path, dir: &Path, ha_id: &str) -> Result<Duration> {
    snapshot(vec![
        "restore".into(),
        file.to_string_lossy().into_owned(),
        "--data-dir".into(),
        dir.to_string_lossy().into_owned(),
        "--ha-id".into(),
        ha_id.into(),
    ])
    .await
}
