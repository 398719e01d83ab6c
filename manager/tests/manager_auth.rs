//! The manager's own users, roles, claims and tokens (issue 14: "Manager auth like a DRP
//! endpoint"), with claims scoped by endpoint. Real processes: two single-node clusters
//! registered with a `drp-manager`; a role on the manager allows machines on cluster A only.
//!
//! Run: `cargo test -p manager --test manager_auth`.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

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

#[test]
fn a_user_with_claims_on_one_endpoint_only_is_refused_on_another() {
    let _g = serial();
    let (a, b) = (Cluster::start("auth-a", 1), Cluster::start("auth-b", 1));
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::start(&dir.path().join("m"), &[]);
    for c in [&a, &b] {
        m.register(c, &[], false);
    }
    for c in [&a, &b] {
        m.wait_status(&c.ha_id, "connected", WAIT);
    }
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
