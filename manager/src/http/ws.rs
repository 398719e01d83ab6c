//! `GET /api/v3/ws` on the manager: DRP's event websocket over every cluster. A client sends
//! `register <type>.<action>.<key>` / `deregister <...>` (`*` matches anything; the same
//! patterns as an endpoint's, from `proto::events`) and receives the matching changes of
//! every cluster the replica follows, each with `Endpoint` on the event and its object.
//! Only the admin gets here (the router's authentication covers this route).
//!
//! Under hostile load, as on an endpoint: a command is at most [`MAX_MESSAGE_BYTES`], a frame
//! at most [`MAX_FRAME_BYTES`], at most [`MAX_SUBSCRIPTIONS`] registrations per socket, and a
//! consumer that does not take a message within [`SEND_TIMEOUT`] is dropped.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use proto::events::Pattern;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::AppState;

/// Longest command (a pattern is three short names).
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Longest frame or message buffered at all; past it the connection is closed.
pub const MAX_FRAME_BYTES: usize = 64 << 10;
/// Registrations per socket: each event is matched against every one.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// A send the client does not take within this long drops it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(30);
/// Bytes queued for one socket before sends fail (and the consumer is dropped).
const MAX_WRITE_BUFFER: usize = 1 << 20;

pub async fn upgrade(
    axum::extract::State(st): axum::extract::State<AppState>,
    ws: WebSocketUpgrade,
) -> Response {
    let events = st.mgr.replica.subscribe();
    let shutdown = st.mgr.shutdown_signal();
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| serve(socket, events, shutdown))
}

async fn send(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

async fn reply(socket: &mut WebSocket, v: Value) -> bool {
    send(socket, Message::Text(v.to_string().into())).await
}

async fn serve(
    mut socket: WebSocket,
    mut events: tokio::sync::broadcast::Receiver<crate::replica::FederatedEvent>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut patterns: Vec<Pattern> = Vec::new();
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            _ = async { shutdown.wait_for(|s| *s).await.is_ok() } => {
                let _ = send(&mut socket, Message::Close(None)).await;
                return;
            }
            incoming = socket.recv() => {
                let outcome = match incoming {
                    Some(Ok(Message::Text(t))) if t.len() > MAX_MESSAGE_BYTES => error(
                        413,
                        &format!("a command is at most {MAX_MESSAGE_BYTES} bytes (the limit); this one has {}", t.len()),
                    ),
                    Some(Ok(Message::Text(t))) => command(&mut patterns, t.trim()),
                    Some(Ok(Message::Binary(_))) => error(
                        400,
                        "commands are text messages: register or deregister <type>.<action>.<key>",
                    ),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                if !reply(&mut socket, outcome).await {
                    return;
                }
            }
            event = events.recv() => match event {
                Ok(e) => {
                    let text = |f: &str| e.event.get(f).and_then(Value::as_str).unwrap_or_default();
                    if patterns.iter().any(|p| p.matches(text("Type"), text("Action"), text("Key")))
                        && !reply(&mut socket, e.event).await
                    {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    let warning = json!({"Type": "websocket", "Action": "lagged", "Key": "", "Object": {"Missed": n}});
                    if !reply(&mut socket, warning).await {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            _ = ping.tick() => {
                if !send(&mut socket, Message::Ping(Vec::new().into())).await {
                    return;
                }
            }
        }
    }
}

/// Applies one client command; the reply names what happened or what was wrong.
fn command(patterns: &mut Vec<Pattern>, text: &str) -> Value {
    let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
    let arg = arg.trim();
    let pattern = match Pattern::parse(arg) {
        Ok(p) => p,
        Err(e) => return error(400, &format!("{verb}: {e}")),
    };
    match verb {
        "register" if patterns.contains(&pattern) => ok(verb, arg),
        "register" if patterns.len() >= MAX_SUBSCRIPTIONS => error(
            422,
            &format!("at most {MAX_SUBSCRIPTIONS} registrations per connection (the limit)"),
        ),
        "register" => {
            patterns.push(pattern);
            ok(verb, arg)
        }
        "deregister" => {
            patterns.retain(|p| *p != pattern);
            ok(verb, arg)
        }
        other => error(
            400,
            &format!("unknown command {other:?}: use register or deregister <type>.<action>.<key>"),
        ),
    }
}

fn ok(verb: &str, arg: &str) -> Value {
    json!({"Type": "websocket", "Action": verb, "Key": arg})
}

/// An error reply; its `Object` is DRP's error shape, `Code` the matching HTTP status.
fn error(code: u16, message: &str) -> Value {
    json!({"Type": "websocket", "Action": "error", "Key": "", "Object": {
        "Model": "websocket", "Key": "", "Type": "API_ERROR", "Code": code, "Messages": [message],
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Registrations are kept once, deregistered, and a bad one is a 400 naming the problem.
    #[test]
    fn commands_register_deregister_and_refuse_bad_patterns() {
        let mut p = Vec::new();
        assert_eq!(
            command(&mut p, "register machines.*.*")["Action"],
            "register"
        );
        assert_eq!(
            command(&mut p, "register machines.*.*")["Action"],
            "register"
        );
        assert_eq!(p.len(), 1);
        let bad = command(&mut p, "register machines");
        assert_eq!(bad["Object"]["Code"], 400);
        assert!(bad["Object"]["Messages"][0]
            .as_str()
            .is_some_and(|m| m.contains("<type>.<action>.<key>")));
        assert_eq!(command(&mut p, "frobnicate a.b.c")["Object"]["Code"], 400);
        assert_eq!(
            command(&mut p, "deregister machines.*.*")["Action"],
            "deregister"
        );
        assert!(p.is_empty());
    }
}
