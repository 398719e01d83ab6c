//! `GET|HEAD /api/v3/<collection>` and `GET /api/v3/<collection>/<key>` from the replica.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use proto::headers;
use proto::query::ListQuery;

use super::stale::{mark, stale_endpoints};
use super::target::{asked_endpoint, copies, holders, pick_copy, Unrouted};
use super::{collection, listing};
use crate::http::authz::{identity_or_none, Identity};
use crate::http::{accounts, ApiError, ApiResult, AppState};
use crate::registry::Accounts;
use crate::replica::ENDPOINT_FIELD;
use proto::collections::Collection;

/// The decoded `(name, value)` pairs of the request's query; 400 when it does not decode.
pub(super) fn query_pairs(uri: &Uri) -> Result<Vec<(String, String)>, ApiError> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request("", "", format!("query: {e}")))
}

fn list_query(pairs: &[(String, String)], model: &'static str) -> Result<ListQuery, ApiError> {
    proto::query::parse(pairs.iter().map(|(k, v)| (k, v)))
        .map_err(|e| ApiError::bad_request(model, "", e.to_string()))
}

/// The page of the union and the counts (total, matched); filtering and sorting the whole
/// fleet's objects is CPU work, so it runs on the blocking pool.
async fn select(
    st: &AppState,
    who: &Identity,
    c: &'static Collection,
    q: ListQuery,
    page: bool,
) -> Result<(Vec<serde_json::Value>, usize, usize), ApiError> {
    let (mgr, name) = (st.mgr.clone(), c.name);
    // The endpoints whose objects the caller's `list` claims show (None: all of them), and
    // the manager's own users or roles when it is one of them.
    let visible = if who.sees_all() {
        None
    } else {
        let endpoints = mgr.replica.endpoints();
        let manager = [mgr.config.id.as_str()];
        who.visible(name, endpoints.iter().map(String::as_str).chain(manager))
    };
    let own = accounts::listed(&mgr, name, visible.as_deref());
    tokio::task::spawn_blocking(move || {
        let replica = &mgr.replica;
        let (items, total, matched) = if own.is_empty() && q.only_pins(ENDPOINT_FIELD) {
            listing::by_owner(replica, name, &q, visible.as_deref(), page)
        } else {
            listing::by_filter(replica, c, &q, visible.as_deref(), own, page)
        };
        (
            items.iter().map(|o| (**o).clone()).collect(),
            total,
            matched,
        )
    })
    .await
    .map_err(ApiError::internal)
}

fn counts(resp: &mut Response, total: usize, matched: usize) {
    let h = resp.headers_mut();
    h.insert(headers::LIST_TOTAL_COUNT, HeaderValue::from(total));
    h.insert(headers::LIST_FILTER_COUNT, HeaderValue::from(matched));
}

/// `GET /api/v3/<collection>`: every cluster's objects, filtered, sorted and paged, as the
/// manager's admin sees them (the dashboard, whose sessions are the admin's).
pub async fn list(State(st): State<AppState>, Path(name): Path<String>, uri: Uri) -> ApiResult {
    list_for(
        State(st),
        Some(Extension(Identity::admin())),
        Path(name),
        uri,
    )
    .await
}

/// `GET /api/v3/<collection>` for the request's manager user: only the objects of endpoints
/// its `list` claims allow.
pub async fn list_for(
    State(st): State<AppState>,
    who: Option<Extension<Identity>>,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult {
    let c = collection(&name)?;
    let q = list_query(&query_pairs(&uri)?, c.model)?;
    let who = identity_or_none(who.as_deref());
    let (items, total, matched) = select(&st, &who, c, q, true).await?;
    let mut resp = Json(items).into_response();
    counts(&mut resp, total, matched);
    mark(&mut resp, &stale_endpoints(&st.mgr));
    Ok(resp)
}

/// `HEAD /api/v3/<collection>`: the counts only (filters apply), as the endpoint answers.
pub async fn count(
    State(st): State<AppState>,
    who: Option<Extension<Identity>>,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult {
    let c = collection(&name)?;
    let q = list_query(&query_pairs(&uri)?, c.model)?;
    let who = identity_or_none(who.as_deref());
    let (_, total, matched) = select(&st, &who, c, q, false).await?;
    let mut resp = StatusCode::OK.into_response();
    counts(&mut resp, total, matched);
    mark(&mut resp, &stale_endpoints(&st.mgr));
    Ok(resp)
}

/// `GET /api/v3/<collection>/<key>` (or `Name:<name>`): the owner's copy, `?Endpoint=<id>`
/// picking one when several endpoints hold the key (otherwise the first by id, and
/// `X-DRP-Endpoint-Owners` names them all). `X-DRP-Endpoint` names the one served.
pub async fn get(
    State(st): State<AppState>,
    who: Option<Extension<Identity>>,
    Path((name, key)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult {
    let c = collection(&name)?;
    let pairs = query_pairs(&uri)?;
    let mut found = copies(&st.mgr.replica, c, &key);
    found.extend(Accounts::of(c.name).and_then(|k| accounts::own_object(&st.mgr, k, &key)));
    // A copy the caller may not get is hidden: 404, as for an absent object.
    let who = identity_or_none(who.as_deref());
    found.retain(|copy| who.may_get(c.name, &key, copy));
    if found.is_empty() {
        return Err(Unrouted::Nowhere.into_api(c, &key));
    }
    let owners = holders(&found);
    let copy = pick_copy(found, asked_endpoint(&pairs)).map_err(|e| e.into_api(c, &key))?;
    let served = copy
        .get(crate::replica::ENDPOINT_FIELD)
        .and_then(serde_json::Value::as_str)
        .and_then(|e| HeaderValue::from_str(e).ok());
    let mut resp = Json(copy).into_response();
    if let Some(v) = served {
        resp.headers_mut()
            .insert(HeaderName::from_static(headers::ENDPOINT), v);
    }
    if owners.len() > 1 {
        if let Ok(v) = HeaderValue::from_str(&owners.join(",")) {
            resp.headers_mut()
                .insert(HeaderName::from_static(headers::ENDPOINT_OWNERS), v);
        }
    }
    mark(&mut resp, &stale_endpoints(&st.mgr));
    Ok(resp)
}
