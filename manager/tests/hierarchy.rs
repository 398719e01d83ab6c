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

/// The endpoints `m` names in `X-DRP-Stale-Endpoints` on its machine list ("" for none).
fn stale_at(m: &Manager) -> String {
    let resp = http()
        .get(format!("{}/api/v3/machines", m.url))
        .basic_auth("rocketskates", Some(PASSWORD))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.headers()
        .get("x-drp-stale-endpoints")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// A websocket on `m`'s `path`, authenticated as the admin, registered for `pattern`.
fn event_socket(
    m: &Manager,
    path: &str,
    pattern: &str,
) -> tungstenite::WebSocket<std::net::TcpStream> {
    use base64::Engine;
    use tungstenite::client::IntoClientRequest;
    let addr = m
        .url
        .strip_prefix("http://")
        .expect("the test manager serves plain http");
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("rocketskates:{PASSWORD}"));
    req.headers_mut()
        .insert("authorization", format!("Basic {token}").parse().unwrap());
    let (mut ws, _) = tungstenite::client(req, stream).expect("websocket handshake");
    ws.send(tungstenite::Message::Text(
        format!("register {pattern}").into(),
    ))
    .unwrap();
    let ack = next_json(&mut ws);
    assert_eq!(ack["Action"], "register", "{ack}");
    ws
}

/// The next JSON message of `ws` (other frames skipped; the read timeout bounds the wait).
fn next_json(ws: &mut tungstenite::WebSocket<std::net::TcpStream>) -> serde_json::Value {
    loop {
        match ws.read().expect("a message within the read timeout") {
            tungstenite::Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            _ => continue,
        }
    }
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
/// and routes a write for a leaf's machine through the lower manager to the leaf. A leaf the
/// lower manager sees stale is stale at the top (only it), and current again with what changed
/// when it is back; `/<leaf>/api/v3/...` at the top reaches the leaf through the lower manager.
#[test]
fn a_two_level_hierarchy_lists_the_leaves_machines() {
    let _g = serial();
    let mut a = Cluster::start("leaf-a", 1);
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

    // The gateway prefix of a leaf at the top goes through the lower manager.
    let (st, via) = top.call("GET", &format!("/leaf-a/api/v3/machines/{ua}"), None);
    assert_eq!(st, 200, "{via}");
    assert_eq!(via["Uuid"], ua.as_str(), "{via}");
    assert_eq!(via["Name"], "h-a", "{via}");
    assert_eq!(stale_at(&top), "", "nothing is stale yet");

    // leaf-a stops: the lower manager's replica of it goes stale, and so does the top's.
    let all = pairs(&[("h-a", "leaf-a"), ("h-b", "leaf-b"), ("h-top", "leaf-b")]);
    a.nodes[0].kill();
    let stale = wait(WAIT, || Some(stale_at(&top)).filter(|s| !s.is_empty()));
    assert_eq!(
        stale.as_deref(),
        Some("leaf-a"),
        "only leaf-a is stale at the top (not lower, not leaf-b)"
    );
    assert_eq!(listed(&top, ""), all, "a stale leaf's machines stay listed");
    assert_eq!(stale_at(&lower), "leaf-a");

    // Back, with a machine made as soon as it answers: current again at the top, showing it.
    a.nodes[0].restart_alone(&a.ha_id);
    let back = create_on(&a, "h-back");
    let want_a = pairs(&[("h-a", "leaf-a"), ("h-back", "leaf-a")]);
    wait(WAIT, || {
        (stale_at(&top).is_empty() && listed(&top, "?Endpoint=leaf-a") == want_a).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "top: stale {:?}, leaf-a lists {:?}",
            stale_at(&top),
            listed(&top, "?Endpoint=leaf-a")
        )
    });
    let (st, via) = top.call("GET", &format!("/leaf-a/api/v3/machines/{back}"), None);
    assert_eq!(st, 200, "{via}");
    assert_eq!(via["Name"], "h-back", "{via}");
    let (st, body) = top.call("GET", "/leaf-z/api/v3/machines", None);
    assert_eq!(st, 404, "an unknown leaf: {body}");

    // The websocket proxy of a leaf at the top goes through the lower manager's to the leaf.
    let mut ws = event_socket(&top, "/leaf-b/api/v3/ws", "machines.create.*");
    let made = create_on(&b, "h-ws");
    let event = wait(WAIT, || {
        let e = next_json(&mut ws);
        (e["Key"] == made.as_str()).then_some(e)
    })
    .expect("the leaf's create event");
    assert_eq!(event["Object"]["Name"], "h-ws", "{event}");
}
