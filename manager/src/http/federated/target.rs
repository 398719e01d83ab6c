//! Which endpoint a federated request means: the routing decisions, kept free of I/O so they
//! are tested on their own.

use std::sync::Arc;

use axum::http::StatusCode;
use proto::collections::{Collection, INDEXED_FIELDS};
use serde_json::Value;

use crate::cluster::Cluster;
use crate::http::ApiError;
use crate::replica::{Replica, ENDPOINT_FIELD};
use crate::state::Manager;

/// Why no single endpoint could be chosen for an object.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Unrouted {
    /// No endpoint holds it (in the replica).
    Nowhere,
    /// Several do, and the request did not say which.
    Several(Vec<String>),
}

impl Unrouted {
    /// 404 or 409 in DRP's shape, naming the object and what to do.
    pub(super) fn into_api(self, c: &Collection, key: &str) -> ApiError {
        match self {
            Unrouted::Nowhere => ApiError::one(
                StatusCode::NOT_FOUND,
                c.model,
                key,
                format!(
                    "{} `{key}` not found on any endpoint (name one with ?Endpoint=<id> if it \
                     was just created)",
                    c.name
                ),
            ),
            Unrouted::Several(owners) => ApiError::conflict(
                c.model,
                key,
                format!(
                    "{} `{key}` is on several endpoints ({}): name one with ?Endpoint=<id>",
                    c.name,
                    owners.join(", ")
                ),
            ),
        }
    }
}

/// The endpoint named by `?Endpoint=<id>`, if the query names one.
pub(super) fn asked_endpoint(pairs: &[(String, String)]) -> Option<&str> {
    pairs
        .iter()
        .find(|(k, v)| k == ENDPOINT_FIELD && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// The raw query without its `Endpoint` parameter (the manager's, not the cluster's), as
/// `?...` or empty.
pub(super) fn forwarded_query(raw: Option<&str>) -> String {
    let kept: Vec<&str> = raw
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(ENDPOINT_FIELD))
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

/// Every endpoint's copy of `key` in `c`: the key itself, or a unique-index lookup such as
/// `Name:fred1` as the endpoint serves it.
pub(super) fn copies(replica: &Replica, c: &Collection, key: &str) -> Vec<Value> {
    match key.split_once(':') {
        Some((field, value)) if INDEXED_FIELDS.contains(&field) => replica
            .list_shared(c.name, None)
            .into_iter()
            .filter(|o| o.get(field).and_then(Value::as_str) == Some(value))
            .map(|o| (*o).clone())
            .collect(),
        _ => replica.get(c.name, key),
    }
}

/// The endpoint of a copy.
fn endpoint_of(copy: &Value) -> Option<&str> {
    copy.get(ENDPOINT_FIELD).and_then(Value::as_str)
}

/// The endpoints holding any of `copies`, sorted, each once.
pub(super) fn holders(copies: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = copies
        .iter()
        .filter_map(endpoint_of)
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The copy a `GET` serves: the asked endpoint's, else the first endpoint's by id.
pub(super) fn pick_copy(copies: Vec<Value>, asked: Option<&str>) -> Result<Value, Unrouted> {
    let mut copies = copies;
    copies.sort_by(|a, b| endpoint_of(a).cmp(&endpoint_of(b)));
    copies
        .into_iter()
        .find(|c| asked.is_none() || endpoint_of(c) == asked)
        .ok_or(Unrouted::Nowhere)
}

/// The endpoint a write to an existing object goes to: the asked one (the replica may not
/// have seen the object yet), else its only holder.
pub(super) fn write_owner(holders: &[String], asked: Option<&str>) -> Result<String, Unrouted> {
    if let Some(a) = asked {
        return Ok(a.to_owned());
    }
    match holders {
        [] => Err(Unrouted::Nowhere),
        [one] => Ok(one.clone()),
        many => Err(Unrouted::Several(many.to_vec())),
    }
}

/// Why a create names no endpoint.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NoTarget {
    /// The body is not a JSON object.
    NotAnObject,
    /// Neither the body nor the query names one.
    Missing,
    /// `Endpoint` is there but not a non-empty string.
    NotAString,
}

impl NoTarget {
    /// 400 or 422 in DRP's shape naming the missing or bad field.
    pub(super) fn into_api(self, c: &Collection) -> ApiError {
        match self {
            NoTarget::NotAnObject => ApiError::bad_request(
                c.model,
                "",
                format!("the body of a create on {} must be a JSON object", c.name),
            ),
            NoTarget::Missing => ApiError::one(
                StatusCode::UNPROCESSABLE_ENTITY,
                c.model,
                "",
                format!(
                    "Endpoint: missing: a create on the manager names its target with \
                     `Endpoint` in the body, or is sent to /<endpoint-id>/api/v3/{}",
                    c.name
                ),
            ),
            NoTarget::NotAString => ApiError::one(
                StatusCode::UNPROCESSABLE_ENTITY,
                c.model,
                "",
                "Endpoint: must be the id of a registered endpoint (a non-empty string)",
            ),
        }
    }
}

/// The endpoint a create goes to: `Endpoint` in the body (taken out: the cluster's object
/// does not carry it), else `?Endpoint=`.
pub(super) fn create_target(body: &mut Value, asked: Option<&str>) -> Result<String, NoTarget> {
    let obj = body.as_object_mut().ok_or(NoTarget::NotAnObject)?;
    match obj.remove(ENDPOINT_FIELD) {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        Some(_) => Err(NoTarget::NotAString),
        None => asked.map(str::to_owned).ok_or(NoTarget::Missing),
    }
}

/// Where a request for `owner`'s objects goes: its own cluster, or, for a leaf of a manager
/// registered here (one level of hierarchy), that manager, with the request's path and query
/// `tail` then naming the leaf (`Endpoint=<leaf>`) so the manager routes it on.
pub(super) fn route(mgr: &Manager, owner: &str, tail: String) -> Option<(Arc<Cluster>, String)> {
    if let Some(cluster) = mgr.cluster(owner) {
        return Some((cluster, tail));
    }
    let via = mgr.cluster(&mgr.replica.origin(owner)?)?;
    Some((via, naming_leaf(tail, owner)))
}

/// `tail` with `Endpoint=<leaf>` added to its query.
fn naming_leaf(tail: String, leaf: &str) -> String {
    let pair = reqwest::Url::parse_with_params("http://h/", [(ENDPOINT_FIELD, leaf)])
        .ok()
        .and_then(|u| u.query().map(str::to_owned))
        .unwrap_or_else(|| format!("{ENDPOINT_FIELD}={leaf}"));
    let sep = if tail.contains('?') { '&' } else { '?' };
    format!("{tail}{sep}{pair}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn machines() -> &'static Collection {
        proto::collections::by_name("machines").expect("machines")
    }

    #[test]
    fn the_query_names_the_endpoint_and_is_forwarded_without_it() {
        let pairs = vec![
            ("Name".to_string(), "x".to_string()),
            ("Endpoint".to_string(), "e2".to_string()),
        ];
        assert_eq!(asked_endpoint(&pairs), Some("e2"));
        assert_eq!(asked_endpoint(&pairs[..1]), None);
        assert_eq!(
            forwarded_query(Some("Endpoint=e2&force=true")),
            "?force=true"
        );
        assert_eq!(forwarded_query(Some("Endpoint=e2")), "");
        assert_eq!(forwarded_query(None), "");
        assert_eq!(forwarded_query(Some("a=1&b=2")), "?a=1&b=2");
    }

    #[test]
    fn reads_serve_the_asked_or_first_copy_and_writes_need_one_owner() {
        let copies = vec![
            json!({"Uuid": "u", "Endpoint": "e3"}),
            json!({"Uuid": "u", "Endpoint": "e1"}),
        ];
        assert_eq!(holders(&copies), ["e1", "e3"]);
        let first = pick_copy(copies.clone(), None).expect("first");
        assert_eq!(first["Endpoint"], "e1");
        let asked = pick_copy(copies.clone(), Some("e3")).expect("asked");
        assert_eq!(asked["Endpoint"], "e3");
        assert_eq!(pick_copy(copies, Some("e9")), Err(Unrouted::Nowhere));

        assert_eq!(write_owner(&["e1".into()], None), Ok("e1".into()));
        assert_eq!(write_owner(&[], None), Err(Unrouted::Nowhere));
        assert_eq!(
            write_owner(&["e1".into(), "e3".into()], None),
            Err(Unrouted::Several(vec!["e1".into(), "e3".into()]))
        );
        assert_eq!(write_owner(&[], Some("e2")), Ok("e2".into()));
        let e = Unrouted::Several(vec!["e1".into(), "e3".into()]).into_api(machines(), "u");
        assert_eq!(e.code, StatusCode::CONFLICT);
        assert!(e.messages[0].contains("e1, e3"), "{:?}", e.messages);
        let e = Unrouted::Nowhere.into_api(machines(), "u");
        assert_eq!(e.code, StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_create_names_its_endpoint_in_the_body() {
        let mut body = json!({"Name": "m", "Endpoint": "e2"});
        assert_eq!(create_target(&mut body, None), Ok("e2".into()));
        assert_eq!(body, json!({"Name": "m"}), "Endpoint is not forwarded");
        let mut body = json!({"Name": "m"});
        assert_eq!(create_target(&mut body, Some("e1")), Ok("e1".into()));
        assert_eq!(create_target(&mut body, None), Err(NoTarget::Missing));
        let e = NoTarget::Missing.into_api(machines());
        assert_eq!(e.code, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            e.messages[0].starts_with("Endpoint: missing"),
            "{:?}",
            e.messages
        );
        let mut body = json!({"Endpoint": 7});
        assert_eq!(create_target(&mut body, None), Err(NoTarget::NotAString));
        assert_eq!(
            create_target(&mut json!([1]), None),
            Err(NoTarget::NotAnObject)
        );
    }

    #[test]
    fn a_leaf_is_named_to_the_manager_serving_it() {
        assert_eq!(
            naming_leaf("/api/v3/machines/u1".into(), "site a"),
            "/api/v3/machines/u1?Endpoint=site+a"
        );
        assert_eq!(
            naming_leaf("/api/v3/machines?force=true".into(), "b"),
            "/api/v3/machines?force=true&Endpoint=b"
        );
    }

    #[test]
    fn index_lookups_find_copies_by_field() {
        let r = Replica::default();
        r.put("e1", "machines", "u1", json!({"Uuid": "u1", "Name": "m1"}));
        r.put("e2", "machines", "u2", json!({"Uuid": "u2", "Name": "m2"}));
        let found = copies(&r, machines(), "Name:m2");
        assert_eq!(holders(&found), ["e2"]);
        assert_eq!(holders(&copies(&r, machines(), "u1")), ["e1"]);
        assert!(copies(&r, machines(), "Name:none").is_empty());
    }
}
