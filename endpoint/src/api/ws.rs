//! `/api/v3/ws`: DRP's event websocket. A client sends `register <type>.<action>.<key>` and
//! `deregister <...>` (`*` matches anything) and receives every matching change applied on
//! this member, as JSON `{Time, Type, Action, Key, Principal, Object, Original}`.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use crate::events::Pattern;
use crate::node::Node;

/// Hostile-input limits: command size and subscriptions per connection.
const MAX_MESSAGE_BYTES: usize = 4096;
const MAX_SUBSCRIPTIONS: usize = 256;
const PING_EVERY: Duration = Duration::from_secs(30);

pub async fn upgrade(State(node): State<Node>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(node, socket))
}

async fn reply(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn serve(node: Node, mut socket: WebSocket) {
    let mut events = node.events.subscribe();
    let mut patterns: Vec<Pattern> = Vec::new();
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                let outcome = command(&mut patterns, text.trim());
                if !reply(&mut socket, outcome).await {
                    return;
                }
            }
            event = events.recv() => match event {
                Ok(e) if patterns.iter().any(|p| p.matches(&e)) => {
                    let Ok(json) = serde_json::to_string(&e) else { continue };
                    if !reply(&mut socket, json).await {
                        return;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    let warning = serde_json::json!({"Type": "websocket", "Action": "lagged", "Key": "", "Object": {"Missed": n}});
                    if !reply(&mut socket, warning.to_string()).await {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Applies one client command; the reply names what happened or what was wrong.
fn command(patterns: &mut Vec<Pattern>, text: &str) -> String {
    let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
    let pattern = match Pattern::parse(arg.trim()) {
        Ok(p) => p,
        Err(e) => return error(&format!("{verb}: {e}")),
    };
    match verb {
        "register" if patterns.contains(&pattern) => ok(verb, arg),
        "register" if patterns.len() >= MAX_SUBSCRIPTIONS => {
            error(&format!("at most {MAX_SUBSCRIPTIONS} registrations"))
        }
        "register" => {
            patterns.push(pattern);
            ok(verb, arg)
        }
        "deregister" => {
            patterns.retain(|p| *p != pattern);
            ok(verb, arg)
        }
        other => error(&format!(
            "unknown command {other:?}: use register or deregister <type>.<action>.<key>"
        )),
    }
}

fn ok(verb: &str, arg: &str) -> String {
    serde_json::json!({"Type": "websocket", "Action": verb, "Key": arg.trim()}).to_string()
}

fn error(message: &str) -> String {
    serde_json::json!({"Type": "websocket", "Action": "error", "Key": "", "Object": {"Messages": [message]}}).to_string()
}
