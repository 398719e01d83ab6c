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
