//! The follower: one task per tracked cluster keeping the replica of its writable objects.
//!
//! It opens the events websocket of a member (the leader first, any will do: every member
//! publishes every change, in commit order, with the entry's Raft `Index`), registers for
//! everything, and then either resumes from the index the replica holds (the member replays
//! what its event ring kept after it) or, when the ring does not cover the gap or there is no
//! index yet, re-lists every federated collection through the leader-following client while
//! the socket's events are buffered. From then on it applies events as they come; the
//! member's `progress` messages carry its applied index when the latest entries made no event.
//!
//! When the socket breaks, goes silent, or the member says it dropped events for us, the
//! endpoint is marked stale and the follower reconnects with capped backoff.
//!
//! An endpoint that is a manager ([`Cluster::is_manager`]) is followed the same way, but its
//! objects stay their leaves' ([`super::nested`]) and it is always re-listed (no event ring);
//! it reports its leaves' staleness, and is re-listed again when it re-listed one of them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::watch;

use super::apply::{self, apply_event, index_of};
use super::nested;
use super::socket::{self, Next, Socket, SocketError};
use super::Replica;
use crate::cluster::{Cluster, Retry, SendError};
use crate::state::Manager;

/// Each step of opening a socket (connect, TLS, upgrade, registration).
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// One collection's list through the leader, retries included.
const LIST_TIMEOUT: Duration = Duration::from_secs(120);
/// We ping this often; the member's pong (or anything) must come within [`SILENCE`].
const PING_EVERY: Duration = Duration::from_secs(5);
const SILENCE: Duration = Duration::from_secs(20);
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The socket's query: progress messages, and `since` when resuming.
const PROGRESS: &str = "progress=true";

/// Why following stopped for now (the endpoint is stale until it is current again).
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error("listing {collection}: {message}")]
    List { collection: String, message: String },
    #[error("the member dropped events for this consumer (it lagged): {0}")]
    Lagged(String),
    #[error("cluster has no member to follow")]
    NoMember,
}

/// Follows cluster `id` until `stop` turns true (or its sender is gone).
pub async fn run(
    mgr: Arc<Manager>,
    id: String,
    cluster: Arc<Cluster>,
    mut stop: watch::Receiver<bool>,
) {
    let replica = &mgr.replica;
    if !replica.sync_states().contains_key(&id) {
        replica.set_current(&id, Some("not followed yet".into()));
    }
    let mut backoff = MIN_BACKOFF;
    loop {
        let mut was_current = false;
        let err = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            r = session(replica, &id, &cluster, &mut was_current) => match r {
                Err(e) => e,
                Ok(never) => match never {},
            },
        };
        tracing::warn!(endpoint = %id, "replica stale: {err}");
        replica.set_current(&id, Some(err.to_string()));
        replica.set_leaves_current(&id, Some(&err.to_string()));
        if was_current {
            backoff = MIN_BACKOFF;
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: open, catch up (resume or re-list), then apply events until it breaks.
async fn session(
    replica: &Replica,
    id: &str,
    cluster: &Cluster,
    was_current: &mut bool,
) -> Result<Infallible, FollowError> {
    let nested = cluster.is_manager();
    let since = replica
        .sync_states()
        .get(id)
        .map(|s| s.index)
        .filter(|i| *i > 0 && !nested);
    let query = match since {
        Some(i) => format!("{PROGRESS}&since={i}"),
        None => PROGRESS.to_string(),
    };
    let mut socket = connect(cluster, &query).await?;
    socket::send(&mut socket, "register *.*.*", STEP_TIMEOUT).await?;
    await_reply(&mut socket, "register").await?;
    let resumed = match since {
        Some(_) => resume(replica, id, &mut socket, nested).await?,
        None => false,
    };
    if resumed {
        replica.count(id, |c| c.resumes += 1);
        tracing::info!(endpoint = %id, since, "replica resumed from the member's event ring");
    } else {
        resync(replica, id, cluster, &mut socket, nested).await?;
    }
    replica.set_current(id, None);
    replica.set_leaves_current(id, None);
    *was_current = true;
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            next = socket::next(&mut socket, SILENCE) => {
                if let Next::Json(msg) = next? {
                    handle(replica, id, &msg, nested)?;
                    // A leaf the manager re-listed: its re-list made no events to follow.
                    if nested && replica.take_relist(id) {
                        resync(replica, id, cluster, &mut socket, nested).await?;
                    }
                }
            }
            _ = ping.tick() => {
                use futures::SinkExt;
                let sent = tokio::time::timeout(
                    STEP_TIMEOUT,
                    socket.send(tokio_tungstenite::tungstenite::Message::Ping(Vec::new().into())),
                ).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return Err(SocketError::Protocol("a ping could not be sent".into()).into());
                }
            }
        }
    }
}

/// The first member (leader first) whose socket opens.
async fn connect(cluster: &Cluster, query: &str) -> Result<Socket, FollowError> {
    let conn = cluster.connection();
    let mut last = FollowError::NoMember;
    for base in cluster.targets() {
        match socket::open(&base, query, &conn, STEP_TIMEOUT).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e.into(),
        }
    }
    Err(last)
}

/// Waits for the socket's answer to `verb` (`{"Type": "websocket", "Action": verb}`).
async fn await_reply(socket: &mut Socket, verb: &str) -> Result<(), FollowError> {
    loop {
        let Next::Json(msg) = socket::next(socket, STEP_TIMEOUT).await? else {
            continue;
        };
        match own_word(&msg) {
            Some(a) if a == verb => return Ok(()),
            Some("error") => {
                return Err(
                    SocketError::Protocol(format!("{verb} refused: {}", msg["Object"])).into(),
                )
            }
            _ => {}
        }
    }
}

/// The `Action` of the socket's own messages (`Type: websocket`), None for an event.
fn own_word(msg: &Value) -> Option<&str> {
    (msg.get("Type").and_then(Value::as_str) == Some("websocket")).then(|| {
        msg.get("Action")
            .and_then(Value::as_str)
            .unwrap_or_default()
    })
}

/// Applies what the member replays after our index; true when it covered the gap.
async fn resume(
    replica: &Replica,
    id: &str,
    socket: &mut Socket,
    nested: bool,
) -> Result<bool, FollowError> {
    loop {
        let Next::Json(msg) = socket::next(socket, LIST_TIMEOUT).await? else {
            continue;
        };
        if own_word(&msg) == Some("resumed") {
            let covered = msg["Object"]["Covered"].as_bool() == Some(true);
            if !covered {
                tracing::info!(endpoint = %id, why = %msg["Object"]["Error"], "resume not covered: re-listing");
            }
            return Ok(covered);
        }
        handle(replica, id, &msg, nested)?;
    }
}

/// One message of a current socket: an event is applied and raises the index; a progress
/// message raises it; a lag (or an error) breaks the session. A `nested` endpoint's (a
/// manager's) events are its leaves'.
fn handle(replica: &Replica, id: &str, msg: &Value, nested: bool) -> Result<(), FollowError> {
    match own_word(msg) {
        Some("progress") => {
            if let Some(i) = msg["Object"]["Index"].as_u64() {
                replica.set_index(id, i);
            }
            Ok(())
        }
        Some("lagged") => Err(FollowError::Lagged(msg["Object"].to_string())),
        Some("error") => {
            Err(SocketError::Protocol(format!("the member said: {}", msg["Object"])).into())
        }
        Some(_) => Ok(()),
        None if nested => {
            nested::apply(replica, id, msg);
            Ok(())
        }
        None => {
            // An entry the replica already reflects (a member replaying entries after its
            // restart, or one behind the member that served a list) is not applied again: it
            // would step the object back. Equal passes: an entry may make two events.
            let i = index_of(msg);
            if i > 0 && i < replica.index(id) {
                return Ok(());
            }
            apply_event(replica, id, msg);
            replica.count(id, |c| c.events += 1);
            // Events come in commit order, and an entry's events back to back (the member
            // sends a batch's events together), so entry i is taken as applied at once:
            // a routed write's read-your-writes wait ends with its own event.
            replica.set_index(id, i);
            Ok(())
        }
    }
}

/// One collection as listed: the index the member had applied before serving it (the list
/// reflects at least that), and its objects.
struct Listed {
    collection: &'static str,
    floor: u64,
    objects: Vec<Value>,
}

/// Re-lists every federated collection and makes the result this endpoint's copies, while
/// the socket's events are buffered; then applies those the lists did not already reflect
/// (a `nested` endpoint's lists carry no index: all of them, in order).
async fn resync(
    replica: &Replica,
    id: &str,
    cluster: &Cluster,
    socket: &mut Socket,
    nested: bool,
) -> Result<(), FollowError> {
    let list = list_all(cluster, nested);
    tokio::pin!(list);
    let mut buffered = Vec::new();
    let listed = loop {
        tokio::select! {
            r = &mut list => break r?,
            next = socket::next(socket, SILENCE) => {
                if let Next::Json(msg) = next? {
                    buffered.push(msg);
                }
            }
        }
    };
    let floors: BTreeMap<&str, u64> = listed.iter().map(|l| (l.collection, l.floor)).collect();
    let index = floors.values().copied().min().unwrap_or(0);
    let mut objects = Vec::new();
    for l in listed {
        for o in l.objects {
            if !apply::writable(&o) {
                continue;
            }
            if let Some(key) = apply::key_of(l.collection, &o) {
                objects.push((l.collection.to_string(), key, o));
            }
        }
    }
    let count = objects.len();
    if nested {
        replica.replace_manager(id, objects);
    } else {
        replica.replace_endpoint(id, objects, index);
    }
    replica.count(id, |c| c.lists += 1);
    let mut applied = 0;
    for msg in buffered {
        let kind = msg.get("Type").and_then(Value::as_str).unwrap_or_default();
        // A change the list already shows is not applied again (it would step the object back
        // until its later events arrive).
        if !nested
            && floors
                .get(kind)
                .is_some_and(|floor| index_of(&msg) <= *floor)
        {
            continue;
        }
        handle(replica, id, &msg, nested)?;
        applied += 1;
    }
    tracing::info!(endpoint = %id, objects = count, index, buffered_applied = applied, "replica re-listed");
    Ok(())
}

async fn list_all(cluster: &Cluster, nested: bool) -> Result<Vec<Listed>, FollowError> {
    let mut out = Vec::new();
    for collection in proto::collections::FEDERATED {
        out.push(list_one(cluster, collection, nested).await?);
    }
    Ok(out)
}

async fn list_one(
    cluster: &Cluster,
    collection: &'static str,
    nested: bool,
) -> Result<Listed, FollowError> {
    let failed = |message: String| FollowError::List {
        collection: collection.to_string(),
        message,
    };
    let client = cluster.client();
    let resp = cluster
        .send(
            |base| {
                client
                    .get(format!("{base}/api/v3/{collection}"))
                    .timeout(LIST_TIMEOUT)
            },
            Retry::Idempotent,
            LIST_TIMEOUT,
        )
        .await
        .map_err(|e: SendError| failed(e.to_string()))?;
    let status = resp.status();
    let floor = resp
        .headers()
        .get(proto::headers::APPLIED_INDEX)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = tokio::time::timeout(LIST_TIMEOUT, resp.bytes())
        .await
        .map_err(|_| failed("reading the list timed out".into()))?
        .map_err(|e| failed(e.to_string()))?;
    if status != StatusCode::OK {
        return Err(failed(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )));
    }
    // A manager's list has no index of its own (its objects' leaves each have theirs).
    let Some(floor) = floor.or(nested.then_some(0)) else {
        return Err(failed(format!(
            "the member did not send {} (an endpoint too old to follow)",
            proto::headers::APPLIED_INDEX
        )));
    };
    let objects: Vec<Value> =
        serde_json::from_slice(&body).map_err(|e| failed(format!("not a JSON list: {e}")))?;
    Ok(Listed {
        collection,
        floor,
        objects,
    })
}
