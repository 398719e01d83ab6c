//! The static HTTP file server (DRP's port 8091): the boot tree, unauthenticated and
//! read-only, over plain HTTP as firmware speaks it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::tree::{Found, Miss, Tree};
use super::RunningGuard;
use crate::node::Node;

pub mod range;

use range::Slice;

/// Bytes per read of a file being sent: tokio's file reads each take a trip through the
/// blocking pool, so 4 KiB reads made a 1 GiB ISO a quarter of a million trips (a tenth of a
/// plain file server's rate); this keeps many downloads at once cheap all the same.
const READ_CHUNK: usize = 256 << 10;

/// Serves the tree on `port` (all addresses) until `stop`.
pub async fn serve(
    node: Node,
    tree: Arc<Tree>,
    port: u16,
    limits: netguard::ConnLimits,
    stop: watch::Receiver<bool>,
) -> Result<(), super::ServiceError> {
    // IPv4: network boot (DHCP, PXE, iPXE) here is IPv4 only.
    let listener = TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, port))
        .await
        .map_err(super::ServiceError::io(format!(
            "binding the static file port {port}"
        )))?;
    let _running = RunningGuard::set(&node.settings.boot.running.static_http);
    tracing::info!(port, "serving static boot files");
    let app = Router::new().fallback(file).with_state(tree);
    let served = netguard::serve(listener, None, app, limits, stop, "static");
    served
        .task
        .await
        .map_err(super::ServiceError::task("static file server"))?;
    Ok(())
}

async fn file(
    State(tree): State<Arc<Tree>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    // `%2e%2e` is `..` once decoded: decode first, then judge the path.
    let Ok(path) = percent_encoding::percent_decode_str(uri.path()).decode_utf8() else {
        return (StatusCode::BAD_REQUEST, "path is not UTF-8\n").into_response();
    };
    let from: IpAddr = peer.ip();
    let head = method == Method::HEAD;
    match tree.get(&path, from).await {
        Ok(Found::Rendered(bytes)) => {
            let len = bytes.len() as u64;
            let slice = Slice::of(&headers, len);
            let (start, count) = slice.span(len);
            let body = if head {
                Body::empty()
            } else {
                // Within the body by construction (`Slice` keeps to `len`).
                let (start, count) = (start as usize, count as usize);
                Body::from(axum::body::Bytes::from(bytes).slice(start..start + count))
            };
            answer(slice, len, body)
        }
        Ok(Found::Stored(file)) => {
            let slice = Slice::of(&headers, file.len);
            let (start, count) = slice.span(file.len);
            if head || count == 0 {
                return answer(slice, file.len, Body::empty());
            }
            match open_at(&file.path, start).await {
                // Streamed in large reads of just the range: a large ISO never sits in memory.
                Ok(f) => answer(
                    slice,
                    file.len,
                    Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                        f.take(count),
                        READ_CHUNK,
                    )),
                ),
                Err(e) => refusal(&path, from, Miss::Render(format!("opening the copy: {e}"))),
            }
        }
        Err(miss) => refusal(&path, from, miss),
    }
}

/// The file at `path`, positioned at `start`.
async fn open_at(path: &std::path::Path, start: u64) -> std::io::Result<tokio::fs::File> {
    let mut f = tokio::fs::File::open(path).await?;
    if start > 0 {
        f.seek(std::io::SeekFrom::Start(start)).await?;
    }
    Ok(f)
}

/// `slice` of a `len`-byte file, with `body` holding just its bytes.
fn answer(slice: Slice, len: u64, body: Body) -> Response {
    let (status, mut headers) = slice.head(len);
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    (status, headers, body).into_response()
}

/// A miss as the client sees it: another machine's file is indistinguishable from a missing
/// one, and template errors stay in the log.
fn refusal(path: &str, from: IpAddr, miss: Miss) -> Response {
    match miss {
        Miss::BadPath(problem) => {
            tracing::debug!(%from, path, problem, "refused a boot path");
            (StatusCode::BAD_REQUEST, format!("{problem}\n")).into_response()
        }
        Miss::NotFound | Miss::NotYours => {
            tracing::debug!(%from, path, ?miss, "no boot file");
            (StatusCode::NOT_FOUND, "not found\n").into_response()
        }
        Miss::Unavailable(why) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response()
        }
        Miss::Render(error) => {
            tracing::warn!(%from, path, %error, "a boot file did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the file did not render\n",
            )
                .into_response()
        }
    }
}
