//! A manager under a manager (issue 14, "Hierarchy"), registered through DRP's `addEndpoint`
//! action. Real processes: two single-node clusters under a lower manager (`--id lower`), the
//! lower manager under a top one (`--id top`).
//!
//! Run: `cargo test -p manager --test hierarchy`.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(90);
const ADD: &str = "/api/v3/plugins/manager/addEndpoint";

/// `(Name, Endpoint)` of every machine `m` lists for `query`, sorted.
fn listed(m: &Manager, query: &str) -> Vec<(String, String)> {
    let (st, body) = m.call("GET", &format!("/api/v3/machines{query}"), None);
    assert_eq!(st, 200, "{body}");
    let mut out: Vec<(String, String)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let text = |f: &str| o[f].as_str().unwrap_or("").to_owned();
            (text("Name"), text("Endpoint"))
        })
        .collect();
    out.sort();
    out
}

/// Creates machine `name` directly on the cluster's (only) node; its Uuid.
fn create_on(c: &Cluster, name: &str) -> String {
    let (st, body) = call(
        "POST",
        &format!("{}/api/v3/machines", c.nodes[0].url),
        Some(json!({"Name": name})),
    );
    assert_eq!(st, 201, "creating {name} on {}: {body}", c.ha_id);
    body["Uuid"].as_str().unwrap().to_owned()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(n, e)| ((*n).to_owned(), (*e).to_owned()))
        .collect()
}

/// addEndpoint refuses what it cannot check, naming why, and registers nothing.
fn refusals(top: &Manager, lower: &Manager) {
    let wrong = "not-the-password-42";
    let (st, body) = top.call(
        "POST",
        ADD,
        Some(
            json!({"manager/url": lower.url, "manager/username": "rocketskates",
                    "manager/password": wrong}),
        ),
    );
    assert!((400..500).contains(&st), "wrong password gave {st}: {body}");
    let text = body.to_string();
    assert!(text.contains("credentials"), "{text}");
    assert!(!text.contains(wrong), "the password is echoed: {text}");

    let (st, body) = top.call(
        "POST",
        ADD,
        Some(json!({"manager/username": "rocketskates", "manager/password": PASSWORD})),
    );
    assert!((400..500).contains(&st), "no manager/url gave {st}: {body}");
    assert!(body.to_string().contains("manager/url"), "{body}");

    // Nothing listens there (a port handed out and never used).
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let (st, body) = top.call(
        "POST",
        ADD,
        Some(json!({"manager/url": nowhere, "manager/password": PASSWORD})),
    );
    assert!(st == 502 || st == 504, "unreachable gave {st}: {body}");
    assert!(body.to_string().contains(&nowhere), "{body}");

    let (st, body) = top.call("GET", "/api/v3/endpoints", None);
    assert_eq!(st, 200);
    assert_eq!(
        body,
        json!([]),
        "a refused addEndpoint registered something"
    );
}

/// The top manager lists the leaves' machines, each with its leaf's Endpoint, filters by leaf,
/// and routes a write for a leaf's machine through the lower manager to the leaf.
#[test]
fn a_two_level_hierarchy_lists_the_leaves_machines() {
    let _g = serial();
    let a = Cluster::start("leaf-a", 1);
    let b = Cluster::start("leaf-b", 1);
    let dir = tempfile::tempdir().unwrap();
    let lower = Manager::start(&dir.path().join("lower"), &["--id", "lower"]);
    for c in [&a, &b] {
        lower.register(c, &[], false);
        lower.wait_status(&c.ha_id, "connected", WAIT);
    }
    let top = Manager::start(&dir.path().join("top"), &["--id", "top"]);
    refusals(&top, &lower);

    let add = json!({"manager/url": lower.url, "manager/username": "rocketskates",
                     "manager/password": PASSWORD});
    let (st, ep) = top.call("POST", ADD, Some(add.clone()));
    assert_eq!(st, 201, "{ep}");
    assert_eq!(
        ep["Id"], "lower",
        "the Id is the lower manager's --id: {ep}"
    );
    assert_eq!(ep["Params"]["manager/url"], lower.url.as_str());
    assert!(
        !ep.to_string().contains(PASSWORD),
        "the password is shown: {ep}"
    );
    // drpcli's form (`plugins runaction manager addEndpoint ...`), the same URL again: idempotent.
    let (st, actions) = top.call("GET", "/api/v3/plugins/manager/actions", None);
    assert_eq!(st, 200, "{actions}");
    assert_eq!(actions[0]["Command"], "addEndpoint", "{actions}");
    let (st, again) = top.call(
        "POST",
        "/api/v3/plugins/manager/actions/addEndpoint",
        Some(add),
    );
    assert_eq!(st, 200, "the same URL again is idempotent: {again}");
    assert_eq!(again["Id"], "lower");
    top.wait_status("lower", "connected", WAIT);

    let ua = create_on(&a, "h-a");
    create_on(&b, "h-b");
    let both = pairs(&[("h-a", "leaf-a"), ("h-b", "leaf-b")]);
    wait(WAIT, || (listed(&top, "") == both).then_some(()))
        .unwrap_or_else(|| panic!("top lists {:?}", listed(&top, "")));
    assert_eq!(
        listed(&top, "?Endpoint=leaf-a"),
        pairs(&[("h-a", "leaf-a")])
    );
    assert_eq!(
        listed(&top, "?Endpoint=Eq(leaf-b)"),
        pairs(&[("h-b", "leaf-b")])
    );
    assert!(listed(&top, "?Endpoint=lower").is_empty());

    // A write at the top for leaf-a's machine lands on leaf-a, through the lower manager.
    let patch = json!([{"op": "add", "path": "/Description", "value": "via top"}]);
    let (st, body) = top.call("PATCH", &format!("/api/v3/machines/{ua}"), Some(patch));
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["Endpoint"], "leaf-a", "{body}");
    let (st, on_leaf) = a.nodes[0].get(&format!("/api/v3/machines/{ua}"));
    assert_eq!(st, 200, "{on_leaf}");
    assert_eq!(on_leaf["Description"], "via top", "{on_leaf}");
    let (st, at_top) = top.call("GET", &format!("/api/v3/machines/{ua}"), None);
    assert_eq!(st, 200, "{at_top}");
    assert_eq!(at_top["Description"], "via top", "{at_top}");
    assert_eq!(at_top["Endpoint"], "leaf-a", "{at_top}");

    // A create at the top naming a leaf is made on that leaf.
    let (st, made) = top.call(
        "POST",
        "/api/v3/machines",
        Some(json!({"Name": "h-top", "Endpoint": "leaf-b"})),
    );
    assert_eq!(st, 201, "{made}");
    assert_eq!(made["Endpoint"], "leaf-b", "{made}");
    let (st, on_b) = b.nodes[0].get("/api/v3/machines/Name:h-top");
    assert_eq!(st, 200, "{on_b}");
    let (st, on_a) = a.nodes[0].get("/api/v3/machines/Name:h-top");
    assert_eq!(st, 404, "created on leaf-a too: {on_a}");
    wait(WAIT, || {
        let l = listed(&top, "?Endpoint=leaf-b");
        (l == pairs(&[("h-b", "leaf-b"), ("h-top", "leaf-b")])).then_some(())
    })
    .unwrap_or_else(|| panic!("top lists {:?}", listed(&top, "")));
}
