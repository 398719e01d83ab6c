//! Each endpoint's rollout as the API shows it, and the per-cluster guard that keeps a
//! second reconcile pass from starting a second rollout while one runs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use serde::Serialize;
use serde_json::Value;

/// Where a rollout stands.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    #[serde(rename = "Target")]
    pub target: String,
    /// `running`, `done`, `halted`, or `no-binary` (the catalog lacks the target).
    #[serde(rename = "State")]
    pub state: String,
    /// What is happening now, or why it halted.
    #[serde(rename = "Detail")]
    pub detail: String,
    /// Each member's version (ConsensusID -> Version) as last read.
    #[serde(rename = "Members")]
    pub members: BTreeMap<String, String>,
    /// Members upgraded by this rollout, in order.
    #[serde(rename = "Upgraded")]
    pub upgraded: Vec<String>,
}

pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const HALTED: &str = "halted";
pub const NO_BINARY: &str = "no-binary";

fn table() -> &'static Mutex<HashMap<String, Progress>> {
    static T: OnceLock<Mutex<HashMap<String, Progress>>> = OnceLock::new();
    T.get_or_init(Default::default)
}

/// The endpoint's rollout, if any.
pub fn get(id: &str) -> Option<Progress> {
    table().lock().ok()?.get(id).cloned()
}

/// Claims the endpoint for a rollout to `target`: false while one runs, and after one to
/// the same target ended (done, or halted: a halt waits for a new target or a restart
/// rather than looping).
pub fn begin(id: &str, target: &str) -> bool {
    let Ok(mut t) = table().lock() else {
        return false;
    };
    if let Some(p) = t.get(id) {
        if p.state == RUNNING || (p.target == target && p.state != NO_BINARY) {
            return false;
        }
    }
    t.insert(
        id.to_string(),
        Progress {
            target: target.to_string(),
            state: RUNNING.into(),
            detail: "reading the members' versions".into(),
            members: BTreeMap::new(),
            upgraded: Vec::new(),
        },
    );
    true
}

/// Records that the catalog has no binary for `target` (unless a rollout runs).
pub fn no_binary(id: &str, target: &str) {
    if let Ok(mut t) = table().lock() {
        if t.get(id).is_some_and(|p| p.state == RUNNING) {
            return;
        }
        t.insert(
            id.to_string(),
            Progress {
                target: target.to_string(),
                state: NO_BINARY.into(),
                detail: format!("the manager has no drp binary for {target} (--drp-binary)"),
                members: BTreeMap::new(),
                upgraded: Vec::new(),
            },
        );
    }
}

/// Changes the endpoint's record in place.
pub fn update(id: &str, change: impl FnOnce(&mut Progress)) {
    if let Ok(mut t) = table().lock() {
        if let Some(p) = t.get_mut(id) {
            change(p);
        }
    }
}

/// The API's view.
pub fn view(id: &str) -> Value {
    get(id)
        .and_then(|p| serde_json::to_value(p).ok())
        .unwrap_or(Value::Null)
}
