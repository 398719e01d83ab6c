//! The table as the one authority on who may call what: every operation declares a claim,
//! and the claims resolve as DRP's path rules did before the table held them (checked for
//! all 688 calls against the old `auth::roles::required` when it was removed; the cases
//! below keep the rules in view).

use axum::http::Method;

use super::access::{operation, Claim};
use super::*;
use crate::auth::roles::Need;

fn method(verb: Verb) -> Method {
    match verb {
        Verb::Get => Method::GET,
        Verb::Head => Method::HEAD,
        Verb::Post => Method::POST,
        Verb::Put => Method::PUT,
        Verb::Patch => Method::PATCH,
        Verb::Delete => Method::DELETE,
    }
}

/// Concrete paths of a route: every collection, a key, several user names (the caller, someone
/// else, DRP's literal `{name}`), a nested file and param.
fn instances(path: &str) -> Vec<String> {
    let mut out = vec![path.to_string()];
    let mut fill = |from: &str, values: &[&str]| {
        out = out
            .iter()
            .flat_map(|p| {
                if p.contains(from) {
                    values.iter().map(|v| p.replace(from, v)).collect()
                } else {
                    vec![p.clone()]
                }
            })
            .collect();
    };
    let collections: Vec<&str> = crate::model::COLLECTIONS.iter().map(|c| c.name).collect();
    fill("{collection}", &collections);
    fill("{key}", &["k1", "a%20b"]);
    fill(
        "{name}",
        &["bob", "eve", "{name}", "%7Bname%7D", "%7bname%7d"],
    );
    fill("{*path}", &["a.iso", "isos/b.iso"]);
    fill("{*param}", &["ipmi/address"]);
    fill("{id}", &["n1"]);
    fill("{prefix}", &["machines"]);
    fill("{field}", &["Name"]);
    out
}

/// Every (method, concrete path, access) the table serves, as `bob` calls it.
fn every_call() -> Vec<(Method, String, Option<Need>, bool)> {
    let mut calls = Vec::new();
    for route in ROUTES {
        for op in route.ops {
            for path in instances(route.path) {
                let access = access_of(Some(route.path), &method(op.verb), &path);
                let open = access == Access::Open;
                calls.push((method(op.verb), path, access.need_for("bob").cloned(), open));
            }
        }
    }
    calls
}

#[test]
fn every_operation_that_is_not_open_declares_a_claim() {
    for route in ROUTES {
        for op in route.ops {
            assert!(
                op.kind == Kind::Open || op.claim != Claim::Unset,
                "{} {:?} ({}) declares no claim: add .needs(...) to its row",
                route.path,
                op.verb,
                op.id
            );
        }
    }
}

#[test]
fn only_info_and_the_openapi_document_are_open() {
    let open: Vec<(Method, String)> = every_call()
        .into_iter()
        .filter(|c| c.3)
        .map(|c| (c.0, c.1))
        .collect();
    assert_eq!(
        open,
        vec![
            (Method::GET, "/api/v3/info".to_string()),
            (Method::GET, "/api/v3/swagger.json".to_string()),
        ]
    );
    // HEAD is served by GET, and so is as open; another method of an open route is answered
    // 405 without credentials, as before the table decided it.
    for m in [Method::HEAD, Method::DELETE] {
        assert_eq!(
            access_of(Some("/api/v3/info"), &m, "/api/v3/info"),
            Access::Open
        );
    }
}

#[test]
fn calls_map_to_claims() {
    let claim = |m: Method, route: &str, path: &str| {
        access_of(Some(route), &m, path)
            .need_for("bob")
            .map(|n| n.to_string())
    };
    let c = "/api/v3/{collection}";
    let ck = "/api/v3/{collection}/{key}";
    let cases = [
        (Method::GET, c, "/api/v3/machines", Some("list on machines")),
        (
            Method::HEAD,
            c,
            "/api/v3/machines",
            Some("list on machines"),
        ),
        (
            Method::POST,
            c,
            "/api/v3/machines",
            Some("create on machines"),
        ),
        (
            Method::HEAD,
            ck,
            "/api/v3/machines/u1",
            Some("get on machines/u1"),
        ),
        (
            Method::PATCH,
            ck,
            "/api/v3/machines/u1",
            Some("update on machines/u1"),
        ),
        (
            Method::DELETE,
            ck,
            "/api/v3/profiles/p",
            Some("delete on profiles/p"),
        ),
        (
            Method::POST,
            "/api/v3/{collection}/{key}/params/{*param}",
            "/api/v3/machines/u1/params/a/b",
            Some("update on machines/u1"),
        ),
        (
            Method::GET,
            "/api/v3/users/{name}/token",
            "/api/v3/users/bob/token",
            None,
        ),
        (
            Method::GET,
            "/api/v3/users/{name}/token",
            "/api/v3/users/eve/token",
            Some("token on users/eve"),
        ),
        (
            Method::GET,
            "/api/v3/users/{name}/token",
            "/api/v3/users/%7Bname%7D/token",
            None,
        ),
        (
            Method::PUT,
            "/api/v3/users/{name}/password",
            "/api/v3/users/eve/password",
            Some("password on users/eve"),
        ),
        (
            Method::POST,
            "/api/v3/files/{*path}",
            "/api/v3/files/a/b.iso",
            Some("create on files/a/b.iso"),
        ),
        (
            Method::PUT,
            "/api/v3/files/{*path}",
            "/api/v3/files/a/b.iso",
            Some("update on files/a/b.iso"),
        ),
        (
            Method::POST,
            "/api/v3/system/consensus/enroll",
            "/api/v3/system/consensus/enroll",
            Some("action on system"),
        ),
        (
            Method::GET,
            "/api/v3/system/consensus/snapshot",
            "/api/v3/system/consensus/snapshot",
            Some("get on system"),
        ),
        (Method::GET, "/api/v3/ws", "/api/v3/ws", None),
        (
            Method::PUT,
            "/api/v3/jobs/{key}/log",
            "/api/v3/jobs/j1/log",
            Some("update on jobs/j1"),
        ),
        (
            Method::POST,
            "/api/v3/prefs",
            "/api/v3/prefs",
            Some("update on prefs"),
        ),
    ];
    for (m, route, path, want) in cases {
        assert_eq!(claim(m.clone(), route, path).as_deref(), want, "{m} {path}");
    }
}

#[test]
fn a_call_no_operation_serves_needs_the_widest_claim() {
    let widest = Some("action on *".to_string());
    let need = |matched: Option<&str>, m: Method, path: &str| {
        access_of(matched, &m, path)
            .need_for("bob")
            .map(|n| n.to_string())
    };
    // No route (404), a method a route lacks (405).
    assert_eq!(need(None, Method::GET, "/api/v3/nothing"), widest);
    let ck = "/api/v3/{collection}/{key}";
    assert_eq!(need(Some(ck), Method::POST, "/api/v3/machines/u1"), widest);
    assert_eq!(
        need(Some(ck), Method::OPTIONS, "/api/v3/machines/u1"),
        widest
    );
}

/// `/metrics` on the API port, outside the table, needs a `metrics` claim as it always has.
#[test]
fn metrics_need_a_metrics_claim() {
    let need = access_of(Some("/metrics"), &Method::GET, "/metrics");
    assert_eq!(
        need.need_for("bob").map(|n| n.to_string()).as_deref(),
        Some("list on metrics")
    );
}

#[test]
fn the_snapshot_is_always_linearizable_and_reads_are_fenced() {
    let snapshot = operation("/api/v3/system/consensus/snapshot", &Method::GET).unwrap();
    assert_eq!(snapshot.fence, Fence::Strict);
    let get = operation("/api/v3/{collection}/{key}", &Method::GET).unwrap();
    assert_eq!(get.fence, Fence::Read);
    let leader = operation("/api/v3/system/consensus/leader", &Method::GET).unwrap();
    assert_eq!(leader.fence, Fence::None);
    let patch = operation("/api/v3/{collection}/{key}", &Method::PATCH).unwrap();
    assert_eq!(patch.fence, Fence::None);
    // HEAD falls back to GET where a route has no HEAD of its own.
    let head = operation("/api/v3/files", &Method::HEAD).unwrap();
    assert_eq!(head.id, "listFiles");
}
