//! Progressive rollouts against five real single-node `drp-endpoint` clusters: a canary, then
//! two waves of two. A pack the canary refuses halts the rollout with the other four on the
//! old commit; a fixing commit plus `rollout resume` rolls through the waves in order; the
//! gate holds the next wave while a member of the previous one is stopped. And a rollout file
//! with an unknown field or a selector that selects nothing rejects its commit.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const RINGS: [&str; 5] = ["canary", "wave1", "wave1", "wave2", "wave2"];
const LONG: Duration = Duration::from_secs(120);

fn ids() -> Vec<String> {
    (0..5).map(|i| format!("ro-e{i}")).collect()
}

fn endpoint_file(id: &str, ring: &str) -> String {
    format!("Id: {id}\nMeta:\n  ring: {ring}\nVersionSets: [base]\nApply: true\n")
}

/// The rollout file: canary, then two waves of two; `gate` is `None` for no gate.
fn rollout_file(gate: Option<u64>) -> String {
    let gate = match gate {
        Some(settle) => format!("Gate:\n  Enabled: true\n  SettleSeconds: {settle}\n"),
        None => "Gate:\n  Enabled: false\n".into(),
    };
    format!(
        "Id: fleet\nWaves:\n  - Name: canary\n    Selector: {{ring: canary}}\n    MaxParallel: 1\n  - Name: wave1\n    Selector: {{ring: wave1}}\n    MaxParallel: 2\n  - Name: wave2\n    Selector: {{ring: wave2}}\n    MaxParallel: 2\n{gate}"
    )
}

fn pref_of(c: &Cluster) -> Option<String> {
    c.nodes[0].get("/api/v3/prefs").1["test/pref"]
        .as_str()
        .map(str::to_owned)
}

fn rollout(m: &Manager) -> Value {
    let (st, r) = m.call("GET", "/api/v3/rollout", None);
    assert_eq!(st, 200, "{r}");
    r
}

fn wait_rollout(m: &Manager, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    wait(LONG, || {
        let r = rollout(m);
        f(&r).then_some(r)
    })
    .unwrap_or_else(|| panic!("rollout never {what}: {:#}", rollout(m)))
}

fn refresh(m: &Manager, sha: &str) {
    let (st, git) = m.call("POST", "/api/v3/git/refresh", Some(json!({})));
    assert_eq!(st, 200, "{git}");
    assert_eq!(git["Head"], sha, "{git}");
}

/// Commits, refreshes, and returns how long until every endpoint applied the commit.
fn roll(m: &Manager, repo: &Repo, files: &[(&str, &str)]) -> (String, Duration) {
    let t0 = Instant::now();
    let sha = repo.commit(files);
    refresh(m, &sha);
    for id in ids() {
        m.wait_applied(&id, &sha, LONG);
    }
    (sha, t0.elapsed())
}

fn manager_cli(m: &Manager, args: &[&str]) -> (bool, String) {
    let out = Command::new(manager_bin())
        .args(args)
        .args(["--url", &m.url, "--password", PASSWORD])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn signal(c: &Cluster, sig: &str) {
    let pid = c.nodes[0].proc.as_ref().unwrap().0.id().to_string();
    let st = Command::new("kill").args([sig, &pid]).status().unwrap();
    assert!(st.success(), "kill {sig} {pid}");
}

fn ep_field(r: &Value, id: &str, field: &str) -> Value {
    r["Endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Endpoint"] == id)
        .map(|e| e[field].clone())
        .unwrap_or(Value::Null)
}

/// Every endpoint of wave `i` applied before any endpoint of wave `i + 1` was released, by
/// the manager's own clock in the status.
fn assert_in_order(r: &Value) {
    let waves = r["Waves"].as_array().unwrap();
    for pair in waves.windows(2) {
        let times = |w: &Value, field: &str| -> Vec<u64> {
            w["Endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| ep_field(r, id.as_str().unwrap(), field).as_u64().unwrap())
                .collect()
        };
        let earlier_applied = times(&pair[0], "AppliedMs").into_iter().max().unwrap();
        let later_released = times(&pair[1], "ReleasedMs").into_iter().min().unwrap();
        assert!(
            earlier_applied <= later_released,
            "wave {} released before wave {} applied: {r:#}",
            pair[1]["Name"],
            pair[0]["Name"]
        );
        assert!(
            pair[0]["PassedMs"].as_u64().unwrap() <= pair[1]["StartedMs"].as_u64().unwrap(),
            "{r:#}"
        );
    }
}

#[test]
fn a_canary_failure_halts_and_a_fix_plus_resume_rolls_through_the_waves() {
    let _g = serial();
    let clusters: Vec<Cluster> = ids().iter().map(|id| Cluster::start(id, 1)).collect();
    let repo = Repo::new();
    let mut files: Vec<(String, String)> = ids()
        .iter()
        .zip(RINGS)
        .map(|(id, ring)| (format!("endpoints/{id}.yaml"), endpoint_file(id, ring)))
        .collect();
    files.push(("version_sets/base.yaml".into(), base_set("a")));
    files.push(("rollouts/fleet.yaml".into(), rollout_file(None)));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let sha_a = repo.commit(&refs);
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(
        &mdir.path().join("m"),
        &["--git-repo", repo.path(), "--git-branch", "main"],
    );
    for c in &clusters {
        m.register(c, &["base"], true);
    }
    for id in ids() {
        m.wait_applied(&id, &sha_a, LONG);
    }

    // Measured: commit to the last wave applied, without and with the gate.
    let (_, no_gate) = roll(&m, &repo, &[("version_sets/base.yaml", &base_set("b"))]);
    let gated = rollout_file(Some(2));
    let (sha_c, with_gate) = roll(
        &m,
        &repo,
        &[
            ("version_sets/base.yaml", &base_set("c")),
            ("rollouts/fleet.yaml", &gated),
        ],
    );
    eprintln!(
        "MEASURED commit -> last wave applied, 5 clusters (1 + 2 + 2): gate off {:.2} s, gate on (settle 2 s) {:.2} s",
        no_gate.as_secs_f64(),
        with_gate.as_secs_f64()
    );
    // The last wave's gate still settles after its apply.
    let r = wait_rollout(&m, "done", |r| {
        r["State"] == "done" && r["Commit"] == sha_c.as_str()
    });
    assert_in_order(&r);

    // A pack the canary refuses: the rollout halts there.
    let bad_pack = "meta:\n  Name: rollout-bad\n  Version: v1.0.0\nsections:\n  params: 5\n";
    let bad_set = format!(
        "{}Components:\n  - Type: ContentPackage\n    Name: rollout-bad\n    Version: v1.0.0\n",
        base_set("d")
    );
    let sha_d = repo.commit(&[
        ("catalog/rollout-bad.yaml", bad_pack),
        ("version_sets/base.yaml", &bad_set),
    ]);
    refresh(&m, &sha_d);
    let r = wait_rollout(&m, "halted", |r| r["State"] == "halted");
    assert_eq!(r["Halt"]["Endpoint"], "ro-e0", "{r:#}");
    assert_eq!(r["Halt"]["Wave"], "canary", "{r:#}");
    assert_eq!(r["Halt"]["Commit"], sha_d.as_str(), "{r:#}");
    let reason = r["Halt"]["Reason"].as_str().unwrap();
    assert!(
        reason.contains("422") && reason.contains("not a content pack"),
        "{r:#}"
    );
    let canary = m.endpoint("ro-e0");
    assert!(
        canary["Errors"].to_string().contains("422"),
        "the canary does not say why: {canary}"
    );
    assert_eq!(canary["AppliedVersionSet"]["GitCommit"], sha_c.as_str());
    for (id, c) in ids().iter().zip(&clusters) {
        assert_eq!(pref_of(c).as_deref(), Some("c"), "{id} changed");
        if id != "ro-e0" {
            assert_eq!(ep_field(&r, id, "Released"), false, "{r:#}");
            assert_eq!(
                m.endpoint(id)["AppliedVersionSet"]["GitCommit"],
                sha_c.as_str()
            );
        }
    }

    // A fixing commit waits for resume (the policy), then rolls through every wave in order.
    let sha_e = repo.commit(&[("version_sets/base.yaml", &base_set("e"))]);
    refresh(&m, &sha_e);
    let r = wait_rollout(&m, "noted the waiting commit", |r| {
        r["WaitingCommit"] == sha_e.as_str()
    });
    assert_eq!(r["State"], "halted", "{r:#}");
    let (ok, text) = manager_cli(&m, &["rollout", "status"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("HALTED at endpoint ro-e0 (wave canary)") && text.contains("waits for"),
        "{text}"
    );
    for c in &clusters {
        assert_eq!(pref_of(c).as_deref(), Some("c"));
    }
    let (ok, text) = manager_cli(&m, &["rollout", "resume"]);
    assert!(ok, "{text}");
    for id in ids() {
        m.wait_applied(&id, &sha_e, LONG);
    }
    let r = wait_rollout(&m, "done", |r| r["State"] == "done");
    assert_eq!(r["Commit"], sha_e.as_str());
    assert!(r["Halt"].is_null(), "{r:#}");
    assert_in_order(&r);
    for c in &clusters {
        assert_eq!(pref_of(c).as_deref(), Some("e"));
    }

    // The gate holds wave1 while the canary's only member is stopped.
    let settle = rollout_file(Some(15));
    let sha_f = repo.commit(&[
        ("version_sets/base.yaml", &base_set("f")),
        ("rollouts/fleet.yaml", &settle),
    ]);
    refresh(&m, &sha_f);
    wait_rollout(&m, "gating the canary", |r| {
        r["Commit"] == sha_f.as_str() && r["Waves"][0]["State"] == "gating"
    });
    signal(&clusters[0], "-STOP");
    let r = wait_rollout(&m, "reading the stopped canary", |r| {
        r["Waves"][0]["Gate"]["Healthy"] == false
            && r["Waves"][0]["Gate"]["Problems"]
                .to_string()
                .contains("ro-e0: cluster unavailable")
    });
    assert_eq!(r["Waves"][0]["State"], "gating", "{r:#}");
    assert_eq!(r["Waves"][1]["State"], "pending", "{r:#}");
    for id in &ids()[1..] {
        assert_eq!(ep_field(&r, id, "Released"), false, "{r:#}");
        assert_eq!(
            m.endpoint(id)["AppliedVersionSet"]["GitCommit"],
            sha_e.as_str()
        );
    }
    let (_, text) = manager_cli(&m, &["rollout", "status"]);
    assert!(text.contains("cluster unavailable"), "{text}");
    signal(&clusters[0], "-CONT");
    for id in ids() {
        m.wait_applied(&id, &sha_f, LONG);
    }
    let r = wait_rollout(&m, "done", |r| r["State"] == "done");
    assert_in_order(&r);
    for c in &clusters {
        assert_eq!(pref_of(c).as_deref(), Some("f"));
    }
}

#[test]
fn a_bad_rollout_file_rejects_its_commit_with_line_and_column() {
    let _g = serial();
    let c = Cluster::start("ro-one", 1);
    let repo = Repo::new();
    let good = repo.commit(&[
        ("version_sets/base.yaml", &base_set("good")),
        ("endpoints/ro-one.yaml", &endpoint_file("ro-one", "canary")),
        (
            "rollouts/r.yaml",
            "Id: r\nWaves:\n  - Name: canary\n    Selector: {ring: canary}\n",
        ),
    ]);
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(
        &mdir.path().join("m"),
        &["--git-repo", repo.path(), "--git-branch", "main"],
    );
    m.register(&c, &["base"], true);
    m.wait_applied("ro-one", &good, LONG);
    let (_, before) = c.nodes[0].get("/api/v3/system/versionset");

    let cases = [
        (
            "Id: r\nWaves:\n  - Name: canary\n    Selector: {ring: canary}\n    MaxParalel: 2\n",
            "rollouts/r.yaml:5:5: Waves[0]: unknown field `MaxParalel`",
        ),
        (
            "Id: r\nWaves:\n  - Name: canary\n    Selector: {ring: canary}\n  - Name: later\n    Selector: {ring: nowhere}\n",
            "rollouts/r.yaml:6:15: Waves `later`: the selector {ring=nowhere} selects no endpoint",
        ),
    ];
    for (text, want) in cases {
        let bad = repo.commit(&[
            ("version_sets/base.yaml", &base_set("never")),
            ("rollouts/r.yaml", text),
        ]);
        refresh(&m, &bad);
        let (_, git) = m.call("GET", "/api/v3/git", None);
        assert_eq!(git["Rejected"]["Commit"], bad.as_str(), "{git}");
        assert_eq!(git["Commit"], good.as_str(), "{git}");
        assert!(
            git["Rejected"]["Errors"].to_string().contains(want),
            "{git}"
        );
        // Offline, the same file gets the same line from the CLI's lint.
        let out = Command::new(manager_bin())
            .args(["version-sets", "lint"])
            .arg(repo.dir.path().join("rollouts/r.yaml"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{said}");
        let tail = want.trim_start_matches("rollouts/r.yaml");
        assert!(said.contains(tail), "lint said: {said}");
    }
    // Nothing from those commits reached the cluster.
    std::thread::sleep(Duration::from_secs(2));
    let (_, after) = c.nodes[0].get("/api/v3/system/versionset");
    assert_eq!(before["Index"], after["Index"], "something was pushed");
    assert_eq!(
        c.nodes[0].get("/api/v3/prefs").1["test/pref"].as_str(),
        Some("good")
    );
    assert_eq!(
        m.endpoint("ro-one")["AppliedVersionSet"]["GitCommit"],
        good.as_str()
    );
}
