//! `/api/v3/ws`: DRP's event websocket. A client sends `register <type>.<action>.<key>` and
//! `deregister <...>` (`*` matches anything) and receives every matching change applied on
//! this member, as JSON `{Time, Type, Action, Key, Principal, Object, Original}`. A user sees
//! only the changes to objects their roles let them `get`.

use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::roles::{self, Need};
use crate::events::Pattern;
use crate::node::Node;

/// Longest command: a pattern is three short names, so 4 KiB is generous; a longer one is
/// answered with an error (Code 413) and the connection stays open.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Longest message (or frame) the socket buffers at all: past it the connection is closed with
/// 1009 (Message Too Big), before the payload is read.
pub const MAX_FRAME_BYTES: usize = 64 << 10;
/// Registrations per connection: each event is matched against every one of them.
pub const MAX_SUBSCRIPTIONS: usize = 256;
const PING_EVERY: Duration = Duration::from_secs(30);

pub async fn upgrade(State(node): State<Node>, ws: WebSocketUpgrade) -> Response {
    // Taken here: the connection's task runs outside the request's authentication scope.
    let user = crate::auth::current_user().unwrap_or_default();
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| serve(node, user, socket))
}

/// Whether `user` may see this change: a `get` claim on the changed object.
fn visible(node: &Node, user: &str, e: &crate::events::Event) -> bool {
    let need = Need {
        scope: e.kind.clone(),
        action: "get",
        specific: e.key.clone(),
    };
    roles::allowed(&node.store, user, &need)
}

async fn reply(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn serve(node: Node, user: String, mut socket: WebSocket) {
    let mut events = node.events.subscribe();
    let mut patterns: Vec<Pattern> = Vec::new();
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let outcome = match incoming {
                    Some(Ok(Message::Text(t))) if t.len() > MAX_MESSAGE_BYTES => error(
                        413,
                        &format!(
                            "a command is at most {MAX_MESSAGE_BYTES} bytes (the limit); this one has {}",
                            t.len()
                        ),
                    ),
                    Some(Ok(Message::Text(t))) => command(&mut patterns, t.trim()),
                    Some(Ok(Message::Binary(_))) => {
                        error(400, "commands are text messages: register or deregister <type>.<action>.<key>")
                    }
                    Some(Ok(Message::Close(_))) | None => return,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        close_after(&mut socket, &e.to_string()).await;
                        return;
                    }
                };
                if !reply(&mut socket, outcome).await {
                    return;
                }
            }
            event = events.recv() => match event {
                Ok(e) if patterns.iter().any(|p| p.matches(&e)) && visible(&node, &user, &e) => {
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

/// Closes the connection after a read error, saying why. tungstenite refuses a frame or message
/// over [`MAX_FRAME_BYTES`] with a "Space limit exceeded" error before reading its payload.
async fn close_after(socket: &mut WebSocket, problem: &str) {
    let (code, reason) = if problem.contains("Space limit exceeded") {
        (
            close_code::SIZE,
            format!("message larger than the limit of {MAX_FRAME_BYTES} bytes"),
        )
    } else {
        (close_code::PROTOCOL, "websocket protocol error".to_string())
    };
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Applies one client command; the reply names what happened or what was wrong.
fn command(patterns: &mut Vec<Pattern>, text: &str) -> String {
    let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
    let pattern = match Pattern::parse(arg.trim()) {
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

fn ok(verb: &str, arg: &str) -> String {
    serde_json::json!({"Type": "websocket", "Action": verb, "Key": arg.trim()}).to_string()
}

/// An error reply; its `Object` is DRP's error shape, `Code` the matching HTTP status.
fn error(code: u16, message: &str) -> String {
    let body = crate::command::error_body(code, "websocket", "", vec![message.to_string()]);
    serde_json::json!({"Type": "websocket", "Action": "error", "Key": "", "Object": body})
        .to_string()
}
