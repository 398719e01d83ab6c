//! Authentication for every API call: HTTP Basic against the replicated `users` (argon2
//! hashes), or `Authorization: Bearer <token>` from `GET /api/v3/users/<name>/token`.
//!
//! Verifying an argon2 hash is slow on purpose, so a verified credential is remembered for a
//! minute under a keyed digest (never the password itself), and the hash runs on the blocking
//! pool, never on an async worker.

mod credentials;
pub mod machine;
pub mod password;
pub mod roles;
pub mod token;
pub mod visibility;

pub use credentials::{CredentialCache, Principal};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;
use crate::node::Node;

pub const ADMIN_USER: &str = "rocketskates";

tokio::task_local! {
    /// The authenticated user of the request this task is serving. Handlers build their
    /// replicated command inside the middleware's scope, so the command (and the change
    /// event every member emits for it) names who made the change.
    static CALLER: String;
}

/// The user whose request the current task serves, if it serves an authenticated one.
pub fn current_user() -> Option<String> {
    CALLER.try_with(Clone::clone).ok()
}

/// Paths DRP serves without credentials. The OpenAPI document is one: DRP's Swagger UI
/// loads it before the user authorizes, and RackN's docs fetch it with a bare `curl`. It is
/// a constant description of the code, with no state of the cluster in it.
pub(crate) fn is_open(path: &str) -> bool {
    matches!(path, "/api/v3/info" | "/api/v3/swagger.json")
}

fn unauthorized(message: &str) -> Response {
    let mut resp = ApiError::new(401, message).on("auth", "").into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"drp\""),
    );
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    resp
}

fn forbidden(user: &str, need: &roles::Need) -> Response {
    ApiError::new(
        403,
        format!("{user} has no role with a claim allowing {need}"),
    )
    .on("auth", user)
    .into_response()
}

pub async fn require_auth(State(node): State<Node>, mut req: Request, next: Next) -> Response {
    if is_open(req.uri().path()) {
        return next.run(req).await;
    }
    let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return unauthorized("authentication required (HTTP Basic or Bearer token)");
    };
    let principal = if let Some(basic) = value.strip_prefix("Basic ") {
        credentials::verify_basic(&node, basic.trim()).await
    } else if let Some(bearer) = value.strip_prefix("Bearer ") {
        token::verify(&node, bearer.trim())
    } else {
        Err("unsupported Authorization scheme (use Basic or Bearer)".to_string())
    };
    match principal {
        Ok(p) => {
            if let Some(need) = roles::required(req.method(), req.uri().path(), &p.user) {
                // Roles are read locally too; before refusing, catch up once in case the
                // claim was granted through another member a moment ago.
                let check = |store: &crate::store::ObjectStore| match &p.machine {
                    Some(m) => machine::allowed(store, m, &need),
                    None => roles::allowed(store, &p.user, &need),
                };
                let allowed =
                    check(&node.store) || (node.read_barrier().await.is_ok() && check(&node.store));
                if !allowed {
                    return forbidden(&p.user, &need);
                }
            }
            let user = p.user.clone();
            req.extensions_mut().insert(p);
            CALLER.scope(user, next.run(req)).await
        }
        Err(why) => unauthorized(&why),
    }
}
