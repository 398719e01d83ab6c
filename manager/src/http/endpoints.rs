//! `/api/v3/endpoints[/{id}[/plan]]`: the registered clusters.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use versionsets::Endpoint;

use super::body::{self, apply_patch, endpoint_from_value, parse_endpoint_body};
use super::probe::{probe, Pinning};
use super::view::{api_part_view, endpoint_view, with_counts};
use crate::http::{ApiError, ApiResult, AppState};
use crate::state::Source;
use crate::sync::reconcile;

pub(super) async fn list(State(st): State<AppState>) -> Response {
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
pub(super) async fn count(State(st): State<AppState>) -> Response {
    with_counts(
        StatusCode::OK.into_response(),
        st.mgr.effective_endpoints().len(),
    )
}

pub(super) async fn get(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    match st.mgr.effective_endpoint(&id) {
        Some((ep, src)) => Ok(Json(endpoint_view(&st.mgr, &ep, src)).into_response()),
        None => Err(ApiError::not_found("endpoints", &id)),
    }
}

pub(super) async fn create(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    register(&st, parse_endpoint_body(&headers, &body)?).await
}

/// Registers a new endpoint: 409 when the Id is taken, the cluster checked ([`probe`]: its
/// HaID, the certificate to pin), then stored and tracked. `POST /api/v3/endpoints` and DRP's
/// `addEndpoint` action both come here.
pub(super) async fn register(st: &AppState, mut ep: Endpoint) -> ApiResult {
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
    store_endpoint(st, ep, StatusCode::CREATED)
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
        .ok_or_else(|| ApiError::not_found("endpoints", &id))?;
    Ok((code, Json(endpoint_view(&st.mgr, &ep, src))).into_response())
}

pub(super) async fn put(
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
        return Err(ApiError::not_found("endpoints", id));
    };
    st.mgr.seal_params(ep, previous.as_ref());
    probe(&st.mgr, &st.mgr.with_git(ep), Some(&in_force), pinning).await?;
    store_endpoint(st, ep.clone(), StatusCode::OK)
}

pub(super) async fn patch(
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
            None => return Err(ApiError::not_found("endpoints", &id)),
        },
    };
    let patched = apply_patch(api_part_view(&current), &body, "endpoints", &id)?;
    let mut v = patched;
    body::strip_endpoint_output(&mut v);
    let mut ep = endpoint_from_value(v)?;
    replace_endpoint(&st, &id, &mut ep, Pinning::Keep).await
}

pub(super) async fn delete(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let Some((ep, src)) = st.mgr.effective_endpoint(&id) else {
        return Err(ApiError::not_found("endpoints", &id));
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

pub(super) async fn plan(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let Some((ep, _)) = st.mgr.effective_endpoint(&id) else {
        return Err(ApiError::not_found("endpoints", &id));
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
