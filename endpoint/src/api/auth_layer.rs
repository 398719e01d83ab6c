//! The authentication middleware: HTTP Basic or a Bearer token on every call but the open
//! ones, then the caller's roles against what the call needs. It answers 401 and 403 in
//! DRP's error shape; the checks themselves live in `auth`.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::auth;
use crate::node::Node;

fn unauthorized(message: &str) -> Response {
    let mut resp = ApiError::new(401, message).on("auth", "").into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"drp\""),
    );
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    resp
}

fn forbidden(user: &str, need: &auth::roles::Need) -> Response {
    ApiError::new(
        403,
        format!("{user} has no role with a claim allowing {need}"),
    )
    .on("auth", user)
    .into_response()
}

pub async fn require_auth(State(node): State<Node>, mut req: Request, next: Next) -> Response {
    // What the call demands, as its row of the route table declares it.
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str());
    let access = super::routes::access_of(matched, req.method(), req.uri().path());
    if access == super::routes::Access::Open {
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
        auth::verify_basic(&node, basic.trim()).await
    } else if let Some(bearer) = value.strip_prefix("Bearer ") {
        auth::token::verify(&node, bearer.trim())
    } else {
        Err(auth::AuthError::UnsupportedScheme)
    };
    match principal {
        Ok(p) => {
            if let Some(need) = access.need_for(&p.user).cloned() {
                // Roles are read locally too; before refusing, catch up once in case the
                // claim was granted through another member a moment ago.
                let check = |store: &crate::store::ObjectStore| match &p.machine {
                    Some(m) => auth::machine::allowed(store, m, &need),
                    None => auth::roles::allowed(store, &p.user, &need),
                };
                let allowed =
                    check(&node.store) || (node.read_barrier().await.is_ok() && check(&node.store));
                if !allowed {
                    return forbidden(&p.user, &need);
                }
            }
            let user = p.user.clone();
            req.extensions_mut().insert(p);
            auth::serve_as(user, next.run(req)).await
        }
        Err(why) => unauthorized(&why.to_string()),
    }
}
