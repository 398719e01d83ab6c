//! The manager against real `drp-endpoint` clusters: git → apply, failover, two clusters with
//! one down, a rejected commit, the gateway across failover, restart, and the quickstart.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn pref_of(node: &Node) -> Option<String> {
    node.get("/api/v3/prefs").1["test/pref"]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn applies_from_git_and_follows_the_leader_after_it_dies() {
    let _g = serial();
    let mut c = Cluster::start("t-site", 3);
    let repo = Repo::new();
    let sha1 = repo.commit(&[("version_sets/base.yaml", &base_set("one"))]);
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(
        &mdir.path().join("m"),
        &["--git-repo", repo.path(), "--git-branch", "main"],
    );
    m.register(&c, &["base"], true);
    let e = m.wait_applied("t-site", &sha1, Duration::from_secs(30));
    assert!(
        !e.to_string().contains(PASSWORD),
        "password returned in clear: {e}"
    );
    assert_eq!(e["Params"]["manager/password"], "********");
    for n in c.alive() {
        assert_eq!(pref_of(n).as_deref(), Some("one"));
    }
    assert_eq!(e["ConnectionStatus"], "connected");
    assert_eq!(e["Members"].as_array().map(Vec::len), Some(3));

    let old = c.leader().expect("leader");
    let old_url = c.nodes[old].url.clone();
    c.nodes[old].kill();
    let t0 = Instant::now();
    let sha2 = repo.commit(&[("version_sets/base.yaml", &base_set("two"))]);
    m.call("POST", "/api/v3/git/refresh", Some(json!({})));
    let e = m.wait_applied("t-site", &sha2, Duration::from_secs(30));
    eprintln!("commit -> applied after leader kill: {:?}", t0.elapsed());
    for n in c.alive() {
        assert_eq!(pref_of(n).as_deref(), Some("two"));
    }
    let leader = wait(Duration::from_secs(5), || {
        let e = m.endpoint("t-site");
        let l = e["Leader"]["ApiUrl"].as_str()?.to_owned();
        (l != old_url).then_some(l)
    });
    assert!(leader.is_some(), "manager still names the dead leader: {e}");
}

/// A new commit goes out as soon as the manager takes it. The rollout driver must look at a
/// commit before any reconciler may push it; its look wakes them. With a ten-minute round
/// there is no other way for the commit to go out within the wait.
#[test]
fn a_new_commit_goes_out_at_once_not_at_the_next_round() {
    let _g = serial();
    let c = Cluster::start("w-site", 1);
    let repo = Repo::new();
    let sha1 = repo.commit(&[("version_sets/base.yaml", &base_set("one"))]);
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(
        &mdir.path().join("m"),
        &[
            "--git-repo",
            repo.path(),
            "--git-branch",
            "main",
            "--reconcile-ms",
            "600000",
        ],
    );
    m.register(&c, &["base"], true);
    m.wait_applied("w-site", &sha1, Duration::from_secs(60));
    let sha2 = repo.commit(&[("version_sets/base.yaml", &base_set("two"))]);
    m.call("POST", "/api/v3/git/refresh", Some(json!({})));
    m.wait_applied("w-site", &sha2, Duration::from_secs(60));
    assert_eq!(pref_of(&c.nodes[0]).as_deref(), Some("two"));
}

#[test]
fn one_cluster_down_does_not_block_the_other() {
    let _g = serial();
    let up = Cluster::start("t-up", 3);
    let mut down = Cluster::start("t-down", 1);
    let repo = Repo::new();
    let sha = repo.commit(&[("version_sets/base.yaml", &base_set("x"))]);
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(
        &mdir.path().join("m"),
        &["--git-repo", repo.path(), "--git-branch", "main"],
    );
    // Registered while up, then lost: its HaID was checked, now it is unreachable.
    m.register(&down, &["base"], true);
    down.nodes[0].kill();
    m.register(&up, &["base"], true);
    m.wait_applied("t-up", &sha, Duration::from_secs(30));
    let row = wait(Duration::from_secs(10), || {
        let (_, st) = m.call("GET", "/api/v3/status", None);
        let row = st["Endpoints"]
            .as_array()?
            .iter()
            .find(|r| r["Endpoint"] == "t-down")
            .cloned()?;
        (row["ConnectionStatus"] == "unavailable" && !row["LastError"].is_null()).then_some(row)
    })
    .unwrap_or_else(|| panic!("status: {}", m.call("GET", "/api/v3/status", None).1));
    assert_eq!(row["MembersUp"], 0);
    assert!(row["AppliedHash"].is_null() || row["AppliedCommit"] != sha);
    let e = m.endpoint("t-down");
    assert_eq!(e["ConnectionStatus"], "unavailable");
    let out = std::process::Command::new(manager_bin())
        .args(["status", "--url", &m.url, "--password", PASSWORD])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("t-down") && text.contains("unavailable"),
        "{text}"
    );
    assert!(
        text.contains("t-up") && text.contains("connected"),
        "{text}"
    );
}

#[test]
fn a_commit_with_bad_yaml_is_rejected_whole_and_nothing_is_pushed() {
    let _g = serial();
    let c = Cluster::start("t-bad", 1);
    let repo = Repo::new();
    let sha1 = repo.commit(&[("version_sets/base.yaml", &base_set("good"))]);
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(
        &mdir.path().join("m"),
        &["--git-repo", repo.path(), "--git-branch", "main"],
    );
    m.register(&c, &["base"], true);
    m.wait_applied("t-bad", &sha1, Duration::from_secs(30));
    let (_, before) = c.nodes[0].get("/api/v3/system/versionset");
    let bad = repo.commit(&[
        (
            "version_sets/base.yaml",
            "Id: base\nApply: true\nPrefs:\n  test/pref: [\n",
        ),
        (
            "version_sets/other.yaml",
            &base_set("never").replace("base", "other"),
        ),
    ]);
    let (st, git) = m.call("POST", "/api/v3/git/refresh", Some(json!({})));
    assert_eq!(st, 200, "{git}");
    assert_eq!(git["Rejected"]["Commit"], bad.as_str(), "{git}");
    assert_eq!(
        git["Commit"],
        sha1.as_str(),
        "the last good commit stays: {git}"
    );
    let errors: Vec<String> = git["Rejected"]["Errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    let positioned = errors.iter().any(|e| {
        let mut parts = e.splitn(4, ':');
        parts.next() == Some("version_sets/base.yaml")
            && parts.next().is_some_and(|l| l.parse::<u32>().is_ok())
            && parts.next().is_some_and(|c| c.parse::<u32>().is_ok())
    });
    assert!(positioned, "no FILE:LINE:COLUMN error: {errors:?}");
    let (_, status) = m.call("GET", "/api/v3/status", None);
    assert!(
        status["GitErrors"]
            .to_string()
            .contains("version_sets/base.yaml:"),
        "{status}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let (_, after) = c.nodes[0].get("/api/v3/system/versionset");
    assert_eq!(before["Index"], after["Index"], "something was pushed");
    assert_eq!(pref_of(&c.nodes[0]).as_deref(), Some("good"));
    assert_eq!(
        m.endpoint("t-bad")["AppliedVersionSet"]["GitCommit"],
        sha1.as_str()
    );
}

#[test]
fn gateway_reads_and_writes_survive_a_leader_failover() {
    let _g = serial();
    let mut c = Cluster::start("t-gw", 3);
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(&mdir.path().join("m"), &[]);
    m.register(&c, &[], false);
    wait(Duration::from_secs(10), || {
        (m.endpoint("t-gw")["ConnectionStatus"] == "connected").then_some(())
    })
    .expect("connected");
    let (st, _) = m.call("GET", "/t-gw/api/v3/info", None);
    assert_eq!(st, 200);
    let (st, b) = m.call(
        "POST",
        "/t-gw/api/v3/profiles",
        Some(json!({"Name": "before"})),
    );
    assert!(st == 200 || st == 201, "{st} {b}");
    // The manager's admin goes through; an anonymous caller gets the manager's own 401.
    let (st, _) = call("GET", &format!("{}/t-gw/api/v3/info", m.url), None);
    assert_eq!(st, 200);
    let anon = http()
        .get(format!("{}/t-gw/api/v3/info", m.url))
        .send()
        .unwrap();
    assert_eq!(anon.status().as_u16(), 401);

    let old = c.leader().expect("leader");
    c.nodes[old].kill();
    let t0 = Instant::now();
    let (st, b) = m.call(
        "POST",
        "/t-gw/api/v3/profiles",
        Some(json!({"Name": "after"})),
    );
    assert!(st == 200 || st == 201, "POST after failover gave {st} {b}");
    eprintln!(
        "first write through the gateway after the kill: {:?}",
        t0.elapsed()
    );
    let (st, b) = m.call("GET", "/t-gw/api/v3/profiles/after", None);
    assert_eq!(st, 200, "{b}");
    let (st, _) = m.call("GET", "/t-gw/api/v3/profiles/before", None);
    assert_eq!(st, 200);
    let (st, _) = m.call("GET", "/nope/api/v3/info", None);
    assert_eq!(st, 404);
}

#[test]
fn a_restarted_manager_forgets_nothing_and_pushes_nothing_again() {
    let _g = serial();
    let c = Cluster::start("t-rs", 1);
    let repo = Repo::new();
    let sha = repo.commit(&[("version_sets/base.yaml", &base_set("r"))]);
    let mdir = tempfile::tempdir().unwrap();
    let mut m = Manager::start(
        &mdir.path().join("m"),
        &["--git-repo", repo.path(), "--git-branch", "main"],
    );
    m.register(&c, &["base"], true);
    let (st, _) = m.call(
        "POST",
        "/api/v3/version_sets",
        Some(json!({"Id": "api-set", "Prefs": {"a": "b"}})),
    );
    assert_eq!(st, 201);
    let before = m.wait_applied("t-rs", &sha, Duration::from_secs(30));
    let (_, vs_before) = c.nodes[0].get("/api/v3/system/versionset");
    m.stop();
    m.restart();
    let e = wait(Duration::from_secs(15), || {
        let e = m.endpoint("t-rs");
        (e["ConnectionStatus"] == "connected" && e["Desired"]["Hash"].is_string()).then_some(e)
    })
    .expect("reconnected");
    std::thread::sleep(Duration::from_secs(3));
    let (_, vs_after) = c.nodes[0].get("/api/v3/system/versionset");
    assert_eq!(
        vs_before["Index"], vs_after["Index"],
        "pushed again after restart"
    );
    assert_eq!(e["AppliedVersionSet"], before["AppliedVersionSet"]);
    assert_eq!(e["VersionSets"], json!(["base"]));
    assert_eq!(m.call("GET", "/api/v3/version_sets/api-set", None).0, 200);
    assert!(!m.log().contains(PASSWORD), "the password was logged");
    let raw = std::fs::read(mdir.path().join("m/manager.redb")).unwrap();
    assert!(
        !raw.windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes()),
        "the password is stored in clear"
    );
}

#[test]
fn quickstart_applies_the_examples_and_exits() {
    let _g = serial();
    endpoint_bin();
    let mut child = std::process::Command::new(manager_bin())
        .args([
            "quickstart",
            "--exit-after-apply",
            "--timeout-seconds",
            "90",
        ])
        .env("RS_ADMIN_PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let done = wait(Duration::from_secs(150), || child.try_wait().unwrap());
    if done.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "quickstart failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("applied in"), "{stdout}");
    assert!(stdout.contains("site-a"), "{stdout}");
}
