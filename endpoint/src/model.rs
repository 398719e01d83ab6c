//! The DRP collections this endpoint serves and what makes an object of each valid.
//! Syntactic checks run where the request enters; state-dependent checks run in `apply`.

use serde_json::Value;

pub use proto::collections::{Collection, COLLECTIONS, INDEXED_FIELDS};

/// The `global` profile as a fresh endpoint has it.
pub fn global_profile() -> Value {
    stamp_new(
        "profiles",
        serde_json::json!({
            "Name": "global",
            "Description": "Global profile: params every machine inherits",
            "Params": {},
        }),
    )
}

/// The built-in role granted every claim; the admin user always holds it (`auth::roles`).
pub const SUPERUSER: &str = "superuser";

/// The role every claim is granted to (`auth::roles`).
fn superuser_role() -> Value {
    stamp_new(
        "roles",
        serde_json::json!({
            "Name": SUPERUSER,
            "Description": "Allowed everything",
            "Claims": [{"Scope": "*", "Action": "*", "Specific": "*"}],
        }),
    )
}

/// Objects every endpoint has from its first start (DRP's built-in store).
pub fn builtins() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("profiles", "global", global_profile()),
        ("roles", SUPERUSER, superuser_role()),
    ]
}

pub fn is_builtin(collection: &str, key: &str) -> bool {
    // The keys of `builtins()`, without building its objects on every delete.
    matches!(
        (collection, key),
        ("profiles", "global") | ("roles", SUPERUSER)
    )
}

pub use proto::collections::by_name as collection;

/// Problems with an object a client sent, each a sentence naming the field.
pub fn validate(collection: &Collection, object: &Value) -> Vec<String> {
    let Some(map) = object.as_object() else {
        return vec![format!(
            "a {} object must be a JSON object",
            collection.model
        )];
    };
    let mut problems = Vec::new();
    match map.get(collection.key_field) {
        Some(Value::String(s)) if !s.is_empty() => {
            if let Some(p) = key_problem(s) {
                problems.push(format!("{}: {p}", collection.key_field));
            }
        }
        Some(Value::String(_)) | None => {
            problems.push(format!("{} is required", collection.key_field))
        }
        Some(_) => problems.push(format!("{} must be a string", collection.key_field)),
    }
    if matches!(collection.name, "machines" | "jobs") {
        if let Some(Value::String(u)) = map.get("Uuid") {
            if uuid::Uuid::parse_str(u).is_err() {
                problems.push(format!("Uuid: {u:?} is not a UUID"));
            }
        }
    }
    if collection.name == "machines" {
        match map.get("Name") {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => problems.push("Name is required".to_string()),
        }
    }
    problems.extend(crate::fill::type_problems(collection.name, map));
    problems
}

/// Why a string cannot be an object key, if it cannot. DRP keys may hold `/` (params such
/// as `ipmi/password`, tasks such as `universal/...`): clients send it as `%2F` in a path.
pub fn key_problem(key: &str) -> Option<&'static str> {
    if key.len() > 1024 {
        Some("longer than 1024 bytes")
    } else if key.contains('\0') {
        Some("must not contain NUL")
    } else {
        None
    }
}

/// Fills the fields every stored DRP object carries (DRP's defaults, `fill::defaults`).
/// Deterministic: runs in `apply`.
pub fn stamp_new(collection: &str, object: Value) -> Value {
    crate::fill::defaults(collection, object)
}

/// The objects `object` names by key: (collection, key, the field naming it).
pub fn references(collection: &str, object: &Value) -> Vec<(&'static str, String, &'static str)> {
    let list = |field: &'static str, target: &'static str| {
        strings(object, field).map(move |k| (target, k.to_string(), field))
    };
    let one = |field: &'static str, target: &'static str| {
        object
            .get(field)
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .map(|k| (target, k.to_string(), field))
    };
    match collection {
        "machines" => list("Profiles", "profiles")
            .chain(one("Workflow", "workflows"))
            .collect(),
        "profiles" => list("Profiles", "profiles").collect(),
        "workflows" => list("Stages", "stages").collect(),
        _ => Vec::new(),
    }
}

/// What a client may see of a stored object: user password hashes never leave the store.
pub fn redact(collection: &str, mut object: Value) -> Value {
    if collection == "users" {
        if let Some(map) = object.as_object_mut() {
            map.remove("PasswordHash");
        }
    }
    object
}

/// A machine's MACs (`HardwareAddrs`), lower-cased as MACs compare.
pub fn hardware_addrs(machine: &Value) -> Vec<String> {
    lowercase_strings(machine, "HardwareAddrs")
}

/// The strings of a list field, lower-cased (MACs: `HardwareAddrs`, a Whoami's `MacAddrs`).
pub fn lowercase_strings(object: &Value, field: &str) -> Vec<String> {
    strings(object, field)
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The strings of a list field, in order; anything else in it (or no such list) is skipped.
fn strings<'a>(object: &'a Value, field: &str) -> impl Iterator<Item = &'a str> {
    object
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}
