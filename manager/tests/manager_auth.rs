//! The manager's own users, roles, claims and tokens (issue 14: "Manager auth like a DRP
//! endpoint"), with claims scoped by endpoint. Real processes: two single-node clusters
//! registered with a `drp-manager`; a role on the manager allows machines on cluster A only.
//!
//! Run: `cargo test -p manager --test manager_auth`.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::replica::EventSocket;
use common::*;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);
/// The manager's default `--id`: the Endpoint of its own users and roles.
const MANAGER_ID: &str = "drp-manager";

enum Auth<'a> {
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

/// (status, body) of a call as `auth`.
fn as_user(auth: &Auth, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = http().request(m, url);
    r = match auth {
        Auth::Basic(u, p) => r.basic_auth(u, Some(p)),
        Auth::Bearer(t) => r.bearer_auth(t),
    };
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().unwrap();
    let st = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (
        st,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The `Endpoint` of every object in a list.
fn endpoints_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|o| o["Endpoint"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn uuids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| o["Uuid"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// A machine created through the manager on `endpoint`; its Uuid.
fn machine_on(m: &Manager, endpoint: &str, name: &str) -> String {
    let body = json!({"Name": name, "Endpoint": endpoint});
    let (st, body) = m.call("POST", "/api/v3/machines", Some(body));
    assert_eq!(st, 201, "create {name} on {endpoint}: {body}");
    body["Uuid"].as_str().unwrap().to_owned()
}

/// The machine `uuid` as the cluster's leader has it.
fn on_cluster(c: &Cluster, uuid: &str) -> Value {
    let l = wait(WAIT, || c.leader()).expect("a leader");
    let (st, body) = c.nodes[l].get(&format!("/api/v3/machines/{uuid}"));
    assert_eq!(st, 200, "{body}");
    body
}

/// Single-node clusters `auth-a` and `auth-b`, connected to a manager in `dir`.
fn two_clusters(dir: &tempfile::TempDir) -> (Cluster, Cluster, Manager) {
    let (a, b) = (Cluster::start("auth-a", 1), Cluster::start("auth-b", 1));
    let m = Manager::start(&dir.path().join("m"), &[]);
    for c in [&a, &b] {
        m.register(c, &[], false);
    }
    for c in [&a, &b] {
        m.wait_status(&c.ha_id, "connected", WAIT);
    }
    (a, b, m)
}

/// The manager's event websocket at `path` as `user`/`password`, registered for
/// `pattern`; the HTTP status when the upgrade is refused.
fn socket_as(
    m: &Manager,
    path: &str,
    user: &str,
    password: &str,
    pattern: &str,
) -> Result<EventSocket, u16> {
    use base64::Engine as _;
    use tungstenite::client::IntoClientRequest;
    let stream = std::net::TcpStream::connect(("127.0.0.1", m.port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut req = format!("ws://127.0.0.1:{}{path}", m.port)
        .into_client_request()
        .unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    req.headers_mut()
        .insert("authorization", format!("Basic {basic}").parse().unwrap());
    let mut ws = match tungstenite::client(req, stream) {
        Ok((ws, _)) => ws,
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            return Err(r.status().as_u16())
        }
        Err(e) => panic!("websocket handshake on {path}: {e}"),
    };
    ws.send(tungstenite::Message::Text(
        format!("register {pattern}").into(),
    ))
    .unwrap();
    let mut socket = EventSocket(ws);
    let ack = socket.next();
    assert_eq!(ack["Action"], "register", "{ack}");
    Ok(socket)
}

/// The next `machines` event on `socket` (other messages skipped).
fn next_machine_event(socket: &mut EventSocket) -> Value {
    loop {
        let e = socket.next();
        if e["Type"] == "machines" {
            return e;
        }
    }
}

#[test]
fn a_users_event_stream_carries_only_the_endpoints_it_may_read() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let (_a, _b, m) = two_clusters(&dir);
    let claims =
        json!([{"Scope": "machines", "Action": "*", "Specific": "*", "Endpoint": "auth-a"}]);
    let role = json!({"Name": "a-machines", "Claims": claims.clone()});
    let (st, body) = m.call("POST", "/api/v3/roles", Some(role));
    assert_eq!(st, 201, "{body}");
    let user = json!({"Name": "ops", "Password": "ops-pw", "Roles": ["a-machines"]});
    let (st, body) = m.call("POST", "/api/v3/users", Some(user));
    assert_eq!(st, 201, "{body}");

    // The user's socket needs no claim on the manager itself; the admin's sees everything.
    let mut ops = socket_as(&m, "/api/v3/ws", "ops", "ops-pw", "machines.*.*").unwrap();
    let admin_user = proto::paths::ADMIN_USER;
    let mut admin = socket_as(&m, "/api/v3/ws", admin_user, PASSWORD, "machines.*.*").unwrap();

    // B's machine first, then A's: the user's first machine event is A's create.
    let on_b = machine_on(&m, "auth-b", "ev-b-1");
    let on_a = machine_on(&m, "auth-a", "ev-a-1");
    let first = next_machine_event(&mut ops);
    assert_eq!(first["Endpoint"], "auth-a", "{first}");
    assert_eq!(
        (&first["Action"], &first["Key"]),
        (&json!("create"), &json!(on_a)),
        "{first}"
    );
    // Another of each: no B event arrives before A's later create.
    let on_b2 = machine_on(&m, "auth-b", "ev-b-2");
    let on_a2 = machine_on(&m, "auth-a", "ev-a-2");
    loop {
        let e = next_machine_event(&mut ops);
        assert_eq!(
            e["Endpoint"], "auth-a",
            "an event of B reached the user: {e}"
        );
        assert!(e["Key"] != json!(on_b) && e["Key"] != json!(on_b2), "{e}");
        if e["Action"] == "create" && e["Key"] == json!(on_a2) {
            break;
        }
    }

    // The admin's socket carries all four creates, each with its Endpoint.
    let mut want = vec![
        (on_b, "auth-b"),
        (on_a, "auth-a"),
        (on_b2, "auth-b"),
        (on_a2, "auth-a"),
    ];
    while !want.is_empty() {
        let e = next_machine_event(&mut admin);
        if e["Action"] != "create" {
            continue;
        }
        let key = e["Key"].as_str().unwrap_or_default().to_owned();
        let at = want.iter().position(|(k, _)| *k == key);
        let (_, endpoint) = want.remove(at.unwrap_or_else(|| panic!("unexpected create: {e}")));
        assert_eq!(e["Endpoint"], endpoint, "{e}");
    }

    // A role change reaches an open socket (its claims are re-read within a bound): once
    // the role covers B too, a round of B then A brings B's create first. Rounds until then.
    let both = json!([{"Scope": "machines", "Action": "*", "Specific": "*",
        "Endpoint": "auth-a,auth-b"}]);
    let (st, body) = m.call(
        "PUT",
        "/api/v3/roles/a-machines",
        Some(json!({"Name": "a-machines", "Claims": both})),
    );
    assert_eq!(st, 200, "{body}");
    let mut round = 0;
    let seen_b = wait(WAIT, || {
        round += 1;
        let b = machine_on(&m, "auth-b", &format!("ev-b-round-{round}"));
        let a = machine_on(&m, "auth-a", &format!("ev-a-round-{round}"));
        loop {
            let e = next_machine_event(&mut ops);
            if e["Key"] == json!(b) {
                return Some(e);
            }
            if e["Action"] == "create" && e["Key"] == json!(a) {
                return None;
            }
        }
    })
    .expect("B's events reach the user after its role covers B");
    assert_eq!(seen_b["Endpoint"], "auth-b", "{seen_b}");
    let (st, body) = m.call(
        "PUT",
        "/api/v3/roles/a-machines",
        Some(json!({"Name": "a-machines", "Claims": claims})),
    );
    assert_eq!(st, 200, "{body}");

    // The gateway's proxy of B's socket is refused before the upgrade; A's is served.
    let refused = socket_as(&m, "/auth-b/api/v3/ws", "ops", "ops-pw", "machines.*.*");
    assert_eq!(refused.err(), Some(403));
    let mut via_a = socket_as(&m, "/auth-a/api/v3/ws", "ops", "ops-pw", "*.*.*").unwrap();
    // A profile on A, which ops may not get, then a machine: only the machine comes through.
    let profile = json!({"Name": "not-for-ops", "Endpoint": "auth-a"});
    let (st, body) = m.call("POST", "/api/v3/profiles", Some(profile));
    assert_eq!(st, 201, "{body}");
    let on_a3 = machine_on(&m, "auth-a", "ev-a-3");
    let e = loop {
        let e = via_a.next();
        if e["Type"] != "websocket" {
            break e;
        }
    };
    assert_eq!(e["Type"], "machines", "{e}");
    assert_eq!(
        (&e["Action"], &e["Key"]),
        (&json!("create"), &json!(on_a3)),
        "{e}"
    );
}

#[test]
fn a_user_with_claims_on_one_endpoint_only_is_refused_on_another() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, m) = two_clusters(&dir);
    let on_a = machine_on(&m, "auth-a", "ma-1");
    let on_b = machine_on(&m, "auth-b", "mb-1");

    // A role and a user of the manager's own: no Endpoint means the manager.
    let claims =
        json!([{"Scope": "machines", "Action": "*", "Specific": "*", "Endpoint": "auth-a"}]);
    let (st, role) = m.call(
        "POST",
        "/api/v3/roles",
        Some(json!({"Name": "a-machines", "Claims": claims})),
    );
    assert_eq!(st, 201, "{role}");
    assert_eq!(role["Endpoint"], MANAGER_ID, "{role}");
    let user = json!({"Name": "ops", "Password": "ops-pw", "Roles": ["a-machines"]});
    let (st, created) = m.call("POST", "/api/v3/users", Some(user));
    assert_eq!(st, 201, "{created}");
    assert_eq!(created["Endpoint"], MANAGER_ID, "{created}");
    assert!(created.get("PasswordHash").is_none() && created.get("Password").is_none());
    // A role naming a role that does not exist is refused, naming it.
    let bad = json!({"Name": "x", "Password": "p", "Roles": ["nope"]});
    let (st, body) = m.call("POST", "/api/v3/users", Some(bad));
    assert_eq!(st, 422, "{body}");
    assert!(body.to_string().contains("nope"), "{body}");

    // The federated users list holds the manager's own, masked, beside the clusters'.
    let (st, users) = m.call("GET", "/api/v3/users?Name=ops", None);
    assert_eq!(st, 200, "{users}");
    assert_eq!(endpoints_of(&users), [MANAGER_ID], "{users}");
    assert!(users[0].get("PasswordHash").is_none(), "{users}");
    let (_, admins) = m.call("GET", "/api/v3/users?Name=rocketskates", None);
    let mut owners = endpoints_of(&admins);
    owners.sort();
    assert_eq!(owners, ["auth-a", "auth-b", MANAGER_ID], "{admins}");

    // The manager addressed like an endpoint, /<manager-id>/api/v3/...: its own objects.
    let viewer = json!({"Name": "viewer", "Claims": [{"Scope": "machines", "Action": "list"}]});
    let own = format!("/{MANAGER_ID}/api/v3/roles");
    let (st, body) = m.call("POST", &own, Some(viewer));
    assert_eq!(st, 201, "{body}");
    assert_eq!(body["Endpoint"], MANAGER_ID, "{body}");
    let (st, roles) = m.call("GET", &own, None);
    assert_eq!(st, 200, "{roles}");
    assert_eq!(endpoints_of(&roles), [MANAGER_ID; 3], "{roles}");
    let (st, body) = m.call("DELETE", &format!("{own}/viewer"), None);
    assert_eq!(st, 200, "{body}");
    let (st, _) = m.call("GET", "/api/v3/roles/viewer", None);
    assert_eq!(st, 404);

    let ops = Auth::Basic("ops", "ops-pw");
    let url = |p: &str| format!("{}{p}", m.url);

    // Listing machines shows only cluster A's.
    let (st, list) = as_user(&ops, "GET", &url("/api/v3/machines"), None);
    assert_eq!(st, 200, "{list}");
    assert!(endpoints_of(&list).iter().all(|e| e == "auth-a"), "{list}");
    assert!(uuids_of(&list).contains(&on_a), "{list}");
    assert!(!uuids_of(&list).contains(&on_b), "{list}");

    // B's machine is hidden from a get and its PATCH is refused; nothing changes on B.
    let (st, body) = as_user(&ops, "GET", &url(&format!("/api/v3/machines/{on_b}")), None);
    assert_eq!(st, 404, "{body}");
    let patch = json!([{"op": "add", "path": "/Description", "value": "by ops"}]);
    let b_path = url(&format!("/api/v3/machines/{on_b}"));
    let (st, body) = as_user(&ops, "PATCH", &b_path, Some(patch.clone()));
    assert_eq!(st, 403, "{body}");
    assert!(body.to_string().contains("update on machines"), "{body}");
    assert_ne!(on_cluster(&b, &on_b)["Description"], "by ops");
    // Through the gateway too.
    let gw_b = url(&format!("/auth-b/api/v3/machines/{on_b}"));
    let (st, body) = as_user(&ops, "PATCH", &gw_b, Some(patch.clone()));
    assert_eq!(st, 403, "{body}");
    assert_ne!(on_cluster(&b, &on_b)["Description"], "by ops");

    // A's machine: the PATCH works and lands on A.
    let a_path = url(&format!("/api/v3/machines/{on_a}"));
    let (st, body) = as_user(&ops, "PATCH", &a_path, Some(patch));
    assert_eq!(st, 200, "{body}");
    assert_eq!(on_cluster(&a, &on_a)["Description"], "by ops");
    // ... and the gateway forwards ops' call on A with the manager's stored credentials.
    let gw_a = url(&format!("/auth-a/api/v3/machines/{on_a}"));
    let (st, body) = as_user(&ops, "GET", &gw_a, None);
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["Description"], "by ops");

    // The manager's own API needs claims on it: none here.
    let (st, body) = as_user(&ops, "GET", &url("/api/v3/endpoints"), None);
    assert_eq!(st, 403, "{body}");
    let (st, body) = as_user(
        &ops,
        "POST",
        &url("/api/v3/users"),
        Some(json!({"Name": "evil", "Password": "p", "Roles": ["superuser"]})),
    );
    assert_eq!(st, 403, "{body}");
    let (st, evil) = m.call("GET", "/api/v3/users?Name=evil", None);
    assert_eq!((st, evil), (200, json!([])));

    // A token works like the password.
    let (st, tok) = as_user(&ops, "GET", &url("/api/v3/users/ops/token?ttl=600"), None);
    assert_eq!(st, 200, "{tok}");
    let token = tok["Token"].as_str().unwrap().to_owned();
    let bearer = Auth::Bearer(&token);
    let (st, list) = as_user(&bearer, "GET", &url("/api/v3/machines"), None);
    assert_eq!(st, 200, "{list}");
    assert!(endpoints_of(&list).iter().all(|e| e == "auth-a"), "{list}");
    assert!(uuids_of(&list).contains(&on_a), "{list}");
    let (st, _) = as_user(
        &bearer,
        "GET",
        &url(&format!("/api/v3/machines/{on_b}")),
        None,
    );
    assert_eq!(st, 404);
    let (st, _) = as_user(&bearer, "GET", &url("/api/v3/endpoints"), None);
    assert_eq!(st, 403);
    // Another user's token needs a claim.
    let (st, _) = as_user(&ops, "GET", &url("/api/v3/users/rocketskates/token"), None);
    assert_eq!(st, 403);

    // A wrong password is a 401, on the manager's API and on the gateway alike.
    let wrong = Auth::Basic("ops", "not-it");
    let (st, _) = as_user(&wrong, "GET", &url("/api/v3/machines"), None);
    assert_eq!(st, 401);
    let (st, _) = as_user(&wrong, "GET", &url("/auth-a/api/v3/machines"), None);
    assert_eq!(st, 401);

    // A user changes its own password with no claim for it (also by DRP's literal `{name}`);
    // another's needs one; the admin's is the flag's; a missing Password is a 422.
    let pw = |p: &str| Some(json!({ "Password": p }));
    let (st, body) = as_user(
        &ops,
        "PUT",
        &url("/api/v3/users/ops/password"),
        pw("ops-pw2"),
    );
    assert_eq!(st, 200, "{body}");
    assert!(body.get("PasswordHash").is_none(), "{body}");
    let (st, _) = as_user(&ops, "GET", &url("/api/v3/machines"), None);
    assert_eq!(st, 401, "the old password no longer works");
    let ops = Auth::Basic("ops", "ops-pw2");
    let (st, _) = as_user(&ops, "GET", &url("/api/v3/machines"), None);
    assert_eq!(st, 200);
    let literal = url("/api/v3/users/%7Bname%7D/password");
    let (st, body) = as_user(&ops, "PUT", &literal, pw("ops-pw"));
    assert_eq!(st, 200, "{body}");
    let ops = Auth::Basic("ops", "ops-pw");
    let (st, body) = as_user(&ops, "PUT", &literal, Some(json!({})));
    assert_eq!(st, 422, "{body}");
    let (st, _) = as_user(
        &ops,
        "PUT",
        &url("/api/v3/users/rocketskates/password"),
        pw("x"),
    );
    assert_eq!(st, 403);
    let (st, body) = m.call("PUT", "/api/v3/users/rocketskates/password", pw("x"));
    assert_eq!(st, 409, "{body}");
    let (st, body) = m.call("PUT", "/api/v3/users/nobody/password", pw("x"));
    assert_eq!(st, 404, "{body}");
    assert!(body.to_string().contains("on its cluster"), "{body}");
    let (st, _) = as_user(&bearer, "GET", &url("/api/v3/machines"), None);
    assert_eq!(st, 200, "a token stays valid after a password change");

    // The user survives a manager restart, and a deleted user's token dies with it.
    let mut m = m;
    m.restart();
    let url = |p: &str| format!("{}{p}", m.url);
    let (st, _) = as_user(&bearer, "GET", &url("/api/v3/machines"), None);
    assert_eq!(st, 200);
    let (st, body) = m.call("DELETE", "/api/v3/users/ops", None);
    assert_eq!(st, 200, "{body}");
    let (st, _) = as_user(&bearer, "GET", &url("/api/v3/machines"), None);
    assert_eq!(st, 401);
}
