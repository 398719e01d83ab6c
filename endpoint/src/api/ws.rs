//! `/api/v3/ws`: DRP's event websocket. A client sends `register <type>.<action>.<key>` and
//! `deregister <...>` (`*` matches anything) and receives every matching change applied on
//! this member, as JSON `{Time, Type, Action, Key, Principal, Object, Original}`. A user sees
//! only the changes to objects their tenant shows and their roles let them `get`.
//!
//! Two extensions for the manager's replica (DRP clients do not send them): `?since=<index>`
//! resumes after a break, replaying the kept events of entries after that Raft index once the
//! first `register` is acknowledged, then a `resumed` message saying whether the gap was
//! covered (`Object.Covered`); and `?progress=true` sends `progress` messages with this
//! member's applied index (`Object.Index`) once every event up to it has been sent, so a
//! consumer learns the index even when the latest entries produced no event.
//!
//! A member that installs a Raft snapshot (it was far behind) jumps over entries without
//! publishing their events: its sockets are then closed with 1012 and a reason naming the
//! index, so a consumer knows its stream has a gap (see [`skipped`]).
//!
//! Under hostile load: a user holds at most [`MAX_SOCKETS_PER_USER`] sockets and
//! [`MAX_REGISTRATIONS_PER_USER`] registrations over all of them on this member (429 / an
//! error reply past that), and a consumer that does not take its events is dropped: a send
//! waits at most [`SEND_TIMEOUT`] and the socket buffers at most [`MAX_WRITE_BUFFER`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::error::ApiError;

use crate::auth::roles::{self, Need};
use crate::auth::visibility;
use crate::events::{Event, NotCovered};
use crate::node::Node;
use proto::events::{Registrations, Reply};

/// Longest command: a pattern is three short names, so 4 KiB is generous; a longer one is
/// answered with an error (Code 413) and the connection stays open.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Longest message (or frame) the socket buffers at all: past it the connection is closed with
/// 1009 (Message Too Big), before the payload is read.
pub const MAX_FRAME_BYTES: usize = 64 << 10;
/// Registrations per connection: each event is matched against every one of them.
pub const MAX_SUBSCRIPTIONS: usize = 256;
const PING_EVERY: Duration = Duration::from_secs(30);
/// How often a `?progress=true` socket is told the applied index (when it moved).
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
/// Open event sockets per user on one member.
pub const MAX_SOCKETS_PER_USER: usize = 64;
/// Registrations per user over all their sockets on one member.
pub const MAX_REGISTRATIONS_PER_USER: usize = 1024;
/// A send (an event, a reply, a ping) that the client does not take within this long drops
/// the client: a slow consumer is cut, not buffered for.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes queued for one socket before sends fail (and the consumer is dropped).
const MAX_WRITE_BUFFER: usize = 1 << 20;

/// Sockets and registrations per user on this member.
#[derive(Clone, Default)]
pub struct WsQuota(Arc<Mutex<HashMap<String, Usage>>>);

#[derive(Default)]
struct Usage {
    sockets: usize,
    registrations: usize,
}

/// One open socket's share of its user's quota, returned when it drops.
struct Share {
    quota: WsQuota,
    user: String,
    registrations: usize,
}

impl WsQuota {
    fn open(&self, user: &str) -> Option<Share> {
        let mut map = self.0.lock().ok()?;
        let usage = map.entry(user.to_string()).or_default();
        if usage.sockets >= MAX_SOCKETS_PER_USER {
            return None;
        }
        usage.sockets += 1;
        Some(Share {
            quota: self.clone(),
            user: user.to_string(),
            registrations: 0,
        })
    }
}

impl Share {
    /// Takes one registration from the user's quota, if any is left.
    fn register(&mut self) -> bool {
        let Ok(mut map) = self.quota.0.lock() else {
            return false;
        };
        let usage = map.entry(self.user.clone()).or_default();
        if usage.registrations >= MAX_REGISTRATIONS_PER_USER {
            return false;
        }
        usage.registrations += 1;
        self.registrations += 1;
        true
    }

    fn deregister(&mut self, n: usize) {
        let n = n.min(self.registrations);
        self.registrations -= n;
        if let Ok(mut map) = self.quota.0.lock() {
            if let Some(usage) = map.get_mut(&self.user) {
                usage.registrations = usage.registrations.saturating_sub(n);
            }
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let Ok(mut map) = self.quota.0.lock() else {
            return;
        };
        if let Some(usage) = map.get_mut(&self.user) {
            usage.sockets = usage.sockets.saturating_sub(1);
            usage.registrations = usage.registrations.saturating_sub(self.registrations);
            if usage.sockets == 0 {
                map.remove(&self.user);
            }
        }
    }
}

/// The query of `/api/v3/ws`: both optional, see the module's comment.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsParams {
    since: Option<u64>,
    progress: Option<bool>,
}

/// What a resuming socket owes its client after the first registration.
enum Resume {
    Replay(u64, Vec<Arc<Event>>),
    Gap(NotCovered),
}

pub async fn upgrade(
    State(node): State<Node>,
    Query(params): Query<WsParams>,
    quota: Option<Extension<WsQuota>>,
    conn: Option<Extension<netguard::Slot>>,
    caller: Option<Extension<crate::auth::Principal>>,
    ws: WebSocketUpgrade,
) -> Response {
    // A machine token's socket sees what the token's claims allow: its machine, its jobs.
    let machine = caller.and_then(|c| c.0.machine);
    // Taken here: the connection's task runs outside the request's authentication scope.
    let user = crate::auth::current_user().unwrap_or_default();
    let quota = quota.map(|q| q.0).unwrap_or_default();
    let Some(share) = quota.open(&user) else {
        let mut resp = ApiError::new(
            429,
            format!("at most {MAX_SOCKETS_PER_USER} event websockets per user (the limit)"),
        )
        .on("websocket", &user)
        .into_response();
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(10));
        return resp;
    };
    // The socket keeps its connection's slot (it still counts against the caps) and is
    // never shed as idle: it is waiting for events, not idle.
    let conn = conn.map(|c| c.0);
    if let Some(slot) = &conn {
        slot.state().pin();
    }
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| async move {
            let _conn = conn;
            serve(node, user, machine, share, params, socket).await
        })
}

/// Whether `user` may see this change: an object its tenant shows, and a `get` claim on it.
fn visible(node: &Node, user: &str, machine: Option<&str>, e: &crate::events::Event) -> bool {
    let need = Need {
        scope: e.kind.clone(),
        action: "get",
        specific: e.key.clone(),
    };
    if let Some(m) = machine {
        return crate::auth::machine::allowed(&node.store, m, &need);
    }
    visibility::in_tenant(&node.store, user, &e.kind).sees(&e.key)
        && roles::allowed(&node.store, user, &need)
}

/// Sends `message`; false when the client is gone or did not take it within [`SEND_TIMEOUT`].
async fn send(socket: &mut WebSocket, message: Message) -> bool {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => true,
        // Logged so an operator (and the test of the manager's recovery) sees why a
        // consumer lost its stream: gone, or too slow (its write buffer full).
        Ok(Err(e)) => {
            tracing::info!(error = %e, "event websocket consumer dropped: a send failed");
            false
        }
        Err(_) => {
            tracing::info!(
                timeout = ?SEND_TIMEOUT,
                "event websocket consumer dropped: it did not take a send in time"
            );
            false
        }
    }
}

async fn reply(socket: &mut WebSocket, text: String) -> bool {
    send(socket, Message::Text(text.into())).await
}

/// Who is on the socket and what they registered for.
struct Client {
    node: Node,
    user: String,
    machine: Option<String>,
    registrations: Registrations,
}

impl Client {
    /// Sends `e` if it matches a registration and the user may see it; false when the
    /// client is gone.
    async fn deliver(&self, socket: &mut WebSocket, e: &Event) -> bool {
        if !self.registrations.matches(&e.kind, &e.action, &e.key)
            || !visible(&self.node, &self.user, self.machine.as_deref(), e)
        {
            return true;
        }
        let Ok(json) = serde_json::to_string(e) else {
            return true;
        };
        reply(socket, json).await
    }
}

async fn lagged(socket: &mut WebSocket, n: u64) -> bool {
    tracing::info!(missed = n, "event websocket consumer lagged behind the bus");
    let warning = serde_json::json!({"Type": "websocket", "Action": "lagged", "Key": "", "Object": {"Missed": n}});
    reply(socket, warning.to_string()).await
}

async fn serve(
    node: Node,
    user: String,
    machine: Option<String>,
    mut share: Share,
    params: WsParams,
    mut socket: WebSocket,
) {
    // Before subscribing: a jump after the subscription must not go unseen.
    let mut skips = client_skips(&node);
    let (mut events, mut resume) = match params.since {
        None => (node.events.subscribe(), None),
        Some(since) => match node.events.subscribe_since(since) {
            Ok((replay, rx)) => (rx, Some(Resume::Replay(since, replay))),
            Err(gap) => (node.events.subscribe(), Some(Resume::Gap(gap))),
        },
    };
    let mut client = Client {
        node,
        user,
        machine,
        registrations: Registrations::default(),
    };
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut progress = tokio::time::interval(PROGRESS_EVERY);
    let mut told = 0;
    loop {
        let open = tokio::select! {
            incoming = socket.recv() => {
                on_message(&mut client, &mut share, &mut socket, &mut resume, incoming).await
            }
            // A resuming socket leaves live events queued until its replay is sent.
            event = events.recv(), if resume.is_none() => {
                on_event(&client, &mut socket, event).await
            }
            _ = progress.tick(), if params.progress == Some(true) && resume.is_none() => {
                on_progress(&client, &mut socket, &mut events, &mut told).await
            }
            _ = ping.tick() => send(&mut socket, Message::Ping(Vec::new().into())).await,
            Ok(()) = skips.changed() => {
                let index = *skips.borrow_and_update();
                skipped(&mut socket, index).await;
                false
            }
        };
        if !open {
            return;
        }
    }
}

/// The bus's jumps without events, those before now already seen.
fn client_skips(node: &Node) -> tokio::sync::watch::Receiver<u64> {
    let mut skips = node.events.skips();
    skips.borrow_and_update();
    skips
}

/// This member installed a snapshot up to `index`: the events of what it changed were never
/// published, so the stream is not continuous. The socket is closed saying so (1012, Service
/// Restart), and a consumer reconnects: a resume with `?since=` from before `index` is then
/// answered `Covered: false` (the manager re-lists).
async fn skipped(socket: &mut WebSocket, index: u64) {
    tracing::info!(
        index,
        "event websocket closed: a snapshot was installed, its changes made no events"
    );
    let frame = CloseFrame {
        code: close_code::RESTART,
        reason: format!("snapshot installed at index {index}: events skipped, reconnect").into(),
    };
    let _ = send(socket, Message::Close(Some(frame))).await;
}

/// One message from the client: a command, answered (and, on a `?since=` socket's first
/// registration, the replay); false when the socket is done.
async fn on_message(
    client: &mut Client,
    share: &mut Share,
    socket: &mut WebSocket,
    resume: &mut Option<Resume>,
    incoming: Option<Result<Message, axum::Error>>,
) -> bool {
    let outcome = match incoming {
        Some(Ok(Message::Text(t))) if t.len() > MAX_MESSAGE_BYTES => error(
            413,
            &format!(
                "a command is at most {MAX_MESSAGE_BYTES} bytes (the limit); this one has {}",
                t.len()
            ),
        ),
        Some(Ok(Message::Text(t))) => command(&mut client.registrations, share, t.trim()),
        Some(Ok(Message::Binary(_))) => error(
            400,
            "commands are text messages: register or deregister <type>.<action>.<key>",
        ),
        Some(Ok(Message::Close(_))) | None => return false,
        Some(Ok(_)) => return true,
        Some(Err(e)) => {
            close_after(socket, &e.to_string()).await;
            return false;
        }
    };
    if !reply(socket, outcome).await {
        return false;
    }
    if !client.registrations.is_empty() {
        if let Some(r) = resume.take() {
            return resumed(client, socket, r).await;
        }
    }
    true
}

/// A live event (or word of how many the socket missed); false when the socket is done.
async fn on_event(
    client: &Client,
    socket: &mut WebSocket,
    event: Result<Arc<Event>, RecvError>,
) -> bool {
    match event {
        Ok(e) => client.deliver(socket, &e).await,
        Err(RecvError::Lagged(n)) => lagged(socket, n).await,
        Err(RecvError::Closed) => false,
    }
}

/// A `?progress=true` tick: the member's applied index, once it moved; false when the socket
/// is done.
async fn on_progress(
    client: &Client,
    socket: &mut WebSocket,
    events: &mut tokio::sync::broadcast::Receiver<Arc<Event>>,
    told: &mut u64,
) -> bool {
    let applied = client.node.applied_index();
    if applied <= *told {
        return true;
    }
    // Every event up to `applied` was on the bus before the index moved: send those still
    // queued first, so the index never runs ahead of the events.
    loop {
        let sent = match events.try_recv() {
            Ok(e) => client.deliver(socket, &e).await,
            Err(TryRecvError::Lagged(n)) => lagged(socket, n).await,
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Closed) => return false,
        };
        if !sent {
            return false;
        }
    }
    *told = applied;
    let msg = serde_json::json!({"Type": "websocket", "Action": "progress", "Key": "", "Object": {"Index": applied}});
    reply(socket, msg.to_string()).await
}

/// After the first registration of a `?since=` socket: the kept events after the index (or
/// word that they are not all kept), then `resumed`. Live events wait on the receiver
/// meanwhile, so none is lost or sent twice.
async fn resumed(client: &Client, socket: &mut WebSocket, resume: Resume) -> bool {
    let object = match resume {
        Resume::Replay(since, replay) => {
            for e in &replay {
                if !client.deliver(socket, e).await {
                    return false;
                }
            }
            serde_json::json!({"Covered": true, "Since": since, "Replayed": replay.len()})
        }
        Resume::Gap(gap) => serde_json::json!({
            "Covered": false,
            "Since": gap.since,
            "Floor": gap.floor,
            "Error": gap.to_string(),
        }),
    };
    let msg =
        serde_json::json!({"Type": "websocket", "Action": "resumed", "Key": "", "Object": object});
    reply(socket, msg.to_string()).await
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
    let _ = send(socket, Message::Close(Some(frame))).await;
}

/// Applies one client command; the reply names what happened or what was wrong.
fn command(regs: &mut Registrations, share: &mut Share, text: &str) -> String {
    let quota = || {
        share.register().then_some(()).ok_or_else(|| {
            format!("at most {MAX_REGISTRATIONS_PER_USER} registrations per user over all their websockets (the limit)")
        })
    };
    match regs.command(text, MAX_SUBSCRIPTIONS, quota) {
        Reply::Done { verb, key, removed } => {
            share.deregister(removed);
            ok(&verb, &key)
        }
        Reply::Refused { code, message } => error(code, &message),
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
