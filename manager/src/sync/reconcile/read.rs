//! What the cluster reports, read from any member in one round of parallel GETs.

use std::collections::BTreeMap;

use proto::error::ErrorBody;
use proto::paths;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use versionsets::{Component, ComponentType, Plugin};

use super::{CALL_TIMEOUT, READ_DEADLINE};
use crate::cluster::{Cluster, SendError};

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

/// Why one source of a [`Reading`] could not be read.
#[derive(Debug, thiserror::Error)]
enum GetError {
    /// A member answered with an error status.
    #[error("GET {path}: HTTP {status}: {body}")]
    Status {
        /// The source.
        path: &'static str,
        /// The member's status.
        status: StatusCode,
        /// Its reply, cut by [`short`].
        body: String,
    },
    /// The call failed: no member reachable, or none answered.
    #[error("GET {path}: {source}")]
    Send {
        /// The source.
        path: &'static str,
        /// Why the call failed.
        source: SendError,
    },
}

async fn get(cluster: &Cluster, path: &'static str) -> Result<Option<Value>, GetError> {
    match cluster
        .json(Method::GET, path, None, &[], CALL_TIMEOUT, READ_DEADLINE)
        .await
    {
        Ok((s, v)) if s.is_success() => Ok(Some(v)),
        Ok((s, _)) if s == StatusCode::NOT_FOUND => Ok(None),
        Ok((status, v)) => Err(GetError::Status {
            path,
            status,
            body: short(&v),
        }),
        Err(source) => Err(GetError::Send { path, source }),
    }
}

/// A reply's DRP messages (or the reply itself), cut for an error line.
pub(super) fn short(v: &Value) -> String {
    let text = match serde_json::from_value::<ErrorBody>(v.clone()) {
        Ok(e) if !e.messages.is_empty() => e.joined("; "),
        _ => v.to_string(),
    };
    text.chars().take(300).collect()
}

/// Reads every member-side source in parallel; a source that fails is a problem, not a stop.
pub async fn read_cluster(cluster: &Cluster) -> Reading {
    let (info, prefs, global, contents, providers, plugins, applied) = tokio::join!(
        get(cluster, paths::INFO),
        get(cluster, "/api/v3/prefs"),
        get(cluster, "/api/v3/profiles/global"),
        get(cluster, "/api/v3/contents"),
        get(cluster, "/api/v3/plugin_providers"),
        get(cluster, "/api/v3/plugins"),
        get(cluster, paths::VERSIONSET),
    );
    let mut r = Reading::default();
    let mut take = |res: Result<Option<Value>, GetError>| match res {
        Ok(v) => v,
        Err(e) => {
            r.problems.push(e.to_string());
            None
        }
    };
    let (info, prefs, global) = (take(info), take(prefs), take(global));
    let (contents, providers, plugins) = (take(contents), take(providers), take(plugins));
    let applied = take(applied);
    r.version = info
        .as_ref()
        .and_then(|i| i.get("version"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    r.prefs = prefs_of(prefs);
    if let Some(Value::Object(params)) = global.as_ref().and_then(|g| g.get("Params")).cloned() {
        r.global = params.into_iter().collect();
    }
    r.components = components_of(contents.as_ref(), ComponentType::ContentPackage);
    r.components.extend(components_of(
        providers.as_ref(),
        ComponentType::PluginProvider,
    ));
    r.plugins = items(plugins.as_ref()).filter_map(plugin_of).collect();
    r.applied = applied.as_ref().and_then(applied_of);
    r
}

/// The objects of a list reply (nothing for anything else).
fn items(list: Option<&Value>) -> impl Iterator<Item = &Value> {
    list.and_then(Value::as_array).into_iter().flatten()
}

/// Prefs as text, whatever JSON type each value came as.
fn prefs_of(prefs: Option<Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(map)) = prefs else {
        return BTreeMap::new();
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect()
}

/// Content packs and plugin providers by `Name` and `Version` (in `meta` for packs).
fn components_of(list: Option<&Value>, kind: ComponentType) -> Vec<Component> {
    items(list)
        .filter_map(|item| {
            let meta = item.get("meta").unwrap_or(item);
            let s = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_owned);
            Some(Component {
                kind,
                name: s("Name")?,
                version: s("Version").unwrap_or_default(),
                actual_version: None,
                replace_writable: false,
            })
        })
        .collect()
}

fn plugin_of(item: &Value) -> Option<Plugin> {
    let s = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(Plugin {
        name: s("Name")?,
        provider: s("Provider").unwrap_or_default(),
        params: item
            .get("Params")
            .and_then(Value::as_object)
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default(),
        description: None,
        documentation: None,
        meta: Default::default(),
    })
}

/// `GET /api/v3/system/versionset`: (Hash, Index, At), when the cluster applied one.
fn applied_of(a: &Value) -> Option<(String, u64, String)> {
    let hash = a.get("Hash")?.as_str()?.to_owned();
    Some((
        hash,
        a.get("Index").and_then(Value::as_u64).unwrap_or(0),
        a.get("At").and_then(Value::as_str).unwrap_or("").to_owned(),
    ))
}
