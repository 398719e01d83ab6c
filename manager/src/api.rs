//! The manager's REST API (DRP Manager shapes) and its authentication.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use versionsets::{parse_endpoints, parse_version_sets, Endpoint, VersionSet};

use crate::caller::{classify, AuthCache};
use crate::crypto::MASK;
use crate::endpoint_params;
use crate::reconcile::{self, short_sha};
use crate::serve::{Manager, Source};
use crate::trust::{self, Anchor, Pin};

pub const ADMIN_USER: &str = "rocketskates";

/// DRP's error shape.
#[derive(Debug)]
pub struct ApiError {
    pub code: StatusCode,
    pub model: &'static str,
    pub key: String,
    pub messages: Vec<String>,
}

impl ApiError {
    pub fn new(code: StatusCode, model: &'static str, key: &str, messages: Vec<String>) -> Self {
        Self {
            code,
            model,
            key: key.to_owned(),
            messages,
        }
    }
    fn one(code: StatusCode, model: &'static str, key: &str, message: impl Into<String>) -> Self {
        Self::new(code, model, key, vec![message.into()])
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        Self::one(StatusCode::INTERNAL_SERVER_ERROR, "", "", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = match self.code {
            StatusCode::NOT_FOUND => "NotFound",
            StatusCode::CONFLICT => "Conflict",
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
            c if c.is_client_error() => "ValidationError",
            _ => "InternalError",
        };
        let body = json!({
            "Model": self.model,
            "Key": self.key,
            "Type": kind,
            "Messages": self.messages,
            "Code": self.code.as_u16(),
        });
        let mut resp = (self.code, Json(body)).into_response();
        if self.code == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Basic realm=\"drp-manager\""),
            );
        }
        resp
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

#[derive(Clone)]
pub struct AppState {
    pub mgr: Arc<Manager>,
    auth_cache: Arc<AuthCache>,
}

pub fn router(mgr: Arc<Manager>) -> Router {
    let state = AppState {
        mgr,
        auth_cache: Arc::new(AuthCache::default()),
    };
    Router::new()
        .route("/api/v3/info", get(info))
        .route("/api/v3/status", get(status))
        .route("/api/v3/git", get(git_status))
        .route("/api/v3/git/refresh", post(git_refresh))
        .route(
            "/api/v3/endpoints",
            get(list_endpoints)
                .head(count_endpoints)
                .post(create_endpoint),
        )
        .route(
            "/api/v3/endpoints/{id}",
            get(get_endpoint)
                .put(put_endpoint)
                .patch(patch_endpoint)
                .delete(delete_endpoint),
        )
        .route("/api/v3/endpoints/{id}/plan", get(plan_endpoint))
        .route(
            "/api/v3/endpoints/{id}/params",
            get(endpoint_params::get_params)
                .post(endpoint_params::replace_params)
                .patch(endpoint_params::patch_params),
        )
        .route(
            "/api/v3/endpoints/{id}/params/{*key}",
            get(endpoint_params::get_param)
                .post(endpoint_params::set_param)
                .put(endpoint_params::set_param)
                .delete(endpoint_params::delete_param),
        )
        .route(
            "/api/v3/version_sets",
            get(list_version_sets)
                .head(count_version_sets)
                .post(create_version_set),
        )
        .route(
            "/api/v3/version_sets/{id}",
            get(get_version_set)
                .put(put_version_set)
                .patch(patch_version_set)
                .delete(delete_version_set),
        )
        .route("/metrics", get(crate::metrics::scrape))
        .fallback(crate::metrics::timed_gateway)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .merge(crate::ui::routes())
        .with_state(state)
}

/// Admits the manager's admin everywhere and, on gateway paths, a cluster's own credentials
/// (see [`crate::caller`]); the verdict rides on the request for the gateway.
async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let path = req.uri().path().to_owned();
    if let Some(caller) = classify(&st.mgr, &st.auth_cache, &path, &header).await {
        req.extensions_mut().insert(caller);
        return next.run(req).await;
    }
    let how = if crate::gateway::is_gateway_path(&path) {
        "authenticate with HTTP Basic as the manager's admin, or with this cluster's own \
         credentials (HTTP Basic for a cluster user, or a Bearer token the cluster issued)"
    } else {
        "authenticate with HTTP Basic as the manager's admin"
    };
    ApiError::one(StatusCode::UNAUTHORIZED, "", "", how).into_response()
}

/// DRP's `Info`, every field of it, as a DRP manager answers it (`manager: true`): the
/// manager runs no boot services and is no HA member, so those ports are 0 and flags false.
async fn info(State(st): State<AppState>) -> Json<Value> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let listen = st.mgr.config.api_listen;
    Json(json!({
        "id": "drp-manager",
        "local_id": "drp-manager",
        "uuid": "drp-manager",
        "version": env!("CARGO_PKG_VERSION"),
        "os": std::env::consts::OS,
        "arch": arch,
        "address": listen.ip().to_string(),
        "server_hostname": std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default(),
        "manager": true,
        "features": [],
        "api_port": listen.port(),
        "extra_api_ports": [],
        "file_port": 0,
        "extra_file_ports": [],
        "secure_file_port": 0,
        "extra_secure_file_ports": [],
        "tftp_port": 0,
        "tftp_enabled": false,
        "dhcp_port": 0,
        "dhcp_enabled": false,
        "binl_port": 0,
        "binl_enabled": false,
        "dns_port": 0,
        "dns_enabled": false,
        "prov_enabled": false,
        "secure_prov_enabled": false,
        "ha_id": "",
        "ha_enabled": false,
        "ha_is_active": true,
        "ha_active_id": "",
        "ha_consensus_id": "",
        "ha_status": "Standalone",
        "ha_passive_state": [],
        "errors": [],
        "scopes": {},
        "stats": [],
        "endpoints": st.mgr.effective_endpoints().len(),
        "git_repo": st.mgr.config.git_repo.as_ref().map(|p| p.display().to_string()),
        "git_branch": st.mgr.config.git_branch,
    }))
}

// --- bodies ---

/// Fields the manager writes or DRP adds as bookkeeping; ignored on input.
const ENDPOINT_OUTPUT_FIELDS: &[&str] = &[
    "HaId",
    "Arch",
    "Os",
    "DRPVersion",
    "DRPUXVersion",
    "Components",
    "Plugins",
    "Prefs",
    "Global",
    "ConnectionStatus",
    "Actions",
    "ActionErrorCount",
    "ActionErrors",
    "Leader",
    "Members",
    "AppliedVersionSet",
];
const BOOKKEEPING: &[&str] = &[
    "Validated",
    "Available",
    "Errors",
    "ReadOnly",
    "Bundle",
    "Endpoint",
    "Key",
    "Source",
    "Desired",
    "CreatedAt",
    "CreatedBy",
    "LastModifiedAt",
    "LastModifiedBy",
    "Trust",
];

fn is_json(headers: &HeaderMap, body: &[u8]) -> bool {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.contains("yaml") {
        return false;
    }
    ct.contains("json") || serde_json::from_slice::<Value>(body).is_ok()
}

fn text(body: &Bytes, model: &'static str) -> Result<String, ApiError> {
    String::from_utf8(body.to_vec()).map_err(|e| {
        ApiError::one(
            StatusCode::BAD_REQUEST,
            model,
            "",
            format!("body is not UTF-8: {e}"),
        )
    })
}

fn strip(value: &mut Value, fields: &[&str]) {
    if let Some(obj) = value.as_object_mut() {
        for f in fields {
            obj.remove(*f);
        }
    }
}

fn json_value(body: &Bytes, model: &'static str) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::one(
            StatusCode::BAD_REQUEST,
            model,
            "",
            format!("request body:{}:{}: {e}", e.line(), e.column()),
        )
    })
}

fn parse_endpoint_body(headers: &HeaderMap, body: &Bytes) -> Result<Endpoint, ApiError> {
    const M: &str = "endpoints";
    if is_json(headers, body) {
        let mut v = json_value(body, M)?;
        strip(&mut v, ENDPOINT_OUTPUT_FIELDS);
        strip(&mut v, BOOKKEEPING);
        versionsets::strip_drp_bookkeeping(&mut v);
        endpoint_from_value(v)
    } else {
        let t = text(body, M)?;
        let mut eps = parse_endpoints("request body", &t)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, M, "", e.lines()))?;
        if eps.len() != 1 {
            return Err(ApiError::one(
                StatusCode::BAD_REQUEST,
                M,
                "",
                format!("expected one Endpoint, found {}", eps.len()),
            ));
        }
        Ok(eps.remove(0))
    }
}

pub(crate) fn endpoint_from_value(v: Value) -> Result<Endpoint, ApiError> {
    const M: &str = "endpoints";
    let ep: Endpoint = serde_json::from_value(v)
        .map_err(|e| ApiError::one(StatusCode::BAD_REQUEST, M, "", e.to_string()))?;
    let problems = versionsets::validate_endpoint(&ep);
    if !problems.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            M,
            &ep.id,
            problems.iter().map(ToString::to_string).collect(),
        ));
    }
    Ok(ep)
}

fn parse_version_set_body(headers: &HeaderMap, body: &Bytes) -> Result<VersionSet, ApiError> {
    const M: &str = "version_sets";
    if is_json(headers, body) {
        let mut v = json_value(body, M)?;
        strip(&mut v, BOOKKEEPING);
        versionsets::strip_drp_bookkeeping(&mut v);
        version_set_from_value(v)
    } else {
        let t = text(body, M)?;
        let mut sets = parse_version_sets("request body", &t)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, M, "", e.lines()))?;
        if sets.len() != 1 {
            return Err(ApiError::one(
                StatusCode::BAD_REQUEST,
                M,
                "",
                format!("expected one VersionSet, found {}", sets.len()),
            ));
        }
        Ok(sets.remove(0))
    }
}

fn version_set_from_value(v: Value) -> Result<VersionSet, ApiError> {
    const M: &str = "version_sets";
    let vs: VersionSet = serde_json::from_value(v)
        .map_err(|e| ApiError::one(StatusCode::BAD_REQUEST, M, "", e.to_string()))?;
    let problems = versionsets::validate_version_set(&vs);
    if !problems.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            M,
            &vs.id,
            problems.iter().map(ToString::to_string).collect(),
        ));
    }
    Ok(vs)
}

// --- endpoints ---

/// The API's view of an endpoint: desired fields, the manager's observations, the
/// password masked.
pub fn endpoint_view(mgr: &Manager, ep: &Endpoint, source: Source) -> Value {
    let o = live_observed(mgr, &ep.id);
    let mut full = ep.clone();
    if full.params.contains_key("manager/password") {
        full.params
            .insert("manager/password".into(), Value::String(MASK.into()));
    }
    full.ha_id = o.ha_id.clone();
    full.drp_version = o.drp_version.clone();
    full.components = o.components.clone();
    full.plugins = o.plugins.clone();
    full.prefs = o.prefs.clone();
    full.global = o.global.clone();
    full.connection_status = Some(
        o.connection_status
            .clone()
            .unwrap_or_else(|| crate::leader::UNAVAILABLE.into()),
    );
    full.actions = o.actions.clone();
    full.leader = o.leader.clone();
    full.members = o.members.clone();
    full.applied_version_set = o.applied.clone();
    let mut v = serde_json::to_value(&full).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("Source".into(), json!(source.as_str()));
        obj.insert(
            "Desired".into(),
            json!({"Hash": o.desired_hash, "GitCommit": o.desired_commit}),
        );
        obj.insert("Errors".into(), json!(o.errors));
        obj.insert("Available".into(), json!(true));
        obj.insert("Validated".into(), json!(true));
        obj.insert("Trust".into(), trust_view(mgr, ep));
    }
    v
}

/// How the cluster's certificates are verified (read-only; the pinned PEM is kept in the
/// registry, not in `Params`).
fn trust_view(mgr: &Manager, ep: &Endpoint) -> Value {
    let cert = |c: &[u8]| json!({"Subject": trust::subject(c), "Sha256": trust::fingerprint(c)});
    match mgr.anchor(ep) {
        Anchor::Given(certs) => json!({
            "Mode": "ca",
            "Certificates": certs.iter().map(|c| cert(c)).collect::<Vec<_>>(),
        }),
        Anchor::Invalid(m) => json!({"Mode": "invalid", "Error": m}),
        Anchor::Pinned(_) => {
            let pin = mgr.registry.pin(&ep.id);
            json!({
                "Mode": "pinned",
                "Subject": pin.as_ref().map(|p| p.subject.clone()),
                "Sha256": pin.as_ref().map(|p| p.sha256.clone()),
                "PinnedFrom": pin.as_ref().map(|p| p.url.clone()),
                "PinnedAt": pin.as_ref().map(|p| p.pinned_at),
                "Pem": pin.as_ref().map(|p| p.pem.clone()),
            })
        }
        Anchor::Unpinned => {
            let https = mgr.connection(ep).seeds.iter().any(|u| trust::is_https(u));
            json!({"Mode": if https { "unpinned" } else { "none" }})
        }
    }
}

/// The recorded observations, with the connection fields taken live from the tracker (a
/// reconciler busy with a slow cluster never makes them stale).
pub fn live_observed(mgr: &Manager, id: &str) -> crate::registry::Observed {
    let mut o = mgr.registry.observed(id);
    if let Some(cluster) = mgr.cluster(id) {
        let view = cluster.view();
        if view.polled {
            o.connection_status = Some(view.status.clone());
            o.leader = view.leader.clone();
            if !view.members.is_empty() {
                o.members = view.members.clone();
            }
            if view.ha_id.is_some() {
                o.ha_id = view.ha_id.clone();
            }
            if let Some(e) = view.error {
                if !o.errors.contains(&e) {
                    o.errors.push(e);
                }
            }
        }
    }
    o
}

pub(crate) fn api_part_view(ep: &Endpoint) -> Value {
    let mut e = ep.clone();
    if e.params.contains_key("manager/password") {
        e.params
            .insert("manager/password".into(), Value::String(MASK.into()));
    }
    serde_json::to_value(&e).unwrap_or(Value::Null)
}

/// DRP's list counts: every collection list and `HEAD` carries them.
fn with_counts(mut resp: Response, count: usize) -> Response {
    for name in [
        "x-drp-list-count",
        "x-drp-list-total-count",
        "x-drp-list-filter-count",
    ] {
        resp.headers_mut()
            .insert(name, axum::http::HeaderValue::from(count));
    }
    resp
}

async fn list_endpoints(State(st): State<AppState>) -> Response {
    let all: Vec<Value> = st
        .mgr
        .effective_endpoints()
        .values()
        .map(|(ep, src)| endpoint_view(&st.mgr, ep, *src))
        .collect();
    let count = all.len();
    with_counts(Json(all).into_response(), count)
}

/// `HEAD /api/v3/endpoints`: the count in `X-Drp-List-Filter-Count`.
async fn count_endpoints(State(st): State<AppState>) -> Response {
    with_counts(
        StatusCode::OK.into_response(),
        st.mgr.effective_endpoints().len(),
    )
}

/// `HEAD /api/v3/version_sets`: the count in `X-Drp-List-Filter-Count`.
async fn count_version_sets(State(st): State<AppState>) -> Response {
    with_counts(StatusCode::OK.into_response(), st.mgr.version_sets().len())
}

async fn get_endpoint(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    match st.mgr.effective_endpoint(&id) {
        Some((ep, src)) => Ok(Json(endpoint_view(&st.mgr, &ep, src)).into_response()),
        None => Err(not_found("endpoints", &id)),
    }
}

pub(crate) fn not_found(model: &'static str, id: &str) -> ApiError {
    ApiError::one(
        StatusCode::NOT_FOUND,
        model,
        id,
        format!("{model} `{id}` not found"),
    )
}

/// How a registration treats an earlier pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pinning {
    /// POST/PUT: pin what the cluster presents now (re-registration is how a changed
    /// certificate is accepted).
    Repin,
    /// PATCH: keep the pin unless the cluster's URLs changed.
    Keep,
}

/// Checks the cluster's HaID when a member answers (within a few seconds) and, without
/// `manager/ca`, learns the certificate an https cluster presents. `ep` is the endpoint as it
/// will be in force; the registry's pin is updated before the endpoint is stored.
async fn probe(
    mgr: &Manager,
    ep: &Endpoint,
    previous: Option<&Endpoint>,
    pinning: Pinning,
) -> Result<(), ApiError> {
    const M: &str = "endpoints";
    if let Anchor::Invalid(m) = ep
        .params
        .get(trust::CA_PARAM)
        .map(trust::anchor_from_param)
        .unwrap_or_default()
    {
        return Err(ApiError::one(StatusCode::BAD_REQUEST, M, &ep.id, m));
    }
    let conn = mgr.connection(ep);
    let given = ep.params.contains_key(trust::CA_PARAM);
    let moved = previous.is_some_and(|p| mgr.connection(p).seeds != conn.seeds);
    let learn = !given
        && (pinning == Pinning::Repin || moved || conn.anchor == Anchor::Unpinned)
        && conn.seeds.iter().any(|u| trust::is_https(u));
    let verified = trust::cluster_client(&conn.anchor).map_err(ApiError::internal)?;
    let mut learnt: Option<Pin> = None;
    for url in conn.seeds.iter().take(3) {
        let url = url.trim_end_matches('/');
        // First use: learn the certificate unauthenticated; the credentials then go over a
        // connection verified against it.
        let (client, candidate) = if learn && trust::is_https(url) {
            match trust::learn(url, Duration::from_secs(3)).await {
                Ok(pin) => (
                    trust::cluster_client(&pin.anchor()).map_err(ApiError::internal)?,
                    Some(pin),
                ),
                Err(trust::LearnError::Failed(_)) => continue,
                // Not pinned: the tracker reports why (ConnectionStatus `untrusted`).
                Err(trust::LearnError::Untrusted(e)) => {
                    tracing::warn!(endpoint = %ep.id, "{e}");
                    continue;
                }
            }
        } else {
            (verified.clone(), None)
        };
        let mut req = client
            .get(format!("{url}/api/v3/info"))
            .timeout(Duration::from_secs(3));
        if let Some(pw) = &conn.password {
            req = req.basic_auth(conn.username.as_deref().unwrap_or(ADMIN_USER), Some(pw));
        }
        let Ok(resp) = req.send().await else { continue };
        if !resp.status().is_success() {
            continue;
        }
        let Ok(info) = resp.json::<Value>().await else {
            continue;
        };
        if let Some(ha) = info.get("ha_id").and_then(Value::as_str) {
            if !ha.is_empty() && ha != ep.id {
                return Err(ApiError::one(
                    StatusCode::BAD_REQUEST,
                    M,
                    &ep.id,
                    format!(
                        "Id `{}` must be the cluster's HaID, but {url} belongs to cluster `{ha}`",
                        ep.id
                    ),
                ));
            }
        }
        learnt = candidate;
        break;
    }
    if given {
        // manager/ca takes over; removing it later means pinning anew.
        mgr.registry
            .forget_pin(&ep.id)
            .map_err(ApiError::internal)?;
    }
    if !learn {
        return Ok(());
    }
    match learnt {
        Some(pin) => {
            if let Some(old) = mgr.registry.pin(&ep.id) {
                if old.sha256 != pin.sha256 {
                    tracing::warn!(endpoint = %ep.id, old = %old.sha256, new = %pin.sha256, "re-registered: the cluster's certificate is pinned anew");
                }
            }
            tracing::info!(endpoint = %ep.id, sha256 = %pin.sha256, subject = %pin.subject, url = %pin.url, "pinned the cluster's certificate");
            mgr.registry
                .set_pin(&ep.id, pin)
                .map_err(ApiError::internal)?;
        }
        // Nothing answered: pinned at the first successful connection instead.
        None => {
            mgr.registry
                .forget_pin(&ep.id)
                .map_err(ApiError::internal)?;
        }
    }
    Ok(())
}

async fn create_endpoint(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let mut ep = parse_endpoint_body(&headers, &body)?;
    if st.mgr.registry.api_endpoint(&ep.id).is_some() {
        return Err(ApiError::one(
            StatusCode::CONFLICT,
            "endpoints",
            &ep.id,
            format!("endpoint `{}` already exists", ep.id),
        ));
    }
    st.mgr.seal_params(&mut ep, None);
    let previous = st.mgr.effective_endpoint(&ep.id).map(|(e, _)| e);
    probe(
        &st.mgr,
        &st.mgr.with_git(&ep),
        previous.as_ref(),
        Pinning::Repin,
    )
    .await?;
    store_endpoint(&st, ep, StatusCode::CREATED)
}

fn store_endpoint(st: &AppState, ep: Endpoint, code: StatusCode) -> ApiResult {
    let id = ep.id.clone();
    st.mgr
        .registry
        .put_endpoint(ep)
        .map_err(ApiError::internal)?;
    tracing::info!(endpoint = %id, "endpoint stored");
    st.mgr.sync_clusters();
    st.mgr.wake(&id);
    let (ep, src) = st
        .mgr
        .effective_endpoint(&id)
        .ok_or_else(|| not_found("endpoints", &id))?;
    Ok((code, Json(endpoint_view(&st.mgr, &ep, src))).into_response())
}

async fn put_endpoint(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mut ep = parse_endpoint_body(&headers, &body)?;
    replace_endpoint(&st, &id, &mut ep, Pinning::Repin).await
}

pub(crate) async fn replace_endpoint(
    st: &AppState,
    id: &str,
    ep: &mut Endpoint,
    pinning: Pinning,
) -> ApiResult {
    if ep.id != id {
        return Err(ApiError::one(
            StatusCode::BAD_REQUEST,
            "endpoints",
            id,
            format!("the body's Id `{}` is not `{id}`", ep.id),
        ));
    }
    let previous = st.mgr.registry.api_endpoint(id);
    let Some((in_force, _)) = st.mgr.effective_endpoint(id) else {
        return Err(not_found("endpoints", id));
    };
    st.mgr.seal_params(ep, previous.as_ref());
    probe(&st.mgr, &st.mgr.with_git(ep), Some(&in_force), pinning).await?;
    store_endpoint(st, ep.clone(), StatusCode::OK)
}

async fn patch_endpoint(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let current = match st.mgr.registry.api_endpoint(&id) {
        Some(ep) => ep,
        None => match st.mgr.effective_endpoint(&id) {
            Some(_) => Endpoint {
                id: id.clone(),
                ..Endpoint::default()
            },
            None => return Err(not_found("endpoints", &id)),
        },
    };
    let patched = apply_patch(api_part_view(&current), &body, "endpoints", &id)?;
    let mut v = patched;
    strip(&mut v, ENDPOINT_OUTPUT_FIELDS);
    strip(&mut v, BOOKKEEPING);
    let mut ep = endpoint_from_value(v)?;
    replace_endpoint(&st, &id, &mut ep, Pinning::Keep).await
}

pub(crate) fn apply_patch(
    mut doc: Value,
    body: &Bytes,
    model: &'static str,
    id: &str,
) -> Result<Value, ApiError> {
    let patch: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
        ApiError::one(
            StatusCode::BAD_REQUEST,
            model,
            id,
            format!("invalid JSON Patch (RFC 6902): {e}"),
        )
    })?;
    json_patch::patch(&mut doc, &patch).map_err(|e| {
        let code = if matches!(e.kind, json_patch::PatchErrorKind::TestFailed) {
            StatusCode::CONFLICT
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        ApiError::one(code, model, id, format!("patch failed: {e}"))
    })?;
    Ok(doc)
}

async fn delete_endpoint(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let Some((ep, src)) = st.mgr.effective_endpoint(&id) else {
        return Err(not_found("endpoints", &id));
    };
    if src == Source::Git {
        return Err(ApiError::one(
            StatusCode::CONFLICT,
            "endpoints",
            &id,
            "this endpoint is defined in git; remove it from the repo",
        ));
    }
    let view = endpoint_view(&st.mgr, &ep, src);
    st.mgr
        .registry
        .delete_endpoint(&id)
        .map_err(ApiError::internal)?;
    if st.mgr.effective_endpoint(&id).is_none() {
        st.mgr
            .registry
            .forget_observed(&id)
            .map_err(ApiError::internal)?;
    }
    st.mgr.sync_clusters();
    tracing::info!(endpoint = %id, "endpoint removed");
    Ok(Json(view).into_response())
}

async fn plan_endpoint(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let Some((ep, _)) = st.mgr.effective_endpoint(&id) else {
        return Err(not_found("endpoints", &id));
    };
    let o = st.mgr.registry.observed(&id);
    let mut out =
        json!({"Endpoint": id, "Apply": ep.apply, "VersionSets": ep.effective_version_sets()});
    match reconcile::desired_for(&st.mgr, &ep) {
        Ok(d) => {
            out["Hash"] = json!(d.hash);
            out["GitCommit"] = json!(d.commit);
            out["Apply"] = json!(d.apply);
            out["VersionSet"] = serde_json::to_value(&d.resolved).unwrap_or(Value::Null);
            out["InSync"] = json!(o.applied.as_ref().is_some_and(|a| a.hash == d.hash));
        }
        Err(e) => out["Errors"] = json!(e),
    }
    out["Actions"] = serde_json::to_value(&o.actions).unwrap_or(Value::Null);
    out["Lines"] = json!(o
        .actions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>());
    out["ConnectionStatus"] = json!(o.connection_status);
    Ok(Json(out).into_response())
}

// --- version sets ---

fn vs_view(vs: &VersionSet, source: Source) -> Value {
    let mut v = serde_json::to_value(vs).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("Source".into(), json!(source.as_str()));
    }
    v
}

async fn list_version_sets(State(st): State<AppState>) -> Response {
    let all: Vec<Value> = st
        .mgr
        .version_sets()
        .values()
        .map(|(v, s)| vs_view(v, *s))
        .collect();
    let count = all.len();
    with_counts(Json(all).into_response(), count)
}

async fn get_version_set(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    match st.mgr.version_sets().remove(&id) {
        Some((v, s)) => Ok(Json(vs_view(&v, s)).into_response()),
        None => Err(not_found("version_sets", &id)),
    }
}

fn git_owned(st: &AppState, id: &str) -> Result<(), ApiError> {
    if matches!(st.mgr.version_sets().get(id), Some((_, Source::Git))) {
        return Err(ApiError::one(
            StatusCode::CONFLICT,
            "version_sets",
            id,
            format!("VersionSet `{id}` is defined in git; change it in the repo"),
        ));
    }
    Ok(())
}

fn store_version_set(st: &AppState, vs: VersionSet, code: StatusCode) -> ApiResult {
    let view = vs_view(&vs, Source::Api);
    st.mgr
        .registry
        .put_version_set(vs)
        .map_err(ApiError::internal)?;
    st.mgr.wake_all();
    Ok((code, Json(view)).into_response())
}

async fn create_version_set(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let vs = parse_version_set_body(&headers, &body)?;
    git_owned(&st, &vs.id)?;
    if st.mgr.version_sets().contains_key(&vs.id) {
        return Err(ApiError::one(
            StatusCode::CONFLICT,
            "version_sets",
            &vs.id,
            format!("VersionSet `{}` already exists", vs.id),
        ));
    }
    store_version_set(&st, vs, StatusCode::CREATED)
}

async fn put_version_set(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let vs = parse_version_set_body(&headers, &body)?;
    replace_version_set(&st, &id, vs)
}

fn replace_version_set(st: &AppState, id: &str, vs: VersionSet) -> ApiResult {
    if vs.id != id {
        return Err(ApiError::one(
            StatusCode::BAD_REQUEST,
            "version_sets",
            id,
            format!("the body's Id `{}` is not `{id}`", vs.id),
        ));
    }
    git_owned(st, id)?;
    if !st.mgr.registry.api_version_sets().contains_key(id) {
        return Err(not_found("version_sets", id));
    }
    store_version_set(st, vs, StatusCode::OK)
}

async fn patch_version_set(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    git_owned(&st, &id)?;
    let Some(current) = st.mgr.registry.api_version_sets().remove(&id) else {
        return Err(not_found("version_sets", &id));
    };
    let doc = serde_json::to_value(&current).map_err(ApiError::internal)?;
    let mut v = apply_patch(doc, &body, "version_sets", &id)?;
    strip(&mut v, BOOKKEEPING);
    let vs = version_set_from_value(v)?;
    replace_version_set(&st, &id, vs)
}

async fn delete_version_set(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    git_owned(&st, &id)?;
    let Some(current) = st.mgr.registry.api_version_sets().remove(&id) else {
        return Err(not_found("version_sets", &id));
    };
    st.mgr
        .registry
        .delete_version_set(&id)
        .map_err(ApiError::internal)?;
    st.mgr.wake_all();
    Ok(Json(vs_view(&current, Source::Api)).into_response())
}

// --- git and status ---

pub fn git_view(mgr: &Manager) -> Value {
    let g = mgr.registry.git();
    json!({
        "Repo": mgr.config.git_repo.as_ref().map(|p| p.display().to_string()),
        "Branch": mgr.config.git_branch,
        "Head": g.head,
        "Commit": g.good.as_ref().map(|s| s.commit.clone()),
        "VersionSets": g.good.as_ref().map(|s| s.version_sets.iter().map(|v| v.id.clone()).collect::<Vec<_>>()),
        "Endpoints": g.good.as_ref().map(|s| s.endpoints.iter().map(|v| v.id.clone()).collect::<Vec<_>>()),
        "Rejected": g.rejected.as_ref().map(|r| json!({"Commit": r.commit, "Errors": r.errors})),
        "ReadError": g.read_error,
    })
}

async fn git_status(State(st): State<AppState>) -> Json<Value> {
    Json(git_view(&st.mgr))
}

/// Polls the branch now and waits (up to 10 s) until the head has been read.
async fn git_refresh(State(st): State<AppState>) -> ApiResult {
    if st.mgr.config.git_repo.is_none() {
        return Err(ApiError::one(
            StatusCode::BAD_REQUEST,
            "git",
            "",
            "the manager follows no git repo (start it with --git-repo)",
        ));
    }
    let mut polled = st.mgr.git_polled.subscribe();
    let target = crate::gitsource::current_head(&st.mgr).await;
    st.mgr.git_poke.notify_one();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let g = st.mgr.registry.git();
        if target.is_some() && g.head == target {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, polled.changed()).await.is_err() {
            break;
        }
    }
    Ok(Json(git_view(&st.mgr)).into_response())
}

/// One row per endpoint: what `drp-manager status` prints.
pub fn status_rows(mgr: &Manager) -> Vec<Value> {
    mgr.effective_endpoints()
        .values()
        .map(|(ep, src)| {
            let o = live_observed(mgr, &ep.id);
            let up = o.members.iter().filter(|m| m.online).count();
            let pending: Vec<String> = o.actions.iter().map(ToString::to_string).collect();
            json!({
                "Endpoint": ep.id,
                "Source": src.as_str(),
                "Apply": ep.apply,
                "ConnectionStatus": o.connection_status.clone().unwrap_or_else(|| crate::leader::UNAVAILABLE.into()),
                "Leader": o.leader.as_ref().map(|l| l.api_url.clone()),
                "MembersUp": up,
                "MembersTotal": o.members.len(),
                "DesiredCommit": o.desired_commit,
                "DesiredHash": o.desired_hash,
                "AppliedCommit": o.applied.as_ref().map(|a| a.git_commit.clone()),
                "AppliedHash": o.applied.as_ref().map(|a| a.hash.clone()),
                "AppliedIndex": o.applied.as_ref().map(|a| a.index),
                "InSync": o.applied.is_some() && o.applied.as_ref().map(|a| &a.hash) == o.desired_hash.as_ref(),
                "PendingActions": pending,
                "Errors": o.errors,
                "LastError": o.errors.last(),
            })
        })
        .collect()
}

async fn status(State(st): State<AppState>) -> Json<Value> {
    let git = git_view(&st.mgr);
    let mut rejected = Vec::new();
    if let Some(r) = st.mgr.registry.git().rejected {
        rejected.push(format!("git commit {} rejected:", short_sha(&r.commit)));
        rejected.extend(r.errors);
    }
    Json(json!({
        "Git": git,
        "GitErrors": rejected,
        "Endpoints": status_rows(&st.mgr),
    }))
}
