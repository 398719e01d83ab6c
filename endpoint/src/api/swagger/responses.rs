//! The responses of an operation: its successes with their headers, and its failures, DRP
//! shaped (shared under `components/responses`) or plain text from axum.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::names::{header_ref, schema_name, schema_ref};
use super::{documented, Documented};
use crate::api::routes::{Body, Fence, Kind, Operation, Reply, Verb};

pub(super) fn reason(status: u16) -> &'static str {
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

pub(super) fn success(d: &Documented, status: u16) -> Value {
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
    if d.op.streaming {
        as_ndjson(&mut response);
    }
    response
}

/// A streaming reply is newline-delimited JSON (`application/x-ndjson`), not one JSON
/// document: OpenAPI 3.0 has no schema for a sequence, so the media type's schema is one
/// line's and the description says so.
fn as_ndjson(response: &mut Value) {
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(json) = content.remove("application/json") else {
        return;
    };
    content.insert("application/x-ndjson".into(), json);
    let line = "; the body is a stream of JSON values, one per line, each as the schema \
                describes, until the connection ends";
    if let Some(Value::String(d)) = response.get_mut("description") {
        d.push_str(line);
    }
}

/// The failure statuses of an operation with a DRP error body: its own and its kind's.
pub(super) fn drp_errors(op: &Operation) -> BTreeSet<u16> {
    let mut errors: BTreeSet<u16> = op.errors.iter().copied().collect();
    if op.kind != Kind::Open {
        // 403: a caller whose roles hold no claim for the call (`auth::roles`).
        errors.extend([401, 403]);
    }
    if op.fence != Fence::None {
        // No leader confirmed this member is current in time.
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

pub(super) fn responses(d: &Documented) -> Map<String, Value> {
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
pub(super) fn error_responses() -> Map<String, Value> {
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
