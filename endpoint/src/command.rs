//! The replicated command (Raft log payload) and its outcome.
//!
//! A command is built once at the member that received the HTTP request, proposed by the
//! leader, and applied by every member with `store::apply` — a pure function of
//! (state, command), with no clock, randomness or I/O besides the store.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One replicated write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Deduplication of retries: the first outcome for a key is replayed, never re-applied.
    pub idempotency: Option<Idempotency>,
    /// Wall-clock milliseconds when the command was built; stamps records and expires keys.
    pub at_ms: u64,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Idempotency {
    pub key: String,
    /// Digest of the request the key was first used with; a different request under the
    /// same key is refused instead of silently replaying an unrelated result.
    pub fingerprint: String,
    /// How long the key is remembered, from `at_ms`.
    pub ttl_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Create {
        collection: String,
        key: String,
        object: Value,
    },
    Replace {
        collection: String,
        key: String,
        object: Value,
    },
    Delete {
        collection: String,
        key: String,
    },
    SetParam {
        collection: String,
        key: String,
        param: String,
        value: Value,
    },
    DeleteParam {
        collection: String,
        key: String,
        param: String,
    },
}

impl Op {
    pub fn collection(&self) -> &str {
        match self {
            Op::Create { collection, .. }
            | Op::Replace { collection, .. }
            | Op::Delete { collection, .. }
            | Op::SetParam { collection, .. }
            | Op::DeleteParam { collection, .. } => collection,
        }
    }
}

/// The outcome of applying a command: an HTTP status and a JSON body, replayed verbatim to
/// a client that retries with the same idempotency key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub status: u16,
    pub body: Value,
}

impl Response {
    pub fn ok(status: u16, body: Value) -> Self {
        Response { status, body }
    }

    /// DRP's error shape: `{"Model","Key","Type","Messages","Code"}`.
    pub fn error(status: u16, model: &str, key: &str, message: impl Into<String>) -> Self {
        Response {
            status,
            body: error_body(status, model, key, vec![message.into()]),
        }
    }
}

pub fn error_body(status: u16, model: &str, key: &str, messages: Vec<String>) -> Value {
    serde_json::json!({
        "Model": model,
        "Key": key,
        "Type": error_type(status),
        "Messages": messages,
        "Code": status,
    })
}

fn error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "ValidationError",
        401 | 403 => "AuthError",
        404 => "NotFound",
        409 => "Conflict",
        412 => "PreconditionFailed",
        413 => "TooLarge",
        503 | 504 => "Unavailable",
        _ => "API_ERROR",
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.op {
            Op::Create {
                collection, key, ..
            } => write!(f, "create {collection}/{key}"),
            Op::Replace {
                collection, key, ..
            } => write!(f, "replace {collection}/{key}"),
            Op::Delete { collection, key } => write!(f, "delete {collection}/{key}"),
            Op::SetParam {
                collection,
                key,
                param,
                ..
            } => write!(f, "set {collection}/{key} param {param}"),
            Op::DeleteParam {
                collection,
                key,
                param,
            } => write!(f, "unset {collection}/{key} param {param}"),
        }
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.status)
    }
}
