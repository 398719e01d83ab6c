//! Per-endpoint reconciliation: merge the endpoint's VersionSets, resolve them against the
//! catalog, read what the cluster has, plan, and (when `Apply` is on) push the whole set to
//! the leader as one apply with an `Idempotency-Key` derived from the endpoint and the
//! desired state hash, so a retry across failover never applies twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Notify};
use versionsets::{
    merge_for_endpoint, plan, state_hash, AppliedVersionSet, Catalog, Component, ComponentType,
    ElementAction, ElementType, Endpoint, ObservedPlugin, ObservedState, Plugin, VersionSet,
};

use crate::leader::{self, Cluster};
use crate::registry::CatalogData;
use crate::serve::Manager;

const CALL_TIMEOUT: Duration = Duration::from_secs(2);
const READ_DEADLINE: Duration = Duration::from_secs(3);
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);
const APPLY_DEADLINE: Duration = Duration::from_secs(15);
const DRIFT_BACKOFF: Duration = Duration::from_secs(30);
const REJECTED_BACKOFF: Duration = Duration::from_secs(60);

pub const APPLY_PATH: &str = "/api/v3/system/versionset/apply";

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

/// What the cluster reports, read from any member.
#[derive(Debug, Default, Clone)]
pub struct Reading {
    pub version: Option<String>,
    pub prefs: BTreeMap<String, String>,
    pub global: BTreeMap<String, Value>,
    pub components: Vec<Component>,
    pub plugins: Vec<Plugin>,
    /// `GET /api/v3/system/versionset`: (Hash, Index, At).
    pub applied: Option<(String, u64, String)>,
    pub problems: Vec<String>,
}

async fn get(cluster: &Cluster, path: &str) -> Result<Option<Value>, String> {
    match cluster
        .json(Method::GET, path, None, &[], CALL_TIMEOUT, READ_DEADLINE)
        .await
    {
        Ok((s, v)) if s.is_success() => Ok(Some(v)),
        Ok((s, _)) if s == reqwest::StatusCode::NOT_FOUND => Ok(None),
        Ok((s, v)) => Err(format!("GET {path}: HTTP {s}: {}", short(&v))),
        Err(e) => Err(format!("GET {path}: {e}")),
    }
}

fn short(v: &Value) -> String {
    let text = match v.get("Messages").and_then(Value::as_array) {
        Some(m) => m
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("; "),
        None => v.to_string(),
    };
    text.chars().take(300).collect()
}

pub async fn read_cluster(cluster: &Cluster) -> Reading {
    let (info, prefs, global, contents, providers, plugins, applied) = tokio::join!(
        get(cluster, "/api/v3/info"),
        get(cluster, "/api/v3/prefs"),
        get(cluster, "/api/v3/profiles/global"),
        get(cluster, "/api/v3/contents"),
        get(cluster, "/api/v3/plugin_providers"),
        get(cluster, "/api/v3/plugins"),
        get(cluster, "/api/v3/system/versionset"),
    );
    let mut r = Reading::default();
    let mut take = |res: Result<Option<Value>, String>| match res {
        Ok(v) => v,
        Err(e) => {
            r.problems.push(e);
            None
        }
    };
    let info = take(info);
    let prefs = take(prefs);
    let global = take(global);
    let contents = take(contents);
    let providers = take(providers);
    let plugins = take(plugins);
    let applied = take(applied);
    r.version = info
        .as_ref()
        .and_then(|i| i.get("version"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(Value::Object(map)) = prefs {
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            r.prefs.insert(k, text);
        }
    }
    if let Some(Value::Object(params)) = global.as_ref().and_then(|g| g.get("Params")).cloned() {
        r.global = params.into_iter().collect();
    }
    for (list, kind) in [
        (contents, ComponentType::ContentPackage),
        (providers, ComponentType::PluginProvider),
    ] {
        for item in list
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let meta = item.get("meta").unwrap_or(item);
            let s = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_owned);
            if let Some(name) = s("Name") {
                r.components.push(Component {
                    kind,
                    name,
                    version: s("Version").unwrap_or_default(),
                    actual_version: None,
                    replace_writable: false,
                });
            }
        }
    }
    for item in plugins
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
        if let Some(name) = s("Name") {
            r.plugins.push(Plugin {
                name,
                provider: s("Provider").unwrap_or_default(),
                params: item
                    .get("Params")
                    .and_then(Value::as_object)
                    .map(|m| m.clone().into_iter().collect())
                    .unwrap_or_default(),
                description: None,
                documentation: None,
                meta: Default::default(),
            });
        }
    }
    r.applied = applied.and_then(|a| {
        let hash = a.get("Hash")?.as_str()?.to_owned();
        Some((
            hash,
            a.get("Index").and_then(Value::as_u64).unwrap_or(0),
            a.get("At").and_then(Value::as_str).unwrap_or("").to_owned(),
        ))
    });
    r
}

fn observed_state(r: &Reading, desired: Option<&Desired>) -> ObservedState {
    let mut st = ObservedState {
        drp_version: r.version.clone(),
        prefs: r.prefs.clone(),
        global: r.global.clone(),
        ..ObservedState::default()
    };
    for c in &r.components {
        let map = match c.kind {
            ComponentType::ContentPackage => &mut st.content_packs,
            ComponentType::PluginProvider => &mut st.plugin_providers,
        };
        map.insert(c.name.clone(), c.version.clone());
    }
    for p in &r.plugins {
        st.plugins.insert(
            p.name.clone(),
            ObservedPlugin {
                provider: p.provider.clone(),
                params: p.params.clone(),
            },
        );
    }
    // Files cannot be listed; they are in place when the endpoint holds this very state.
    if let (Some(d), Some((hash, _, _))) = (desired, &r.applied) {
        if *hash == d.hash {
            for f in &d.resolved.files {
                st.files.insert(f.path.clone(), f.sha256sum.clone());
            }
        }
    }
    st
}

/// Actions an apply can carry out (not the DRP binary versions).
fn actionable(actions: &[ElementAction]) -> bool {
    actions
        .iter()
        .any(|a| !matches!(a.kind, ElementType::Drp | ElementType::DrpUx))
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

#[derive(Default)]
struct Memory {
    last_drift_push: Option<Instant>,
    rejected: Option<(String, Instant, String)>,
}

/// Runs until `stop` turns true.
pub async fn run(
    mgr: Arc<Manager>,
    id: String,
    cluster: Arc<Cluster>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut changed = cluster.subscribe();
    let mut memory = Memory::default();
    loop {
        once(&mgr, &id, &cluster, &mut memory).await;
        tokio::select! {
            _ = tokio::time::sleep(mgr.config.reconcile_every) => {}
            _ = wake.notified() => {}
            _ = changed.changed() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

fn record(mgr: &Manager, id: &str, change: impl FnOnce(&mut crate::registry::Observed)) {
    if let Err(e) = mgr.registry.update_observed(id, change) {
        tracing::error!(endpoint = %id, "cannot record the observed state: {e}");
    }
}

async fn once(mgr: &Manager, id: &str, cluster: &Cluster, memory: &mut Memory) {
    let Some((ep, _)) = mgr.effective_endpoint(id) else {
        return;
    };
    let desired = desired_for(mgr, &ep);
    let view = cluster.view();
    let mut errors: Vec<String> = Vec::new();
    if let Err(e) = &desired {
        errors.extend(e.iter().cloned());
    }
    if let Some(r) = mgr.registry.git().rejected {
        errors.push(format!(
            "git commit {} rejected ({} problem(s)); the last good commit stays in force",
            short_sha(&r.commit),
            r.errors.len()
        ));
    }
    record(mgr, id, |o| {
        o.connection_status = Some(view.status.clone());
        o.leader = view.leader.clone();
        o.members = view.members.clone();
        if view.ha_id.is_some() {
            o.ha_id = view.ha_id.clone();
        }
        if let Ok(d) = &desired {
            o.desired_hash = Some(d.hash.clone());
            o.desired_commit = d.commit.clone();
        }
    });
    if view.status != leader::CONNECTED {
        errors.extend(view.error.clone());
        record(mgr, id, |o| o.errors = errors);
        return;
    }
    let reading = read_cluster(cluster).await;
    errors.extend(reading.problems.iter().cloned());
    let observed = observed_state(&reading, desired.as_ref().ok());
    let actions = match &desired {
        Ok(d) => match plan(&d.resolved, &observed) {
            Ok(a) => a,
            Err(e) => {
                errors.push(e.to_string());
                Vec::new()
            }
        },
        Err(_) => Vec::new(),
    };
    let stored = mgr.registry.observed(id).applied;
    record(mgr, id, |o| {
        o.drp_version = reading.version.clone();
        o.components = reading.components.clone();
        o.plugins = reading.plugins.clone();
        o.prefs = reading.prefs.clone();
        o.global = reading.global.clone();
        o.actions = actions.clone();
        // The cluster already holds the desired state (e.g. the manager's data was lost):
        // adopt it rather than push it again.
        if let (Ok(d), Some((hash, index, at))) = (&desired, &reading.applied) {
            if *hash == d.hash && o.applied.as_ref().is_none_or(|a| a.hash != d.hash) {
                o.applied = Some(AppliedVersionSet {
                    hash: hash.clone(),
                    git_commit: d.commit.clone().unwrap_or_default(),
                    index: *index,
                    at: at.clone(),
                });
            }
        }
    });
    let Ok(d) = desired else {
        record(mgr, id, |o| o.errors = errors);
        return;
    };
    if !d.apply {
        record(mgr, id, |o| o.errors = errors);
        return;
    }
    let applied_hash = stored.as_ref().map(|a| a.hash.as_str());
    let endpoint_has = reading.applied.as_ref().map(|a| a.0.as_str()) == Some(d.hash.as_str());
    let new_state = applied_hash != Some(d.hash.as_str()) && !endpoint_has;
    let drift = !new_state && actionable(&actions);
    if !new_state && !drift {
        record(mgr, id, |o| o.errors = errors);
        return;
    }
    if drift
        && memory
            .last_drift_push
            .is_some_and(|t| t.elapsed() < DRIFT_BACKOFF)
    {
        errors.push("drift from the applied VersionSet; re-asserting it shortly".into());
        record(mgr, id, |o| o.errors = errors);
        return;
    }
    let salt = drift.then(|| reading.applied.as_ref().map(|a| a.1).unwrap_or(0));
    let key = apply_key(id, &d.hash, salt);
    if let Some((k, t, msg)) = &memory.rejected {
        if *k == key && t.elapsed() < REJECTED_BACKOFF {
            errors.push(msg.clone());
            record(mgr, id, |o| o.errors = errors);
            return;
        }
    }
    let git_files = mgr.registry.git().good.map(|g| g.files).unwrap_or_default();
    let body = match apply_body(&d, &mgr.catalog(), &git_files) {
        Ok(b) => b,
        Err(problems) => {
            errors.extend(problems);
            record(mgr, id, |o| o.errors = errors);
            return;
        }
    };
    let Ok(_permit) = mgr.apply_slots.acquire().await else {
        return;
    };
    tracing::info!(endpoint = %id, hash = %d.hash, commit = ?d.commit, drift, "applying VersionSet");
    if drift {
        memory.last_drift_push = Some(Instant::now());
        crate::metrics::drift_detected(id);
    }
    let started = Instant::now();
    let result = cluster
        .json(
            Method::POST,
            APPLY_PATH,
            Some(&body),
            &[("Idempotency-Key", key.as_str())],
            APPLY_TIMEOUT,
            APPLY_DEADLINE,
        )
        .await;
    let outcome = match &result {
        Ok((status, _)) if status.is_success() => "ok",
        Ok(_) => "refused",
        Err(_) => "failed",
    };
    crate::metrics::apply_done(id, outcome, started.elapsed());
    match result {
        Ok((status, reply)) if status.is_success() => {
            let index = reply.get("Index").and_then(Value::as_u64).unwrap_or(0);
            let at = reply
                .get("At")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            tracing::info!(endpoint = %id, index, commit = ?d.commit, "VersionSet applied");
            memory.rejected = None;
            record(mgr, id, |o| {
                o.applied = Some(AppliedVersionSet {
                    hash: d.hash.clone(),
                    git_commit: d.commit.clone().unwrap_or_default(),
                    index,
                    at,
                });
                o.actions.retain(|a| !actionable(std::slice::from_ref(a)));
                o.errors = Vec::new();
            });
            cluster.poke();
        }
        Ok((status, reply)) => {
            let msg = format!("apply refused with HTTP {status}: {}", short(&reply));
            tracing::warn!(endpoint = %id, "{msg}");
            if status.is_client_error() {
                memory.rejected = Some((key, Instant::now(), msg.clone()));
            }
            errors.push(msg);
            record(mgr, id, |o| o.errors = errors);
        }
        Err(e) => {
            let msg = format!("apply failed: {e}");
            tracing::warn!(endpoint = %id, "{msg}");
            errors.push(msg);
            record(mgr, id, |o| o.errors = errors);
        }
    }
}

pub fn short_sha(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}
