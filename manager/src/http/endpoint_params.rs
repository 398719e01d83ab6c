//! DRP's params calls on a managed Endpoint: `GET/POST/PATCH /api/v3/endpoints/<id>/params`
//! and `GET/POST/DELETE /api/v3/endpoints/<id>/params/<key>`. The params are the Endpoint's
//! `Params` (its connection settings); a write is an Endpoint update as a PATCH makes it
//! (validated, the password sealed, the cluster's pin kept), and every reply masks the
//! password as the Endpoint views do.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::Value;
use versionsets::Endpoint;

use super::body::{apply_patch, endpoint_from_value};
use super::endpoints::replace_endpoint;
use super::probe::Pinning;
use super::view::api_part_view;
use crate::http::{ApiError, ApiResult, AppState};

const MODEL: &str = "endpoints";

/// The Endpoint's params as the API shows them (the password masked).
fn params_view(ep: &Endpoint) -> Value {
    api_part_view(ep)
        .get("Params")
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()))
}

/// The Endpoint in force (from git or the API).
fn in_force(st: &AppState, id: &str) -> Result<Endpoint, ApiError> {
    st.mgr
        .effective_endpoint(id)
        .map(|(ep, _)| ep)
        .ok_or_else(|| ApiError::not_found(MODEL, id))
}

/// The API's part of the Endpoint, which a params write changes (as PATCH does).
fn writable(st: &AppState, id: &str) -> Result<Endpoint, ApiError> {
    match st.mgr.registry.api_endpoint(id) {
        Some(ep) => Ok(ep),
        None => in_force(st, id).map(|_| Endpoint {
            id: id.to_owned(),
            ..Endpoint::default()
        }),
    }
}

/// Stores `ep` with its params changed and answers the new params.
async fn store(st: &AppState, id: &str, ep: Endpoint) -> ApiResult {
    let value = serde_json::to_value(&ep).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            MODEL,
            id,
            vec![e.to_string()],
        )
    })?;
    let mut ep = endpoint_from_value(value)?;
    replace_endpoint(st, id, &mut ep, Pinning::Keep).await?;
    Ok(Json(params_view(&in_force(st, id)?)).into_response())
}

fn body_json(body: &Bytes, id: &str) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            MODEL,
            id,
            vec![format!("request body: {e}")],
        )
    })
}

pub async fn get_params(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    Ok(Json(params_view(&in_force(&st, &id)?)).into_response())
}

pub async fn get_param(
    State(st): State<AppState>,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult {
    match params_view(&in_force(&st, &id)?).get(&key) {
        Some(value) => Ok(Json(value.clone()).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            MODEL,
            &id,
            vec![format!("param `{key}` is not set on endpoint `{id}`")],
        )),
    }
}

/// `POST .../params`: the map becomes the Endpoint's params.
pub async fn replace_params(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let Value::Object(map) = body_json(&body, &id)? else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            MODEL,
            &id,
            vec!["params must be an object of param name to value".into()],
        ));
    };
    let mut ep = writable(&st, &id)?;
    ep.params = map.into_iter().collect();
    store(&st, &id, ep).await
}

/// `PATCH .../params`: an RFC 6902 patch of the params map.
pub async fn patch_params(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let mut ep = writable(&st, &id)?;
    let patched = apply_patch(params_view(&ep), &body, MODEL, &id)?;
    let Value::Object(map) = patched else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            MODEL,
            &id,
            vec!["the patched params must stay an object".into()],
        ));
    };
    ep.params = map.into_iter().collect();
    store(&st, &id, ep).await
}

/// `POST .../params/<key>`: one param set.
pub async fn set_param(
    State(st): State<AppState>,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let value = body_json(&body, &id)?;
    let mut ep = writable(&st, &id)?;
    ep.params.insert(key, value);
    store(&st, &id, ep).await
}

/// `DELETE .../params/<key>`: one param removed.
pub async fn delete_param(
    State(st): State<AppState>,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult {
    let mut ep = writable(&st, &id)?;
    if ep.params.remove(&key).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            MODEL,
            &id,
            vec![format!("param `{key}` is not set on endpoint `{id}`")],
        ));
    }
    store(&st, &id, ep).await
}
