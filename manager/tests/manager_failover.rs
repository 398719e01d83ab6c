//! Failover through the manager's gateway (issue 19): the manager follows a cluster's leader
//! by the members' consensus watch streams, and a leader stopped gracefully hands leadership
//! over before it exits. Real processes: a 3-member cluster, a `drp-manager`, and a writer
//! posting profiles through the gateway (each retried with its Idempotency-Key until
//! acknowledged) while the leader goes away.
//!
//! Run: `cargo test -p manager --test manager_failover`.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::writer::Writer;
use common::*;
use serde_json::json;
use tests::cluster::plain;

/// What the manager logs once per term a member's stream names a leader in.
const PUSHED: &str = "a member's stream named the leader";
/// What a member logs when it handed leadership over on a graceful stop.
const HANDED: &str = "handed leadership over before stopping";

/// How long one write through the gateway may take to be acknowledged.
const WRITE_BUDGET: Duration = Duration::from_secs(120);

/// Profiles posted through the gateway, each retried with its Idempotency-Key.
fn start_writer(gateway: String) -> Writer {
    Writer::start("fo", WRITE_BUDGET, move |client, name| {
        client
            .post(format!("{gateway}/profiles"))
            .basic_auth("rocketskates", Some(PASSWORD))
            .header("Idempotency-Key", name)
            .json(&json!({"Name": name}))
            .timeout(Duration::from_secs(10))
            .send()
            .is_ok_and(|r| r.status().is_success())
    })
}

/// A member's openraft node id as its logs print it (`{:x}` of the ConsensusID's first 64 bits).
fn node_hex(consensus_id: &str) -> String {
    let hex: String = consensus_id
        .chars()
        .filter(|c| *c != '-')
        .take(16)
        .collect();
    format!("{:x}", u64::from_str_radix(&hex, 16).unwrap())
}

fn consensus_id(n: &Node) -> String {
    n.get("/api/v3/system/consensus/id")
        .1
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `key=value` field of a tracing line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    line[at..].split_whitespace().next()
}

/// The manager's line telling that a stream named `leader` in a term after `term`.
fn pushed_line(m: &Manager, leader: &str, term: u64) -> Option<String> {
    plain(&m.log())
        .lines()
        .filter(|l| l.contains(PUSHED))
        .find(|l| {
            field(l, "leader") == Some(leader)
                && field(l, "term")
                    .and_then(|t| t.parse::<u64>().ok())
                    .is_some_and(|t| t > term)
        })
        .map(str::to_owned)
}

/// A cluster, a manager connected to it with every member's stream open, and a writer.
fn setup(id: &str) -> (Cluster, Manager, tempfile::TempDir, Writer) {
    let c = Cluster::start(id, 3);
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(&mdir.path().join("m"), &[]);
    m.register(&c, &[], false);
    m.wait_status(id, "connected", Duration::from_secs(30));
    // Each member's stream open (the fallback poll alone would also follow a failover).
    wait(Duration::from_secs(30), || {
        let log = plain(&m.log());
        let open: BTreeSet<&str> = log
            .lines()
            .filter(|l| l.contains("consensus watch open"))
            .filter_map(|l| field(l, "url"))
            .collect();
        (open.len() >= 3).then_some(())
    })
    .unwrap_or_else(|| panic!("the members' streams never opened:\n{}", m.log()));
    let w = start_writer(format!("{}/{id}/api/v3", m.url));
    w.wait_count(10, Duration::from_secs(60), "before the failover");
    (c, m, mdir, w)
}

/// The leader's index and its term.
fn leader_and_term(c: &Cluster) -> (usize, u64) {
    let l = c.leader().expect("leader");
    (l, c.nodes[l].cluster_state().unwrap().term)
}

/// Waits for the manager's line telling that a stream named `leader` after `term`.
fn wait_pushed(m: &Manager, leader: &str, term: u64) -> String {
    wait(Duration::from_secs(30), || pushed_line(m, leader, term))
        .unwrap_or_else(|| panic!("no stream named {leader} after term {term}:\n{}", m.log()))
}

/// Ten more writes acknowledged through the gateway after the change at `since`, then every
/// acknowledged write is on the cluster; returns how long after `since` the first one came.
fn resumes_and_loses_none(c: &Cluster, w: Writer, since: Instant, what: &str) -> Option<Duration> {
    let before = w.count();
    w.wait_count(before + 10, Duration::from_secs(60), what);
    let first = w.first_after(since).map(|t| t - since);
    let acked = w.finish();
    check_none_lost(c, &acked);
    first
}

/// Every acknowledged write is on the cluster, read through the new leader.
fn check_none_lost(c: &Cluster, acked: &[String]) {
    let l = wait(Duration::from_secs(30), || c.leader()).expect("a leader");
    let (st, body) = c.nodes[l].get("/api/v3/profiles");
    assert_eq!(st, 200, "{body}");
    let have: BTreeSet<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["Name"].as_str())
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|n| !have.contains(n.as_str()))
        .collect();
    eprintln!(
        "acknowledged through the gateway: {}, lost: {}",
        acked.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "lost acknowledged writes: {lost:?}");
}

#[test]
fn the_gateway_follows_a_killed_leader_by_push_and_loses_no_write() {
    let _g = serial();
    let (mut c, m, _mdir, w) = setup("t-push");
    let (old, old_term) = leader_and_term(&c);

    let killed = Instant::now();
    c.nodes[old].kill(); // SIGKILL
    let new = wait(Duration::from_secs(30), || c.leader()).expect("a new leader");
    let new_id = consensus_id(&c.nodes[new]);
    let line = wait_pushed(&m, &new_id, old_term);
    wait(Duration::from_secs(30), || {
        let e = m.endpoint("t-push");
        (e["ConnectionStatus"] == "connected" && e["Leader"]["ConsensusID"] == new_id.as_str())
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the manager does not name {new_id}: {}",
            m.endpoint("t-push")
        )
    });
    let first = resumes_and_loses_none(&c, w, killed, "after the failover");
    eprintln!("kill -> first acknowledged write through the gateway: {first:?}; {line}");
}

#[test]
fn a_gracefully_stopped_leader_hands_over_before_it_exits() {
    let _g = serial();
    let (mut c, m, _mdir, w) = setup("t-hand");
    let (old, old_term) = leader_and_term(&c);

    let mut proc = c.nodes[old].proc.take().expect("running");
    let pid = proc.0.id().to_string();
    let stopped = Instant::now();
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(st.success());
    let exit = wait(Duration::from_secs(30), || proc.0.try_wait().unwrap())
        .expect("the old leader exits after SIGTERM");
    assert!(exit.success(), "exit status {exit}");

    // Its own log says another member led before it stopped (it waits for that).
    let log = plain(&std::fs::read_to_string(c.nodes[old].data.path().join("log")).unwrap());
    let handed = log
        .lines()
        .find(|l| l.contains(HANDED))
        .unwrap_or_else(|| panic!("the leader did not hand over:\n{log}"))
        .to_owned();
    let new = wait(Duration::from_secs(30), || c.leader()).expect("a new leader");
    let new_id = consensus_id(&c.nodes[new]);
    assert_eq!(
        field(&handed, "new_leader"),
        Some(node_hex(&new_id).as_str()),
        "{handed}"
    );
    let term = c.nodes[new].cluster_state().unwrap().term;
    assert!(term > old_term, "term {old_term} -> {term}");
    let line = wait_pushed(&m, &new_id, old_term);
    let first = resumes_and_loses_none(&c, w, stopped, "after the hand-over");
    eprintln!(
        "SIGTERM -> first acknowledged write through the gateway: {first:?}; term {old_term} -> {term}; {handed}; {line}"
    );
}
