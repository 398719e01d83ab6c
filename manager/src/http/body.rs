//! Request bodies of the manager's objects: JSON or YAML in, bookkeeping fields dropped,
//! validated; and JSON Patch.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use versionsets::{parse_endpoints, parse_version_sets, Endpoint, VersionSet};

use crate::http::ApiError;

/// Fields the manager writes or DRP adds as bookkeeping; ignored on input.
const ENDPOINT_OUTPUT_FIELDS: &[&str] = &[
    "HaId",
    "Arch",
    "Os",
    "DRPVersion",
    "DRPUXVersion",
    "Components",
    "Plugins",
    "Prefs",
    "Global",
    "ConnectionStatus",
    "Actions",
    "ActionErrorCount",
    "ActionErrors",
    "Leader",
    "Members",
    "AppliedVersionSet",
];
pub(super) const BOOKKEEPING: &[&str] = &[
    "Validated",
    "Available",
    "Errors",
    "ReadOnly",
    "Bundle",
    "Endpoint",
    "Key",
    "Source",
    "Desired",
    "CreatedAt",
    "CreatedBy",
    "LastModifiedAt",
    "LastModifiedBy",
    "Trust",
];

fn is_json(headers: &HeaderMap, body: &[u8]) -> bool {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.contains("yaml") {
        return false;
    }
    ct.contains("json") || serde_json::from_slice::<Value>(body).is_ok()
}

fn text(body: &Bytes, model: &'static str) -> Result<String, ApiError> {
    String::from_utf8(body.to_vec()).map_err(|e| {
        ApiError::one(
            StatusCode::BAD_REQUEST,
            model,
            "",
            format!("body is not UTF-8: {e}"),
        )
    })
}

pub(super) fn strip(value: &mut Value, fields: &[&str]) {
    if let Some(obj) = value.as_object_mut() {
        for f in fields {
            obj.remove(*f);
        }
    }
}

fn json_value(body: &Bytes, model: &'static str) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::one(
            StatusCode::BAD_REQUEST,
            model,
            "",
            format!("request body:{}:{}: {e}", e.line(), e.column()),
        )
    })
}

/// Drops what the manager writes on an Endpoint (and DRP's bookkeeping) from an input.
pub(super) fn strip_endpoint_output(v: &mut Value) {
    strip(v, ENDPOINT_OUTPUT_FIELDS);
    strip(v, BOOKKEEPING);
}

/// One object of kind `what` from a JSON or YAML body: JSON goes through `from_value` after
/// `drop_output`; YAML through `parse_yaml`, which must find exactly one document.
fn parse_one<T>(
    headers: &HeaderMap,
    body: &Bytes,
    (model, what): (&'static str, &str),
    drop_output: fn(&mut Value),
    from_value: fn(Value) -> Result<T, ApiError>,
    parse_yaml: fn(&str, &str) -> Result<Vec<T>, versionsets::ParseError>,
) -> Result<T, ApiError> {
    if is_json(headers, body) {
        let mut v = json_value(body, model)?;
        drop_output(&mut v);
        versionsets::strip_drp_bookkeeping(&mut v);
        return from_value(v);
    }
    let t = text(body, model)?;
    let mut found = parse_yaml("request body", &t)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, model, "", e.lines()))?;
    if found.len() != 1 {
        return Err(ApiError::bad_request(
            model,
            "",
            format!("expected one {what}, found {}", found.len()),
        ));
    }
    Ok(found.remove(0))
}

/// Deserializes and validates an object, every problem a message of one 400.
fn validated<T: serde::de::DeserializeOwned>(
    v: Value,
    model: &'static str,
    key: fn(&T) -> &str,
    validate: fn(&T) -> Vec<versionsets::Problem>,
) -> Result<T, ApiError> {
    let obj: T =
        serde_json::from_value(v).map_err(|e| ApiError::bad_request(model, "", e.to_string()))?;
    let problems = validate(&obj);
    if !problems.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            model,
            key(&obj),
            problems.iter().map(ToString::to_string).collect(),
        ));
    }
    Ok(obj)
}

pub(super) fn parse_endpoint_body(headers: &HeaderMap, body: &Bytes) -> Result<Endpoint, ApiError> {
    parse_one(
        headers,
        body,
        ("endpoints", "Endpoint"),
        strip_endpoint_output,
        endpoint_from_value,
        parse_endpoints,
    )
}

pub(crate) fn endpoint_from_value(v: Value) -> Result<Endpoint, ApiError> {
    validated(
        v,
        "endpoints",
        |e: &Endpoint| &e.id,
        versionsets::validate_endpoint,
    )
}

pub(super) fn parse_version_set_body(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<VersionSet, ApiError> {
    parse_one(
        headers,
        body,
        ("version_sets", "VersionSet"),
        |v| strip(v, BOOKKEEPING),
        version_set_from_value,
        parse_version_sets,
    )
}

pub(super) fn version_set_from_value(v: Value) -> Result<VersionSet, ApiError> {
    validated(
        v,
        "version_sets",
        |v: &VersionSet| &v.id,
        versionsets::validate_version_set,
    )
}

pub(crate) fn apply_patch(
    mut doc: Value,
    body: &Bytes,
    model: &'static str,
    id: &str,
) -> Result<Value, ApiError> {
    let patch: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
        ApiError::one(
            StatusCode::BAD_REQUEST,
            model,
            id,
            format!("invalid JSON Patch (RFC 6902): {e}"),
        )
    })?;
    json_patch::patch(&mut doc, &patch).map_err(|e| {
        let code = if matches!(e.kind, json_patch::PatchErrorKind::TestFailed) {
            StatusCode::CONFLICT
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        ApiError::one(code, model, id, format!("patch failed: {e}"))
    })?;
    Ok(doc)
}
