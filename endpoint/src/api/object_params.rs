//! DRP's whole-map params calls and the object public key:
//! `POST /<collection>/<key>/params` (replace the map), `PATCH /<collection>/<key>/params`
//! (an RFC 6902 patch of the map) and `GET /<collection>/<key>/pubkey`. Both writes become
//! one `Op::Patch` of the object's `Params`, so they commit, seal and validate like any
//! other patch; they answer the resulting map, as DRP does.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::commit::Origin;
use super::error::ApiError;
use super::objects::{parse_patch, read_target, stored, target, ObjectWrite};
use super::request::{parse_json, respond};
use crate::command::Op;
use crate::node::Node;
use crate::secure;

/// Commits `patch` on the object and answers its `Params` (or the refusal as it is).
async fn commit_params_patch(w: ObjectWrite, patch: Value) -> Result<Response, ApiError> {
    let op = Op::Patch {
        collection: w.c.name.into(),
        key: w.key,
        patch,
    };
    let outcome = super::commit::outcome(&w.node, Origin::request(&w.head, &w.body), op).await?;
    if !(200..300).contains(&outcome.status) {
        return Ok(respond(outcome));
    }
    let params = outcome.body.get("Params").cloned().unwrap_or(json!({}));
    Ok(respond(crate::command::Response {
        body: params,
        ..outcome
    }))
}

/// `POST /<collection>/<key>/params`: the object's params become exactly the body's map.
pub async fn replace_params(w: ObjectWrite) -> Result<Response, ApiError> {
    let mut params = parse_json(&w.body)?;
    let Some(map) = params.as_object_mut() else {
        return Err(
            ApiError::new(422, "params must be an object of param name to value")
                .on(w.c.model, &w.key),
        );
    };
    secure::seal_params(&w.node, target(w.c, &w.key), map).await?;
    let patch = json!([{ "op": "add", "path": "/Params", "value": params }]);
    commit_params_patch(w, patch).await
}

/// Prefixes a JSON Pointer into the params map with `/Params`.
fn under_params(pointer: &str) -> String {
    format!("/Params{pointer}")
}

/// `PATCH /<collection>/<key>/params`: an RFC 6902 patch whose paths point into the map.
pub async fn patch_params(w: ObjectWrite) -> Result<Response, ApiError> {
    let mut patch = parse_patch(&w.body, w.c, &w.key)?;
    for op in patch.as_array_mut().into_iter().flatten() {
        for field in ["path", "from"] {
            if let Some(Value::String(pointer)) = op.get_mut(field) {
                *pointer = under_params(pointer);
            }
        }
    }
    secure::seal_patch(&w.node, target(w.c, &w.key), &mut patch).await?;
    commit_params_patch(w, patch).await
}

/// `GET /<collection>/<key>/pubkey`: the object's X25519 public key (base64, as a JSON
/// string), for a client sealing a secure param value with `crypto_box`.
pub async fn pubkey(
    State(node): State<Node>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (c, key) = read_target(&node, &name, key)?;
    stored(&node, c, &key)?;
    Ok(Json(secure::public_key(&node, target(c, &key)).await?).into_response())
}
