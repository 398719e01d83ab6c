//! Users: passwords in, argon2 hashes stored, hashes never out; bearer tokens.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::auth::{password, token, Principal, ADMIN_USER};
use crate::node::Node;

#[derive(Deserialize)]
pub struct TokenQuery {
    ttl: Option<u64>,
}

/// `GET /api/v3/users/<name>/token?ttl=<seconds>`: a signed, expiring token for `name`
/// (a user may get their own; the admin may get anyone's).
pub async fn token(
    State(node): State<Node>,
    Extension(caller): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    if caller.user != name && caller.user != ADMIN_USER {
        return Err(ApiError::new(
            403,
            format!("{} may not get a token for {name}", caller.user),
        )
        .on("users", &name));
    }
    if node.store.get("users", &name)?.is_none() {
        return Err(ApiError::not_found(format!("users/{name} not found")).on("users", &name));
    }
    let ttl = q.ttl.unwrap_or(3600);
    let (token, exp) = token::issue(&node, &name, ttl).map_err(ApiError::unavailable)?;
    Ok(Json(json!({ "Token": token, "Info": { "User": name, "Expires": exp, "Ttl": ttl.min(token::MAX_TTL_SECS) } }))
        .into_response())
}

/// Turns a `Password` field of a user object into `PasswordHash` (hashed here, once, so
/// the log entry and every member hold only the hash).
pub async fn hash_password_field(object: &mut Value) -> Result<(), ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Ok(());
    };
    map.remove("PasswordHash");
    let Some(pw) = map.remove("Password") else {
        return Ok(());
    };
    let Value::String(pw) = pw else {
        return Err(ApiError::new(422, "Password must be a string").on("users", ""));
    };
    if pw.is_empty() {
        return Err(ApiError::new(422, "Password must not be empty").on("users", ""));
    }
    let hashed = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::internal)?;
    map.insert("PasswordHash".into(), Value::String(hashed));
    Ok(())
}

pub use crate::model::redact;
