//! The request-body limit of each route: a body over it is answered with a DRP-shaped 413
//! naming the limit, before any handler sees it.

use axum::body::Body as HttpBody;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use futures::StreamExt;

use crate::api::error::ApiError;
use crate::node::Node;

/// The request-body limit of a route. A larger body is refused with a DRP-shaped 413 naming
/// the limit: up front when `Content-Length` says so, else once the body reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// [`DEFAULT_BODY_BYTES`].
    Default,
    Max(usize),
    /// The handler streams the body (never buffered whole) and enforces this bound itself.
    Streamed(usize),
}

/// The body limit of most calls (axum's default too): an object, a patch or a param value is
/// far smaller, and a body is buffered whole before it is parsed.
pub const DEFAULT_BODY_BYTES: usize = 2 << 20;

impl BodyLimit {
    pub fn bytes(self) -> usize {
        match self {
            BodyLimit::Default => DEFAULT_BODY_BYTES,
            BodyLimit::Max(bytes) | BodyLimit::Streamed(bytes) => bytes,
        }
    }
}

/// Bounds the body of every method of a route (`limit_body`), and sets axum's own extractor
/// limit to match so a handler never buffers more than the table allows.
pub fn bounded(methods: MethodRouter<Node>, body_limit: BodyLimit) -> MethodRouter<Node> {
    let limit = body_limit.bytes();
    let streamed = matches!(body_limit, BodyLimit::Streamed(_));
    let methods = if streamed {
        methods.layer(DefaultBodyLimit::disable())
    } else {
        methods.layer(DefaultBodyLimit::max(limit))
    };
    methods.layer(middleware::from_fn(move |req: Request, next: Next| {
        limit_body(limit, streamed, req, next)
    }))
}

/// A refused body is still read, and dropped, up to this much past the limit: a client that
/// sends its whole body before it reads the reply (reqwest, most HTTP libraries) then gets the
/// 413 rather than a broken pipe. Past it the connection is closed unread.
const DRAIN_BYTES: u64 = 64 << 20;

/// 413 naming the limit; `close` when the rest of the body is left unread.
fn too_large(limit: usize, close: bool) -> Response {
    let mut resp = crate::api::error::too_large("the request body", "this call's", limit as u64)
        .into_response();
    if close {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Reads and drops the rest of a refused body (at most [`DRAIN_BYTES`]), then answers 413.
async fn drain_and_refuse(
    limit: usize,
    mut stream: axum::body::BodyDataStream,
    mut read: u64,
) -> Response {
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return too_large(limit, true);
        };
        read += chunk.len() as u64;
        if read > limit as u64 + DRAIN_BYTES {
            return too_large(limit, true);
        }
    }
    too_large(limit, false)
}

/// Bounds the request body of a route: a body over `limit` is answered with a DRP-shaped 413
/// naming the limit. A buffered route's body is read whole here, before any handler or the 405
/// fallback answers: a reply sent while part of the body was still unread made hyper drop the
/// keep-alive connection under the client's next request (schemathesis saw `EOF occurred in
/// violation of protocol` after a 405). A streamed route (file uploads) is only refused up front,
/// by its `Content-Length`; its handler enforces the bound as it streams.
async fn limit_body(limit: usize, streamed: bool, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let req = if streamed {
        if declared.is_some_and(|n| n > limit as u64) {
            return too_large(limit, true);
        }
        req
    } else {
        if declared.is_some_and(|n| n > limit as u64 + DRAIN_BYTES) {
            return too_large(limit, true);
        }
        let (parts, body) = req.into_parts();
        let mut stream = body.into_data_stream();
        let capacity = declared.map_or(0, |n| n.min(limit as u64) as usize);
        let mut buffered: Vec<u8> = Vec::with_capacity(capacity);
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    return ApiError::bad_request(format!("reading the request body: {e}"))
                        .into_response()
                }
            };
            if buffered.len() + chunk.len() > limit {
                let read = (buffered.len() + chunk.len()) as u64;
                drop(buffered);
                return drain_and_refuse(limit, stream, read).await;
            }
            buffered.extend_from_slice(&chunk);
        }
        Request::from_parts(parts, HttpBody::from(buffered))
    };
    let resp = next.run(req).await;
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !json {
        // axum's own plain-text 413 (a handler's extractor limit): in DRP's shape.
        return too_large(limit, false);
    }
    resp
}
