//! The document describes exactly the route table, in valid OpenAPI 3.0.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{json, Value};

use super::names::schema_name;
use super::parameters::path_params;
use super::{build, instances, BASE};
use crate::api::routes::ROUTES;
use crate::model::COLLECTIONS;

fn doc() -> Value {
    // Through text, as a client gets it.
    serde_json::from_str(&build().to_string()).expect("the document is JSON")
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            ops.push((path.clone(), method.clone(), op.clone()));
        }
    }
    ops
}

#[test]
fn document_is_openapi_3_0() {
    let doc = doc();
    let version = doc["openapi"].as_str().expect("openapi");
    assert!(version.starts_with("3.0."), "{version}");
    assert_eq!(doc["servers"][0]["url"], BASE);
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["basicAuth"]["scheme"], "basic");
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(
        doc["security"],
        json!([{ "basicAuth": [] }, { "bearerAuth": [] }])
    );
}

/// Every (route, method) of the table is in the document at each of its paths, and the
/// document has nothing else.
#[test]
fn every_served_route_and_method_is_documented_and_nothing_else() {
    let doc = doc();
    let mut expected = BTreeSet::new();
    for route in ROUTES {
        assert!(
            route.path.starts_with(BASE),
            "{} is outside {BASE}",
            route.path
        );
        for (path, _) in instances(route) {
            for op in route.ops {
                let new = expected.insert((path.clone(), op.verb.key().to_string()));
                assert!(new, "{} {path} is routed twice", op.verb.key());
            }
        }
    }
    let found: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(path, method, _)| (path, method))
        .collect();
    assert_eq!(found, expected);
    for c in COLLECTIONS {
        for (path, method) in [
            (format!("/{}", c.name), "get"),
            (format!("/{}", c.name), "head"),
            (format!("/{}", c.name), "post"),
            (format!("/{}/{{key}}", c.name), "patch"),
            (format!("/{}/{{key}}/params/{{param}}", c.name), "delete"),
        ] {
            assert!(
                found.contains(&(path.clone(), method.to_string())),
                "{method} {path}"
            );
        }
    }
}

/// A concrete collection path must not also be another route's: the static route would
/// shadow it in the router.
#[test]
fn each_path_belongs_to_one_route() {
    let mut owner: BTreeMap<String, &str> = BTreeMap::new();
    for route in ROUTES {
        for (path, _) in instances(route) {
            if let Some(other) = owner.insert(path.clone(), route.path) {
                assert_eq!(
                    other, route.path,
                    "{path} is both {other} and {}",
                    route.path
                );
            }
        }
    }
}

#[test]
fn path_params_are_declared() {
    for (path, method, op) in operations(&doc()) {
        let in_path: BTreeSet<&str> = path_params(&path).into_iter().collect();
        let declared: Vec<&Value> = op["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter(|p| p["in"] == "path")
            .collect();
        let names: BTreeSet<&str> = declared
            .iter()
            .map(|p| p["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, in_path, "{method} {path}");
        for p in declared {
            assert_eq!(p["required"], true, "{method} {path}: {p}");
            assert!(
                !p["description"].as_str().unwrap_or_default().is_empty(),
                "{method} {path}: describe {p}"
            );
        }
    }
}

#[test]
fn operations_have_unique_ids_and_responses() {
    let doc = doc();
    let mut ids = HashSet::new();
    for (path, method, op) in operations(&doc) {
        let id = op["operationId"].as_str().expect("operationId");
        assert!(ids.insert(id.to_string()), "operationId {id} twice");
        assert!(
            !op["summary"].as_str().unwrap_or_default().is_empty(),
            "{id}"
        );
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2') || s == "101"),
            "{method} {path}: no success response"
        );
        for (status, response) in responses {
            let response = match response["$ref"].as_str() {
                Some(r) => doc.pointer(&r[1..]).expect("resolves"),
                None => response,
            };
            assert!(
                !response["description"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty(),
                "{method} {path} {status}: no description"
            );
            if method == "head" {
                assert!(response.get("content").is_none(), "HEAD has no body");
            }
        }
    }
}

#[test]
fn every_ref_resolves() {
    fn walk(v: &Value, doc: &Value, refs: &mut usize) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    let pointer = r.strip_prefix('#').expect("local ref");
                    assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
                    *refs += 1;
                }
                map.values().for_each(|v| walk(v, doc, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, doc, refs)),
            _ => {}
        }
    }
    let doc = doc();
    let mut refs = 0;
    walk(&doc, &doc, &mut refs);
    assert!(refs > 100, "{refs} refs");
}

/// The operations documented as open (`security: []`) are exactly the two the route table
/// serves without credentials (`routes::tests` checks the table's side).
#[test]
fn open_operations_are_the_auth_allow_list() {
    for (path, method, op) in operations(&doc()) {
        let open = op.get("security") == Some(&json!([]));
        let full = format!("{BASE}{path}");
        let want = matches!(full.as_str(), "/api/v3/info" | "/api/v3/swagger.json");
        assert_eq!(open, want, "{method} {full}");
        let has_401 = op["responses"].get("401").is_some();
        assert_eq!(has_401, !open, "{method} {full}");
    }
}

/// Writes name their headers; PATCH takes a JSON Patch; lists take the list query.
#[test]
fn conventions_are_described() {
    let doc = doc();
    let refs = |op: &Value| -> Vec<String> {
        op["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["$ref"].as_str().map(str::to_string))
            .collect()
    };
    let machine = &doc["paths"]["/machines/{key}"];
    let patch = &machine["patch"];
    assert_eq!(
        patch["requestBody"]["content"]["application/json-patch+json"]["schema"]["$ref"],
        "#/components/schemas/JsonPatch"
    );
    for status in [
        "200", "400", "401", "403", "404", "409", "412", "422", "503",
    ] {
        assert!(patch["responses"].get(status).is_some(), "PATCH {status}");
    }
    let patch_refs = refs(patch);
    for p in ["IdempotencyKey", "IfMatch"] {
        assert!(
            patch_refs.contains(&format!("#/components/parameters/{p}")),
            "{p}"
        );
    }
    assert!(machine["get"]["responses"]["200"]["headers"]
        .get("ETag")
        .is_some());
    let list = &doc["paths"]["/machines"]["get"];
    for p in ["StaleRead", "Offset", "Limit", "Sort", "Reverse", "Filters"] {
        assert!(
            refs(list).contains(&format!("#/components/parameters/{p}")),
            "{p}"
        );
    }
    assert!(
        doc["paths"]["/machines"]["head"]["responses"]["200"]["headers"]
            .get("X-Drp-List-Filter-Count")
            .is_some()
    );
    let apply = &doc["paths"]["/system/versionset/apply"]["post"];
    assert!(refs(apply).contains(&"#/components/parameters/RequiredIdempotencyKey".into()));
    let machine_schema = &doc["components"]["schemas"]["Machine"];
    assert_eq!(machine_schema["x-drp-key"], "Uuid");
    assert_eq!(doc["components"]["schemas"]["Template"]["x-drp-key"], "ID");
}

/// The fields `stamp_new` gives every stored object are in each collection's schema.
#[test]
fn stamped_fields_are_documented() {
    let doc = doc();
    for c in COLLECTIONS {
        let stamped = crate::model::stamp_new(c.name, json!({}));
        let schema = &doc["components"]["schemas"][schema_name(c)]["properties"];
        for field in stamped.as_object().expect("object").keys() {
            assert!(schema.get(field).is_some(), "{}: {field}", c.name);
        }
        assert!(schema.get(c.key_field).is_some(), "{}", c.name);
    }
}

/// The router is the table: `api::router` adds no route of its own, and the table
/// builds (no method twice on a route, no conflicting paths; both would panic).
#[test]
fn router_is_built_from_the_table_only() {
    // The one route outside `/api/v3` (and so outside the document) is Prometheus's.
    let source = include_str!("../mod.rs").replacen(
        ".route(\"/metrics\", axum::routing::get(crate::metrics::http::scrape))",
        "",
        1,
    );
    for call in [
        ".route(",
        ".route_service(",
        ".nest(",
        ".merge(",
        ".fallback(",
    ] {
        assert!(
            !source.contains(call),
            "api/mod.rs calls {call}: add routes to routes::ROUTES instead"
        );
    }
    let _ = crate::api::routes::routes();
}

#[test]
fn streaming_replies_are_marked_as_the_table_declares() {
    let doc = doc();
    let marked: BTreeSet<String> = operations(&doc)
        .into_iter()
        .filter(|(_, _, op)| op["x-streaming"] == true)
        .map(|(_, _, op)| op["operationId"].as_str().expect("id").to_string())
        .collect();
    let declared: BTreeSet<String> = ROUTES
        .iter()
        .flat_map(|r| r.ops.iter())
        .filter(|op| op.streaming)
        .map(|op| op.id.to_string())
        .collect();
    assert_eq!(marked, declared);
    assert!(marked.contains("watchConsensusState"), "{marked:?}");
}

#[test]
fn the_consensus_watch_replies_ndjson_one_cluster_state_a_line() {
    let doc = doc();
    let (_, _, op) = operations(&doc)
        .into_iter()
        .find(|(_, _, op)| op["operationId"] == "watchConsensusState")
        .expect("watchConsensusState");
    let ok = &op["responses"]["200"];
    let content = ok["content"].as_object().expect("content");
    assert_eq!(
        content.keys().collect::<Vec<_>>(),
        ["application/x-ndjson"],
        "{ok}"
    );
    assert_eq!(
        content["application/x-ndjson"]["schema"]["$ref"], "#/components/schemas/ClusterState",
        "each line is one ClusterState"
    );
    let said = ok["description"].as_str().expect("description");
    assert!(said.contains("one per line"), "{said}");
    // The one-shot read stays a single JSON object.
    let (_, _, get) = operations(&doc)
        .into_iter()
        .find(|(_, _, op)| op["operationId"] == "getConsensusState")
        .expect("getConsensusState");
    assert!(get["responses"]["200"]["content"]["application/json"].is_object());
}
