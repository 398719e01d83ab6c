//! The gateway: `ANY /<endpoint-id>/api/v3/<rest>` goes to that cluster's current leader,
//! following failover without the caller noticing. The manager's admin is forwarded with the
//! stored credentials; a caller presenting the cluster's own credentials (a token it issued,
//! or Basic for one of its users) is forwarded with exactly those, so the cluster's roles
//! apply to them (see [`crate::caller`]).
//!
//! Request bodies are buffered (up to 64 MiB) so a request can be re-sent to the new leader;
//! response bodies stream through. Reads, PUT and DELETE are retried across failover; a POST
//! or PATCH without an `Idempotency-Key` gets one from the gateway (the endpoint keeps keys in
//! its replicated state), which makes re-sending it after a lost leader safe too. Anything
//! else is re-sent only when the connection was refused (it surely never arrived).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::{ApiError, AppState};
use crate::caller::Caller;
use crate::leader::Retry;

const MAX_BODY: usize = 64 << 20;
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
const FAILOVER_DEADLINE: Duration = Duration::from_secs(15);

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

fn not_found(path: &str) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "",
        path,
        vec![format!(
            "no route {path}: the gateway serves /<endpoint-id>/api/v3/..."
        )],
    )
    .into_response()
}

/// `/<endpoint-id>/api/v3[/...]`: a path the gateway forwards (`api` is the manager's own).
pub fn is_gateway_path(path: &str) -> bool {
    let Some((id, rest)) = path.trim_start_matches('/').split_once('/') else {
        return false;
    };
    !id.is_empty() && id != "api" && (rest == "api/v3" || rest.starts_with("api/v3/"))
}

pub async fn handle(State(st): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let trimmed = path.trim_start_matches('/');
    let Some((id, rest)) = trimmed.split_once('/') else {
        return not_found(&path);
    };
    if !(rest == "api/v3" || rest.starts_with("api/v3/")) {
        return not_found(&path);
    }
    // The authentication middleware always sets this; without it, the caller's own
    // credentials are all that is forwarded (never the stored ones).
    let caller = req
        .extensions()
        .get::<Caller>()
        .copied()
        .unwrap_or(Caller::ClusterCredential);
    let Some(cluster) = st.mgr.cluster(id) else {
        // Only the manager's admin learns which endpoints are registered.
        if caller != Caller::ManagerAdmin {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "",
                "",
                vec!["the manager does not know these credentials".into()],
            )
            .into_response();
        }
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "endpoints",
            id,
            vec![format!("endpoint `{id}` is not registered")],
        )
        .into_response();
    };
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let tail = format!("/{rest}{query}");
    let method = req.method().clone();
    let mut headers = req.headers().clone();
    for h in HOP_BY_HOP {
        headers.remove(*h);
    }
    let caller_auth = headers.remove("authorization");
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "",
                &path,
                vec![format!("request body: {e} (limit {MAX_BODY} bytes)")],
            )
            .into_response()
        }
    };
    let has_key = headers.contains_key("idempotency-key");
    let retry = if matches!(
        method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    ) || has_key
    {
        Retry::Idempotent
    } else if matches!(method, Method::POST | Method::PATCH) {
        if let Ok(v) = format!("drp-manager-{}", uuid::Uuid::new_v4()).parse() {
            headers.insert(HeaderName::from_static("idempotency-key"), v);
        }
        Retry::Idempotent
    } else {
        Retry::ConnectOnly
    };
    // A cluster's own credential always goes through as it came; the manager's admin's only
    // when the cluster has no stored credentials.
    let own = caller == Caller::ClusterCredential;
    let pass_auth = (own || !cluster.has_credentials())
        .then_some(caller_auth)
        .flatten();
    let client = cluster.client();
    let build = |base: &str| {
        let mut r = client
            .request(method.clone(), format!("{base}{tail}"))
            .headers(headers.clone())
            .timeout(ATTEMPT_TIMEOUT)
            .body(body.clone());
        if let Some(a) = &pass_auth {
            r = r.header("authorization", a.clone());
        }
        r
    };
    let result = if own {
        cluster
            .send_as_caller(build, retry, FAILOVER_DEADLINE)
            .await
    } else {
        cluster.send(build, retry, FAILOVER_DEADLINE).await
    };
    match result {
        Ok(resp) => {
            let mut out = Response::builder().status(resp.status());
            if let Some(h) = out.headers_mut() {
                for (k, v) in resp.headers() {
                    if !HOP_BY_HOP.contains(&k.as_str()) {
                        h.append(k.clone(), v.clone());
                    }
                }
            }
            out.body(Body::from_stream(resp.bytes_stream()))
                .unwrap_or_else(|e| {
                    ApiError::new(StatusCode::BAD_GATEWAY, "", &path, vec![e.to_string()])
                        .into_response()
                })
        }
        Err(e) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "endpoints",
            id,
            vec![format!("cluster `{id}`: {e}")],
        )
        .into_response(),
    }
}
