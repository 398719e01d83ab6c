//! The static HTTP file server (DRP's port 8091): the boot tree, unauthenticated and
//! read-only, over plain HTTP as firmware speaks it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::tree::{Found, Miss, Tree};
use super::RunningGuard;
use crate::node::Node;

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
) -> anyhow::Result<()> {
    // IPv4: network boot (DHCP, PXE, iPXE) here is IPv4 only.
    let listener = TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, port))
        .await
        .with_context(|| format!("binding the static file port {port}"))?;
    let _running = RunningGuard::set(&node.settings.boot.running.static_http);
    tracing::info!(port, "serving static boot files");
    let app = Router::new().fallback(file).with_state(tree);
    let served = netguard::serve(listener, None, app, limits, stop, "static");
    served.task.await.context("static file server")?;
    Ok(())
}

async fn file(
    State(tree): State<Arc<Tree>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
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
    match tree.get(&path, from).await {
        Ok(Found::Rendered(bytes)) => {
            let len = bytes.len() as u64;
            let body = if method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(bytes)
            };
            ok(len, body)
        }
        Ok(Found::Stored(file)) => {
            if method == Method::HEAD {
                return ok(file.len, Body::empty());
            }
            match tokio::fs::File::open(&file.path).await {
                // Streamed in small reads: a large ISO never sits in memory.
                Ok(f) => ok(
                    file.len,
                    Body::from_stream(tokio_util::io::ReaderStream::with_capacity(f, READ_CHUNK)),
                ),
                Err(e) => refusal(&path, from, Miss::Render(format!("opening the copy: {e}"))),
            }
        }
        Err(miss) => refusal(&path, from, miss),
    }
}

fn ok(len: u64, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response()
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
