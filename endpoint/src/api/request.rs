//! What every write handler needs from the HTTP request: an idempotency key, a body parsed
//! with an error naming the problem, and the read mode.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::command::{Idempotency, Op, Request};

/// Client-supplied keys are remembered for a day (across failovers, in the replicated state).
const CLIENT_KEY_TTL_MS: u64 = 24 * 60 * 60 * 1000;
/// Keys the entry member assigns itself only protect its own retries.
const AUTO_KEY_TTL_MS: u64 = 10 * 60 * 1000;
const MAX_KEY_LEN: usize = 256;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Wraps an operation into a replicated request. Every request gets a key: the client's
/// `Idempotency-Key`, or one assigned here so this member can retry safely on its own.
pub fn build(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    op: Op,
) -> Result<Request, ApiError> {
    let idempotency = match headers.get("idempotency-key") {
        Some(v) => {
            let key = v
                .to_str()
                .map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?;
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                return Err(ApiError::bad_request(format!(
                    "Idempotency-Key must be 1 to {MAX_KEY_LEN} characters"
                )));
            }
            let mut digest = Sha256::new();
            digest.update(method.as_str().as_bytes());
            digest.update([0]);
            digest.update(path.as_bytes());
            digest.update([0]);
            digest.update(body);
            Idempotency {
                key: format!("client:{key}"),
                fingerprint: hex::encode(digest.finalize()),
                ttl_ms: CLIENT_KEY_TTL_MS,
            }
        }
        None => Idempotency {
            key: format!("auto:{}", uuid::Uuid::new_v4()),
            fingerprint: String::new(),
            ttl_ms: AUTO_KEY_TTL_MS,
        },
    };
    let if_match = match headers.get("if-match") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::bad_request("If-Match must be visible ASCII"))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    Ok(Request {
        principal: crate::auth::current_user(),
        if_match,
        idempotency: Some(idempotency),
        at_ms: now_ms(),
        op,
    })
}

/// `X-DRP-Stale-Read: true` opts into a local read that may lag the leader.
pub fn wants_stale_read(headers: &HeaderMap) -> bool {
    headers
        .get("x-drp-stale-read")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// A request body as JSON, or as YAML (what people write by hand, as `drpcli` accepts).
/// Errors name the line and column.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
    let start = text.trim_start();
    if start.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; a JSON or YAML document is required",
        ));
    }
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(e) if start.starts_with(['{', '[']) => {
            Err(ApiError::bad_request(format!("invalid JSON body: {e}")))
        }
        Err(_) => serde_yaml::from_str::<serde_json::Value>(text).map_err(|e| {
            ApiError::bad_request(format!("invalid body (neither JSON nor YAML): {e}"))
        }),
    }
}

/// Waits for a linearizable read unless the client opted into a stale one.
pub async fn fence(node: &crate::node::Node, headers: &HeaderMap) -> Result<(), ApiError> {
    if wants_stale_read(headers) {
        Ok(())
    } else {
        node.read_barrier().await
    }
}

/// A committed command's outcome as the HTTP response the client gets.
pub fn respond(outcome: crate::command::Response) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = axum::http::StatusCode::from_u16(outcome.status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(outcome.body)).into_response()
}
