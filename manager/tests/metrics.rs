//! `GET /metrics` on members and on the manager, scraped as Prometheus would and parsed with a
//! Prometheus text parser: the counters move with the work done, the labels stay bounded.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use prometheus_parse::{Scrape, Value};
use serde_json::json;

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses as Prometheus text")
}

/// The text of `url` (with the admin's credentials when `auth`), asserting a 200.
fn scrape(url: &str, auth: bool) -> Scrape {
    try_scrape(url, auth).unwrap_or_else(|| panic!("{url} does not answer"))
}

/// As [`scrape`], or None while nothing listens there yet.
fn try_scrape(url: &str, auth: bool) -> Option<Scrape> {
    let mut req = http().get(url);
    if auth {
        req = req.basic_auth("rocketskates", Some(PASSWORD));
    }
    let resp = req.send().ok()?;
    assert_eq!(resp.status().as_u16(), 200, "scrape of {url}");
    let text = resp.text().expect("scrape body");
    assert!(
        !text.contains(PASSWORD),
        "the password appears in the metrics"
    );
    let parsed = parse(&text);
    assert_bounded_labels(&parsed);
    Some(parsed)
}

/// No label value is a UUID (a ConsensusID, a machine key): label sets stay bounded.
fn assert_bounded_labels(s: &Scrape) {
    for sample in &s.samples {
        for (k, v) in sample.labels.iter() {
            assert!(
                uuid::Uuid::parse_str(v).is_err(),
                "{}{{{k}={v}}} labels a UUID",
                sample.metric
            );
        }
    }
}

/// The sum of the samples named `name` whose labels include every pair of `want`; for a
/// histogram, its observation count (the `+Inf` bucket).
fn value(s: &Scrape, name: &str, want: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| want.iter().all(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map_or(0.0, |b| b.count),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

fn has(s: &Scrape, name: &str) -> bool {
    s.samples.iter().any(|x| x.metric == name)
}

#[test]
fn members_and_manager_expose_metrics_that_move_with_the_work() {
    let _g = serial();
    let mut c = Cluster::start("m-site", 3);
    let leader = c.leader().expect("a leader");
    let follower = (0..3).find(|i| *i != leader).unwrap_or(1);
    let f_url = c.nodes[follower].url.clone();
    let l_url = c.nodes[leader].url.clone();

    // Without credentials the API port refuses; the admin may scrape.
    let anon = http().get(format!("{f_url}/metrics")).send().unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    let before = scrape(&format!("{f_url}/metrics"), true);
    let leader_before = scrape(&format!("{l_url}/metrics"), true);

    // Ten writes sent to a follower: each is forwarded to the leader; then linearizable reads.
    for i in 0..10 {
        let (st, body) = call(
            "POST",
            &format!("{f_url}/api/v3/profiles"),
            Some(json!({"Name": format!("metrics-{i}")})),
        );
        assert_eq!(st, 201, "create profile: {body}");
    }
    for i in 0..5 {
        let (st, _) = call("GET", &format!("{f_url}/api/v3/profiles/metrics-{i}"), None);
        assert_eq!(st, 200);
    }
    let after = scrape(&format!("{f_url}/metrics"), true);
    let leader_after = scrape(&format!("{l_url}/metrics"), true);

    let moved = |b: &Scrape, a: &Scrape, name: &str, labels: &[(&str, &str)]| {
        value(a, name, labels) - value(b, name, labels)
    };
    assert!(
        moved(&before, &after, "drp_raft_forwarded_writes_total", &[]) >= 10.0,
        "forwarded writes did not count the 10 writes"
    );
    assert!(
        moved(
            &before,
            &after,
            "drp_raft_read_index_rounds_total",
            &[("role", "follower")]
        ) >= 5.0,
        "follower read-index rounds did not count the 5 reads"
    );
    let route_seen = after
        .samples
        .iter()
        .filter(|s| s.metric == "drp_http_request_duration_seconds")
        .any(|s| s.labels.get("method") == Some("POST") && s.labels.get("status") == Some("201"));
    assert!(route_seen, "no POST 201 row in the request histogram");
    assert!(
        value(
            &after,
            "drp_http_request_duration_seconds",
            &[("method", "GET"), ("route", "/api/v3/:collection/:key")]
        ) >= 5.0,
        "GETs not labelled by their route template"
    );
    let post_rows = moved(
        &before,
        &after,
        "drp_http_request_duration_seconds",
        &[("method", "POST")],
    );
    assert!(
        post_rows >= 10.0,
        "request histogram counted {post_rows} POSTs"
    );
    // Route templates, never keys.
    assert!(
        after
            .samples
            .iter()
            .filter_map(|s| s.labels.get("route"))
            .all(|r| !r.contains("metrics-")),
        "a route label holds an object key"
    );
    assert!(
        moved(&before, &after, "drp_raft_log_append_seconds", &[]) >= 10.0,
        "log append histogram did not move on the follower"
    );
    assert!(moved(&before, &after, "drp_raft_log_fsync_seconds", &[]) >= 1.0);
    assert!(
        moved(&before, &after, "drp_raft_commit_index", &[]) >= 10.0,
        "commit index did not advance by the 10 writes"
    );
    assert_eq!(value(&after, "drp_raft_is_leader", &[]), 0.0);
    assert_eq!(value(&leader_after, "drp_raft_is_leader", &[]), 1.0);
    assert!(value(&leader_after, "drp_raft_term", &[]) >= 1.0);
    assert!(value(&after, "drp_objects", &[("collection", "profiles")]) >= 10.0);
    // The leader reports replication lag for every member, labelled by address.
    let lag_rows = leader_after
        .samples
        .iter()
        .filter(|s| s.metric == "drp_raft_replication_lag_entries")
        .count();
    assert_eq!(lag_rows, 3, "replication lag rows on the leader");
    assert!(
        moved(
            &leader_before,
            &leader_after,
            "drp_raft_proposals_failed_total",
            &[]
        ) == 0.0
    );
    for name in [
        "drp_raft_apply_lag_entries",
        "drp_raft_applied_index",
        "drp_raft_leader_changes_total",
        "drp_raft_snapshot_bytes",
    ] {
        assert!(has(&after, name), "{name} missing");
    }

    // The manager: follows the cluster, applies from git, forwards through the gateway.
    let repo = Repo::new();
    let sha = repo.commit(&[("version_sets/base.yaml", &base_set("metrics"))]);
    let mdir = tempfile::tempdir().unwrap();
    let mport = free_port();
    let listen = format!("127.0.0.1:{mport}");
    let m = Manager::start(
        &mdir.path().join("m"),
        &[
            "--git-repo",
            repo.path(),
            "--git-branch",
            "main",
            "--metrics-listen",
            &listen,
        ],
    );
    m.register(&c, &["base"], true);
    m.wait_applied("m-site", &sha, Duration::from_secs(30));
    let plain = format!("http://{listen}/metrics");
    let before = scrape(&plain, false);
    let ep = [("endpoint", "m-site")];
    assert_eq!(value(&before, "drp_manager_endpoint_up", &ep), 1.0);
    assert_eq!(value(&before, "drp_manager_endpoint_members", &ep), 3.0);
    assert_eq!(value(&before, "drp_manager_endpoint_in_sync", &ep), 1.0);
    assert_eq!(
        value(&before, "drp_manager_endpoint_actions_pending", &ep),
        0.0
    );
    assert!(
        value(
            &before,
            "drp_manager_endpoint_apply_seconds",
            &[("endpoint", "m-site"), ("result", "ok")]
        ) >= 1.0,
        "the apply was not counted"
    );
    assert!(has(&before, "drp_manager_git_good_commit_age_seconds"));
    // The API port needs the admin; the manager's own answer is the same text.
    let anon = http().get(format!("{}/metrics", m.url)).send().unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    scrape(&format!("{}/metrics", m.url), true);

    for _ in 0..3 {
        let (st, _) = m.call("GET", "/m-site/api/v3/profiles/metrics-1", None);
        assert_eq!(st, 200);
    }
    let (st, _) = m.call("GET", "/m-site/api/v3/profiles/no-such-profile", None);
    assert_eq!(st, 404);
    let old = c.leader().expect("leader");
    c.nodes[old].kill();
    let after = wait(Duration::from_secs(20), || {
        let s = scrape(&plain, false);
        (value(&s, "drp_manager_endpoint_leader_changes_total", &ep) >= 1.0).then_some(s)
    })
    .expect("the manager counts the leader change");
    let gw = "drp_manager_gateway_request_duration_seconds";
    assert!(moved(&before, &after, gw, &[("status", "200")]) >= 3.0);
    assert!(moved(&before, &after, gw, &[("status", "404")]) >= 1.0);
}

#[test]
fn metrics_listen_serves_a_member_without_credentials() {
    let _g = serial();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let n = Node::start_on("m-one", None, free_port(), &["--metrics-listen", &listen]);
    let s = wait(Duration::from_secs(10), || {
        let s = try_scrape(&format!("http://{listen}/metrics"), false)?;
        (value(&s, "drp_raft_is_leader", &[]) == 1.0).then_some(s)
    })
    .expect("a one-node cluster leads itself");
    assert!(value(&s, "drp_raft_commit_index", &[]) >= 1.0);
    // Only /metrics is served there: nothing of the API leaks without credentials.
    let r = http()
        .get(format!("http://{listen}/api/v3/users"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    drop(n);
}
