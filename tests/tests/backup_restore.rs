//! Backup and restore of a whole cluster (issue 15), with real processes: `drp-endpoint
//! snapshot save` through a follower while writes run, `snapshot restore` into a new data dir
//! that starts as a new cluster's first member, two fresh members joining it, and refusal of
//! damaged files.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use tests::cluster::{endpoint_bin, serial, wait_for, Cluster, Start};
use tests::http::{Http, ADMIN_PASSWORD, ADMIN_USER, HDR_COMMIT};
use tests::workload::{post_profile, profile_names};

/// One acknowledged write of the load: the profile, the commit index the member answered
/// with (the write's own entry is at or below it), and whether it was sent after the save
/// returned (its entry is then past the snapshot's index).
#[derive(Debug, Clone)]
struct Ack {
    name: String,
    commit: u64,
    sent_after_save: bool,
}

fn snapshot_cmd(args: &[&str], files: &[&Path]) -> Command {
    let mut cmd = Command::new(endpoint_bin().expect("drp-endpoint"));
    cmd.arg("snapshot").args(args).args(files);
    cmd.env_remove("RS_TOKEN")
        .env("RS_KEY", format!("{ADMIN_USER}:{ADMIN_PASSWORD}"));
    cmd
}

/// Runs a blocking CLI off the test's runtime.
async fn run(mut cmd: Command) -> Result<Output> {
    tokio::task::spawn_blocking(move || cmd.output().context("running drp-endpoint"))
        .await
        .context("joining the CLI")?
}

fn ok(out: &Output, what: &str) -> Result<String> {
    ensure!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `snapshot save` from `url` into `file`, trusting the harness CA written to `ca`.
async fn save(url: &str, file: &Path, ca: &Path) -> Result<Output> {
    let mut cmd = snapshot_cmd(&["save", "--from", url, "--ca"], &[ca, file]);
    cmd.env("RUST_LOG", "warn");
    run(cmd).await
}

async fn restore(file: &Path, dir: &Path, ha_id: &str) -> Result<Output> {
    let d = dir.to_string_lossy().into_owned();
    run(snapshot_cmd(
        &["restore", "--data-dir", &d, "--ha-id", ha_id],
        &[file],
    ))
    .await
}

/// The applied index and HA id in a backup file's header (format: `backup::format`).
fn header_of(file: &Path) -> Result<(u64, String)> {
    let bytes = std::fs::read(file)?;
    ensure!(
        bytes.len() > 40 && &bytes[..8] == b"DRPBKUP\n",
        "not a backup file"
    );
    let index = u64::from_be_bytes(bytes[12..20].try_into()?);
    let id_len = u16::from_be_bytes(bytes[28..30].try_into()?) as usize;
    let ha_id = String::from_utf8(bytes[30..30 + id_len].to_vec())?;
    Ok((index, ha_id))
}

fn ca_file(dir: &Path) -> Result<PathBuf> {
    let ca = dir.join("harness-ca.pem");
    std::fs::write(&ca, &tests::tls::test_tls().ca_pem)?;
    Ok(ca)
}

/// A content pack to install: the real `flexiflow` fixture when present, else a small one.
fn content_pack(dir: &Path) -> Result<(String, Value)> {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/content-packs/flexiflow");
    if fixture.is_dir() {
        let out = Command::new(endpoint_bin()?)
            .args(["contents", "bundle"])
            .arg(&fixture)
            .output()?;
        let text = ok(&out, "bundling flexiflow")?;
        std::fs::write(dir.join("flexiflow.json"), &text)?;
        return Ok(("flexiflow".into(), serde_json::from_str(&text)?));
    }
    Ok((
        "backup-pack".into(),
        json!({
            "meta": {"Name": "backup-pack", "Version": "v1.0.0"},
            "sections": {"params": {"backup-pack/p": {"Name": "backup-pack/p", "Schema": {"type": "string"}}}}
        }),
    ))
}

/// Writers creating `load-<task>-<seq>` profiles round-robin over `bases` until stopped.
fn start_load(
    http: &Http,
    bases: Vec<String>,
    save_done: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..3)
        .map(|t| {
            let (http, bases, save_done, stop, acks) = (
                http.clone(),
                bases.clone(),
                save_done.clone(),
                stop.clone(),
                acks.clone(),
            );
            tokio::spawn(async move {
                let mut seq = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("load-{t}-{seq:05}");
                    let base = &bases[(t + seq as usize) % bases.len()];
                    seq += 1;
                    let sent_after_save = save_done.load(Ordering::SeqCst);
                    let Ok(r) = post_profile(&http, base, &name, Duration::from_secs(8)).await
                    else {
                        continue;
                    };
                    let commit = r.header(HDR_COMMIT).and_then(|v| v.parse().ok());
                    if let (201, Some(commit)) = (r.status, commit) {
                        let mut acks = acks.lock().unwrap_or_else(|p| p.into_inner());
                        acks.push(Ack {
                            name,
                            commit,
                            sent_after_save,
                        });
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_under_load_restore_into_a_new_cluster() -> Result<()> {
    let _g = serial().await;
    let work = tempfile::tempdir()?;
    let ca = ca_file(work.path())?;
    let mut old = Cluster::start(3).await?;
    let leader = old.leader().await?;
    let follower = old
        .live()
        .into_iter()
        .find(|&i| i != leader)
        .context("no follower")?;
    let n = old.node(leader);

    // What must survive besides the load: a content pack, a file and a limited user.
    let (pack_name, pack) = content_pack(work.path())?;
    n.post("/contents")
        .json(&pack)
        .timeout(Duration::from_secs(60))
        .send()
        .await?
        .expect(201)?;
    let file_bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    n.post("/files/backup/blob.bin")
        .raw_json(file_bytes.clone())
        .timeout(Duration::from_secs(60))
        .send()
        .await?
        .ok()?;
    n.post("/roles")
        .json(&json!({"Name": "profile-reader", "Claims": [{"Scope": "profiles", "Action": "get,list", "Specific": "*"}]}))
        .send()
        .await?
        .expect(201)?;
    n.post("/users")
        .json(
            &json!({"Name": "operator", "Password": "operator-pw-1", "Roles": ["profile-reader"]}),
        )
        .send()
        .await?
        .expect(201)?;
    // The whole state (password hashes, the CA key) is for the admin or a `system` claim only.
    let reader = old.http.as_user("operator", "operator-pw-1");
    reader
        .get(n.api("/system/consensus/snapshot"))
        .send()
        .await?
        .expect(403)?;
    let old_ids: BTreeSet<String> = old
        .nodes
        .iter()
        .map(|n| n.consensus_id().to_string())
        .collect();

    // The load, then a save through a follower while it runs.
    let (save_done, stop) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let acks = Arc::new(Mutex::new(Vec::new()));
    let bases: Vec<String> = old.nodes.iter().map(|n| n.url()).collect();
    let tasks = start_load(
        &old.http,
        bases,
        save_done.clone(),
        stop.clone(),
        acks.clone(),
    );
    let count = || acks.lock().unwrap_or_else(|p| p.into_inner()).len();
    wait_for(
        Duration::from_secs(60),
        "writes before the save",
        async || Ok((count() >= 60).then_some(())),
    )
    .await?;
    let file = work.path().join("cluster.snap");
    let out = save(&old.node(follower).url(), &file, &ca).await?;
    save_done.store(true, Ordering::SeqCst);
    let said = ok(&out, "snapshot save")?;
    let (index, backed_up_id) = header_of(&file)?;
    println!("{said}");
    ensure!(
        backed_up_id == old.ha_id,
        "the file names cluster {backed_up_id:?}"
    );
    let acked_at_save = count();
    wait_for(
        Duration::from_secs(60),
        "writes after the save",
        async || Ok((count() >= acked_at_save + 30).then_some(())),
    )
    .await?;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await?;
    }
    let acks = acks.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let before: Vec<&Ack> = acks.iter().filter(|a| a.commit <= index).collect();
    let after: Vec<&Ack> = acks.iter().filter(|a| a.sent_after_save).collect();
    ensure!(
        !before.is_empty() && !after.is_empty(),
        "{} before, {} after",
        before.len(),
        after.len()
    );
    let no_dir = work.path().join("nothing");
    std::fs::create_dir(&no_dir)?;
    std::fs::write(no_dir.join("keep"), b"x")?;
    let refused = restore(&file, &no_dir, "other").await?;
    ensure!(
        !refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("not empty")
    );
    ensure!(
        std::fs::read_dir(&no_dir)?.count() == 1,
        "a refused restore wrote into the dir"
    );
    let same = restore(&file, &work.path().join("same"), &old.ha_id).await?;
    ensure!(!same.status.success() && String::from_utf8_lossy(&same.stderr).contains("new one"));

    // A new cluster: the harness's first node, wiped, restored, started with no flags.
    let mut new = Cluster::start(1).await?;
    ensure!(new.ha_id != old.ha_id);
    new.node_mut(0).wipe()?;
    let dir = new.node(0).data_dir();
    let out = restore(&file, &dir, &new.ha_id.clone()).await?;
    println!("{}", ok(&out, "snapshot restore")?);
    new.node_mut(0).spawn(Start::Restart)?;
    new.node_mut(0).wait_ready(Duration::from_secs(60)).await?;
    new.wait_leader(Duration::from_secs(30)).await?;
    new.add_node().await?;
    new.add_node().await?;
    new.wait_converged(3, Duration::from_secs(30)).await?;
    new.wait_caught_up(Duration::from_secs(60)).await?;

    // Every member of the new cluster holds exactly the writes up to the snapshot.
    for m in &new.nodes {
        let have = profile_names(&new.http, &m.url(), true).await?;
        let lost: Vec<&str> = before
            .iter()
            .filter(|a| !have.contains(&a.name))
            .map(|a| a.name.as_str())
            .collect();
        ensure!(
            lost.is_empty(),
            "{}: {} writes acknowledged at or below index {index} are missing: {:?}",
            m.name,
            lost.len(),
            &lost[..lost.len().min(10)]
        );
        let leaked: Vec<&str> = after
            .iter()
            .filter(|a| have.contains(&a.name))
            .map(|a| a.name.as_str())
            .collect();
        ensure!(
            leaked.is_empty(),
            "{}: writes sent after the save are present: {leaked:?}",
            m.name
        );
    }
    println!(
        "snapshot index {index}: {} acknowledged writes at or below it present, {} sent after it absent, {} in between",
        before.len(),
        after.len(),
        acks.len() - before.len() - after.len()
    );

    // The content pack, the file and the limited user work on the restored cluster.
    let r = new.node(1);
    r.get(&format!("/contents/{pack_name}"))
        .send()
        .await?
        .expect(200)?;
    let got = r
        .get("/files/backup/blob.bin")
        .timeout(Duration::from_secs(30))
        .send()
        .await?
        .expect(200)?;
    ensure!(got.body == file_bytes, "the restored file differs");
    let operator = new.http.as_user("operator", "operator-pw-1");
    operator.get(r.api("/profiles")).send().await?.expect(200)?;
    operator.get(r.api("/machines")).send().await?.expect(403)?;
    let token: Value = operator
        .get(r.api("/users/operator/token"))
        .send()
        .await?
        .expect(200)?
        .json()?;
    let token = token["Token"].as_str().context("no token")?;
    new.http
        .with_token(token)
        .get(new.node(2).api(&format!("/profiles/{}", before[0].name)))
        .send()
        .await?
        .expect(200)?;
    // A write works, and the old cluster's tokens do not (new signing secret).
    new.node(2)
        .create_profile("after-restore", json!({}))
        .await?
        .expect(201)?;
    let old_token: Value = old
        .http
        .as_user("operator", "operator-pw-1")
        .get(old.node(0).api("/users/operator/token"))
        .send()
        .await?
        .expect(200)?
        .json()?;
    let old_token = old_token["Token"].as_str().context("no token")?;
    new.http
        .with_token(old_token)
        .get(r.api("/profiles"))
        .send()
        .await?
        .expect(401)?;

    // A new identity that never met the old cluster.
    let st = new.node(0).state().await?;
    ensure!(
        st.ha_id == new.ha_id && st.ha_id != old.ha_id,
        "restored cluster's HaID {}",
        st.ha_id
    );
    let new_ids: BTreeSet<String> = st.nodes.iter().map(|n| n.consensus_id.clone()).collect();
    ensure!(
        new_ids.len() == 3 && new_ids.is_disjoint(&old_ids),
        "new members {new_ids:?}, old {old_ids:?}"
    );
    for m in &old.nodes {
        let st = m.state().await?;
        let ids: BTreeSet<String> = st.nodes.iter().map(|n| n.consensus_id.clone()).collect();
        ensure!(
            ids == old_ids,
            "{}: the old cluster's membership changed: {ids:?}",
            m.name
        );
    }
    let ca_of = |c: &Cluster| std::fs::read_to_string(c.node(0).data_dir().join("tls/ca.pem"));
    ensure!(
        ca_of(&old)? != ca_of(&new)?,
        "the restored cluster reuses the old cluster CA"
    );
    old.success();
    new.success();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_files_are_refused_before_anything_is_written() -> Result<()> {
    let _g = serial().await;
    let work = tempfile::tempdir()?;
    let ca = ca_file(work.path())?;
    let mut c = Cluster::start(1).await?;
    c.node(0)
        .create_profile("p1", json!({}))
        .await?
        .expect(201)?;
    let file = work.path().join("good.snap");
    ok(&save(&c.node(0).url(), &file, &ca).await?, "snapshot save")?;
    let good = std::fs::read(&file)?;

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "flipped",
            {
                let mut b = good.clone();
                let mid = b.len() / 2;
                b[mid] ^= 0x20;
                b
            },
            "checksum mismatch",
        ),
        ("truncated", good[..good.len() - 100].to_vec(), "truncated"),
        ("header-only", good[..20].to_vec(), "truncated"),
        (
            "not-a-backup",
            b"hello world, not a snapshot at all".to_vec(),
            "bad magic",
        ),
    ];
    for (name, bytes, want) in cases {
        let path = work.path().join(format!("{name}.snap"));
        std::fs::write(&path, bytes)?;
        let dir = work.path().join(format!("restore-{name}"));
        let out = restore(&path, &dir, "restored").await?;
        let err = String::from_utf8_lossy(&out.stderr);
        ensure!(
            !out.status.success(),
            "{name}: restore accepted a damaged file"
        );
        ensure!(err.contains(want), "{name}: want {want:?} in {err}");
        ensure!(!dir.exists(), "{name}: restore created {}", dir.display());
        let leftovers: Vec<_> = std::fs::read_dir(work.path())?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("restoring"))
            .collect();
        ensure!(leftovers.is_empty(), "{name}: staging left behind");
    }
    // The intact file restores.
    ok(
        &restore(&file, &work.path().join("ok"), "restored").await?,
        "restore",
    )?;
    if !work.path().join("ok/state.redb").exists() {
        bail!("no store in the restored dir");
    }
    c.success();
    Ok(())
}
