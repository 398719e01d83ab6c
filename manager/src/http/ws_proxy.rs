//! `GET /<endpoint-id>/api/v3/ws`: the gateway's websocket proxy to one cluster's event
//! socket. The member's socket is opened first (the leader, then the others), so a cluster
//! that cannot be reached is a 502 naming why rather than an upgrade that closes at once.
//! As for the gateway's requests, the manager's admin goes through with the stored
//! credentials and a cluster credential is forwarded as it came. Another manager user needs
//! some claim on `<id>` (a 403 before the upgrade, [`super::authz`]) and, since the socket
//! upstream is the stored credentials', is passed only the events whose object it could
//! `get` on `<id>` ([`Identity::may_get_on`], claims re-read every
//! [`super::ws::RESOLVE_EVERY`]) besides the socket's own replies.
//!
//! Messages are passed through both ways (text and binary; each side answers its own pings),
//! a send that is not taken within [`super::ws::SEND_TIMEOUT`] ends the pair, and so does
//! the manager's shutdown. A leaf of a manager registered here is proxied through that
//! manager's own `/<leaf>/api/v3/ws` ([`super::gateway::route`]).

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as Upstream;

use super::auth::Caller;
use super::authz::Identity;
use super::ws::{MAX_FRAME_BYTES, RESOLVE_EVERY, SEND_TIMEOUT};
use super::{ApiError, AppState};
use crate::replica::nested::SYNC_TYPE;
use crate::replica::socket::{self, Socket};
use crate::state::Manager;

/// Connect, TLS and upgrade towards the member, each.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn proxy(
    State(st): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    caller: Option<Extension<Caller>>,
    who: Option<Extension<Identity>>,
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
    // A cluster credential is the cluster's to judge; the admin and superusers see all.
    let filter = who
        .map(|w| w.0)
        .filter(|w| !w.sees_all())
        .map(|who| Filter {
            mgr: st.mgr.clone(),
            endpoint: id,
            who,
        });
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |client| pipe(client, upstream, filter, shutdown))
}

/// Which upstream messages a manager user with limited claims is passed.
struct Filter {
    mgr: Arc<Manager>,
    endpoint: String,
    who: Identity,
}

impl Filter {
    /// The socket's own replies, events whose object the user could `get`, and (from a
    /// lower manager) `sync` events where it may list; nothing unparsable (the upstream
    /// speaks JSON text).
    fn passes(&self, text: &str) -> bool {
        let Ok(message) = serde_json::from_str::<Value>(text) else {
            return false;
        };
        let field = |f: &str| message.get(f).and_then(Value::as_str).unwrap_or_default();
        match field("Type") {
            "websocket" => true,
            SYNC_TYPE => self.who.may_list_any_on(&self.endpoint),
            kind => self.who.may_get_on(kind, field("Key"), &self.endpoint),
        }
    }
}

async fn pipe(
    mut client: WebSocket,
    mut upstream: Socket,
    mut filter: Option<Filter>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut refresh = tokio::time::interval(RESOLVE_EVERY);
    loop {
        tokio::select! {
            _ = async { shutdown.wait_for(|s| *s).await.is_ok() } => break,
            _ = refresh.tick() => {
                if let Some(f) = filter.as_mut() {
                    f.who = super::ws::resolve(&f.mgr, &f.who);
                }
            }
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
                    Some(Ok(Upstream::Text(t))) => {
                        if filter.as_ref().is_some_and(|f| !f.passes(t.as_str())) {
                            continue;
                        }
                        Message::Text(t.as_str().into())
                    }
                    Some(Ok(Upstream::Binary(_))) if filter.is_some() => continue,
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
