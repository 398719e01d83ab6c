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

/// A `register`ed pattern `<type>.<action>.<key>`, each part a literal or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: [String; 3],
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let mut it = text.splitn(3, '.');
        match (it.next(), it.next(), it.next()) {
            (Some(t), Some(a), Some(k)) if !t.is_empty() && !a.is_empty() && !k.is_empty() => {
                Ok(Pattern {
                    parts: [t.to_string(), a.to_string(), k.to_string()],
                })
            }
            _ => Err(format!(
                "{text:?} is not <type>.<action>.<key> (use * for any)"
            )),
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
        assert!(Pattern::parse("machines.update").is_err());
    }
}
