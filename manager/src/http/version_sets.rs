//! `/api/v3/version_sets[/{id}]`: VersionSets defined through the API (git's win).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use versionsets::VersionSet;

use super::body::{self, apply_patch, parse_version_set_body, version_set_from_value};
use super::view::with_counts;
use crate::http::{ApiError, ApiResult, AppState};
use crate::state::Source;

fn vs_view(vs: &VersionSet, source: Source) -> Value {
    let mut v = serde_json::to_value(vs).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("Source".into(), json!(source.as_str()));
    }
    v
}

pub(super) async fn list(State(st): State<AppState>) -> Response {
    let all: Vec<Value> = st
        .mgr
        .version_sets()
        .values()
        .map(|(v, s)| vs_view(v, *s))
        .collect();
    let count = all.len();
    with_counts(Json(all).into_response(), count)
}

pub(super) async fn get(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    match st.mgr.version_sets().remove(&id) {
        Some((v, s)) => Ok(Json(vs_view(&v, s)).into_response()),
        None => Err(ApiError::not_found("version_sets", &id)),
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

pub(super) async fn create(
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

pub(super) async fn put(
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
        return Err(ApiError::not_found("version_sets", id));
    }
    store_version_set(st, vs, StatusCode::OK)
}

pub(super) async fn patch(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    git_owned(&st, &id)?;
    let Some(current) = st.mgr.registry.api_version_sets().remove(&id) else {
        return Err(ApiError::not_found("version_sets", &id));
    };
    let doc = serde_json::to_value(&current).map_err(ApiError::internal)?;
    let mut v = apply_patch(doc, &body, "version_sets", &id)?;
    body::strip(&mut v, body::BOOKKEEPING);
    let vs = version_set_from_value(v)?;
    replace_version_set(&st, &id, vs)
}

pub(super) async fn delete(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    git_owned(&st, &id)?;
    let Some(current) = st.mgr.registry.api_version_sets().remove(&id) else {
        return Err(ApiError::not_found("version_sets", &id));
    };
    st.mgr
        .registry
        .delete_version_set(&id)
        .map_err(ApiError::internal)?;
    st.mgr.wake_all();
    Ok(Json(vs_view(&current, Source::Api)).into_response())
}

/// `HEAD /api/v3/version_sets`: the count in `X-Drp-List-Filter-Count`.
pub(super) async fn count(State(st): State<AppState>) -> Response {
    with_counts(StatusCode::OK.into_response(), st.mgr.version_sets().len())
}
