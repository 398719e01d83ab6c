//! Applying a VersionSet: every part (content packs, plugin providers, plugins, prefs,
//! global params, files) is checked first, then written, inside the one transaction of its
//! log entry — so every member has all of it or none of it.

use base64::Engine;
use redb::WriteTransaction;
use serde_json::{json, Value};

use super::apply::{load, params_mut, put};
use super::contents::{broken_dependents, check_pack, install_pack, unmet_prerequisites};
use super::{StoreError, FILES, OBJECTS};
use crate::command::{Response, VersionSetApply};
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

    let mut problems = Vec::new();
    for pack in &vs.content_packs {
        problems.extend(check_pack(&objects, pack)?);
        // Prerequisites may be met by packs already installed or by packs of this set.
        problems.extend(unmet_prerequisites(
            &objects,
            pack,
            &vs.content_packs,
            &vs.features,
        )?);
        problems.extend(broken_dependents(&objects, pack, &vs.content_packs)?);
    }
    let mut decoded = Vec::with_capacity(vs.files.len());
    for file in &vs.files {
        match base64::engine::general_purpose::STANDARD.decode(&file.data) {
            Ok(bytes) => decoded.push((file, bytes)),
            Err(e) => problems.push(format!("file {}: not base64: {e}", file.path)),
        }
    }
    if !problems.is_empty() {
        let body = crate::command::error_body(409, "version_sets", &vs.key, problems);
        return Ok(Response::ok(409, body));
    }

    for pack in &vs.content_packs {
        install_pack(&mut objects, pack)?;
    }
    for (name, version) in &vs.plugin_providers {
        let provider = json!({ "Name": name, "Version": version, "ReadOnly": true });
        put(
            &mut objects,
            "plugin_providers",
            name,
            &model::stamp_new("plugin_providers", provider),
        )?;
    }
    for plugin in &vs.plugins {
        if let Some(name) = plugin.get("Name").and_then(Value::as_str) {
            put(
                &mut objects,
                "plugins",
                name,
                &model::stamp_new("plugins", plugin.clone()),
            )?;
        }
    }
    for (name, value) in &vs.prefs {
        put(&mut objects, "prefs", name, &Value::String(value.clone()))?;
    }
    if !vs.global.is_empty() {
        let mut global = match load(&objects, "profiles", "global")? {
            Some(g) => g,
            None => model::global_profile(),
        };
        if let Some(params) = params_mut(&mut global) {
            for (k, v) in &vs.global {
                params.insert(k.clone(), v.clone());
            }
        }
        put(&mut objects, "profiles", "global", &global)?;
    }
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
