//! The manager's errors in DRP's shape ([`proto::error::ErrorBody`]), the `Type` from the
//! contract's one table so the manager and the endpoint name a status alike.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use proto::error::ErrorBody;

/// An error reply: status, the object at fault and what went wrong.
#[derive(Debug)]
pub struct ApiError {
    pub code: StatusCode,
    pub model: &'static str,
    pub key: String,
    pub messages: Vec<String>,
}

/// What every handler returns.
pub type ApiResult = Result<Response, ApiError>;

impl ApiError {
    pub fn new(code: StatusCode, model: &'static str, key: &str, messages: Vec<String>) -> Self {
        Self {
            code,
            model,
            key: key.to_owned(),
            messages,
        }
    }

    pub fn one(
        code: StatusCode,
        model: &'static str,
        key: &str,
        message: impl Into<String>,
    ) -> Self {
        Self::new(code, model, key, vec![message.into()])
    }

    /// 400 naming the object at fault.
    pub fn bad_request(model: &'static str, key: &str, message: impl Into<String>) -> Self {
        Self::one(StatusCode::BAD_REQUEST, model, key, message)
    }

    /// 409 naming the object at fault.
    pub fn conflict(model: &'static str, key: &str, message: impl Into<String>) -> Self {
        Self::one(StatusCode::CONFLICT, model, key, message)
    }

    /// 404 for `model` `id`.
    pub fn not_found(model: &'static str, id: &str) -> Self {
        Self::one(
            StatusCode::NOT_FOUND,
            model,
            id,
            format!("{model} `{id}` not found"),
        )
    }

    /// 401 saying how to authenticate.
    pub fn unauthorized(how: impl Into<String>) -> Self {
        Self::one(StatusCode::UNAUTHORIZED, "", "", how)
    }

    /// 500: the manager's own fault (its store, a client it could not build).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::one(StatusCode::INTERNAL_SERVER_ERROR, "", "", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new(self.code.as_u16(), self.model, &self.key, self.messages);
        let mut resp = (self.code, Json(body)).into_response();
        if self.code == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"drp-manager\""),
            );
        }
        resp
    }
}
