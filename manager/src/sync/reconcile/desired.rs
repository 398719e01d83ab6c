//! What an endpoint should run: its VersionSets merged and resolved against the catalog, the
//! state hash, and the body of the one apply that pushes it.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use versionsets::{merge_for_endpoint, state_hash, Catalog, ComponentType, Endpoint, VersionSet};

use crate::registry::CatalogData;
use crate::state::Manager;

/// The desired state of one endpoint, ready to push.
#[derive(Debug, Clone)]
pub struct Desired {
    pub resolved: VersionSet,
    pub hash: String,
    pub commit: Option<String>,
    pub apply: bool,
}

/// Merges and resolves an endpoint's sets; every problem as a line.
pub fn desired_for(mgr: &Manager, ep: &Endpoint) -> Result<Desired, Vec<String>> {
    let sets: Vec<VersionSet> = mgr.version_sets().into_values().map(|(v, _)| v).collect();
    let merged = merge_for_endpoint(ep, &sets).map_err(|e| vec![e.to_string()])?;
    let catalog = mgr.catalog();
    let resolved = Catalog::new(catalog.items.clone())
        .resolve(&merged)
        .map_err(|e| {
            e.problems
                .iter()
                .map(|p| format!("VersionSet `{}`: {p}", merged.id))
                .collect::<Vec<_>>()
        })?;
    let git = mgr.registry.git().good;
    let from_git = git.as_ref().is_some_and(|g| {
        ep.effective_version_sets()
            .iter()
            .any(|id| g.version_sets.iter().any(|v| &v.id == id))
    });
    Ok(Desired {
        hash: state_hash(&resolved),
        commit: if from_git {
            git.map(|g| g.commit)
        } else {
            None
        },
        apply: ep.apply && resolved.apply,
        resolved,
    })
}

/// The idempotency key of pushing `hash` to `endpoint` (`salt` tells re-assertions apart).
pub fn apply_key(endpoint: &str, hash: &str, salt: Option<u64>) -> String {
    let mut d = Sha256::new();
    d.update(endpoint.as_bytes());
    d.update(hash.as_bytes());
    if let Some(s) = salt {
        d.update(format!(":reassert:{s}").as_bytes());
    }
    hex::encode(d.finalize())
}

/// The apply body: the resolved set, the content packs it names, and `self://` files.
pub fn apply_body(
    d: &Desired,
    catalog: &CatalogData,
    files: &BTreeMap<String, String>,
) -> Result<Value, Vec<String>> {
    let mut contents = Vec::new();
    let mut problems = Vec::new();
    for c in &d.resolved.components {
        if c.kind != ComponentType::ContentPackage {
            continue;
        }
        let Some(version) = c.actual_version.as_deref() else {
            continue; // `ignore`
        };
        match catalog
            .packs
            .iter()
            .find(|p| p.name == c.name && versionsets::same_version(&p.version, version))
        {
            Some(p) => contents.push(p.doc.clone()),
            None => problems.push(format!(
                "content pack `{}` {version} is not in the catalog",
                c.name
            )),
        }
    }
    let mut out_files = serde_json::Map::new();
    for f in &d.resolved.files {
        if let Some(src) = f.source.strip_prefix("self://") {
            let src = src.trim_start_matches('/');
            match files.get(src) {
                Some(data) => {
                    out_files.insert(f.path.clone(), Value::String(data.clone()));
                }
                None => problems.push(format!(
                    "file `{}`: `{}` is not available",
                    f.path, f.source
                )),
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(json!({"VersionSet": d.resolved, "Contents": contents, "Files": out_files}))
}
