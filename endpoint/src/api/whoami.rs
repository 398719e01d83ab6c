//! `POST /api/v3/whoami`: DRP's machine identification. A booting machine sends what it
//! knows of itself (`Fingerprint`, `MacAddrs`, `OnDiskUUID`); the reply is the same document
//! with `Result` naming the best-matching machine and its score (no match: an empty `Uuid`
//! and score 0).

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::request::parse_json;
use crate::node::Node;

/// How much each kind of evidence counts: the on-disk UUID names the machine outright, a
/// hardware fingerprint field nearly so, a shared MAC address (NICs move) least.
const ON_DISK_UUID: i64 = 1000;
const FINGERPRINT_FIELD: i64 = 100;
const MAC_ADDRESS: i64 = 10;
const FINGERPRINT_FIELDS: &[&str] = &["SystemUUID", "SSNHash", "CSNHash", "CloudInstanceID"];

fn score(asked: &Value, machine: &Value) -> i64 {
    let text = |v: &Value, f: &str| {
        v.get(f)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut score = 0;
    if text(asked, "OnDiskUUID").is_some() && text(asked, "OnDiskUUID") == text(machine, "Uuid") {
        score += ON_DISK_UUID;
    }
    if let (Some(a), Some(m)) = (asked.get("Fingerprint"), machine.get("Fingerprint")) {
        for field in FINGERPRINT_FIELDS {
            if text(a, field).is_some() && text(a, field) == text(m, field) {
                score += FINGERPRINT_FIELD;
            }
        }
    }
    let known = crate::model::hardware_addrs(machine);
    let shared = crate::model::lowercase_strings(asked, "MacAddrs")
        .iter()
        .filter(|m| known.contains(m))
        .count();
    score + MAC_ADDRESS * shared as i64
}

/// What is wrong with the shape of a Whoami, if anything: the fields DRP defines must have
/// DRP's types, so a malformed identification is refused rather than scored.
fn shape_problem(asked: &Value) -> Option<String> {
    let Some(fields) = asked.as_object() else {
        return Some("a Whoami must be a JSON object".into());
    };
    let wrong = |field: &str, want: &str| Some(format!("Whoami field {field} must be {want}"));
    match fields.get("Fingerprint") {
        None | Some(Value::Object(_)) => {}
        Some(_) => return wrong("Fingerprint", "an object"),
    }
    match fields.get("MacAddrs") {
        None => {}
        Some(Value::Array(macs)) if macs.iter().all(Value::is_string) => {}
        Some(_) => return wrong("MacAddrs", "a list of strings"),
    }
    match fields.get("OnDiskUUID") {
        None | Some(Value::String(_)) => None,
        Some(_) => wrong("OnDiskUUID", "a string"),
    }
}

pub async fn whoami(State(node): State<Node>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let mut asked = parse_json(&body)?;
    if let Some(problem) = shape_problem(&asked) {
        return Err(ApiError::new(422, problem).on("whoami", ""));
    }
    let machines = node.store.list("machines", 0, None)?;
    let best = machines
        .items
        .iter()
        .map(|m| (score(&asked, m), m))
        .filter(|(s, _)| *s > 0)
        .max_by_key(|(s, _)| *s);
    let (score, uuid) = match best {
        Some((s, m)) => (s, m.get("Uuid").cloned().unwrap_or(json!(""))),
        None => (0, json!("")),
    };
    asked["Result"] = json!({ "Score": score, "Uuid": uuid, "Token": "" });
    Ok(Json(asked))
}
