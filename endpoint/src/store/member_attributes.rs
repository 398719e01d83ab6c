//! Applies the cluster-version commands: each member's published attributes and the
//! upgrade target. Both live in `_system` records (never listed by the API, no change
//! event); `upgrade::cluster_version` reads them.
//!
//! Also what this build can apply: its command version (capped by the hidden
//! `--fault-cap-command-version`) and the check the state machine makes on every entry,
//! which stops applying at the first entry this build cannot understand.

use redb::Table;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use super::apply::{load, put};
use super::{ObjectStore, StoreError};
use crate::command::{Op, Request, Response, COMMAND_VERSION};

/// The `_system` record holding every member's attributes, keyed by ConsensusID: one record
/// so a reader gets all members in one read.
pub const ATTRIBUTES_KEY: &str = "member-attributes";
/// The `_system` record holding the upgrade target.
pub const TARGET_KEY: &str = "upgrade-target";

/// What a member published about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "CommandVersion")]
    pub command_version: u32,
    #[serde(rename = "Features")]
    pub features: Vec<String>,
}

pub type AllAttributes = std::collections::BTreeMap<String, Attributes>;

pub(super) fn apply(
    objects: &mut Table<(&str, &str), &[u8]>,
    op: &Op,
) -> Result<Response, StoreError> {
    match op {
        Op::MemberAttributes {
            id,
            version,
            command_version,
            features,
        } => {
            let mut all = match load(objects, "_system", ATTRIBUTES_KEY)? {
                Some(v) => decode_all(v)?,
                None => AllAttributes::new(),
            };
            let attributes = Attributes {
                version: version.clone(),
                command_version: *command_version,
                features: features.clone(),
            };
            all.insert(id.clone(), attributes.clone());
            put(objects, "_system", ATTRIBUTES_KEY, &encode(&all)?)?;
            Ok(Response::ok(200, encode(&attributes)?))
        }
        Op::SetUpgradeTarget { version } => {
            let record = serde_json::json!({ "Version": version });
            put(objects, "_system", TARGET_KEY, &record)?;
            Ok(Response::ok(200, record))
        }
        _ => Ok(Response::error(500, "_system", "", "op routed wrongly")),
    }
}

/// Every member's published attributes (none published yet: empty).
pub fn read_all(store: &ObjectStore) -> Result<AllAttributes, StoreError> {
    match store.get("_system", ATTRIBUTES_KEY)? {
        Some(v) => decode_all(v),
        None => Ok(AllAttributes::new()),
    }
}

/// The replicated upgrade target, if one was set.
pub fn read_target(store: &ObjectStore) -> Result<Option<String>, StoreError> {
    Ok(store
        .get("_system", TARGET_KEY)?
        .and_then(|v| v.get("Version")?.as_str().map(str::to_string)))
}

fn decode_all(v: Value) -> Result<AllAttributes, StoreError> {
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt(format!("{ATTRIBUTES_KEY}: {e}")))
}

fn encode(v: &impl Serialize) -> Result<Value, StoreError> {
    serde_json::to_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// This process's command version: [`COMMAND_VERSION`] unless the hidden
/// `--fault-cap-command-version` makes the same code act as an older build.
static CAP: AtomicU32 = AtomicU32::new(COMMAND_VERSION);
/// Why this member stopped applying, once it did.
static STOPPED: Mutex<Option<String>> = Mutex::new(None);

/// Caps this process's command version (test-only: the "old build" of an upgrade test).
pub fn set_cap(cap: Option<u32>) {
    if let Some(cap) = cap {
        CAP.store(cap.clamp(1, COMMAND_VERSION), Ordering::Relaxed);
    }
}

pub fn local_command_version() -> u32 {
    CAP.load(Ordering::Relaxed)
}

/// An entry this build cannot apply: a newer command version, or a command it cannot decode.
#[derive(Debug, thiserror::Error)]
#[error("log entry {index} ({kind}) {what}: this member stopped applying; upgrade its binary")]
pub struct EntryTooNew {
    pub index: u64,
    pub kind: String,
    what: String,
}

/// Whether this member can apply the entry at `index`. When it cannot, logs an error naming
/// the index and the command, remembers why (the upgrade status and `/api/v3/info` show it)
/// and returns the reason: the caller stops applying without committing the batch.
pub fn check_entry(req: &Request, index: u64) -> Result<(), EntryTooNew> {
    check_entry_with(req, index, local_command_version())
}

fn check_entry_with(req: &Request, index: u64, understood: u32) -> Result<(), EntryTooNew> {
    let needed = req.op.command_version();
    if needed <= understood {
        return Ok(());
    }
    let kind = req.op.kind();
    let what = match &req.op {
        Op::Unknown(_) => "is a command this build cannot decode".to_string(),
        _ => format!("needs command version {needed}, this build understands up to {understood}"),
    };
    let refused = EntryTooNew { index, kind, what };
    tracing::error!(index, kind = %refused.kind, understood, "{refused}");
    *STOPPED.lock().unwrap_or_else(|e| e.into_inner()) = Some(refused.to_string());
    Err(refused)
}

/// Why this member stopped applying, if it did.
pub fn stopped() -> Option<String> {
    STOPPED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `SetUpgradeTarget` write, also the fixture of the upgrade gate's tests.
    pub(crate) fn target_req() -> Request {
        Request {
            idempotency: None,
            at_ms: 1,
            if_match: None,
            principal: None,
            op: Op::SetUpgradeTarget {
                version: "v2".into(),
            },
        }
    }

    #[test]
    fn an_entry_of_a_newer_command_version_is_refused_naming_its_index() {
        assert!(check_entry_with(&target_req(), 7, 2).is_ok());
        let why = check_entry_with(&target_req(), 7, 1)
            .unwrap_err()
            .to_string();
        assert!(why.contains("log entry 7"), "{why}");
        assert!(why.contains("SetUpgradeTarget"), "{why}");
        assert!(stopped().is_some());
    }
}
