//! The API's one write path. Every handler that changes replicated state (objects, params,
//! users, jobs, contents, files, prefs, VersionSets) hands its `Op` here: the request's
//! method, path, headers and body become the idempotency fingerprint, `Node::write` proposes
//! it (forwarding to the leader when this member does not lead) and waits until it applied,
//! and the outcome becomes the HTTP response. The `X-DRP-Commit-Index` and `X-DRP-Leader`
//! headers are added to every response, this one included, by `api::cluster_headers`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

use super::error::ApiError;
use super::request::{build, respond};
use crate::command::{self, Op};
use crate::node::Node;

/// The method, URI and headers of a write request, extracted as one: every write handler
/// needs all three for its [`Origin`].
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestHead {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestHead {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        })
    }
}

/// The parts of the HTTP request a write is fingerprinted by: a retry with the same
/// `Idempotency-Key` must repeat the same method, path and body.
#[derive(Clone, Copy)]
pub struct Origin<'a> {
    pub method: &'a Method,
    /// The path, with the query when it changes the meaning of the write.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub fingerprint: &'a [u8],
}

/// Headers of a write the endpoint makes on its own (no client key, no If-Match).
static NO_HEADERS: std::sync::LazyLock<HeaderMap> = std::sync::LazyLock::new(HeaderMap::new);

impl<'a> Origin<'a> {
    /// The client's request as it came: its path (query left out) and its body.
    pub fn request(head: &'a RequestHead, body: &'a [u8]) -> Self {
        Origin {
            method: &head.method,
            path: head.uri.path(),
            headers: &head.headers,
            fingerprint: body,
        }
    }

    /// A write of the endpoint's own (an upload's chunk or abort): a `POST` to `path`
    /// without client headers, so it gets a fresh key of its own.
    pub fn internal(path: &'a str) -> Self {
        Origin {
            method: &Method::POST,
            path,
            headers: &NO_HEADERS,
            fingerprint: &[],
        }
    }

    /// The same request fingerprinted by `fingerprint` instead of its body.
    pub fn fingerprinted(self, fingerprint: &'a [u8]) -> Self {
        Origin {
            fingerprint,
            ..self
        }
    }

    /// The same request with `path` (e.g. the path and its query) as its path.
    pub fn at(self, path: &'a str) -> Self {
        Origin { path, ..self }
    }
}

/// Commits `op` and returns its applied outcome (a refusal decided by the state machine is
/// an outcome too, with its 4xx status); `Err` when it could not be proposed or committed.
pub async fn outcome(
    node: &Node,
    origin: Origin<'_>,
    op: Op,
) -> Result<command::Response, ApiError> {
    let request = build(
        origin.method,
        origin.path,
        origin.headers,
        origin.fingerprint,
        op,
    )?;
    Ok(node.write(request).await?)
}

/// Commits `op` and answers its outcome as it is: status and JSON body.
pub async fn commit(node: &Node, origin: Origin<'_>, op: Op) -> Result<Response, ApiError> {
    Ok(respond(outcome(node, origin, op).await?))
}
