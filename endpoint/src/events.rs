//! Change events, DRP style: every member publishes one per applied change, in commit
//! order, so a websocket client on any member sees the whole cluster's changes.

use serde::Serialize;
use serde_json::Value;

use crate::command::{Op, Request, Response};
use crate::model;

/// Events buffered per subscriber before it counts as too slow and is told it lost some.
pub const BUS_CAPACITY: usize = 4096;

pub type Bus = tokio::sync::broadcast::Sender<Event>;

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(rename = "Time")]
    pub time: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Principal")]
    pub principal: String,
    #[serde(rename = "Object")]
    pub object: Value,
    #[serde(rename = "Original")]
    pub original: Value,
}

/// The event for an applied command, if it changed something a client can watch.
/// `original` and `current` are the target object before and after (object ops only).
pub fn for_change(
    req: &Request,
    resp: &Response,
    original: Option<Value>,
    current: Option<Value>,
) -> Option<Event> {
    if !(200..300).contains(&resp.status) {
        return None;
    }
    let (kind, action, key) = match &req.op {
        Op::Create {
            collection, key, ..
        } => (collection.as_str(), "create", key.clone()),
        Op::Replace {
            collection, key, ..
        } => (collection.as_str(), "save", key.clone()),
        Op::Patch {
            collection, key, ..
        }
        | Op::SetParam {
            collection, key, ..
        }
        | Op::DeleteParam {
            collection, key, ..
        } => (collection.as_str(), "update", key.clone()),
        Op::Delete { collection, key } => (collection.as_str(), "delete", key.clone()),
        Op::SetPrefs { .. } => ("prefs", "update", "prefs".to_string()),
        Op::ApplyVersionSet(vs) => ("version_sets", "apply", vs.hash.clone()),
        Op::InstallContent { pack, .. } if resp.status == 200 => {
            ("contents", "update", pack.name().to_string())
        }
        Op::InstallContent { pack, .. } => ("contents", "create", pack.name().to_string()),
        Op::RemoveContent { name } => ("contents", "delete", name.clone()),
        Op::FinishUpload { path, .. } => ("files", "create", path.clone()),
        Op::DeleteFile { path } => ("files", "delete", path.clone()),
        Op::CreateJob { job, .. } if resp.status == 201 => ("jobs", "create", job.clone()),
        Op::CreateJob { .. } | Op::AppendJobLog { .. } => return None,
        Op::Seed { .. }
        | Op::MemberAttributes { .. }
        | Op::SetUpgradeTarget { .. }
        | Op::Unknown(_)
        | Op::PutSystem { .. }
        | Op::UploadChunk { .. }
        | Op::AbortUpload { .. } => return None,
    };
    let object = match (&req.op, current) {
        (Op::Delete { .. }, _) => resp.body.clone(),
        (_, Some(current)) => current,
        (_, None) => resp.body.clone(),
    };
    Some(event(req, kind, action, key, object, original))
}

/// The `machines.update` event of a machine that a job command changed on the side (its
/// `CurrentJob`, `CurrentTask`, `Stage`, `WorkflowComplete`, `Runnable`): clients watching
/// the machine see the runtime move it, as with DRP.
pub fn for_machine_side_change(
    req: &Request,
    key: &str,
    original: Option<Value>,
    current: Value,
) -> Event {
    event(
        req,
        "machines",
        "update",
        key.to_string(),
        current,
        original,
    )
}

fn event(
    req: &Request,
    kind: &str,
    action: &str,
    key: String,
    object: Value,
    original: Option<Value>,
) -> Event {
    let time = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(req.at_ms),
    );
    Event {
        time: time.to_string(),
        kind: kind.to_string(),
        action: action.to_string(),
        key,
        principal: req.principal.clone().unwrap_or_default(),
        object: model::redact(kind, object),
        original: original
            .map(|o| model::redact(kind, o))
            .unwrap_or(Value::Null),
    }
}

/// One step of following the bus: an event, or word that `n` were missed (the follower
/// must then rebuild what it keeps from the store).
pub enum Followed {
    Event(Event),
    Lagged(u64),
}

/// Hands each event of `events` to `on`, in order, until `stop` turns true (or its sender
/// is gone) or the bus closes: the one loop every follower of the bus runs.
pub async fn follow<F, Fut>(
    mut events: tokio::sync::broadcast::Receiver<Event>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut on: F,
) where
    F: FnMut(Followed) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let next = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            e = events.recv() => e,
        };
        match next {
            Ok(e) => on(Followed::Event(e)).await,
            Err(RecvError::Lagged(n)) => on(Followed::Lagged(n)).await,
            Err(RecvError::Closed) => return,
        }
    }
}

/// A `register`ed pattern `<type>.<action>.<key>`, each part a literal or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: [String; 3],
}

/// A `register` argument that is not `<type>.<action>.<key>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not <type>.<action>.<key> (use * for any)")]
pub struct BadPattern(pub String);

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, BadPattern> {
        let mut it = text.splitn(3, '.');
        match (it.next(), it.next(), it.next()) {
            (Some(t), Some(a), Some(k)) if !t.is_empty() && !a.is_empty() && !k.is_empty() => {
                Ok(Pattern {
                    parts: [t.to_string(), a.to_string(), k.to_string()],
                })
            }
            _ => Err(BadPattern(text.to_string())),
        }
    }

    pub fn matches(&self, e: &Event) -> bool {
        let ok = |p: &str, v: &str| p == "*" || p == v;
        ok(&self.parts[0], &e.kind) && ok(&self.parts[1], &e.action) && ok(&self.parts[2], &e.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, action: &str, key: &str) -> Event {
        Event {
            time: String::new(),
            kind: kind.into(),
            action: action.into(),
            key: key.into(),
            principal: String::new(),
            object: Value::Null,
            original: Value::Null,
        }
    }

    #[test]
    fn patterns_match_with_wildcards() {
        let e = event("machines", "update", "a.b");
        assert!(Pattern::parse("machines.*.*").expect("p").matches(&e));
        assert!(
            Pattern::parse("*.update.a.b").expect("p").matches(&e),
            "the key may contain dots"
        );
        assert!(!Pattern::parse("profiles.*.*").expect("p").matches(&e));
        assert_eq!(
            Pattern::parse("machines.update").unwrap_err().to_string(),
            "\"machines.update\" is not <type>.<action>.<key> (use * for any)"
        );
    }

    /// A follower sees every event in order and a lag as one `Lagged`, and returns when told
    /// to stop, without another event.
    #[tokio::test]
    async fn follow_hands_on_events_and_lags_and_stops_when_told() {
        let (bus, rx) = tokio::sync::broadcast::channel(2);
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let follower = tokio::spawn(follow(rx, stop, move |f| {
            let _ = seen_tx.send(match f {
                Followed::Event(e) => e.key,
                Followed::Lagged(n) => format!("lagged {n}"),
            });
            std::future::ready(())
        }));
        // Three sends into a bus of two before the follower reads: the first is lost.
        for key in ["a", "b", "c"] {
            bus.send(event("machines", "update", key))
                .expect("a receiver");
        }
        let mut got = Vec::new();
        while got.len() < 3 {
            got.push(seen.recv().await.expect("the follower runs"));
        }
        assert_eq!(got, ["lagged 1", "b", "c"]);
        stop_tx.send(true).expect("the follower listens");
        follower.await.expect("the follower returns");
        assert!(seen.recv().await.is_none(), "nothing after the stop");
    }
}
