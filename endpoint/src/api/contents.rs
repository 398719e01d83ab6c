//! Content packs: `GET/POST /api/v3/contents`, `GET/PUT/DELETE /api/v3/contents/<name>`.
//!
//! The handler parses and shape-checks the pack; everything that depends on the state
//! (conflicts, prerequisites) is decided in `apply` (`store::contents`), so every member
//! reaches the same verdict at the same log position.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::commit::{commit, Origin, RequestHead};
use super::error::ApiError;
use crate::command::{ContentPack, InstallMode, Op};
use crate::model;
use crate::node::Node;
use crate::packs::bundle::{pack_from_value, BundleError, MAX_PACK_BYTES};
use crate::store::CONTENTS;

/// Summaries `{meta, Counts}` of the installed packs, in name order.
pub async fn list(State(node): State<Node>) -> Result<Response, ApiError> {
    let page = node.store.list(CONTENTS, 0, None)?;
    Ok(Json(page.items).into_response())
}

/// The whole pack `{meta, sections}`, as DRP returns it.
pub async fn get_one(
    State(node): State<Node>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    match node.store.content_pack(&name)? {
        Some(pack) => Ok(Json(pack).into_response()),
        None => Err(
            ApiError::not_found(format!("content pack {name} is not installed"))
                .on(CONTENTS, &name),
        ),
    }
}

pub async fn create(
    State(node): State<Node>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    head: RequestHead,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    install(&node, &head, query, body, None).await
}

pub async fn replace(
    State(node): State<Node>,
    Path(name): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    head: RequestHead,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    install(&node, &head, query, body, Some(&name)).await
}

pub async fn remove(
    State(node): State<Node>,
    Path(name): Path<String>,
    head: RequestHead,
) -> Result<Response, ApiError> {
    commit(&node, origin(&head, b""), Op::RemoveContent { name }).await
}

/// Installs the body's pack; `named` is the name in the path of a `PUT`, which the pack's
/// own name must match.
async fn install(
    node: &Node,
    head: &RequestHead,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
    named: Option<&str>,
) -> Result<Response, ApiError> {
    let replace_writable = replace_writable(query)?;
    let body = body_bytes(body)?;
    let pack = read_pack(&body)?;
    if let Some(name) = named.filter(|n| pack.name() != *n) {
        return Err(ApiError::bad_request(format!(
            "meta.Name {:?} in the body does not match {name:?} in the path",
            pack.name()
        ))
        .on(CONTENTS, name));
    }
    let mode = if head.method == Method::PUT {
        InstallMode::Replace
    } else {
        InstallMode::Create
    };
    let op = Op::InstallContent {
        pack: Box::new(pack),
        replace_writable,
        mode,
        features: crate::packs::prereqs::advertised(),
    };
    commit(node, origin(head, &body), op).await
}

/// A content write's origin. The URI (with its query) is part of the idempotency
/// fingerprint: the same body with and without `replaceWritable` are different requests.
fn origin<'a>(head: &'a RequestHead, body: &'a [u8]) -> Origin<'a> {
    let uri = &head.uri;
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path(), |p| p.as_str());
    Origin::request(head, body).at(path)
}

/// `?replaceWritable=true` lets the pack take over writable objects it also defines.
fn replace_writable(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<bool, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!("bad query string: {}", e.body_text())).on(CONTENTS, "")
    })?;
    // A bare `?replaceWritable` asks for it.
    match query.get("replaceWritable").map(String::as_str) {
        None => Ok(false),
        Some("") => Ok(true),
        Some(value) => crate::flag::parse(value).ok_or_else(|| {
            ApiError::bad_request(format!(
                "replaceWritable must be true or false, not {value:?}"
            ))
            .on(CONTENTS, "")
        }),
    }
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        let status = e.status().as_u16();
        let message = if status == 413 {
            BundleError::TooLarge.to_string()
        } else {
            format!("could not read the request body: {}", e.body_text())
        };
        ApiError::new(status, message).on(CONTENTS, "")
    })
}

/// Parses a pack body and checks what needs no state: shape, name, sections, keys.
fn read_pack(body: &[u8]) -> Result<ContentPack, ApiError> {
    if body.len() > MAX_PACK_BYTES {
        return Err(ApiError::new(413, BundleError::TooLarge.to_string()).on(CONTENTS, ""));
    }
    // Parsed with the API's bounds on nesting and YAML alias expansion, then checked as a pack.
    let doc = super::request::parse_json(body).map_err(|e| e.on(CONTENTS, ""))?;
    let pack = pack_from_value(doc).map_err(|e| {
        let status = match e {
            BundleError::TooLarge => 413,
            BundleError::Empty | BundleError::Syntax { .. } => 400,
            _ => 422,
        };
        ApiError::new(status, e.to_string()).on(CONTENTS, "")
    })?;
    let name = pack.name().to_string();
    let mut problems = Vec::new();
    match pack.meta.get("Name") {
        Some(serde_json::Value::String(n)) if !n.is_empty() => {
            if let Some(p) = model::key_problem(n) {
                problems.push(format!("meta.Name: {p}"));
            }
        }
        Some(serde_json::Value::String(_)) | None => {
            problems.push("meta.Name is required".to_string())
        }
        Some(_) => problems.push("meta.Name must be a string".to_string()),
    }
    for (section, items) in &pack.sections {
        if model::collection(section).is_none() {
            problems.push(format!("unknown section {section:?}"));
            continue;
        }
        for (key, object) in items {
            if !object.is_object() {
                problems.push(format!("{section}/{key} is not an object"));
            }
        }
    }
    if problems.is_empty() {
        Ok(pack)
    } else {
        Err(ApiError::with_messages(422, problems).on(CONTENTS, &name))
    }
}
