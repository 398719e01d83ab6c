//! Endpoint-wide state outside the object collections: prefs, installed content packs and
//! stored files.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::commit::{commit, Origin, RequestHead};
use super::error::ApiError;
use super::request::parse_json;
use crate::command::Op;
use crate::node::Node;

pub async fn get_prefs(State(node): State<Node>) -> Result<Response, ApiError> {
    Ok(Json(node.store.prefs()?).into_response())
}

pub async fn set_prefs(
    State(node): State<Node>,
    head: RequestHead,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Value::Object(map) = parse_json(&body)? else {
        return Err(
            ApiError::new(422, "prefs must be a JSON object of name to string value")
                .on("prefs", ""),
        );
    };
    let mut prefs = std::collections::BTreeMap::new();
    let mut problems = Vec::new();
    for (name, value) in map {
        match value {
            Value::String(s) => {
                prefs.insert(name, s);
            }
            other => problems.push(format!("pref {name}: value must be a string, got {other}")),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::with_messages(422, problems).on("prefs", ""));
    }
    let origin = Origin::request(&head, &body);
    commit(&node, origin, Op::SetPrefs { prefs }).await
}
