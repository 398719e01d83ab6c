//! The gateway: `ANY /<endpoint-id>/api/v3/<rest>` goes to that cluster's current leader,
//! following failover without the caller noticing. The manager's admin is forwarded with the
//! stored credentials; a caller presenting the cluster's own credentials (a token it issued,
//! or Basic for one of its users) is forwarded with exactly those, so the cluster's roles
//! apply to them (see [`crate::http::auth`]).
//!
//! Request bodies are buffered (up to 64 MiB) so a request can be re-sent to the new leader;
//! response bodies stream through. Reads, PUT and DELETE are retried across failover; a POST
//! or PATCH without an `Idempotency-Key` gets one from the gateway (the endpoint keeps keys in
//! its replicated state), which makes re-sending it after a lost leader safe too. Anything
//! else is re-sent only when the connection was refused (it surely never arrived).
//!
//! A leaf of a manager registered here (a manager hierarchy) is reached through that manager:
//! `/<leaf>/api/v3/...` goes to its own gateway as is ([`route`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use proto::{headers, paths};

use crate::cluster::{Cluster, Retry, SendError};
use crate::http::auth::Caller;
use crate::http::{ApiError, AppState};
use crate::state::Manager;

/// Request bodies buffered for re-sending after a failover, at most.
pub(crate) const MAX_BODY: usize = 64 << 20;
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

/// `/<endpoint-id>/api/v3[/...]` split into the endpoint id and the path from `api/v3` on
/// (`api` is the manager's own).
pub(crate) fn split_gateway_path(path: &str) -> Option<(&str, &str)> {
    let api = paths::API.trim_start_matches('/');
    let (id, rest) = path.trim_start_matches('/').split_once('/')?;
    let ours = rest == api || rest.strip_prefix(api).is_some_and(|r| r.starts_with('/'));
    (!id.is_empty() && id != "api" && ours).then_some((id, rest))
}

/// `/<endpoint-id>/api/v3[/...]`: a path the gateway forwards (`api` is the manager's own).
pub fn is_gateway_path(path: &str) -> bool {
    split_gateway_path(path).is_some()
}

/// One request as it goes to the cluster: everything but the hop-by-hop headers and the
/// caller's `Authorization` (which [`send`] adds only where it belongs).
pub(crate) struct Forward {
    method: Method,
    /// `/api/v3/...?query`.
    tail: String,
    headers: HeaderMap,
    body: Bytes,
    retry: Retry,
}

impl Forward {
    /// The request to forward to `tail` (`/api/v3/...?query`), with an idempotency key added
    /// where a retry needs one, and the caller's own `Authorization` taken out.
    pub(crate) fn new(
        method: Method,
        tail: String,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> (Self, Option<HeaderValue>) {
        for h in HOP_BY_HOP {
            headers.remove(*h);
        }
        let caller_auth = headers.remove(header::AUTHORIZATION);
        let retry = retry_of(&method, &mut headers);
        let forward = Forward {
            method,
            tail,
            headers,
            body,
            retry,
        };
        (forward, caller_auth)
    }
}

pub async fn handle(State(st): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let Some((id, rest)) = split_gateway_path(&path) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "",
            &path,
            vec![format!(
                "no route {path}: the gateway serves /<endpoint-id>/api/v3/..."
            )],
        )
        .into_response();
    };
    // The authentication middleware always sets this; without it, the caller's own
    // credentials are all that is forwarded (never the stored ones).
    let caller = req
        .extensions()
        .get::<Caller>()
        .copied()
        .unwrap_or(Caller::ClusterCredential);
    let Some((cluster, prefix)) = route(&st.mgr, id) else {
        return unknown_endpoint(id, caller);
    };
    let tail = format!("{prefix}/{rest}");
    let (forward, caller_auth) = match prepare(req, tail).await {
        Ok(f) => f,
        Err(e) => return e.on(&path).into_response(),
    };
    match send(&cluster, forward, caller, caller_auth).await {
        Ok(resp) => stream_back(resp, &path),
        Err(e) => send_failed(id, &e).into_response(),
    }
}

/// Where a gateway request for endpoint `id` goes: its cluster with no path prefix, or, for a
/// leaf of a manager registered here ([`crate::replica::Replica::origin`]), that manager with
/// the prefix `/<leaf>` so its own gateway forwards it on.
pub(crate) fn route(mgr: &Manager, id: &str) -> Option<(Arc<Cluster>, String)> {
    if let Some(cluster) = mgr.cluster(id) {
        return Some((cluster, String::new()));
    }
    let via = mgr.cluster(&mgr.replica.origin(id)?)?;
    Some((via, format!("/{id}")))
}

/// 502 naming the cluster a request could not be delivered to, and why.
pub(crate) fn send_failed(id: &str, e: &SendError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "endpoints",
        id,
        vec![format!("cluster `{id}`: {e}")],
    )
}

/// An endpoint the manager does not follow: only the manager's admin learns which are
/// registered; anyone else is told their credentials are unknown.
fn unknown_endpoint(id: &str, caller: Caller) -> Response {
    if caller != Caller::ManagerAdmin {
        return ApiError::unauthorized("the manager does not know these credentials")
            .into_response();
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "endpoints",
        id,
        vec![format!("endpoint `{id}` is not registered")],
    )
    .into_response()
}

/// Why a request could not be prepared for forwarding.
struct TooLarge(String);

impl TooLarge {
    fn on(self, path: &str) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "", path, vec![self.0])
    }
}

/// The request to forward (body buffered, an idempotency key added where a retry needs one)
/// and the caller's own `Authorization`.
async fn prepare(req: Request, tail: String) -> Result<(Forward, Option<HeaderValue>), TooLarge> {
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let method = req.method().clone();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| TooLarge(format!("request body: {e} (limit {MAX_BODY} bytes)")))?;
    Ok(Forward::new(
        method,
        format!("{tail}{query}"),
        headers,
        body,
    ))
}

/// Reads, PUT and DELETE may be re-sent, and so may anything with an idempotency key: a POST
/// or PATCH without one gets one here. Anything else only when it never arrived.
fn retry_of(method: &Method, headers: &mut HeaderMap) -> Retry {
    let idempotent = matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    );
    if idempotent || headers.contains_key(headers::IDEMPOTENCY_KEY) {
        return Retry::Idempotent;
    }
    if matches!(*method, Method::POST | Method::PATCH) {
        if let Ok(v) = format!("drp-manager-{}", uuid::Uuid::new_v4()).parse() {
            headers.insert(HeaderName::from_static(headers::IDEMPOTENCY_KEY), v);
        }
        return Retry::Idempotent;
    }
    Retry::ConnectOnly
}

/// Sends to the leader. A cluster's own credential always goes through as it came; the
/// manager's admin's only when the cluster has no stored credentials.
pub(crate) async fn send(
    cluster: &Arc<Cluster>,
    f: Forward,
    caller: Caller,
    caller_auth: Option<HeaderValue>,
) -> Result<reqwest::Response, SendError> {
    let own = caller == Caller::ClusterCredential;
    let pass_auth = (own || !cluster.has_credentials())
        .then_some(caller_auth)
        .flatten();
    let client = cluster.client();
    let build = |base: &str| {
        let mut r = client
            .request(f.method.clone(), format!("{base}{}", f.tail))
            .headers(f.headers.clone())
            .timeout(ATTEMPT_TIMEOUT)
            .body(f.body.clone());
        if let Some(a) = &pass_auth {
            r = r.header(header::AUTHORIZATION, a.clone());
        }
        r
    };
    if own {
        cluster
            .send_as_caller(build, f.retry, FAILOVER_DEADLINE)
            .await
    } else {
        cluster.send(build, f.retry, FAILOVER_DEADLINE).await
    }
}

/// The headers of a cluster's reply that go back to the caller (not the hop-by-hop ones).
pub(crate) fn reply_headers(from: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in from {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            out.append(k.clone(), v.clone());
        }
    }
    out
}

/// The cluster's reply, its body streamed through.
fn stream_back(resp: reqwest::Response, path: &str) -> Response {
    let mut out = Response::builder().status(resp.status());
    if let Some(h) = out.headers_mut() {
        *h = reply_headers(resp.headers());
    }
    out.body(Body::from_stream(resp.bytes_stream()))
        .unwrap_or_else(|e| {
            ApiError::new(StatusCode::BAD_GATEWAY, "", path, vec![e.to_string()]).into_response()
        })
}
