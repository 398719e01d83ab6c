//! The manager's replica of three real clusters (issue 14): the federated event stream
//! carries every cluster's events with its `Endpoint`; a stopped cluster keeps its objects
//! and is reported stale, then catches up; after a manager restart the replica is there at
//! once and catches up from the endpoints' event rings without re-listing. The gateway
//! proxies a cluster's own event socket.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::replica::{replica, wait_replica, EventSocket};
use common::*;
use serde_json::{json, Value};

const IDS: [&str; 3] = ["fed-a", "fed-b", "fed-c"];

fn create_machine(node: &Node, name: &str) {
    let (st, body) = node.get("/api/v3/info");
    assert_eq!(st, 200, "{body}");
    let (st, body) = call(
        "POST",
        &format!("{}/api/v3/machines", node.url),
        Some(json!({"Name": name})),
    );
    assert_eq!(st, 201, "creating {name}: {body}");
}

#[test]
fn three_clusters_replicated_followed_through_a_stop_and_a_manager_restart() {
    let _g = serial();
    let mut clusters: Vec<Cluster> = IDS.iter().map(|id| Cluster::start(id, 1)).collect();
    let mdir = tempfile::tempdir().unwrap();
    let mut m = Manager::start(&mdir.path().join("m"), &[]);

    // Unauthenticated, the federated event socket is refused like the rest of the API.
    let (st, _) = {
        let resp = reqwest::blocking::Client::new()
            .get(format!("{}/api/v3/ws", m.url))
            .send()
            .unwrap();
        (resp.status().as_u16(), ())
    };
    assert_eq!(
        st, 401,
        "the websocket goes through the manager's authentication"
    );

    // One machine on each cluster before it is registered: the first sync lists it.
    for (c, id) in clusters.iter().zip(IDS) {
        create_machine(&c.nodes[0], &format!("{id}-before"));
        m.register(c, &[], false);
    }
    // Each cluster's own objects (its admin user and role, ...) besides the machines: counts
    // below are relative to what the first sync found.
    let mut base = Vec::new();
    for id in IDS {
        let r = wait_replica(&m, id, "current", |r| r["Current"] == true);
        assert_eq!(r["Lists"], 1, "{id}: the first sync is one full list: {r}");
        assert!(r["Index"].as_u64() > Some(0), "{id}: {r}");
        assert!(r["Objects"].as_u64() >= Some(1), "{id}: its machine: {r}");
        base.push(r["Objects"].as_u64().unwrap());
    }
    let objects = |r: &Value, i: usize, more: u64| r["Objects"].as_u64() == Some(base[i] + more);

    // (a) The federated stream carries a change of every cluster, each with its Endpoint.
    let mut events = EventSocket::open(m.port, "/api/v3/ws", "machines.create.*");
    for (c, id) in clusters.iter().zip(IDS) {
        create_machine(&c.nodes[0], &format!("{id}-live"));
    }
    let mut seen = BTreeSet::new();
    while seen.len() < IDS.len() {
        let e = events.next();
        assert_eq!(e["Type"], "machines", "only the registered pattern: {e}");
        let id = e["Endpoint"]
            .as_str()
            .expect("Endpoint on the event")
            .to_string();
        assert_eq!(
            e["Object"]["Endpoint"],
            id.as_str(),
            "and on its object: {e}"
        );
        assert_eq!(e["Object"]["Name"], format!("{id}-live"), "{e}");
        assert!(
            e["Index"].as_u64() > Some(0),
            "the entry's index rides along: {e}"
        );
        seen.insert(id);
    }
    for (i, id) in IDS.iter().enumerate() {
        wait_replica(&m, id, "holding the new machine", |r| objects(r, i, 1));
    }

    // (b) A stopped cluster keeps its objects in the replica and is reported stale, the others
    // keep following; once back, it is current again and catches up.
    clusters[2].nodes[0].kill();
    let r = wait_replica(&m, IDS[2], "stale", |r| r["Current"] == false);
    assert!(r["Error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");
    assert!(objects(&r, 2, 1), "a stopped cluster's objects stay: {r}");
    // The gateway proxies a cluster's own event socket (its events as the cluster sends them).
    let mut proxied = EventSocket::open(m.port, "/fed-a/api/v3/ws", "machines.create.*");
    create_machine(&clusters[0].nodes[0], "fed-a-while-c-down");
    let e = proxied.next();
    assert_eq!(e["Object"]["Name"], "fed-a-while-c-down", "{e}");
    assert!(
        e.get("Endpoint").is_none(),
        "straight from the cluster: {e}"
    );
    wait_replica(&m, IDS[0], "following while another cluster is down", |r| {
        objects(r, 0, 2) && r["Current"] == true
    });
    clusters[2].nodes[0].restart_alone(IDS[2]);
    create_machine(&clusters[2].nodes[0], "fed-c-after-restart");
    let r = wait_replica(&m, IDS[2], "caught up after its restart", |r| {
        r["Current"] == true && objects(r, 2, 2)
    });
    eprintln!("fed-c after its restart: {r}");

    // (c) A manager restart: the replica is intact at once (fed-c is down, so its follower
    // cannot have reconnected: what it shows was loaded from disk), and it catches up a change
    // made while the manager was down from the endpoint's event ring, without a re-list.
    let before: Vec<Value> = IDS.iter().map(|id| replica(&m, id)).collect();
    m.stop();
    clusters[2].nodes[0].kill();
    create_machine(&clusters[1].nodes[0], "fed-b-while-manager-down");
    m.restart();
    let r = replica(&m, IDS[2]);
    assert_eq!(r["Objects"], before[2]["Objects"], "loaded from disk: {r}");
    assert_eq!(r["Index"], before[2]["Index"], "with its index: {r}");
    assert_eq!(r["Current"], false, "stale until followed again: {r}");
    for (id, b) in IDS.iter().zip(&before) {
        let r = replica(&m, id);
        assert!(
            r["Objects"].as_u64() >= b["Objects"].as_u64(),
            "{id}: intact: {r}"
        );
        assert!(r["Index"].as_u64() >= b["Index"].as_u64(), "{id}: {r}");
    }
    clusters[2].nodes[0].restart_alone(IDS[2]);
    wait_replica(
        &m,
        IDS[1],
        "caught up with the change made while down",
        |r| r["Current"] == true && objects(r, 1, 2),
    );
    for id in IDS {
        let r = wait_replica(&m, id, "current after the manager restart", |r| {
            r["Current"] == true
        });
        assert_eq!(r["Lists"], 0, "{id}: caught up without a re-list: {r}");
        assert!(r["Resumes"].as_u64() >= Some(1), "{id}: {r}");
    }
    eprintln!(
        "after the manager restart: {}",
        IDS.iter()
            .map(|id| replica(&m, id).to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
}
