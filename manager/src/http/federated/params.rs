//! A federated object's params: `/api/v3/<collection>/<key>/params[/<param>]`.
//!
//! Reads come from the replica's copy (`Params`, or one of them); `aggregate` and `decode`
//! need the cluster's profiles and keys, so such a read goes to the owner instead. Writes go
//! to the owner like any routed write; their reply is a params map or a value, not the object,
//! so read-your-writes re-reads the object from the owner when the replica's follower did not
//! reach the write in time.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use proto::collections::Collection;
use proto::query::parse_bool;
use serde::Deserialize;
use serde_json::Value;

use super::collection;
use super::read::query_pairs;
use super::settle::WAIT;
use super::target::{asked_endpoint, copies, pick_copy};
use super::write::{caller_of, cluster_tail, deliver, owner};
use crate::http::auth::Caller;
use crate::http::{ApiError, ApiResult, AppState};

/// `{collection}/{key}/params[/{*param}]`.
#[derive(Deserialize)]
pub struct ParamsPath {
    collection: String,
    key: String,
    param: Option<String>,
}

/// Query flags only the owning cluster can answer.
const CLUSTER_FLAGS: &[&str] = &["aggregate", "decode"];

/// `GET .../params[/<param>]`.
pub async fn get(
    State(st): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(p): Path<ParamsPath>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult {
    let c = collection(&p.collection)?;
    let pairs = query_pairs(&uri)?;
    let asked = asked_endpoint(&pairs);
    let on_cluster = pairs
        .iter()
        .any(|(k, v)| CLUSTER_FLAGS.contains(&k.as_str()) && parse_bool(v).unwrap_or(v.is_empty()));
    if on_cluster {
        let endpoint = owner(&st, c, &p.key, asked)?;
        let req = (Method::GET, cluster_tail(&uri));
        let reply = deliver(
            &st,
            caller_of(caller),
            &endpoint,
            req,
            headers,
            Bytes::new(),
        )
        .await?;
        return Ok(reply.into_response());
    }
    let copy =
        pick_copy(copies(&st.mgr.replica, c, &p.key), asked).map_err(|e| e.into_api(c, &p.key))?;
    let params = copy
        .get("Params")
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    let Some(name) = p.param else {
        return Ok(Json(params).into_response());
    };
    params
        .get(&name)
        .cloned()
        .map(|v| Json(v).into_response())
        .ok_or_else(|| {
            ApiError::one(
                StatusCode::NOT_FOUND,
                c.model,
                &p.key,
                format!("{} `{}` has no param {name:?}", c.name, p.key),
            )
        })
}

/// `POST|PUT|PATCH .../params` and `POST|PUT|DELETE .../params/<param>`, on the owner.
pub async fn write(
    State(st): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(p): Path<ParamsPath>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let c = collection(&p.collection)?;
    let pairs = query_pairs(&uri)?;
    let endpoint = owner(&st, c, &p.key, asked_endpoint(&pairs))?;
    let caller = caller_of(caller);
    let req = (method, cluster_tail(&uri));
    let reply = deliver(&st, caller, &endpoint, req, headers, body).await?;
    if reply.status.is_success() {
        // `/api/v3/<collection>/<key>` as it came (still percent-encoded).
        let object_path = uri
            .path()
            .splitn(6, '/')
            .take(5)
            .collect::<Vec<_>>()
            .join("/");
        let at = (object_path.as_str(), p.key.as_str());
        refresh(&st, caller, &endpoint, c, at, reply.commit_index()).await;
    }
    Ok(reply.into_response())
}

/// Read-your-writes for a params write: the replica's follower reaching the write's index, or
/// else the object as the owner now has it (gone there: gone here).
async fn refresh(
    st: &AppState,
    caller: Caller,
    endpoint: &str,
    c: &Collection,
    (object_path, key): (&str, &str),
    index: Option<u64>,
) {
    let replica = &st.mgr.replica;
    let followed = replica.sync_states().contains_key(endpoint);
    if let (true, Some(index)) = (followed, index) {
        if replica.wait_for(endpoint, index, WAIT).await {
            return;
        }
    }
    let req = (Method::GET, object_path.to_owned());
    let reply = deliver(st, caller, endpoint, req, HeaderMap::new(), Bytes::new()).await;
    match reply {
        Ok(r) if r.status.is_success() => {
            if let Ok(object) = serde_json::from_slice::<Value>(&r.body) {
                let k = object
                    .get(c.key_field)
                    .and_then(Value::as_str)
                    .unwrap_or(key);
                replica.put(endpoint, c.name, k, object.clone());
            }
        }
        Ok(r) if r.status == StatusCode::NOT_FOUND => {
            for copy in copies(replica, c, key) {
                let k = copy.get(c.key_field).and_then(Value::as_str).unwrap_or(key);
                replica.remove(endpoint, c.name, k);
            }
        }
        Ok(r) => {
            tracing::debug!(endpoint, status = %r.status, "re-reading a routed params write's object")
        }
        Err(e) => {
            tracing::debug!(endpoint, error = ?e.messages, "re-reading a routed params write's object")
        }
    }
}
