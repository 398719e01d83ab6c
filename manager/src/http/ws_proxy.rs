//! `GET /<endpoint-id>/api/v3/ws`: the gateway's websocket proxy to one cluster's event
//! socket. The member's socket is opened first (the leader, then the others), so a cluster
//! that cannot be reached is a 502 naming why rather than an upgrade that closes at once.
//! As for the gateway's requests, the manager's admin goes through with the stored
//! credentials and a cluster credential is forwarded as it came.
//!
//! Messages are passed through both ways (text and binary; each side answers its own pings),
//! a send that is not taken within [`super::ws::SEND_TIMEOUT`] ends the pair, and so does
//! the manager's shutdown. A leaf of a manager registered here is proxied through that
//! manager's own `/<leaf>/api/v3/ws` ([`super::gateway::route`]).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as Upstream;

use super::auth::Caller;
use super::ws::{MAX_FRAME_BYTES, SEND_TIMEOUT};
use super::{ApiError, AppState};
use crate::replica::socket::{self, Socket};

/// Connect, TLS and upgrade towards the member, each.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn proxy(
    State(st): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some((cluster, prefix)) = super::gateway::route(&st.mgr, &id) else {
        return ApiError::not_found("endpoints", &id).into_response();
    };
    let conn = cluster.connection();
    let authorization = match caller.map(|c| c.0) {
        Some(Caller::ClusterCredential) => headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        _ => socket::basic_auth(&conn),
    };
    let query = query.unwrap_or_default();
    let mut problems = Vec::new();
    let mut upstream = None;
    for base in cluster.targets() {
        match socket::open_as(
            &format!("{}{prefix}", base.trim_end_matches('/')),
            &query,
            &conn.anchor,
            authorization.clone(),
            CONNECT_TIMEOUT,
        )
        .await
        {
            Ok(s) => {
                upstream = Some(s);
                break;
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    let Some(upstream) = upstream else {
        if problems.is_empty() {
            problems.push(format!("cluster `{id}` has no member to connect to"));
        }
        return ApiError::new(StatusCode::BAD_GATEWAY, "websocket", &id, problems).into_response();
    };
    let shutdown = st.mgr.shutdown_signal();
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |client| pipe(client, upstream, shutdown))
}

async fn pipe(
    mut client: WebSocket,
    mut upstream: Socket,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = async { shutdown.wait_for(|s| *s).await.is_ok() } => break,
            from_client = client.recv() => {
                let m = match from_client {
                    Some(Ok(Message::Text(t))) => Upstream::Text(t.as_str().into()),
                    Some(Ok(Message::Binary(b))) => Upstream::Binary(b),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                if !matches!(tokio::time::timeout(SEND_TIMEOUT, upstream.send(m)).await, Ok(Ok(()))) {
                    break;
                }
            }
            from_upstream = upstream.next() => {
                let m = match from_upstream {
                    Some(Ok(Upstream::Text(t))) => Message::Text(t.as_str().into()),
                    Some(Ok(Upstream::Binary(b))) => Message::Binary(b),
                    Some(Ok(Upstream::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => continue,
                };
                if !matches!(tokio::time::timeout(SEND_TIMEOUT, client.send(m)).await, Ok(Ok(()))) {
                    break;
                }
            }
        }
    }
    let _ = tokio::time::timeout(SEND_TIMEOUT, client.send(Message::Close(None))).await;
    let _ = tokio::time::timeout(SEND_TIMEOUT, upstream.close(None)).await;
}
