//! API errors in DRP's shape: `{"Model","Key","Type","Messages":[...],"Code"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::command::error_body;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub model: String,
    pub key: String,
    pub messages: Vec<String>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            model: String::new(),
            key: String::new(),
            messages: vec![message.into()],
        }
    }

    pub fn with_messages(status: u16, messages: Vec<String>) -> Self {
        ApiError {
            status,
            model: String::new(),
            key: String::new(),
            messages,
        }
    }

    pub fn on(mut self, model: &str, key: &str) -> Self {
        self.model = model.to_string();
        self.key = key.to_string();
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }
}

/// A store failure is the server's fault: 500, with the store's message.
impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(e.to_string())
    }
}

/// The node's write and read paths: 503 without a quorum, 413 for a command nested too deeply.
impl From<crate::node::NodeError> for ApiError {
    fn from(e: crate::node::NodeError) -> Self {
        ApiError::new(e.status(), e.to_string())
    }
}

/// Certificates: 503 before the cluster CA arrived, the write path's own status for a
/// refused commit, 500 for a local fault.
impl From<crate::tls::TlsError> for ApiError {
    fn from(e: crate::tls::TlsError) -> Self {
        use crate::tls::TlsError;
        match e {
            TlsError::NoCa => ApiError::unavailable(e.to_string()),
            TlsError::Refused { status, message } => ApiError::new(status, message),
            TlsError::Malformed(_) | TlsError::Store(_) | TlsError::Internal(_) => {
                ApiError::internal(e.to_string())
            }
        }
    }
}

/// Membership changes: each variant names its status (`ClusterError::status`).
impl From<crate::cluster::ClusterError> for ApiError {
    fn from(e: crate::cluster::ClusterError) -> Self {
        ApiError::with_messages(e.status(), e.messages())
    }
}

/// Secure params: 422 for a value that does not open or a patch inside a sealed param, 403
/// for a caller without `getSecure`, naming the object at fault.
impl From<crate::secure::SecureError> for ApiError {
    fn from(e: crate::secure::SecureError) -> Self {
        let error = ApiError::new(e.status(), e.to_string());
        match e.object() {
            Some((model, key)) => error.on(model, key),
            None => error,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.messages.join("; "))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            Json(error_body(
                self.status,
                &self.model,
                &self.key,
                self.messages,
            )),
        )
            .into_response()
    }
}

/// The API's one 413: `{subject} is larger than {whose} limit of {limit}`, the limit in MiB
/// when it is a whole number of them (`2 MiB`), else in bytes, so a client knows what to
/// change.
pub fn too_large(subject: &str, whose: &str, limit: u64) -> ApiError {
    let size = if limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{limit} bytes")
    };
    ApiError::new(
        413,
        format!("{subject} is larger than {whose} limit of {size}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_names_the_limit_in_mib_or_bytes() {
        let mib = too_large("the request body", "this call's", 2 << 20).to_string();
        assert!(mib.contains("the request body is larger than this call's limit of 2 MiB"));
        let bytes = too_large("the file", "this endpoint's", 4096).to_string();
        assert!(bytes.contains("limit of 4096 bytes"), "{bytes}");
    }
}
