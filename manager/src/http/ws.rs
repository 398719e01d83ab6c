//! `GET /api/v3/ws` on the manager: DRP's event websocket over every cluster. A client sends
//! `register <type>.<action>.<key>` / `deregister <...>` (`*` matches anything; the same
//! patterns as an endpoint's, from `proto::events`) and receives the matching changes of
//! every cluster the replica follows, each with `Endpoint` on the event and its object.
//!
//! As on DRP, a user sees an event only if it could `get` the object (scope the event's
//! `Type`, specific its `Key`, on its `Endpoint`: the federated `get`'s check,
//! [`Identity::may_get_on`]), and an endpoint's `sync` events only if it may list something
//! there. The claims are resolved once per socket and again every [`RESOLVE_EVERY`], so a
//! role change or a deleted user takes hold within that bound.
//!
//! Besides the changes, a client registered for them is told when the replica of an endpoint
//! turns stale or current (a `sync` event, [`crate::replica::nested::SYNC_TYPE`]), and where
//! each stands when it registers: a manager following this one marks exactly that leaf.
//!
//! Under hostile load, as on an endpoint: a command is at most [`MAX_MESSAGE_BYTES`], a frame
//! at most [`MAX_FRAME_BYTES`], at most [`MAX_SUBSCRIPTIONS`] registrations per socket, and a
//! consumer that does not take a message within [`SEND_TIMEOUT`] is dropped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::Extension;
use axum::response::Response;
use proto::events::{Registrations, Reply};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::authz::{identity_or_none, Identity};
use super::AppState;
use crate::replica::nested::{sync_event, SYNC_TYPE};
use crate::replica::EndpointSync;
use crate::state::Manager;

/// Longest command (a pattern is three short names).
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Longest frame or message buffered at all; past it the connection is closed.
pub const MAX_FRAME_BYTES: usize = 64 << 10;
/// Registrations per socket: each event is matched against every one.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// A send the client does not take within this long drops it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(30);
/// How often a socket's user's claims are read again from the registry.
pub const RESOLVE_EVERY: Duration = Duration::from_secs(5);
/// Bytes queued for one socket before sends fail (and the consumer is dropped).
const MAX_WRITE_BUFFER: usize = 1 << 20;

pub async fn upgrade(
    axum::extract::State(st): axum::extract::State<AppState>,
    who: Option<Extension<Identity>>,
    ws: WebSocketUpgrade,
) -> Response {
    let who = identity_or_none(who.as_ref().map(|e| &e.0));
    let events = st.mgr.replica.subscribe();
    let shutdown = st.mgr.shutdown_signal();
    let mgr = st.mgr.clone();
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| serve(socket, mgr, who, events, shutdown))
}

/// `who`'s claims as the registry holds them now (an unchanged copy for the admin, who has
/// no roles to change).
pub(super) fn resolve(mgr: &Manager, who: &Identity) -> Identity {
    if who.user == crate::http::ADMIN_USER {
        return who.clone();
    }
    Identity::of(mgr, &who.user)
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

/// What a client was last told of each endpoint's sync: current, the error, its re-lists.
type Told = BTreeMap<String, (bool, Option<String>, u64)>;

/// The `sync` events `regs` asks for that tell something new, given what was `told` (which
/// they are added to): every matching endpoint at registration, then its changes.
fn sync_updates(
    mgr: &Manager,
    who: &Identity,
    states: &BTreeMap<String, EndpointSync>,
    regs: &Registrations,
    told: &mut Told,
) -> Vec<Value> {
    let mut out = Vec::new();
    for (id, state) in states {
        let action = if state.current { "current" } else { "stale" };
        if !regs.matches(SYNC_TYPE, action, id) || !who.may_list_any_on(id) {
            continue;
        }
        let lists = mgr.replica.counts(id).lists;
        let now = (state.current, state.error.clone(), lists);
        if told.get(id) != Some(&now) {
            out.push(sync_event(id, state, lists));
            told.insert(id.clone(), now);
        }
    }
    out
}

/// Sends the `sync` events due now; false when the client is gone.
async fn tell_sync(
    socket: &mut WebSocket,
    mgr: &Manager,
    who: &Identity,
    sync: &mut tokio::sync::watch::Receiver<BTreeMap<String, EndpointSync>>,
    regs: &Registrations,
    told: &mut Told,
) -> bool {
    // Copied out: the watch's lock is not held across the sends.
    let states = sync.borrow_and_update().clone();
    for update in sync_updates(mgr, who, &states, regs, told) {
        if !reply(socket, update).await {
            return false;
        }
    }
    true
}

async fn serve(
    mut socket: WebSocket,
    mgr: Arc<Manager>,
    mut who: Identity,
    mut events: tokio::sync::broadcast::Receiver<crate::replica::FederatedEvent>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut regs = Registrations::default();
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut refresh = tokio::time::interval(RESOLVE_EVERY);
    let mut sync = mgr.replica.watch_sync();
    let mut told = Told::new();
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
                    Some(Ok(Message::Text(t))) => command(&mut regs, t.trim()),
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
                if !tell_sync(&mut socket, &mgr, &who, &mut sync, &regs, &mut told).await {
                    return;
                }
            }
            Ok(()) = sync.changed() => {
                if !tell_sync(&mut socket, &mgr, &who, &mut sync, &regs, &mut told).await {
                    return;
                }
            }
            event = events.recv() => match event {
                Ok(e) => {
                    let text = |f: &str| e.event.get(f).and_then(Value::as_str).unwrap_or_default();
                    let (kind, key) = (text("Type"), text("Key"));
                    if regs.matches(kind, text("Action"), key)
                        && who.may_get_on(kind, key, &e.endpoint)
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
            _ = refresh.tick() => {
                // A role change may show (or hide) endpoints' sync state too.
                let now = resolve(&mgr, &who);
                if now != who {
                    who = now;
                    if !tell_sync(&mut socket, &mgr, &who, &mut sync, &regs, &mut told).await {
                        return;
                    }
                }
            }
            _ = ping.tick() => {
                if !send(&mut socket, Message::Ping(Vec::new().into())).await {
                    return;
                }
            }
        }
    }
}

/// Applies one client command; the reply names what happened or what was wrong.
fn command(regs: &mut Registrations, text: &str) -> Value {
    match regs.command(text, MAX_SUBSCRIPTIONS, || Ok(())) {
        Reply::Done { verb, key, .. } => ok(&verb, &key),
        Reply::Refused { code, message } => error(code, &message),
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

    /// Commands answer in DRP's shapes: the verb and pattern, or an error with its code.
    #[test]
    fn commands_answer_in_drps_shapes() {
        let mut r = Registrations::default();
        let done = command(&mut r, "register machines.*.*");
        assert_eq!(
            done,
            json!({"Type": "websocket", "Action": "register", "Key": "machines.*.*"})
        );
        let bad = command(&mut r, "register machines");
        assert_eq!(bad["Object"]["Code"], 400);
        assert!(bad["Object"]["Messages"][0]
            .as_str()
            .is_some_and(|m| m.contains("<type>.<action>.<key>")));
    }
}
