//! The replica's recovery paths (issue 14), with real processes: a manager that comes back
//! after more writes than the endpoint's event ring keeps re-lists and converges exactly; a
//! manager whose socket stops taking events is dropped by the endpoint, marked stale, and
//! catches up by resuming from the ring without loss.
//!
//! Run: `cargo test -p manager --test federation_recovery`.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::replica::{replica, wait_replica, EventSocket};
use common::*;
use serde_json::{json, Value};
use tungstenite::Message;

const LONG: Duration = Duration::from_secs(120);

/// Machines by Uuid from a list body; `Endpoint` (the manager's field) taken out.
fn by_uuid(list: &Value) -> BTreeMap<String, Value> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|o| {
            let mut o = o.clone();
            o.as_object_mut().unwrap().remove("Endpoint");
            (o["Uuid"].as_str().unwrap().to_owned(), o)
        })
        .collect()
}

/// The cluster's machines as its member lists them.
fn cluster_machines(node: &Node) -> BTreeMap<String, Value> {
    let (st, body) = node.get("/api/v3/machines");
    assert_eq!(st, 200, "{body}");
    by_uuid(&body)
}

/// The manager's machines of endpoint `id`, from its replica.
fn manager_machines(m: &Manager, id: &str) -> BTreeMap<String, Value> {
    let (st, body) = m.call("GET", &format!("/api/v3/machines?Endpoint={id}"), None);
    assert_eq!(st, 200, "{body}");
    by_uuid(&body)
}

/// Waits until the manager holds exactly the cluster's machines (every object equal, so the
/// same set at the same versions); panics with the differences after [`LONG`].
fn wait_converged(m: &Manager, id: &str, node: &Node) -> BTreeMap<String, Value> {
    let mut last = (BTreeMap::new(), BTreeMap::new());
    let ok = wait(LONG, || {
        let (want, have) = (cluster_machines(node), manager_machines(m, id));
        if want == have {
            return Some(want);
        }
        last = (want, have);
        None
    });
    ok.unwrap_or_else(|| {
        let (want, have) = last;
        let missing: Vec<_> = want.keys().filter(|k| !have.contains_key(*k)).collect();
        let extra: Vec<_> = have.keys().filter(|k| !want.contains_key(*k)).collect();
        let differ: Vec<_> = want
            .iter()
            .filter(|(k, v)| have.get(*k).is_some_and(|h| h != *v))
            .map(|(k, v)| format!("{k}: cluster {v} manager {}", have[k]))
            .take(2)
            .collect();
        panic!("{id}: never converged: missing {missing:?}, extra {extra:?}, differing {differ:?}")
    })
}

/// Creates machine `name` on `node`; its Uuid.
fn create_machine(node: &Node, name: &str) -> String {
    let (st, body) = call(
        "POST",
        &format!("{}/api/v3/machines", node.url),
        Some(json!({"Name": name})),
    );
    assert_eq!(st, 201, "creating {name}: {body}");
    body["Uuid"].as_str().unwrap().to_owned()
}

fn describe(node: &Node, uuid: &str, text: &str) {
    let patch = json!([{"op": "add", "path": "/Description", "value": text}]);
    let (st, body) = call(
        "PATCH",
        &format!("{}/api/v3/machines/{uuid}", node.url),
        Some(patch),
    );
    assert_eq!(st, 200, "patching {uuid}: {body}");
}

/// A cluster of one member whose event ring keeps `ring` events, registered with a new
/// manager; both once the first sync (one list) is done.
fn followed(id: &str, ring: &str) -> (Cluster, Manager, tempfile::TempDir) {
    let c = Cluster::start_with(id, 1, &["--event-ring", ring]);
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::start(&dir.path().join("m"), &[]);
    m.register(&c, &[], false);
    let r = wait_replica(&m, id, "current", |r| r["Current"] == true);
    assert_eq!(r["Lists"], 1, "the first sync is one list: {r}");
    (c, m, dir)
}

/// More writes than the endpoint's ring keeps happen while the manager is down (a delete of
/// a replicated machine and an update among them): its resume is refused as not covered, it
/// re-lists, and the replica then equals the cluster, the deleted machine gone.
#[test]
fn a_gap_the_ring_does_not_cover_is_re_listed() {
    let _g = serial();
    const ID: &str = "rec-gap";
    const RING: usize = 20;
    let (c, mut m, _dir) = followed(ID, &RING.to_string());
    let node = &c.nodes[0];
    let uuids: Vec<String> = (0..5)
        .map(|i| create_machine(node, &format!("kept-{i}")))
        .collect();
    let before = wait_converged(&m, ID, node);
    assert!(uuids.iter().all(|u| before.contains_key(u)));

    m.stop();
    let (st, body) = call(
        "DELETE",
        &format!("{}/api/v3/machines/{}", node.url, uuids[0]),
        None,
    );
    assert_eq!(st, 200, "{body}");
    describe(node, &uuids[1], "updated while the manager was down");
    for i in 0..RING * 2 {
        create_machine(node, &format!("gap-{i}"));
    }
    m.restart();

    let after = wait_converged(&m, ID, node);
    assert!(
        !after.contains_key(&uuids[0]),
        "the deleted machine is gone"
    );
    assert_eq!(
        after[&uuids[1]]["Description"],
        "updated while the manager was down"
    );
    assert_eq!(after.len(), before.len() - 1 + RING * 2);
    // The counters start at 0 with the manager's process.
    let r = wait_replica(&m, ID, "current after a re-list", |r| {
        r["Current"] == true && r["Lists"] == 1
    });
    assert_eq!(r["Resumes"], 0, "not resumed: {r}");
    assert!(
        m.log().contains("resume not covered: re-listing"),
        "the follower said why it re-listed"
    );
}

/// Sends `signal` (`STOP`, `CONT`) to the manager's process.
fn signal(m: &Manager, signal: &str) {
    signal_pid(m.proc.as_ref().expect("running").0.id(), signal);
}

fn signal_pid(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} {pid}");
}

/// The endpoint member's log.
fn node_log(node: &Node) -> String {
    std::fs::read_to_string(node.data.path().join("log")).unwrap_or_default()
}

/// The manager's process is stopped (SIGSTOP: its socket takes nothing) while a burst of
/// large updates far beyond what the connection buffers goes through the cluster: the
/// endpoint drops the consumer (a send not taken in time, or a lag behind its bus). Once the
/// manager runs again, its follower finds the socket gone, marks the endpoint stale,
/// resumes with `?since=` from the ring (which still covers the burst), and the replica
/// equals the cluster, with no re-list.
#[test]
fn a_consumer_dropped_for_lagging_resumes_without_loss() {
    let _g = serial();
    const ID: &str = "rec-lag";
    let (c, m, _dir) = followed(ID, "10000");
    let node = &c.nodes[0];
    let uuids: Vec<String> = (0..4)
        .map(|i| create_machine(node, &format!("lag-{i}")))
        .collect();
    wait_converged(&m, ID, node);
    let resumes = replica(&m, ID)["Resumes"].as_u64().unwrap();
    let stale = || m.log().matches("replica stale").count();
    let stale_before = stale();

    signal(&m, "STOP");
    // Each update's event carries the object and its original: ~64 KiB. 400 of them are
    // ~25 MiB, several times what loopback TCP and the socket's write buffer hold.
    let filler = "x".repeat(32 << 10);
    std::thread::scope(|s| {
        for (t, uuid) in uuids.iter().enumerate() {
            let filler = &filler;
            s.spawn(move || {
                for i in 0..100 {
                    describe(node, uuid, &format!("{t}-{i} {filler}"));
                }
            });
        }
    });
    let dropped = wait(LONG, || {
        let log = node_log(node);
        (log.contains("event websocket consumer dropped")
            || log.contains("event websocket consumer lagged"))
        .then_some(())
    });
    signal(&m, "CONT");
    assert!(
        dropped.is_some(),
        "the endpoint never dropped the stopped consumer"
    );

    let have = wait_converged(&m, ID, node);
    for (t, uuid) in uuids.iter().enumerate() {
        let d = have[uuid]["Description"].as_str().unwrap();
        assert!(
            d.starts_with(&format!("{t}-99 ")),
            "{uuid}: the last update"
        );
    }
    let r = wait_replica(&m, ID, "current after a resume", |r| {
        r["Current"] == true && r["Resumes"].as_u64() > Some(resumes)
    });
    assert_eq!(r["Lists"], 1, "caught up without a re-list: {r}");
    assert!(
        stale() > stale_before,
        "the endpoint was marked stale meanwhile"
    );
}

fn create_profile(node: &Node, name: &str) {
    let (st, body) = call(
        "POST",
        &format!("{}/api/v3/profiles", node.url),
        Some(json!({"Name": name})),
    );
    assert_eq!(st, 201, "creating {name}: {body}");
}

/// A follower that was stopped while the leader snapshotted and purged its log catches up by
/// installing a snapshot, whose changes make no events: it closes its event sockets with 1012
/// and a reason naming the index (a consumer then knows its stream has a gap), and a resume
/// from before the snapshot is answered as not covered (the manager's follower re-lists).
#[test]
fn a_member_installing_a_snapshot_closes_its_event_sockets() {
    let _g = serial();
    let flags = [
        "--no-tls",
        "--snapshot-every",
        "10",
        "--snapshot-stretch",
        "0",
    ];
    let c = Cluster::start_with("rec-snap", 3, &flags);
    let l = wait(LONG, || c.leader()).expect("a leader");
    let f = (0..3).find(|i| *i != l).unwrap();
    let (leader, follower) = (&c.nodes[l], &c.nodes[f]);

    let mut ws = EventSocket::open(follower.api_port, "/api/v3/ws", "profiles.*.*");
    create_profile(leader, "snap-before");
    let seen = ws.next();
    assert_eq!(seen["Key"], "snap-before", "{seen}");
    let since = seen["Index"].as_u64().expect("the entry's index");

    let pid = follower.proc.as_ref().unwrap().0.id();
    signal_pid(pid, "STOP");
    // The leader snapshots every 10 entries and purges its log in batches of 256 (the
    // endpoint's raft config): 400 entries make it purge those the stopped follower needs.
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for i in 0..100 {
                    create_profile(leader, &format!("snap-{t}-{i}"));
                }
            });
        }
    });
    signal_pid(pid, "CONT");

    // The member's pings keep the socket busy: the wait for the close has its own bound.
    let give_up = std::time::Instant::now() + LONG;
    let frame = loop {
        assert!(
            std::time::Instant::now() < give_up,
            "no close frame within {LONG:?}"
        );
        match ws.0.read() {
            Ok(Message::Close(frame)) => break frame.expect("a close frame with a reason"),
            Ok(_) => continue,
            Err(e) => panic!("the socket ended without a close frame: {e}"),
        }
    };
    assert_eq!(u16::from(frame.code), 1012, "{frame:?}");
    assert!(
        frame
            .reason
            .as_str()
            .starts_with("snapshot installed at index"),
        "{frame:?}"
    );
    let path = format!("/api/v3/ws?since={since}");
    let msg = EventSocket::open(follower.api_port, &path, "profiles.*.*").next();
    assert_eq!(msg["Action"], "resumed", "{msg}");
    assert_eq!(msg["Object"]["Covered"], false, "{msg}");
}
