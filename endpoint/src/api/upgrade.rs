//! DRP's upgrade routes, per member: `POST /api/v3/system/upgrade/stage` (the binary,
//! answered with DRP's `BlobInfo`), `POST .../run` (optional `{"Args": [...]}`: the argv the
//! new binary gets instead of this process's own), `GET .../status`; and the replicated
//! `PUT .../target` (the version a rollout heads for), the first command refused until
//! every voter understands it. The logic is in `crate::upgrade`.

use std::collections::HashMap;
use std::path::Path;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::commit::{commit, Origin, RequestHead};
use super::error::ApiError;
use crate::command::Op;
use crate::node::Node;
use crate::upgrade::error::UpgradeError;
use crate::upgrade::{self, cluster_version, stage};

/// The header (or query parameter `sha256`) naming the binary's expected sha256.
pub const SHA_HEADER: &str = "x-drp-sha256";

impl From<UpgradeError> for ApiError {
    fn from(e: UpgradeError) -> Self {
        ApiError::new(e.status(), e.to_string()).on("upgrade", "")
    }
}

fn data_dir() -> Result<&'static Path, ApiError> {
    upgrade::data_dir().ok_or_else(|| ApiError::unavailable("this member is not serving yet"))
}

pub async fn stage(
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let from_header = headers.get(SHA_HEADER).map(|v| {
        v.to_str()
            .map(str::to_string)
            .map_err(|_| ApiError::bad_request(format!("{SHA_HEADER} is not text")))
    });
    let want = match (from_header.transpose()?, query.get("sha256")) {
        (Some(h), Some(q)) if !h.eq_ignore_ascii_case(q) => {
            return Err(ApiError::bad_request(format!(
                "{SHA_HEADER} ({h}) and the sha256 query ({q}) disagree"
            )))
        }
        (h, q) => h.or_else(|| q.cloned()),
    };
    if let Some(w) = &want {
        if w.len() != 64 || !w.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ApiError::bad_request(format!(
                "sha256 {w:?} is not 64 hex digits"
            )));
        }
    }
    let staged = stage::stage(data_dir()?, body, want.as_deref()).await?;
    tracing::info!(version = %staged.version, sha256 = %staged.sha256, size = staged.size,
        "upgrade binary staged");
    let blob = json!({ "Path": "upgrade/staged", "Size": staged.size });
    Ok((StatusCode::CREATED, Json(blob)).into_response())
}

pub async fn run(State(node): State<Node>, body: Bytes) -> Result<Response, ApiError> {
    let args = parse_args(&body)?;
    let status = upgrade::run::run(&node, data_dir()?, args).await?;
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}

/// The optional `{"Args": ["serve", ...]}` body of `run`.
fn parse_args(body: &[u8]) -> Result<Option<Vec<String>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::bad_request(
            "the body must be an object: {\"Args\": [...]}",
        ));
    };
    if let Some(other) = obj.keys().find(|k| *k != "Args") {
        return Err(ApiError::bad_request(format!(
            "unknown field {other:?}: only Args"
        )));
    }
    match obj.get("Args") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|a| a.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("Args must be strings")),
        Some(_) => Err(ApiError::bad_request(
            "Args must be a non-empty array of strings",
        )),
    }
}

/// `{"State","Version","Error"}` (DRP's contract), plus what this member knows of the
/// cluster's version: the effective command version, each voter's published version and
/// the replicated upgrade target.
pub async fn status(State(node): State<Node>) -> Result<Json<Value>, ApiError> {
    let mut out = serde_json::to_value(upgrade::current_status(data_dir()?))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let eff = cluster_version::of_cluster(&node);
    let members: Vec<Value> = eff
        .voters
        .iter()
        .map(|(id, version, cmd)| json!({"Id": id, "Version": version, "CommandVersion": cmd}))
        .collect();
    let target = crate::store::member_attributes::read_target(&node.store).unwrap_or_default();
    out["Cluster"] = json!({
        "CommandVersion": eff.command_version,
        "Members": members,
        "Target": target,
    });
    Ok(Json(out))
}

pub async fn target(
    State(node): State<Node>,
    head: RequestHead,
    body: Bytes,
) -> Result<Response, ApiError> {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let version = match v.get("Version").and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return Err(ApiError::bad_request("Version must be a non-empty string")),
    };
    let op = Op::SetUpgradeTarget { version };
    // The newest view of who votes and what they published, then the gate. A write, so its
    // row declares no read fence: it needs one here, after the body is checked.
    node.read_barrier().await?;
    cluster_version::require(&node, &op)?;
    commit(&node, Origin::request(&head, &body), op).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_args_are_optional_and_checked() {
        assert_eq!(parse_args(b"").unwrap(), None);
        assert_eq!(parse_args(b"{}").unwrap(), None);
        assert_eq!(
            parse_args(br#"{"Args":["serve","--x"]}"#).unwrap(),
            Some(vec!["serve".to_string(), "--x".to_string()])
        );
        for bad in [
            &br#"{"Args":[1]}"#[..],
            br#"{"Args":[]}"#,
            br#"[]"#,
            b"nope",
            br#"{"Argv":[]}"#,
        ] {
            assert_eq!(parse_args(bad).unwrap_err().status, 400);
        }
    }
}
