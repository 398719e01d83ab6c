//! Applying a VersionSet: every part (content packs, plugin providers, plugins, prefs,
//! global params, files) is checked first, then written, inside the one transaction of its
//! log entry — so every member has all of it or none of it.

use base64::Engine;
use redb::WriteTransaction;
use serde_json::{json, Value};

use super::apply::{load, params_mut, put};
use super::contents::{broken_dependents, check_pack, install_pack, unmet_prerequisites};
use super::{Objects, StoreError, FILES, OBJECTS};
use crate::command::{FileBlob, Response, VersionSetApply};
use crate::model;

pub const RECORD_COLLECTION: &str = "_system";
pub const RECORD_KEY: &str = "versionset";

pub fn apply_version_set(
    tx: &WriteTransaction,
    vs: &VersionSetApply,
    index: u64,
    at_ms: u64,
) -> Result<Response, StoreError> {
    let mut objects = tx.open_table(OBJECTS)?;
    let mut files = tx.open_table(FILES)?;
    let decoded = match checked(&objects, vs)? {
        Ok(decoded) => decoded,
        Err(problems) => {
            let body = crate::command::error_body(409, "version_sets", &vs.key, problems);
            return Ok(Response::ok(409, body));
        }
    };
    write_objects(&mut objects, vs)?;
    for (file, bytes) in decoded {
        files.insert(file.path.as_str(), bytes.as_slice())?;
        let meta = json!({ "Path": file.path, "Sha256Sum": file.sha256, "Size": bytes.len() });
        put(&mut objects, "files", &file.path, &meta)?;
    }

    let at = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms),
    )
    .to_string();
    let summary = json!({ "Index": index, "Hash": vs.hash, "Key": vs.key, "At": at });
    let mut record = summary.clone();
    record["VersionSet"] = vs.version_set.clone();
    put(&mut objects, RECORD_COLLECTION, RECORD_KEY, &record)?;
    Ok(Response::ok(200, summary))
}

/// Every part checked against the state before anything is written: the files' bytes, or
/// every problem found (packs conflicting or missing prerequisites, files not base64).
#[allow(clippy::type_complexity)] // a verdict inside a store result, as everywhere in apply
fn checked<'v>(
    objects: &Objects,
    vs: &'v VersionSetApply,
) -> Result<Result<Vec<(&'v FileBlob, Vec<u8>)>, Vec<String>>, StoreError> {
    let mut problems = Vec::new();
    for pack in &vs.content_packs {
        problems.extend(check_pack(objects, pack)?);
        // Prerequisites may be met by packs already installed or by packs of this set.
        problems.extend(unmet_prerequisites(
            objects,
            pack,
            &vs.content_packs,
            &vs.features,
        )?);
        problems.extend(broken_dependents(objects, pack, &vs.content_packs)?);
    }
    let mut decoded = Vec::with_capacity(vs.files.len());
    for file in &vs.files {
        match base64::engine::general_purpose::STANDARD.decode(&file.data) {
            Ok(bytes) => decoded.push((file, bytes)),
            Err(e) => problems.push(format!("file {}: not base64: {e}", file.path)),
        }
    }
    Ok(if problems.is_empty() {
        Ok(decoded)
    } else {
        Err(problems)
    })
}

/// Packs, plugin providers, plugins, prefs and global params, as the set has them.
fn write_objects(objects: &mut Objects, vs: &VersionSetApply) -> Result<(), StoreError> {
    for pack in &vs.content_packs {
        install_pack(objects, pack)?;
    }
    for (name, version) in &vs.plugin_providers {
        let provider = json!({ "Name": name, "Version": version, "ReadOnly": true });
        put(
            objects,
            "plugin_providers",
            name,
            &model::stamp_new("plugin_providers", provider),
        )?;
    }
    for plugin in &vs.plugins {
        if let Some(name) = plugin.get("Name").and_then(Value::as_str) {
            put(
                objects,
                "plugins",
                name,
                &model::stamp_new("plugins", plugin.clone()),
            )?;
        }
    }
    for (name, value) in &vs.prefs {
        put(objects, "prefs", name, &Value::String(value.clone()))?;
    }
    if !vs.global.is_empty() {
        let mut global = match load(objects, "profiles", "global")? {
            Some(g) => g,
            None => model::global_profile(),
        };
        if let Some(params) = params_mut(&mut global) {
            for (k, v) in &vs.global {
                params.insert(k.clone(), v.clone());
            }
        }
        put(objects, "profiles", "global", &global)?;
    }
    Ok(())
}
