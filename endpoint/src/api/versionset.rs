//! `POST /api/v3/system/versionset/apply` and `GET /api/v3/system/versionset`.
//!
//! Everything is validated, and every remote file fetched and checked against its sha256,
//! before anything is proposed; the whole change is then ONE Raft entry.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use versionsets::{ComponentType, VersionSet};

use super::commit::{commit, Origin, RequestHead};
use super::error::ApiError;
use crate::command::{ContentPack, FileBlob, Op, VersionSetApply};
use crate::node::Node;
use crate::store::versionset::{RECORD_COLLECTION, RECORD_KEY};

/// Largest apply request (content packs and inline files included).
pub const MAX_APPLY_BYTES: usize = 32 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyBody {
    #[serde(rename = "VersionSet")]
    version_set: Value,
    #[serde(rename = "Contents", default)]
    contents: Vec<Value>,
    #[serde(rename = "Files", default)]
    files: BTreeMap<String, String>,
}

fn parse_body(body: &[u8]) -> Result<ApplyBody, ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    // Parsed with the API's bounds on nesting and YAML alias expansion, then typed.
    let doc = super::request::parse_json(body)?;
    serde_json::from_value(doc)
        .map_err(|e| ApiError::bad_request(format!("invalid apply request: {e}")))
}

/// The version a component must end up at: the catalog-resolved one when present.
fn wanted_version(c: &versionsets::Component) -> &str {
    c.actual_version
        .as_deref()
        .filter(|v| !v.is_empty())
        .unwrap_or(&c.version)
}

pub async fn apply(
    State(node): State<Node>,
    head: RequestHead,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = required_key(&head.headers)?;
    let parsed = parse_body(&body)?;
    let vs: VersionSet = serde_json::from_value(parsed.version_set.clone())
        .map_err(|e| ApiError::new(422, format!("VersionSet: {e}")).on("version_sets", ""))?;
    let mut problems: Vec<String> = versionsets::validate_version_set(&vs)
        .iter()
        .map(|p| p.to_string())
        .collect();
    let packs = supplied_packs(&parsed.contents, &mut problems);
    let plugin_providers = check_components(&node, &vs, &packs, &mut problems)?;
    let files = collect_files(&vs, &parsed.files, &mut problems).await;
    if !problems.is_empty() {
        return Err(ApiError::with_messages(422, problems).on("version_sets", &vs.id));
    }

    let plugins = vs
        .plugins
        .iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect();
    let global = vs
        .global
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect::<serde_json::Map<_, _>>();
    let op = Op::ApplyVersionSet(Box::new(VersionSetApply {
        version_set: parsed.version_set,
        hash: versionsets::state_hash(&vs),
        key,
        content_packs: packs,
        plugin_providers,
        plugins,
        prefs: vs.prefs.clone(),
        global: serde_json::Map::from_iter(global),
        files,
        features: crate::packs::prereqs::advertised(),
    }));
    commit(&node, Origin::request(&head, &body), op).await
}

/// An apply is one large entry that must not run twice: the client names it.
fn required_key(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(proto::headers::IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::bad_request("an Idempotency-Key header is required for a VersionSet apply")
        })
}

/// The content packs of `Contents`, each a pack with a name (else a problem).
fn supplied_packs(contents: &[Value], problems: &mut Vec<String>) -> Vec<ContentPack> {
    let mut packs = Vec::new();
    for (i, doc) in contents.iter().enumerate() {
        match serde_json::from_value::<ContentPack>(doc.clone()) {
            Ok(pack) if pack.name().is_empty() => {
                problems.push(format!("Contents[{i}]: meta.Name is required"))
            }
            Ok(pack) => packs.push(pack),
            Err(e) => problems.push(format!("Contents[{i}]: not a content pack ({e})")),
        }
    }
    packs
}

/// Checks every component against what is supplied or installed: each content package at
/// its wanted version, no supplied pack outside the set, versions resolved. Returns the
/// plugin providers (name, version) to record.
fn check_components(
    node: &Node,
    vs: &VersionSet,
    packs: &[ContentPack],
    problems: &mut Vec<String>,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut needed_packs = Vec::new();
    let mut plugin_providers = Vec::new();
    for c in &vs.components {
        let version = wanted_version(c);
        if version.eq_ignore_ascii_case("ignore") {
            continue;
        }
        if matches!(version, "tip" | "stable") {
            problems.push(format!(
                "component {}: version {version:?} must be resolved through the catalog before apply",
                c.name
            ));
            continue;
        }
        match c.kind {
            ComponentType::ContentPackage => {
                needed_packs.push(c.name.clone());
                if let Some(problem) = pack_problem(node, c, version, packs)? {
                    problems.push(problem);
                }
            }
            ComponentType::PluginProvider => {
                plugin_providers.push((c.name.clone(), version.to_string()))
            }
        }
    }
    for p in packs {
        if !needed_packs.iter().any(|n| n == p.name()) {
            problems.push(format!(
                "Contents: content pack {} is not a component of the VersionSet",
                p.name()
            ));
        }
    }
    Ok(plugin_providers)
}

/// Why content package `c` cannot be had at `version`: the supplied pack is another
/// version, or none is supplied and the installed one (if any) is another version.
fn pack_problem(
    node: &Node,
    c: &versionsets::Component,
    version: &str,
    packs: &[ContentPack],
) -> Result<Option<String>, ApiError> {
    if let Some(p) = packs.iter().find(|p| p.name() == c.name) {
        return Ok((!versionsets::same_version(p.version(), version)).then(|| {
            format!(
                "component {}: Contents carries version {} but the VersionSet wants {version}",
                c.name,
                p.version()
            )
        }));
    }
    let installed = node.store.get("contents", &c.name)?;
    let installed_version = installed
        .as_ref()
        .and_then(|i| i.pointer("/meta/Version"))
        .and_then(Value::as_str);
    Ok((!installed_version.is_some_and(|v| versionsets::same_version(v, version))).then(|| {
        format!(
            "component {}: content pack version {version} is neither installed nor supplied in Contents",
            c.name
        )
    }))
}

/// Gathers every file's bytes: inline (`self://`) or fetched, each checked against its sha256.
async fn collect_files(
    vs: &VersionSet,
    inline: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> Vec<FileBlob> {
    let mut blobs = Vec::new();
    let client = reqwest::Client::builder().timeout(FETCH_TIMEOUT).build();
    for f in &vs.files {
        let bytes = if f.source.starts_with("self://") {
            match inline.get(&f.path) {
                None => {
                    problems.push(format!(
                        "file {}: Source is self:// but Files has no entry for it",
                        f.path
                    ));
                    continue;
                }
                Some(b64) => match base64::engine::general_purpose::STANDARD.decode(b64) {
                    Ok(b) => b,
                    Err(e) => {
                        problems.push(format!("file {}: Files entry is not base64: {e}", f.path));
                        continue;
                    }
                },
            }
        } else {
            match fetch(client.as_ref().ok(), &f.source).await {
                Ok(b) => b,
                Err(e) => {
                    problems.push(format!("file {}: fetching {}: {e}", f.path, f.source));
                    continue;
                }
            }
        };
        let sum = hex::encode(Sha256::digest(&bytes));
        if !f.sha256sum.is_empty() && !f.sha256sum.eq_ignore_ascii_case(&sum) {
            problems.push(format!(
                "file {}: sha256 is {sum}, the VersionSet says {}",
                f.path, f.sha256sum
            ));
            continue;
        }
        blobs.push(FileBlob {
            path: f.path.clone(),
            sha256: sum,
            data: base64::engine::general_purpose::STANDARD.encode(&bytes),
        });
    }
    for path in inline.keys() {
        if !vs.files.iter().any(|f| &f.path == path) {
            problems.push(format!("Files: {path} is not a file of the VersionSet"));
        }
    }
    blobs
}

/// Why a VersionSet file's `Source` could not be fetched (shown in the apply's problems).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("no HTTP client")]
    NoClient,
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("larger than {MAX_APPLY_BYTES} bytes")]
    TooLarge,
}

async fn fetch(client: Option<&reqwest::Client>, url: &str) -> Result<Vec<u8>, FetchError> {
    let client = client.ok_or(FetchError::NoClient)?;
    let resp = client.get(url).send().await?;
    if !resp.status().is_success() {
        return Err(FetchError::Status(resp.status()));
    }
    if resp
        .content_length()
        .is_some_and(|n| n as usize > MAX_APPLY_BYTES)
    {
        return Err(FetchError::TooLarge);
    }
    let bytes = resp.bytes().await?;
    if bytes.len() > MAX_APPLY_BYTES {
        return Err(FetchError::TooLarge);
    }
    Ok(bytes.to_vec())
}

pub async fn applied(State(node): State<Node>) -> Result<Response, ApiError> {
    match node.store.get(RECORD_COLLECTION, RECORD_KEY)? {
        Some(record) => Ok(Json(record).into_response()),
        None => Err(ApiError::not_found("no VersionSet has been applied").on("version_sets", "")),
    }
}
