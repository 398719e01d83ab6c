//! The git source: reads `version_sets/*.yaml`, `endpoints/*.yaml` and `catalog/**` at a
//! branch head with gix. A commit is taken whole or not at all: any invalid file rejects it,
//! with every problem as a `FILE:LINE:COLUMN: message` line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use versionsets::{parse_endpoints, parse_version_sets, CatalogItem, Endpoint, VersionSet};

use crate::registry::{CatalogData, ContentPack, GitSnapshot, Rejected};
use crate::state::Manager;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot open git repository {path}: {message}")]
    Open { path: String, message: String },
    #[error("branch `{branch}` not found in {path}: {message}")]
    Branch {
        path: String,
        branch: String,
        message: String,
    },
    #[error("reading commit {commit}: {message}")]
    Read { commit: String, message: String },
}

/// The head commit of `branch`, and what it holds (or every problem with it).
pub struct HeadRead {
    pub commit: String,
    pub snapshot: Result<GitSnapshot, Vec<String>>,
}

/// Only the branch head's commit id (cheap; used to skip unchanged heads).
pub fn head_commit(repo_path: &Path, branch: &str) -> Result<String, GitError> {
    let repo = open(repo_path)?;
    let mut reference = find_branch(&repo, repo_path, branch)?;
    let id = reference.peel_to_id().map_err(|e| GitError::Branch {
        path: repo_path.display().to_string(),
        branch: branch.to_owned(),
        message: e.to_string(),
    })?;
    Ok(id.to_string())
}

fn open(repo_path: &Path) -> Result<gix::Repository, GitError> {
    gix::open(repo_path).map_err(|e| GitError::Open {
        path: repo_path.display().to_string(),
        message: e.to_string(),
    })
}

fn find_branch<'r>(
    repo: &'r gix::Repository,
    repo_path: &Path,
    branch: &str,
) -> Result<gix::Reference<'r>, GitError> {
    let name = if branch.starts_with("refs/") {
        branch.to_owned()
    } else {
        format!("refs/heads/{branch}")
    };
    repo.find_reference(name.as_str())
        .map_err(|e| GitError::Branch {
            path: repo_path.display().to_string(),
            branch: branch.to_owned(),
            message: e.to_string(),
        })
}

/// Reads and checks everything at the head of `branch`.
pub fn read_head(repo_path: &Path, branch: &str) -> Result<HeadRead, GitError> {
    let repo = open(repo_path)?;
    let mut reference = find_branch(&repo, repo_path, branch)?;
    let commit = reference.peel_to_commit().map_err(|e| GitError::Branch {
        path: repo_path.display().to_string(),
        branch: branch.to_owned(),
        message: e.to_string(),
    })?;
    let commit_id = commit.id.to_string();
    let read_err = |e: &dyn std::fmt::Display| GitError::Read {
        commit: commit_id.clone(),
        message: e.to_string(),
    };
    let tree = commit.tree().map_err(|e| read_err(&e))?;
    let mut files = BTreeMap::new();
    for dir in [
        "version_sets",
        "endpoints",
        "catalog",
        crate::sync::rollout::spec::DIR,
    ] {
        collect(&repo, &tree, dir, &mut files).map_err(|e| read_err(&e))?;
    }
    let blob_at = |path: &str| -> Option<Vec<u8>> {
        let entry = tree.lookup_entry_by_path(path).ok()??;
        let object = entry.object().ok()?;
        Some(object.data.clone())
    };
    let snapshot = build_snapshot(&commit_id, &files, blob_at);
    Ok(HeadRead {
        commit: commit_id,
        snapshot,
    })
}

/// Every blob under `dir` (recursively), by path.
fn collect(
    repo: &gix::Repository,
    root: &gix::Tree<'_>,
    dir: &str,
    out: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Some(entry) = root.lookup_entry_by_path(dir)? else {
        return Ok(());
    };
    if !entry.mode().is_tree() {
        return Ok(());
    }
    let mut stack = vec![(dir.to_owned(), entry.object_id())];
    while let Some((prefix, id)) = stack.pop() {
        let tree = repo.find_tree(id)?;
        for e in tree.iter() {
            let e = e?;
            let path = format!("{prefix}/{}", e.filename());
            let mode = e.mode();
            if mode.is_tree() {
                stack.push((path, e.oid().to_owned()));
            } else if mode.is_blob() {
                let blob = repo.find_blob(e.oid().to_owned())?;
                out.insert(path, blob.data.clone());
            }
        }
    }
    Ok(())
}

fn is_doc(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml") || path.ends_with(".json")
}

/// The documents of one commit, sorted by kind, each with the file it came from.
#[derive(Default)]
struct Documents {
    version_sets: Vec<(String, VersionSet)>,
    endpoints: Vec<(String, Endpoint)>,
    catalog_files: BTreeMap<String, String>,
}

/// Parses the files of one commit; any problem rejects it whole.
pub fn build_snapshot(
    commit: &str,
    files: &BTreeMap<String, Vec<u8>>,
    blob_at: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<GitSnapshot, Vec<String>> {
    let mut errors = Vec::new();
    let docs = parse_documents(files, &mut errors);
    errors.extend(defined_twice("VersionSet", &docs.version_sets, |v| &v.id));
    errors.extend(defined_twice("Endpoint", &docs.endpoints, |e| &e.id));
    let catalog = parse_catalog(&docs.catalog_files).unwrap_or_else(|e| {
        errors.extend(e);
        CatalogData::default()
    });
    let self_files = self_files(&docs.version_sets, blob_at, &mut errors);
    let endpoints: Vec<Endpoint> = docs.endpoints.iter().map(|(_, e)| e.clone()).collect();
    let rollout = crate::sync::rollout::spec::from_files(files, &endpoints).unwrap_or_else(|e| {
        errors.extend(e);
        None
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(GitSnapshot {
        commit: commit.to_owned(),
        version_sets: docs.version_sets.into_iter().map(|(_, v)| v).collect(),
        endpoints: docs.endpoints.into_iter().map(|(_, e)| e).collect(),
        catalog,
        files: self_files,
        rollout,
    })
}

/// `version_sets/*`, `endpoints/*` parsed and `catalog/*` kept as text.
fn parse_documents(files: &BTreeMap<String, Vec<u8>>, errors: &mut Vec<String>) -> Documents {
    let mut docs = Documents::default();
    for (path, data) in files.iter().filter(|(p, _)| is_doc(p)) {
        let text = match std::str::from_utf8(data) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{path}:1:1: not UTF-8 text: {e}"));
                continue;
            }
        };
        if path.starts_with("version_sets/") {
            match parse_version_sets(path, text) {
                Ok(sets) => docs
                    .version_sets
                    .extend(sets.into_iter().map(|s| (path.clone(), s))),
                Err(e) => errors.extend(e.lines()),
            }
        } else if path.starts_with("endpoints/") {
            match parse_endpoints(path, text) {
                Ok(eps) => docs
                    .endpoints
                    .extend(eps.into_iter().map(|e| (path.clone(), e))),
                Err(e) => errors.extend(e.lines()),
            }
        } else if path.starts_with("catalog/") {
            docs.catalog_files.insert(path.clone(), text.to_owned());
        }
    }
    docs
}

/// One line per object whose Id an earlier file already defines.
fn defined_twice<T>(kind: &str, docs: &[(String, T)], id: fn(&T) -> &String) -> Vec<String> {
    let mut seen = BTreeMap::new();
    docs.iter()
        .filter_map(|(path, d)| {
            let first = seen.insert(id(d).clone(), path.clone())?;
            Some(format!(
                "{path}:1:1: {kind} `{}` is also defined in {first}",
                id(d)
            ))
        })
        .collect()
}

/// The `self://` files the VersionSets name, base64, from this commit.
fn self_files(
    version_sets: &[(String, VersionSet)],
    blob_at: impl Fn(&str) -> Option<Vec<u8>>,
    errors: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (path, vs) in version_sets {
        for f in &vs.files {
            let Some(src) = f.source.strip_prefix("self://") else {
                continue;
            };
            let src = src.trim_start_matches('/');
            match blob_at(src) {
                Some(data) => {
                    out.insert(src.to_owned(), B64.encode(data));
                }
                None => errors.push(format!(
                    "{path}:1:1: file `{}` has Source `{}`, but `{src}` is not in this commit",
                    f.path, f.source
                )),
            }
        }
    }
    out
}

/// Reads a catalog directory from disk (`--catalog DIR`).
pub fn read_catalog_dir(dir: &Path) -> Result<CatalogData, Vec<String>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| vec![format!("{}:1:1: cannot read directory: {e}", d.display())])?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let shown = path.display().to_string();
            if !is_doc(&shown) {
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    files.insert(shown, text);
                }
                Err(e) => return Err(vec![format!("{shown}:1:1: cannot read: {e}")]),
            }
        }
    }
    parse_catalog(&files)
}

fn yaml_error(origin: &str, e: &serde_yaml::Error) -> String {
    match e.location() {
        Some(loc) => format!("{origin}:{}:{}: {e}", loc.line(), loc.column()),
        None => format!("{origin}:1:1: {e}"),
    }
}

/// Catalog files are DRP content-pack documents `{meta, sections}`: one whose sections hold
/// `catalog_items` is a catalog; any other is a content pack (named by `meta.Name` and
/// `meta.Version`). A top-level list is a list of catalog items. `<name>-tip` and
/// `<name>-stable` items are derived from the packs when the catalog does not name them.
pub fn parse_catalog(files: &BTreeMap<String, String>) -> Result<CatalogData, Vec<String>> {
    let mut errors = Vec::new();
    let mut data = CatalogData::default();
    for (origin, text) in files {
        let value: Value = match serde_yaml::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                errors.push(yaml_error(origin, &e));
                continue;
            }
        };
        match &value {
            Value::Array(items) => {
                for item in items {
                    data.items.push(catalog_item(item, None));
                }
            }
            Value::Object(map) => {
                let sections = map.get("sections").and_then(Value::as_object);
                if let Some(items) = sections
                    .and_then(|s| s.get("catalog_items"))
                    .and_then(Value::as_object)
                {
                    for (id, item) in items {
                        data.items.push(catalog_item(item, Some(id)));
                    }
                    continue;
                }
                let meta = map.get("meta").and_then(Value::as_object);
                let name = meta.and_then(|m| m.get("Name")).and_then(Value::as_str);
                let version = meta.and_then(|m| m.get("Version")).and_then(Value::as_str);
                match (name, version) {
                    (Some(name), Some(version)) if !name.is_empty() => {
                        data.packs.push(ContentPack {
                            name: name.to_owned(),
                            version: version.to_owned(),
                            doc: value.clone(),
                        })
                    }
                    _ => errors.push(format!(
                        "{origin}:1:1: a catalog file must be a content pack with meta.Name and meta.Version, or hold sections.catalog_items"
                    )),
                }
            }
            _ => errors.push(format!(
                "{origin}:1:1: expected a content pack document or a list of catalog items"
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    derive_channels(&mut data);
    Ok(data)
}

fn catalog_item(v: &Value, id: Option<&String>) -> CatalogItem {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut item = CatalogItem {
        id: id.cloned().unwrap_or_else(|| s("Id")),
        kind: "catalog_items".into(),
        name: s("Name"),
        version: s("Version"),
        actual_version: s("ActualVersion"),
        content_type: s("ContentType"),
        source: s("Source"),
        tip: v.get("Tip").and_then(Value::as_bool).unwrap_or(false),
        hot_fix: v.get("HotFix").and_then(Value::as_bool).unwrap_or(false),
        ..CatalogItem::default()
    };
    if item.id.is_empty() {
        item.id = format!("{}-{}", item.name, item.version);
    }
    item
}

/// `(major, minor, patch, is_release, pre)` for ordering `vX.Y.Z[-pre]`.
fn version_key(v: &str) -> Option<(u64, u64, u64, bool, String)> {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, p.to_owned()),
        None => (v, String::new()),
    };
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let (a, b, c) = (parts.next()??, parts.next()??, parts.next()??);
    Some((a, b, c, pre.is_empty(), pre))
}

fn derive_channels(data: &mut CatalogData) {
    let names: BTreeSet<String> = data.packs.iter().map(|p| p.name.clone()).collect();
    for name in names {
        let mut versions: Vec<_> = data
            .packs
            .iter()
            .filter(|p| p.name == name)
            .filter_map(|p| version_key(&p.version).map(|k| (k, p.version.clone())))
            .collect();
        versions.sort();
        let tip = versions.last().map(|(_, v)| v.clone());
        let stable = versions
            .iter()
            .rev()
            .find(|(k, _)| k.3)
            .map(|(_, v)| v.clone());
        for (channel, version) in [("tip", tip), ("stable", stable)] {
            let Some(version) = version else { continue };
            let id = format!("{name}-{channel}");
            if data.items.iter().any(|i| i.id == id) {
                continue;
            }
            data.items.push(CatalogItem {
                id,
                kind: "catalog_items".into(),
                name: name.clone(),
                version: channel.into(),
                actual_version: version,
                content_type: "ContentPackage".into(),
                ..CatalogItem::default()
            });
        }
    }
}

/// Merges two catalogs; `first` wins on the same item id or pack name and version.
pub fn merge_catalogs(first: &CatalogData, second: &CatalogData) -> CatalogData {
    let mut out = first.clone();
    for item in &second.items {
        if !out.items.iter().any(|i| i.id == item.id) {
            out.items.push(item.clone());
        }
    }
    for pack in &second.packs {
        if !out
            .packs
            .iter()
            .any(|p| p.name == pack.name && p.version == pack.version)
        {
            out.packs.push(pack.clone());
        }
    }
    out
}

/// Follows the branch: polls every `--git-poll-seconds`, or at once when poked.
pub async fn run(mgr: Arc<Manager>, repo: PathBuf) {
    let mut shutdown = mgr.shutdown_signal();
    loop {
        poll(&mgr, &repo).await;
        mgr.git_polled.send_modify(|n| *n += 1);
        tokio::select! {
            _ = tokio::time::sleep(mgr.config.git_poll) => {}
            _ = mgr.git_poke.notified() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Why the repo could not be read at all (as opposed to a commit that is rejected).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("git reader failed: {0}")]
    Reader(#[from] tokio::task::JoinError),
    #[error("reading git took more than {GIT_TIMEOUT:?}")]
    TimedOut,
}

/// Runs a gix read on a blocking thread (it does file I/O and inflates objects), bounded by
/// [`GIT_TIMEOUT`].
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, ReadError> {
    match tokio::time::timeout(GIT_TIMEOUT, tokio::task::spawn_blocking(f)).await {
        Ok(done) => Ok(done??),
        Err(_) => Err(ReadError::TimedOut),
    }
}

/// The value, or `None` after recording why the repo could not be read.
fn read_or_record<T>(mgr: &Manager, read: Result<T, ReadError>) -> Option<T> {
    match read {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!("git: {e}");
            let _ = mgr
                .registry
                .update_git(|g| g.read_error = Some(e.to_string()));
            None
        }
    }
}

const GIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The branch head right now (for `POST /api/v3/git/refresh` to wait on); a remote is
/// fetched first.
pub async fn current_head(mgr: &Manager) -> Option<String> {
    if let Some(fetched) = crate::sync::remote::fetch_and_record(mgr).await {
        return fetched.ok();
    }
    let repo = mgr.config.git_repo.clone()?;
    let branch = mgr.config.git_branch.clone();
    blocking(move || head_commit(&repo, &branch)).await.ok()
}

async fn poll(mgr: &Arc<Manager>, repo: &Path) {
    // A failed fetch changed nothing in the mirror: what was read from it stays.
    if let Some(Err(_)) = crate::sync::remote::fetch_and_record(mgr).await {
        return;
    }
    let branch = mgr.config.git_branch.clone();
    let (r, b) = (repo.to_path_buf(), branch.clone());
    let Some(head) = read_or_record(mgr, blocking(move || head_commit(&r, &b)).await) else {
        return;
    };
    let git = mgr.registry.git();
    if git.head.as_deref() == Some(head.as_str()) && git.read_error.is_none() {
        return;
    }
    let (r, b) = (repo.to_path_buf(), branch);
    let Some(read) = read_or_record(mgr, blocking(move || read_head(&r, &b)).await) else {
        return;
    };
    let commit = read.commit.clone();
    let result = match read.snapshot {
        Ok(snapshot) => {
            tracing::info!(%commit, sets = snapshot.version_sets.len(), endpoints = snapshot.endpoints.len(), "git: commit taken");
            mgr.registry.update_git(|g| {
                g.head = Some(commit.clone());
                g.good = Some(snapshot);
                g.rejected = None;
                g.read_error = None;
            })
        }
        Err(errors) => {
            tracing::warn!(%commit, problems = errors.len(), "git: commit rejected; the last good commit stays in force");
            for e in &errors {
                tracing::warn!("git: {e}");
            }
            mgr.registry.update_git(|g| {
                g.head = Some(commit.clone());
                g.rejected = Some(Rejected {
                    commit: commit.clone(),
                    errors,
                });
                g.read_error = None;
            })
        }
    };
    if let Err(e) = result {
        tracing::error!("git: cannot record the commit: {e}");
        return;
    }
    mgr.sync_clusters();
    mgr.rollout.poke();
    mgr.wake_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        list.iter()
            .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn a_bad_file_rejects_the_commit_with_positions() {
        let f = files(&[
            ("version_sets/a.yaml", "Id: a\nPrefs:\n  x: \"1\"\n"),
            ("version_sets/b.yaml", "Id: b\nPrefs: [\n"),
        ]);
        let err = build_snapshot("c", &f, |_| None).unwrap_err();
        assert!(err[0].starts_with("version_sets/b.yaml:"), "{err:?}");
        let good = files(&[("version_sets/a.yaml", "Id: a\n")]);
        let snap = build_snapshot("c", &good, |_| None).unwrap();
        assert_eq!(snap.version_sets[0].id, "a");
    }

    #[test]
    fn channels_are_derived_from_packs() {
        let mut f = BTreeMap::new();
        for v in ["v1.0.0", "v1.1.0", "v1.2.0-beta.1"] {
            f.insert(
                format!("catalog/p-{v}.yaml"),
                format!("meta:\n  Name: p\n  Version: {v}\nsections: {{}}\n"),
            );
        }
        let c = parse_catalog(&f).unwrap();
        let get = |id: &str| {
            c.items
                .iter()
                .find(|i| i.id == id)
                .unwrap()
                .actual_version
                .clone()
        };
        assert_eq!(get("p-stable"), "v1.1.0");
        assert_eq!(get("p-tip"), "v1.2.0-beta.1");
    }
}
