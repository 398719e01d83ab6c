//! Users: passwords in, argon2 hashes stored, hashes never out; bearer tokens.

use access::LITERAL_NAME;
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
    /// The user, when the path holds DRP's literal `{name}` (as drppy-client sends it).
    name: Option<String>,
}

/// `GET /api/v3/users/<name>/token?ttl=<seconds>`: a signed, expiring token for `name`
/// (a user may get their own; the admin may get anyone's).
pub async fn token(
    State(node): State<Node>,
    Extension(caller): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    let name = match (name.as_str(), q.name) {
        (LITERAL_NAME, Some(from_query)) => from_query,
        (LITERAL_NAME, None) => {
            return Err(ApiError::bad_request(
                "the path names the user {name}: give the user as ?name=<user>",
            )
            .on("users", LITERAL_NAME))
        }
        _ => name,
    };
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
    let (token, exp) =
        token::issue(&node, &name, ttl).map_err(|e| ApiError::unavailable(e.to_string()))?;
    // DRP's UserToken: the token with the endpoint's Info, plus who and until when.
    let mut info = super::info::info_value(&node);
    if let Some(map) = info.as_object_mut() {
        map.insert("User".into(), json!(name));
        map.insert("Expires".into(), json!(exp));
        map.insert("Ttl".into(), json!(ttl.min(token::MAX_TTL_SECS)));
    }
    Ok(Json(json!({ "Token": token, "Info": info })).into_response())
}

/// Turns a `Password` field of a user object into `PasswordHash` (hashed here, once, so
/// the log entry and every member hold only the hash).
pub async fn hash_password_field(object: &mut Value) -> Result<(), ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Ok(());
    };
    match password::hash_field(map).await {
        Ok(_) => Ok(()),
        Err(e @ password::FieldError::NotAPassword) => {
            Err(ApiError::new(422, e.to_string()).on("users", ""))
        }
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

pub use crate::model::redact;

/// `PUT /api/v3/users/<name>/password` with DRP's `UserPassword` `{"Password": "..."}`: the
/// user's new password, hashed here (only the hash is replicated). A user may change their
/// own; others need a `password` claim on the user. Answers the user, without the hash.
/// DRP's swagger gives this call no name parameter, so its generated clients send the literal
/// `{name}`: that form sets the caller's own password.
pub async fn set_password(
    State(node): State<Node>,
    Extension(caller): Extension<Principal>,
    Path(name): Path<String>,
    head: super::commit::RequestHead,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let name = if name == LITERAL_NAME {
        caller.user
    } else {
        name
    };
    let mut wanted = super::request::parse_json(&body)?;
    if wanted.get("Password").is_none_or(Value::is_null) {
        return Err(ApiError::new(422, "Password is required").on("users", &name));
    }
    hash_password_field(&mut wanted).await?;
    let Some(hash) = wanted.get("PasswordHash").cloned() else {
        return Err(ApiError::new(422, "Password is required").on("users", &name));
    };
    let op = crate::command::Op::Patch {
        collection: "users".into(),
        key: name,
        patch: json!([{ "op": "add", "path": "/PasswordHash", "value": hash }]),
    };
    super::objects::commit(&node, &head, &body, op).await
}
