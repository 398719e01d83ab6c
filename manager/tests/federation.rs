//! The manager as a federation gateway (issue 14, part 2): federated reads from the replica
//! and writes routed to the owning cluster's leader. Real processes: single-node clusters and
//! a 3-member one, registered with a `drp-manager`.
//!
//! Run: `cargo test -p manager --test federation`.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::writer::Writer;
use common::*;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

/// (status, headers, body) of an admin call; status 0 when it did not connect.
fn req(method: &str, url: &str, body: Option<Value>) -> (u16, HeaderMap, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = http()
        .request(m, url)
        .basic_auth("rocketskates", Some(PASSWORD));
    if let Some(b) = body {
        r = r.json(&b);
    }
    match r.send() {
        Ok(r) => {
            let st = r.status().as_u16();
            let h = r.headers().clone();
            let text = r.text().unwrap_or_default();
            let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
            (st, h, v)
        }
        Err(_) => (0, HeaderMap::new(), Value::Null),
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|o| o["Name"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// `Name -> Endpoint` of every machine the manager lists.
fn listed(m: &Manager, query: &str) -> Vec<(String, String)> {
    let (st, _, body) = req("GET", &format!("{}/api/v3/machines{query}", m.url), None);
    assert_eq!(st, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["Name"].as_str().unwrap_or("").to_owned(),
                o["Endpoint"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Clusters of `sizes` members (ids `fed1`, `fed2`, ...), all registered with one manager and
/// connected.
fn fleet(sizes: &[usize]) -> (Vec<Cluster>, Manager, tempfile::TempDir) {
    let clusters: Vec<Cluster> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| Cluster::start(&format!("fed{}", i + 1), *n))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::start(&dir.path().join("m"), &[]);
    for c in &clusters {
        m.register(c, &[], false);
    }
    for c in &clusters {
        m.wait_status(&c.ha_id, "connected", WAIT);
    }
    (clusters, m, dir)
}

/// The machines a cluster holds, by name, read from its leader.
fn cluster_machines(c: &Cluster) -> BTreeSet<String> {
    let l = wait(WAIT, || c.leader()).expect("a leader");
    let (st, body) = c.nodes[l].get("/api/v3/machines");
    assert_eq!(st, 200, "{body}");
    names(&body).into_iter().collect()
}

/// Creates, filters, pages, patches and refuses through the manager alone: every object here
/// was written through it, so the replica holds it from the routed write's reply
/// (read-your-writes) whether or not a follower runs.
#[test]
fn routed_writes_then_federated_filters_and_paging() {
    let _g = serial();
    let (clusters, m, _dir) = fleet(&[1, 1, 1]);
    let ids: Vec<String> = clusters.iter().map(|c| c.ha_id.clone()).collect();

    // Two machines on each cluster, created through the manager with Endpoint in the body.
    for (i, id) in ids.iter().enumerate() {
        for j in 0..2 {
            let name = format!("rw-{i}{j}");
            let (st, _, body) = req(
                "POST",
                &format!("{}/api/v3/machines", m.url),
                Some(json!({"Name": name, "Endpoint": id, "Params": {"rank": 10 * i + j}})),
            );
            assert_eq!(st, 201, "create {name} on {id}: {body}");
            assert_eq!(body["Endpoint"], id.as_str(), "{body}");
            assert!(body["Uuid"].as_str().is_some_and(|u| !u.is_empty()));
        }
    }
    // Each landed on its own cluster, and only there.
    for (i, c) in clusters.iter().enumerate() {
        let have = cluster_machines(c);
        let want: BTreeSet<String> = (0..2).map(|j| format!("rw-{i}{j}")).collect();
        assert!(want.is_subset(&have), "{}: {have:?}", c.ha_id);
        assert!(
            !have
                .iter()
                .any(|n| n.starts_with("rw-") && !want.contains(n)),
            "{}: another cluster's machine landed here: {have:?}",
            c.ha_id
        );
    }

    // The union, each once with its owner, read right after the writes.
    let all = listed(&m, "?Name=Gte(rw-)&Name=Lt(rw.)&sort=Name");
    let want: Vec<(String, String)> = (0..3)
        .flat_map(|i| (0..2).map(move |j| (format!("rw-{i}{j}"), format!("fed{}", i + 1))))
        .collect();
    assert_eq!(all, want);

    // Filters and paging across clusters.
    let by_ep = listed(
        &m,
        "?Endpoint=In(fed1,fed3)&Name=Gte(rw-)&Name=Lt(rw.)&sort=Name",
    );
    assert_eq!(
        by_ep.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["rw-00", "rw-01", "rw-20", "rw-21"]
    );
    let one = listed(&m, "?Endpoint=fed2&Name=Gte(rw-)&Name=Lt(rw.)");
    assert_eq!(one.len(), 2, "{one:?}");
    assert!(one.iter().all(|(_, e)| e == "fed2"), "{one:?}");
    assert_eq!(
        listed(&m, "?Name=rw-11"),
        vec![("rw-11".to_string(), "fed2".to_string())]
    );
    let page = listed(
        &m,
        "?Name=Gte(rw-)&Name=Lt(rw.)&sort=rank&reverse=true&offset=1&limit=3",
    );
    assert_eq!(
        page.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["rw-20", "rw-11", "rw-10"],
        "sorted by a param across clusters, then paged"
    );
    let (st, h, _) = req(
        "HEAD",
        &format!(
            "{}/api/v3/machines?Endpoint=In(fed1,fed2)&Name=Gte(rw-)&Name=Lt(rw.)",
            m.url
        ),
        None,
    );
    assert_eq!(st, 200);
    assert_eq!(header(&h, "x-drp-list-filter-count").as_deref(), Some("4"));
    let total: usize = header(&h, "x-drp-list-total-count")
        .unwrap()
        .parse()
        .unwrap();
    assert!(total >= 6, "total {total}");
    let (st, _, body) = req(
        "GET",
        &format!("{}/api/v3/machines?Name=Like(x)", m.url),
        None,
    );
    assert_eq!(st, 400, "{body}");
    assert!(
        body["Messages"][0].as_str().unwrap().contains("Like"),
        "{body}"
    );

    // PATCH through the manager lands on the owner; the next read through the manager shows it.
    let (_, _, m11) = req(
        "GET",
        &format!("{}/api/v3/machines/Name:rw-11", m.url),
        None,
    );
    let uuid = m11["Uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(m11["Endpoint"], "fed2");
    let (st, h, body) = req(
        "PATCH",
        &format!("{}/api/v3/machines/{uuid}", m.url),
        Some(json!([{"op": "add", "path": "/Description", "value": "patched via manager"}])),
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["Endpoint"], "fed2");
    assert_eq!(body["Description"], "patched via manager");
    assert!(
        header(&h, "x-drp-commit-index").is_some(),
        "the cluster's headers come back"
    );
    let l = clusters[1].leader().unwrap();
    let (st, on_cluster) = clusters[1].nodes[l].get(&format!("/api/v3/machines/{uuid}"));
    assert_eq!(st, 200);
    assert_eq!(on_cluster["Description"], "patched via manager");
    // The cluster's own copy keeps its own (empty) `Endpoint`: the manager's is not sent.
    assert_eq!(
        on_cluster["Endpoint"].as_str().unwrap_or(""),
        "",
        "{on_cluster}"
    );
    let (st, h, read) = req("GET", &format!("{}/api/v3/machines/{uuid}", m.url), None);
    assert_eq!(st, 200);
    assert_eq!(read["Description"], "patched via manager");
    assert_eq!(header(&h, "x-drp-endpoint").as_deref(), Some("fed2"));

    // A param set and removed through the manager: on the owner, and in the next reads.
    let param = format!("{}/api/v3/machines/{uuid}/params/fed/rack", m.url);
    let (st, _, body) = req("POST", &param, Some(json!("r7")));
    assert_eq!((st, &body), (200, &json!("r7")));
    let on_cluster = clusters[1].nodes[l].get(&format!("/api/v3/machines/{uuid}/params/fed/rack"));
    assert_eq!(on_cluster, (200, json!("r7")));
    assert_eq!(req("GET", &param, None).2, json!("r7"));
    let (st, _, all) = req(
        "GET",
        &format!("{}/api/v3/machines/{uuid}/params", m.url),
        None,
    );
    assert_eq!(st, 200, "{all}");
    assert_eq!(all, json!({"rank": 11, "fed/rack": "r7"}));
    let (st, _, body) = req("DELETE", &param, None);
    assert_eq!((st, &body), (200, &json!("r7")));
    let (st, _, body) = req("GET", &param, None);
    assert_eq!(st, 404, "{body}");

    // DELETE through the manager: gone from the cluster and from the manager's reads.
    let (_, _, m00) = req(
        "GET",
        &format!("{}/api/v3/machines/Name:rw-00", m.url),
        None,
    );
    let u00 = m00["Uuid"].as_str().unwrap().to_owned();
    let (st, _, body) = req("DELETE", &format!("{}/api/v3/machines/{u00}", m.url), None);
    assert_eq!(st, 200, "{body}");
    assert!(!cluster_machines(&clusters[0]).contains("rw-00"));
    let (st, _, body) = req("GET", &format!("{}/api/v3/machines/{u00}", m.url), None);
    assert_eq!(st, 404, "{body}");
    assert_eq!(body["Type"], "NotFound");

    // Refusals name what is wrong and change nothing.
    let before = cluster_machines(&clusters[0]);
    let (st, _, body) = req(
        "POST",
        &format!("{}/api/v3/machines", m.url),
        Some(json!({"Name": "nowhere"})),
    );
    assert_eq!(st, 422, "{body}");
    assert_eq!(body["Type"], "ValidationError");
    assert!(
        body["Messages"][0]
            .as_str()
            .unwrap()
            .starts_with("Endpoint"),
        "{body}"
    );
    let (st, _, body) = req(
        "POST",
        &format!("{}/api/v3/machines", m.url),
        Some(json!({"Name": "nowhere", "Endpoint": "fed9"})),
    );
    assert_eq!(st, 422, "{body}");
    assert!(
        body["Messages"][0].as_str().unwrap().contains("fed9"),
        "{body}"
    );
    let (st, _, body) = req(
        "PATCH",
        &format!("{}/api/v3/machines/no-such-uuid", m.url),
        Some(json!([])),
    );
    assert_eq!(st, 404, "{body}");
    // Content and plugins are not replicated upward (`/api/v3/plugins` is the manager's own
    // plugin, with its addEndpoint action).
    let (st, _, body) = req("GET", &format!("{}/api/v3/plugin_providers", m.url), None);
    assert_eq!(st, 404, "not federated: {body}");
    assert_eq!(cluster_machines(&clusters[0]), before);
    assert!(!listed(&m, "").iter().any(|(n, _)| n == "nowhere"));

    // The manager's own collections are still its own.
    let (st, _, body) = req("GET", &format!("{}/api/v3/endpoints", m.url), None);
    assert_eq!(st, 200);
    assert_eq!(body.as_array().unwrap().len(), 3, "{body}");
}

/// A machine created directly on each cluster is listed once by the manager, with the right
/// `Endpoint`; this needs the replica's follower (part 1 of issue 14).
#[test]
fn machines_created_on_each_cluster_are_listed_once() {
    let _g = serial();
    let (clusters, m, _dir) = fleet(&[1, 1, 1]);
    let mut uuids = BTreeMap::new();
    for c in &clusters {
        let name = format!("direct-{}", c.ha_id);
        let (st, body) = call(
            "POST",
            &format!("{}/api/v3/machines", c.nodes[0].url),
            Some(json!({"Name": name})),
        );
        assert_eq!(st, 201, "{body}");
        uuids.insert(name, body["Uuid"].as_str().unwrap().to_owned());
    }
    let want: Vec<(String, String)> = clusters
        .iter()
        .map(|c| (format!("direct-{}", c.ha_id), c.ha_id.clone()))
        .collect();
    let got = wait(WAIT, || {
        let got = listed(&m, "?Name=Gte(direct-)&Name=Lt(direct.)&sort=Name");
        (got == want).then_some(got)
    });
    assert!(
        got.is_some(),
        "the manager lists {:?}, want {want:?}",
        listed(&m, "?Name=Gte(direct-)&Name=Lt(direct.)&sort=Name")
    );
    for (name, uuid) in &uuids {
        let (st, h, body) = req("GET", &format!("{}/api/v3/machines/{uuid}", m.url), None);
        assert_eq!(st, 200, "{body}");
        assert_eq!(body["Name"], name.as_str());
        assert_eq!(
            header(&h, "x-drp-endpoint"),
            body["Endpoint"].as_str().map(str::to_owned)
        );
    }

    // A stopped cluster: its machine stays listed, and the reply names it stale.
    let mut clusters = clusters;
    clusters[2].nodes[0].kill();
    let stale = wait(WAIT, || {
        let (st, h, _) = req("GET", &format!("{}/api/v3/machines", m.url), None);
        assert_eq!(st, 200);
        header(&h, "x-drp-stale-endpoints").filter(|s| s.split(',').any(|e| e == "fed3"))
    });
    assert_eq!(
        stale.as_deref(),
        Some("fed3"),
        "only the stopped cluster is stale"
    );
    let got = listed(&m, "?Name=Gte(direct-)&Name=Lt(direct.)&sort=Name");
    assert_eq!(got, want, "a stale endpoint's objects stay listed");
}

/// How long one write is retried before the writer gives up on it (and the test fails).
const WRITE_BUDGET: Duration = Duration::from_secs(120);

/// How long a writer may take to reach a count.
const WRITES_WAIT: Duration = Duration::from_secs(120);

/// A 3-member cluster's leader is SIGKILLed while machines are written to it through the
/// manager (and to two single-node clusters beside it): writes resume on the new leader, and
/// afterwards the manager's count across clusters is exact: equal to the sum of the clusters'
/// own counts and to the writes acknowledged.
#[test]
fn leader_killed_during_routed_writes_count_stays_exact() {
    let _g = serial();
    let (mut clusters, m, _dir) = fleet(&[3, 1, 1]);
    let writers: Vec<Writer> = clusters
        .iter()
        .map(|c| {
            let prefix = format!("w-{}", c.ha_id);
            Writer::machines(m.url.clone(), c.ha_id.clone(), &prefix, WRITE_BUDGET)
        })
        .collect();
    writers[0].wait_count(10, WRITES_WAIT, "before the kill");
    let old = wait(WAIT, || clusters[0].leader()).expect("a leader");
    clusters[0].nodes[old].kill();
    let at_kill = writers[0].count();
    let new = wait(WAIT, || clusters[0].leader()).expect("a new leader");
    assert_ne!(old, new);
    writers[0].wait_count(
        at_kill + 10,
        WRITES_WAIT,
        "after the kill (on the new leader)",
    );
    for w in &writers[1..] {
        w.wait_count(10, WRITES_WAIT, "on the single-node clusters");
    }
    let acked: Vec<BTreeSet<String>> = writers
        .into_iter()
        .map(|w| w.finish().into_iter().collect())
        .collect();

    // Each cluster holds exactly what was acknowledged for it.
    let mut sum = 0;
    for (c, acked) in clusters.iter().zip(&acked) {
        let have = cluster_machines(c);
        assert_eq!(&have, acked, "{}: held vs acknowledged", c.ha_id);
        sum += have.len();
    }
    // The manager counts the same at once (read-your-writes), each machine once.
    let (st, h, _) = req("HEAD", &format!("{}/api/v3/machines", m.url), None);
    assert_eq!(st, 200);
    let count: usize = header(&h, "x-drp-list-filter-count")
        .unwrap()
        .parse()
        .unwrap();
    let listed = listed(&m, "");
    let unique: BTreeSet<&(String, String)> = listed.iter().collect();
    eprintln!(
        "acknowledged {} (fed1 {}, of which {} after the kill), clusters hold {sum}, manager counts {count}",
        acked.iter().map(BTreeSet::len).sum::<usize>(),
        acked[0].len(),
        acked[0].len() - at_kill
    );
    assert_eq!(count, sum);
    assert_eq!(unique.len(), listed.len(), "no machine listed twice");
    for (c, acked) in clusters.iter().zip(&acked) {
        let by_manager: BTreeSet<String> = listed
            .iter()
            .filter(|(_, e)| *e == c.ha_id)
            .map(|(n, _)| n.clone())
            .collect();
        assert_eq!(&by_manager, acked, "{} through the manager", c.ha_id);
    }
}
