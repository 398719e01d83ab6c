//! `GET /api/v3/swagger.json`: the OpenAPI 3.0.3 description of the API, generated from
//! `routes::ROUTES`, the table the router itself is built from, so it describes exactly the
//! routes and methods that are served. A `{collection}` route is described once per
//! collection of `model::COLLECTIONS` (`/machines`, `/machines/{key}`, ...).

mod components;
mod names;
mod object_schema;
mod operation;
mod parameters;
mod request_body;
mod responses;
mod schemas;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::routes::{Operation, Route, ROUTES};
use crate::model::{Collection, COLLECTIONS};
use components::components;
use names::fill;
use operation::operation;

const OPENAPI_VERSION: &str = "3.0.3";
/// Every route is under this prefix: it is the document's server URL, and paths are
/// relative to it.
const BASE: &str = "/api/v3";

pub async fn document() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| build().to_string());
    ([(header::CONTENT_TYPE, "application/json")], body.as_str()).into_response()
}

/// One documented operation: an entry of the table at one concrete path.
struct Documented {
    /// The OpenAPI path, relative to `BASE`.
    path: String,
    route: &'static Route,
    op: &'static Operation,
    collection: Option<&'static Collection>,
}

/// The paths a route is documented at: itself, or once per collection.
fn instances(route: &'static Route) -> Vec<(String, Option<&'static Collection>)> {
    let path = route
        .path
        .strip_prefix(BASE)
        .unwrap_or(route.path)
        .replace("{*", "{");
    if path.contains("{collection}") {
        // A collection with a route of its own at the same path (`/jobs`) is described there.
        let own = |p: &str| ROUTES.iter().any(|r| r.path.strip_prefix(BASE) == Some(p));
        COLLECTIONS
            .iter()
            .map(|c| (path.replace("{collection}", c.name), Some(c)))
            .filter(|(p, _)| !own(p))
            .collect()
    } else {
        vec![(path, None)]
    }
}

fn documented() -> Vec<Documented> {
    let mut all = Vec::new();
    for route in ROUTES {
        for (path, collection) in instances(route) {
            for op in route.ops {
                all.push(Documented {
                    path: path.clone(),
                    route,
                    op,
                    collection,
                });
            }
        }
    }
    all
}

fn tags() -> Vec<Value> {
    let mut seen = BTreeSet::new();
    let mut tags = Vec::new();
    for d in documented() {
        let name = fill(d.route.tag, d.collection);
        if seen.insert(name.clone()) {
            let description = match d.collection {
                Some(c) => format!("DRP {} objects, keyed by {}", c.name, c.key_field),
                None => String::new(),
            };
            tags.push(json!({ "name": name, "description": description }));
        }
    }
    tags
}

const DESCRIPTION: &str = "A Raft-replicated Digital Rebar Provision endpoint. Any member \
accepts any request: a write is forwarded to the leader, and reads are linearizable unless \
`X-DRP-Stale-Read: true` asks for a local one. Every response carries `X-DRP-Leader` and \
`X-DRP-Commit-Index` where known. Errors are `{\"Model\",\"Key\",\"Type\",\"Messages\",\"Code\"}`, \
except the few plain-text ones axum answers itself (documented as text/plain). Objects and \
bodies are JSON; bodies may also be YAML.";

/// The whole OpenAPI document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for d in documented() {
        let item = paths
            .entry(d.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        item[d.op.verb.key()] = operation(&d);
    }
    json!({
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "drp-endpoint: Digital Rebar Provision HA endpoint",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": { "name": "Apache-2.0" },
        },
        "servers": [{ "url": BASE }],
        "security": [{ "basicAuth": [] }, { "bearerAuth": [] }],
        "tags": tags(),
        "paths": paths,
        "components": components(),
    })
}
