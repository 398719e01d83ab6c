//! The state hash of a merged, resolved VersionSet: sha256 over a canonical JSON text.
//!
//! Only state-bearing fields count (`DRPVersion`, `DRPUXVersion`, `Components`, `Plugins`,
//! `Prefs`, `Global`, `Files`): renaming a set or editing its `Description` does not make an
//! endpoint look out of date. Lists are sorted by their merge key (`Name`, `Path`) because
//! their order carries no meaning, and object keys are sorted by hand because serde_json's
//! map order depends on a crate feature another crate in the build may turn on.

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::VersionSet;

/// Bumped if the canonical form ever changes, so old and new hashes never collide.
const HASH_DOMAIN: &str = "drp-versionset-state-v1\n";

/// Lowercase hex sha256 of the set's canonical state. Equal for sets that differ only in
/// `Id`, `Description`, `Documentation`, `Meta`, `Apply` or list order.
pub fn state_hash(vs: &VersionSet) -> String {
    let mut digest = Sha256::new();
    digest.update(HASH_DOMAIN.as_bytes());
    digest.update(canonical_state(vs).as_bytes());
    hex::encode(digest.finalize())
}

/// The canonical JSON text [`state_hash`] digests.
pub fn canonical_state(vs: &VersionSet) -> String {
    let mut state = VersionSet {
        drp_version: vs.drp_version.clone(),
        drp_ux_version: vs.drp_ux_version.clone(),
        components: vs.components.clone(),
        plugins: vs.plugins.clone(),
        prefs: vs.prefs.clone(),
        global: vs.global.clone(),
        files: vs.files.clone(),
        ..VersionSet::default()
    };
    state.components.sort_by(|a, b| a.name.cmp(&b.name));
    state.plugins.sort_by(|a, b| a.name.cmp(&b.name));
    state.files.sort_by(|a, b| a.path.cmp(&b.path));
    // Serialising plain data with string keys cannot fail; Null would still hash stably.
    let mut value = serde_json::to_value(&state).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.remove("Id"); // always serialised, but not state
    }
    canonical_json(&value)
}

/// Compact JSON with object keys sorted at every level.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", Value::String(key.clone()));
                write_canonical(item, out);
            }
            out.push('}');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = json!({"b": 1, "a": {"d": [true, null], "c": "x\"y"}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":"x\"y","d":[true,null]},"b":1}"#
        );
    }

    #[test]
    fn descriptive_fields_do_not_change_the_hash() {
        let a = VersionSet {
            id: "a".into(),
            prefs: [("k".to_owned(), "v".to_owned())].into(),
            ..VersionSet::default()
        };
        let mut b = a.clone();
        b.id = "b".into();
        b.description = Some("other".into());
        b.apply = true;
        assert_eq!(state_hash(&a), state_hash(&b));
        b.prefs.insert("k".into(), "w".into());
        assert_ne!(state_hash(&a), state_hash(&b));
        assert_eq!(state_hash(&a).len(), 64);
    }
}
