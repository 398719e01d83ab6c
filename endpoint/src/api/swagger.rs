//! `GET /api/v3/swagger.json`: the OpenAPI 3.0.3 description of the API, generated from
//! `routes::ROUTES`, the table the router itself is built from, so it describes exactly the
//! routes and methods that are served. A `{collection}` route is described once per
//! collection of `model::COLLECTIONS` (`/machines`, `/machines/{key}`, ...).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::filter::{MAX_FILTERS, MAX_SORT_KEYS};
use super::request::MAX_BODY_DEPTH;
use super::routes::{Body, Kind, Operation, Param, Reply, Route, Verb, ROUTES};
use crate::auth::token::MAX_TTL_SECS;
use crate::model::{Collection, COLLECTIONS, INDEXED_FIELDS};

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

/// `machine_params` -> `MachineParams`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// DRP's model names are the collection names without the plural `s`.
fn singular(name: &str) -> &str {
    name.strip_suffix('s').unwrap_or(name)
}

/// The schema name of a collection's objects (`Machine`, `CatalogItem`).
fn schema_name(c: &Collection) -> String {
    pascal(singular(c.model))
}

/// Fills a table text's `{Cs}`, `{C}`, `{c}` and `{m}` for a collection.
fn fill(text: &str, c: Option<&Collection>) -> String {
    match c {
        Some(c) => text
            .replace("{Cs}", &pascal(c.name))
            .replace("{C}", &schema_name(c))
            .replace("{c}", c.name)
            .replace("{m}", singular(c.model)),
        None => text.to_string(),
    }
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn param_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

fn header_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/headers/{name}") })
}

/// The `{name}`s of an OpenAPI path, in order.
fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn path_param_doc(name: &str, path: &str, c: Option<&Collection>) -> String {
    match (name, c) {
        ("key", Some(c)) => format!(
            "The {}'s {}, or `Field:value` for a lookup on a unique field ({}), e.g. `Name:fred1`",
            singular(c.model),
            c.key_field,
            INDEXED_FIELDS.join(", ")
        ),
        ("field", _) => "The indexed field, e.g. `Name`".into(),
        ("param", _) => "The param's name (it may contain `/`)".into(),
        ("prefix", _) => "The collection (DRP's object prefix), e.g. `machines`".into(),
        ("path", _) => "The file's path (it may contain `/`; `..` is refused)".into(),
        ("id", _) => "The member's ConsensusID".into(),
        ("key", None) if path.starts_with("/jobs/") => "The job's Uuid".into(),
        ("key", None) if path.starts_with("/machines/") => "The machine's Uuid".into(),
        ("name", _) if path.starts_with("/contents/") => "The content pack's name".into(),
        ("name", _) if path.starts_with("/users/") => {
            "The user's Name (`{name}` itself: the caller, or `?name=` for a token, as DRP's generated clients send it)".into()
        }
        _ => String::new(),
    }
}

fn parameters(d: &Documented) -> Vec<Value> {
    let mut params: Vec<Value> = path_params(&d.path)
        .into_iter()
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": path_param_doc(name, &d.path, d.collection),
                "schema": { "type": "string" },
            })
        })
        .collect();
    match d.op.kind {
        Kind::Read => params.push(param_ref("StaleRead")),
        Kind::Write => params.push(param_ref("IdempotencyKey")),
        Kind::GuardedWrite => {
            params.push(param_ref("IdempotencyKey"));
            params.push(param_ref("IfMatch"));
        }
        Kind::KeyedWrite => params.push(param_ref("RequiredIdempotencyKey")),
        Kind::Open | Kind::Local => {}
    }
    for p in d.op.params {
        match p {
            Param::ListQuery => {
                for name in ["Offset", "Limit", "Sort", "Reverse", "Filters"] {
                    params.push(param_ref(name));
                }
            }
            Param::Aggregate => params.push(param_ref("Aggregate")),
            Param::ReplaceWritable => params.push(param_ref("ReplaceWritable")),
            Param::Explode => params.push(param_ref("Explode")),
            Param::Ttl => params.push(param_ref("Ttl")),
            Param::Sha256Claim => params.push(param_ref("Sha256Claim")),
        }
    }
    params
}

/// The same schema as JSON and as YAML (bodies are parsed as either).
fn json_or_yaml(schema: Value) -> Value {
    json!({
        "application/json": { "schema": schema.clone() },
        "application/yaml": { "schema": schema },
    })
}

fn request_body(d: &Documented) -> Option<Value> {
    let object = || {
        d.collection
            .map_or_else(|| json!({}), |c| schema_ref(&schema_name(c)))
    };
    let (description, content) = match d.op.body {
        Body::None => return None,
        Body::Object => {
            let description = match (d.op.verb, d.collection) {
                (Verb::Post, Some(c)) if c.generated_key => format!(
                    "The new {}; its {} is generated (a UUID) when absent",
                    singular(c.model),
                    c.key_field
                ),
                (Verb::Post, Some(c)) => {
                    format!(
                        "The new {}; its {} is required",
                        singular(c.model),
                        c.key_field
                    )
                }
                (_, Some(c)) => format!(
                    "The whole {}; its {} is the path's",
                    singular(c.model),
                    c.key_field
                ),
                (_, None) => "The object".to_string(),
            };
            (description, json_or_yaml(object()))
        }
        Body::JsonPatch => (
            "An RFC 6902 JSON Patch (`test` ops included)".into(),
            json!({
                "application/json-patch+json": { "schema": schema_ref("JsonPatch") },
                "application/json": { "schema": schema_ref("JsonPatch") },
            }),
        ),
        Body::AnyJson => (
            "The param's value: any JSON value".into(),
            json_or_yaml(json!({})),
        ),
        Body::Params => (
            "Param name to value".into(),
            json_or_yaml(schema_ref("Params")),
        ),
        Body::Password => (
            "DRP's UserPassword".into(),
            json!({ "application/json": { "schema": {
                "type": "object",
                "required": ["Password"],
                "properties": { "Password": { "type": "string", "minLength": 1 } },
            } } }),
        ),
        Body::Whoami => (
            "DRP's Whoami: Fingerprint, MacAddrs, OnDiskUUID".into(),
            json!({ "application/json": { "schema": {
                "type": "object",
                "properties": {
                    "Fingerprint": { "type": "object", "additionalProperties": true },
                    "MacAddrs": { "type": "array", "items": { "type": "string" } },
                    "OnDiskUUID": { "type": "string" },
                },
            } } }),
        ),
        Body::Prefs => (
            "Prefs to set, name to string value".into(),
            json_or_yaml(schema_ref("Prefs")),
        ),
        Body::Enroll => (
            "The node to enrol".into(),
            json!({ "application/json": { "schema": schema_ref("EnrollRequest") } }),
        ),
        Body::CertificateRequest => (
            "The joining node's ConsensusID and certificate signing request".into(),
            json!({ "application/json": { "schema": schema_ref("CertificateRequest") } }),
        ),
        Body::VersionSetApply => (
            "One merged, resolved VersionSet with the content packs and inline files it needs"
                .into(),
            json_or_yaml(schema_ref("VersionSetApplyRequest")),
        ),
        Body::ContentPack => (
            "A content pack document".into(),
            json_or_yaml(schema_ref("ContentPack")),
        ),
        Body::Bytes => (
            "The file's bytes".into(),
            json!({ "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } }),
        ),
    };
    let limit = d.route.body_limit.bytes();
    let description = format!(
        "{description}. At most {} MiB (413 beyond){}.",
        limit >> 20,
        // The bodies `request::parse_json` reads.
        if matches!(
            d.op.body,
            Body::Object
                | Body::JsonPatch
                | Body::AnyJson
                | Body::Prefs
                | Body::Params
                | Body::Password
                | Body::Whoami
        ) {
            format!(", nested at most {MAX_BODY_DEPTH} levels deep")
        } else {
            String::new()
        }
    );
    Some(json!({ "required": true, "description": description, "content": content }))
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols: the connection is now a websocket",
        200 => "OK",
        201 => "Created",
        202 => "Accepted: the job already in progress",
        204 => "No Content",
        400 => "Bad request: a malformed body, query, path or header; the messages say which",
        401 => "No valid credentials (HTTP Basic or a Bearer token)",
        403 => "Forbidden: the object belongs to a content pack, or the caller may not do this",
        404 => "Not found",
        409 => "Conflict with the current state; the messages say which",
        412 => "If-Match does not match the object's current ETag",
        413 => "The request body is larger than the call's limit, or nests or expands too far once parsed; the message names the limit",
        422 => "Invalid: each problem is in Messages; or the Idempotency-Key was used for another request",
        426 => "Upgrade Required: not a websocket handshake",
        503 => "Unavailable: no leader or quorum answered in time. A write's outcome is unknown: retry with the same Idempotency-Key",
        _ => "",
    }
}

fn success(d: &Documented, status: u16) -> Value {
    let object = || {
        d.collection
            .map_or_else(|| json!({}), |c| schema_ref(&schema_name(c)))
    };
    let mut headers = Map::new();
    headers.insert("X-DRP-Leader".into(), header_ref("Leader"));
    headers.insert("X-DRP-Commit-Index".into(), header_ref("CommitIndex"));
    let counts = |headers: &mut Map<String, Value>| {
        headers.insert(
            "X-Drp-List-Total-Count".into(),
            header_ref("ListTotalCount"),
        );
        headers.insert(
            "X-Drp-List-Filter-Count".into(),
            header_ref("ListFilterCount"),
        );
    };
    let json_body = |schema: Value| json!({ "application/json": { "schema": schema } });
    let content = match d.op.reply {
        Reply::Empty | Reply::Upgrade => None,
        Reply::Count => {
            counts(&mut headers);
            None
        }
        Reply::Object => Some(json_body(object())),
        Reply::ObjectWithEtag => {
            headers.insert("ETag".into(), header_ref("ETag"));
            Some(json_body(object()))
        }
        Reply::Objects => {
            counts(&mut headers);
            Some(json_body(json!({ "type": "array", "items": object() })))
        }
        Reply::Params => Some(json_body(schema_ref("Params"))),
        Reply::AnyJson => Some(json_body(json!({}))),
        Reply::String => Some(json_body(json!({ "type": "string" }))),
        Reply::Text => Some(json!({ "text/plain": { "schema": { "type": "string" } } })),
        Reply::Info => Some(json_body(schema_ref("Info"))),
        Reply::OpenApi => Some(json_body(
            json!({ "type": "object", "additionalProperties": true }),
        )),
        Reply::ClusterState => Some(json_body(schema_ref("ClusterState"))),
        Reply::Peers => Some(json_body(
            json!({ "type": "array", "items": schema_ref("ClusterNode") }),
        )),
        Reply::FailOverSafe => Some(json_body(schema_ref("FailOverSafe"))),
        Reply::Certificate => Some(json_body(schema_ref("CertificateReply"))),
        Reply::Prefs => Some(json_body(schema_ref("Prefs"))),
        Reply::ContentSummary => Some(json_body(schema_ref("ContentSummary"))),
        Reply::ContentSummaries => Some(json_body(
            json!({ "type": "array", "items": schema_ref("ContentSummary") }),
        )),
        Reply::ContentPack => Some(json_body(schema_ref("ContentPack"))),
        Reply::FilePaths => Some(json_body(
            json!({ "type": "array", "items": { "type": "string" } }),
        )),
        Reply::FileBytes => {
            headers.insert("X-DRP-SHA256SUM".into(), header_ref("Sha256Sum"));
            Some(json!({
                "application/octet-stream": { "schema": { "type": "string", "format": "binary" } }
            }))
        }
        Reply::FileHead => {
            headers.insert("X-DRP-SHA256SUM".into(), header_ref("Sha256Sum"));
            headers.insert("Content-Length".into(), header_ref("ContentLength"));
            None
        }
        Reply::FileMeta => Some(json_body(schema_ref("FileMeta"))),
        Reply::VersionSetApplied => Some(json_body(schema_ref("VersionSetApplied"))),
        Reply::VersionSetRecord => Some(json_body(schema_ref("VersionSetRecord"))),
        Reply::Token => Some(json_body(schema_ref("Token"))),
    };
    let mut response = json!({ "description": reason(status), "headers": headers });
    if let Some(content) = content {
        response["content"] = content;
    }
    response
}

/// The failure statuses of an operation with a DRP error body: its own and its kind's.
fn drp_errors(op: &Operation) -> BTreeSet<u16> {
    let mut errors: BTreeSet<u16> = op.errors.iter().copied().collect();
    if op.kind != Kind::Open {
        // 403: a caller whose roles hold no claim for the call (`auth::roles`).
        errors.extend([401, 403]);
    }
    if op.kind == Kind::Read {
        errors.insert(503);
    }
    if op.kind.is_write() {
        errors.extend([400, 422, 503]);
    }
    if op.body != Body::None {
        // Over the route's body limit, or too deep or too expanded once parsed.
        errors.insert(413);
    }
    if op.kind == Kind::GuardedWrite {
        errors.insert(412);
    }
    errors
}

fn responses(d: &Documented) -> Map<String, Value> {
    let mut responses = Map::new();
    for &status in d.op.ok {
        responses.insert(status.to_string(), success(d, status));
    }
    let head = d.op.verb == Verb::Head;
    let drp = drp_errors(d.op);
    let plain: BTreeSet<u16> = d.op.plain_errors.iter().copied().collect();
    for &status in drp.union(&plain) {
        let response = if drp.contains(&status) && !plain.contains(&status) && !head {
            json!({ "$ref": format!("#/components/responses/Error{status}") })
        } else {
            let mut response = json!({ "description": reason(status) });
            if status == 401 {
                response["headers"] = json!({ "WWW-Authenticate": header_ref("WwwAuthenticate") });
            }
            if !head {
                if drp.contains(&status) {
                    response["content"]["application/json"] =
                        json!({ "schema": schema_ref("Error") });
                }
                response["content"]["text/plain"] = json!({ "schema": { "type": "string" } });
            }
            response
        };
        responses.insert(status.to_string(), response);
    }
    responses
}

/// The DRP-shaped failure responses the operations refer to.
fn error_responses() -> Map<String, Value> {
    let statuses: BTreeSet<u16> = documented().iter().flat_map(|d| drp_errors(d.op)).collect();
    statuses
        .into_iter()
        .map(|status| {
            let mut response = json!({
                "description": reason(status),
                "content": { "application/json": { "schema": schema_ref("Error") } },
            });
            if status == 401 {
                response["headers"] = json!({ "WWW-Authenticate": header_ref("WwwAuthenticate") });
            }
            (format!("Error{status}"), response)
        })
        .collect()
}

fn operation(d: &Documented) -> Value {
    let mut description = fill(d.op.notes, d.collection);
    if d.op.kind == Kind::Open {
        description.push_str(if description.is_empty() { "" } else { " " });
        description.push_str("Served without credentials.");
    }
    let mut op = json!({
        "operationId": fill(d.op.id, d.collection),
        "summary": fill(d.op.summary, d.collection),
        "tags": [fill(d.route.tag, d.collection)],
        "parameters": parameters(d),
        "responses": responses(d),
    });
    if !description.is_empty() {
        op["description"] = Value::String(description);
    }
    if let Some(body) = request_body(d) {
        op["requestBody"] = body;
    }
    if d.op.kind == Kind::Open {
        op["security"] = json!([]);
    }
    op
}

/// The JSON schema of a DRP wire type (`fill::Ty`), null allowed.
fn field_schema(ty: crate::fill::Ty) -> Value {
    use crate::fill::Ty;
    let object_of = |fields: &[crate::fill::Field]| {
        let properties: Map<String, Value> = fields
            .iter()
            .map(|f| (f.name.to_string(), field_schema(f.ty)))
            .collect();
        json!({ "type": "object", "properties": properties, "additionalProperties": true })
    };
    let mut schema = match ty {
        Ty::Str => json!({ "type": "string" }),
        Ty::Bool => json!({ "type": "boolean" }),
        Ty::Int => json!({ "type": "integer" }),
        Ty::Time => json!({ "type": "string", "format": "date-time" }),
        Ty::Any => json!({}),
        Ty::StrList => json!({ "type": "array", "items": { "type": "string" } }),
        Ty::StrMap => json!({ "type": "object", "additionalProperties": { "type": "string" } }),
        Ty::Map => json!({ "type": "object", "additionalProperties": true }),
        Ty::ListMap => {
            json!({ "type": "object", "additionalProperties": { "type": "array", "items": { "type": "string" } } })
        }
        Ty::Struct(fields) => object_of(fields),
        Ty::StructList(fields) => json!({ "type": "array", "items": object_of(fields) }),
        Ty::StructMap(fields) => {
            json!({ "type": "object", "additionalProperties": object_of(fields) })
        }
    };
    if let Some(map) = schema.as_object_mut() {
        if !map.is_empty() {
            map.insert("nullable".into(), Value::Bool(true));
        }
    }
    schema
}

/// The schema of a collection's objects: loosely typed, with the key field and the fields
/// every stored object carries.
fn object_schema(c: &Collection) -> Value {
    let mut key = json!({
        "type": "string",
        "description": if c.generated_key {
            "The key (generated, a UUID, when a created object has none)"
        } else {
            "The key"
        },
    });
    if c.key_field == "Uuid" {
        key["format"] = json!("uuid");
    }
    let mut properties = Map::new();
    properties.insert(c.key_field.into(), key);
    // Params, Meta, ReadOnly and Profiles: a null in a request is the default, like an absent
    // field.
    properties.insert(
        "Params".into(),
        json!({ "type": "object", "additionalProperties": true, "nullable": true, "description": "Param name to value" }),
    );
    properties.insert(
        "Meta".into(),
        json!({ "type": "object", "additionalProperties": true, "nullable": true }),
    );
    properties.insert(
        "ReadOnly".into(),
        json!({ "type": "boolean", "nullable": true, "description": "Set on a content pack's objects: they change only with their pack" }),
    );
    properties.insert(
        "Validated".into(),
        json!({ "type": "boolean", "readOnly": true }),
    );
    properties.insert(
        "Available".into(),
        json!({ "type": "boolean", "readOnly": true, "description": "False when a reference dangles; Errors says which" }),
    );
    properties.insert(
        "Errors".into(),
        json!({ "type": "array", "items": { "type": "string" }, "readOnly": true }),
    );
    if c.name == "machines" {
        properties.insert(
            "Profiles".into(),
            json!({ "type": "array", "items": { "type": "string" }, "nullable": true }),
        );
    }
    // Every other field of DRP's model, typed as `fill` checks it (null means the default).
    for field in crate::fill::COMMON
        .iter()
        .chain(crate::fill::fields(c.name))
    {
        properties
            .entry(field.name)
            .or_insert_with(|| field_schema(field.ty));
    }
    if c.name == "users" {
        properties.insert(
            "Password".into(),
            json!({ "type": "string", "writeOnly": true, "description": "Hashed (argon2) when written; no hash is ever returned" }),
        );
    }
    json!({
        "type": "object",
        "description": format!("A DRP {} object, keyed by {}", singular(c.model), c.key_field),
        "x-drp-key": c.key_field,
        "properties": properties,
        "additionalProperties": true,
    })
}

fn schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    let mut add = |name: &str, schema: Value| {
        schemas.insert(name.to_string(), schema);
    };
    add(
        "Error",
        json!({
            "type": "object",
            "description": "DRP's error shape; Code is the HTTP status",
            "required": ["Model", "Key", "Type", "Messages", "Code"],
            "properties": {
                "Model": { "type": "string" },
                "Key": { "type": "string" },
                "Type": { "type": "string", "example": "NotFound" },
                "Messages": { "type": "array", "items": { "type": "string" } },
                "Code": { "type": "integer" },
            },
        }),
    );
    add(
        "JsonPatch",
        json!({ "type": "array", "items": schema_ref("JsonPatchOperation") }),
    );
    add(
        "JsonPatchOperation",
        json!({
            "type": "object",
            "required": ["op", "path"],
            "properties": {
                "op": { "type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"] },
                "path": { "type": "string", "description": "A JSON Pointer" },
                "from": { "type": "string", "description": "A JSON Pointer (move, copy)" },
                "value": { "description": "Any JSON value (add, replace, test)" },
            },
        }),
    );
    add(
        "Params",
        json!({ "type": "object", "additionalProperties": true, "description": "Param name to value" }),
    );
    add(
        "Prefs",
        json!({ "type": "object", "additionalProperties": { "type": "string" }, "description": "Pref name to value" }),
    );
    add(
        "Info",
        json!({
            "type": "object",
            "additionalProperties": true,
            "properties": {
                "id": { "type": "string" },
                "version": { "type": "string" },
                "ha_id": { "type": "string" },
                "ha_enabled": { "type": "boolean" },
                "ha_is_active": { "type": "boolean", "description": "Whether this member leads" },
                "ha_active_id": { "type": "string", "description": "The leader's ConsensusID" },
                "ha_consensus_id": { "type": "string" },
                "api_port": { "type": "integer" },
                "features": { "type": "array", "items": { "type": "string" } },
            },
        }),
    );
    add(
        "ClusterNode",
        json!({
            "type": "object",
            "properties": {
                "ConsensusID": { "type": "string" },
                "ConsensusAddr": { "type": "string" },
                "ApiUrl": { "type": "string" },
                "Role": { "type": "string", "enum": ["leader", "follower", "learner"] },
                "Voter": { "type": "boolean" },
                "Observer": { "type": "boolean" },
                "MatchIndex": { "type": "integer", "nullable": true },
                "Online": { "type": "boolean" },
            },
        }),
    );
    add(
        "ClusterState",
        json!({
            "type": "object",
            "properties": {
                "HaID": { "type": "string" },
                "LeaderID": { "type": "string" },
                "ActiveUri": { "type": "string" },
                "Term": { "type": "integer" },
                "CommitIndex": { "type": "integer" },
                "AppliedIndex": { "type": "integer" },
                "Nodes": { "type": "array", "items": schema_ref("ClusterNode") },
            },
        }),
    );
    add(
        "FailOverSafe",
        json!({ "type": "object", "properties": { "Safe": { "type": "boolean" } } }),
    );
    add(
        "EnrollRequest",
        json!({
            "type": "object",
            "required": ["ConsensusAddr", "ApiUrl"],
            "additionalProperties": false,
            "properties": {
                "ConsensusAddr": { "type": "string", "description": "host:port of the node's consensus listener" },
                "ApiUrl": { "type": "string", "description": "The node's API URL" },
                "Observer": { "type": "boolean", "default": false },
            },
        }),
    );
    add(
        "CertificateRequest",
        json!({
            "type": "object",
            "required": ["ConsensusID", "Csr"],
            "properties": {
                "ConsensusID": { "type": "string", "format": "uuid" },
                "Csr": { "type": "string", "description": "A PEM certificate signing request" },
            },
        }),
    );
    add(
        "CertificateReply",
        json!({
            "type": "object",
            "properties": {
                "Ca": { "type": "string", "description": "The cluster CA certificate (PEM)" },
                "Certificate": { "type": "string", "description": "The member certificate (PEM)" },
                "ApiCertificate": { "type": "string", "description": "The API certificate every member serves (PEM)" },
                "ApiKey": { "type": "string", "description": "Its private key (PEM)" },
            },
        }),
    );
    add(
        "ContentPack",
        json!({
            "type": "object",
            "required": ["meta"],
            "properties": {
                "meta": {
                    "type": "object",
                    "additionalProperties": true,
                    "required": ["Name"],
                    "properties": {
                        "Name": { "type": "string" },
                        "Version": { "type": "string" },
                        "Prerequisites": { "type": "string" },
                    },
                },
                "sections": {
                    "type": "object",
                    "description": "Collection name to (key to object)",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": { "type": "object", "additionalProperties": true },
                    },
                },
            },
        }),
    );
    add(
        "ContentSummary",
        json!({
            "type": "object",
            "properties": {
                "meta": { "type": "object", "additionalProperties": true },
                "Counts": { "type": "object", "additionalProperties": { "type": "integer" } },
            },
        }),
    );
    add(
        "FileMeta",
        json!({
            "type": "object",
            "properties": {
                "Path": { "type": "string" },
                "Sha256Sum": { "type": "string" },
                "Size": { "type": "integer" },
                "Exploded": { "type": "array", "items": { "type": "string" }, "description": "With ?explode=true: the unpacked paths" },
            },
        }),
    );
    add(
        "VersionSetApplyRequest",
        json!({
            "type": "object",
            "required": ["VersionSet"],
            "additionalProperties": false,
            "properties": {
                "VersionSet": { "type": "object", "additionalProperties": true },
                "Contents": { "type": "array", "items": schema_ref("ContentPack") },
                "Files": {
                    "type": "object",
                    "description": "Path to base64 bytes, for the VersionSet's self:// files (others are fetched by the leader)",
                    "additionalProperties": { "type": "string", "format": "byte" },
                },
            },
        }),
    );
    add(
        "VersionSetApplied",
        json!({
            "type": "object",
            "properties": {
                "Index": { "type": "integer", "description": "The Raft log index it committed at" },
                "Hash": { "type": "string" },
                "Key": { "type": "string", "description": "The Idempotency-Key" },
                "At": { "type": "string", "format": "date-time" },
            },
        }),
    );
    add(
        "VersionSetRecord",
        json!({
            "allOf": [
                schema_ref("VersionSetApplied"),
                { "type": "object", "properties": { "VersionSet": { "type": "object", "additionalProperties": true } } },
            ],
        }),
    );
    add(
        "Token",
        json!({
            "type": "object",
            "properties": {
                "Token": { "type": "string" },
                "Info": {
                    "type": "object",
                    "properties": {
                        "User": { "type": "string" },
                        "Expires": { "type": "integer", "description": "Unix seconds" },
                        "Ttl": { "type": "integer" },
                    },
                },
            },
        }),
    );
    for c in COLLECTIONS {
        add(&schema_name(c), object_schema(c));
    }
    schemas
}

fn components() -> Value {
    json!({
        "securitySchemes": {
            "basicAuth": { "type": "http", "scheme": "basic" },
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from GET /users/{name}/token; valid on every member",
            },
        },
        "schemas": schemas(),
        "responses": error_responses(),
        "parameters": {
            "IdempotencyKey": {
                "name": "Idempotency-Key",
                "in": "header",
                "description": "A retry with the same key (after a timeout or a lost leader) returns the first result and changes nothing; keys are kept for a day, across failovers",
                "schema": { "type": "string", "minLength": 1, "maxLength": 256 },
            },
            "RequiredIdempotencyKey": {
                "name": "Idempotency-Key",
                "in": "header",
                "required": true,
                "description": "Required: re-sending the same key returns the first result and changes nothing",
                "schema": { "type": "string", "minLength": 1, "maxLength": 256 },
            },
            "IfMatch": {
                "name": "If-Match",
                "in": "header",
                "description": "Only if the object's current ETag is this (`*`: only if it exists); else 412",
                "schema": { "type": "string" },
            },
            "StaleRead": {
                "name": "X-DRP-Stale-Read",
                "in": "header",
                "description": "`true` (any case) or `1`: a local read that may lag the leader, instead of a linearizable one; any other value, like none, asks for a linearizable read",
                "schema": { "type": "string", "example": "true" },
            },
            "Offset": {
                "name": "offset", "in": "query",
                "description": "Skip this many matching objects",
                "schema": { "type": "integer", "minimum": 0 },
            },
            "Limit": {
                "name": "limit", "in": "query",
                "description": "Return at most this many objects",
                "schema": { "type": "integer", "minimum": 0 },
            },
            "Sort": {
                "name": "sort", "in": "query",
                "description": format!("Sort by these fields (PascalCase) or params (any other name), in order; at most {MAX_SORT_KEYS}"),
                "schema": { "type": "array", "items": { "type": "string" }, "maxItems": MAX_SORT_KEYS },
                "style": "form",
                "explode": true,
            },
            "Reverse": {
                "name": "reverse", "in": "query",
                "description": "Reverse the order",
                "schema": { "type": "boolean" },
            },
            "Filters": {
                "name": "filters",
                "in": "query",
                "description": format!(
                    "Filters, each `Field=Op(value)`: Eq, Ne, Lt, Lte, Gt, Gte, In(a,b,...), Nin(a,b,...), Between(low,high), Except(low,high); a bare `Field=value` is Eq. PascalCase names are object fields, any other name a param. Numbers compare as numbers. A field may be filtered more than once (every filter must pass). At most {MAX_FILTERS} filters."
                ),
                // Any value: on the wire each is text (`Rank=5` is `Eq(5)`), and a repeated name
                // is a list.
                "schema": { "type": "object", "additionalProperties": {}, "maxProperties": MAX_FILTERS },
                "style": "form",
                "explode": true,
                "example": { "Name": "Eq(fred1)" },
            },
            "Aggregate": {
                "name": "aggregate", "in": "query",
                "description": "Params as the object sees them: its own, then its profiles', then the global profile's",
                "schema": { "type": "boolean" },
            },
            "ReplaceWritable": {
                "name": "replaceWritable", "in": "query",
                "description": "Let the pack take over writable objects it also defines (else 409)",
                "schema": { "type": "boolean" },
            },
            "Explode": {
                "name": "explode", "in": "query",
                "description": "Also unpack a tar or tgz upload beside it (never outside its folder)",
                "schema": { "type": "boolean" },
            },
            "Ttl": {
                "name": "ttl", "in": "query",
                "description": format!("Seconds the token is valid; more than {MAX_TTL_SECS} (30 days) is cut to that"),
                "schema": { "type": "integer", "minimum": 0, "default": 3600 },
            },
            "Sha256Claim": {
                "name": "X-DRP-SHA256SUM",
                "in": "header",
                "description": "The body's sha256 (hex); the upload is refused (422) if it differs",
                "schema": { "type": "string" },
            },
        },
        "headers": {
            "Leader": { "description": "The leader's ConsensusID, when known", "schema": { "type": "string" } },
            "CommitIndex": { "description": "The commit index this member knows", "schema": { "type": "integer" } },
            "ListTotalCount": { "description": "Objects in the collection", "schema": { "type": "integer" } },
            "ListFilterCount": { "description": "Objects that pass the filters", "schema": { "type": "integer" } },
            "ETag": { "description": "The object's version, for If-Match", "schema": { "type": "string" } },
            "Sha256Sum": { "description": "The file's sha256 (hex)", "schema": { "type": "string" } },
            "ContentLength": { "description": "The file's size", "schema": { "type": "integer" } },
            "WwwAuthenticate": { "description": "`Basic realm=\"drp\"`", "schema": { "type": "string" } },
        },
    })
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;

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

    /// The operations documented as open (`security: []`) are exactly those the auth
    /// middleware lets through without credentials.
    #[test]
    fn open_operations_are_the_auth_allow_list() {
        for (path, method, op) in operations(&doc()) {
            let open = op.get("security") == Some(&json!([]));
            let full = format!("{BASE}{path}");
            assert_eq!(open, crate::auth::is_open(&full), "{method} {full}");
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
        let source = include_str!("mod.rs").replacen(
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
        let _ = super::super::routes::routes();
    }
}
