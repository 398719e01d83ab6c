//! A federated object's params: `/api/v3/<collection>/<key>/params[/<param>]`.
//!
//! Reads come from the replica's copy (`Params`, or one of them); `aggregate` and `decode`
//! need the cluster's profiles and keys, so such a read goes to the owner instead. Writes go
//! to the owner like any routed write; their reply is a params map or a value, not the object,
//! so read-your-writes re-reads the object from the owner when the replica's follower did not
//! reach the write in time.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use proto::collections::Collection;
use proto::query::parse_bool;
use serde_json::Value;

use super::extract::FederatedTarget;
use super::settle::WAIT;
use super::target::{copies, pick_copy};
use super::write::{cluster_tail, deliver, owner};
use crate::http::auth::Caller;
use crate::http::{ApiError, ApiResult, AppState};

/// Query flags only the owning cluster can answer.
const CLUSTER_FLAGS: &[&str] = &["aggregate", "decode"];

/// `GET .../params[/<param>]`.
pub async fn get(t: FederatedTarget) -> ApiResult {
    let (c, asked) = (t.c, t.asked());
    let on_cluster = t
        .pairs
        .iter()
        .any(|(k, v)| CLUSTER_FLAGS.contains(&k.as_str()) && parse_bool(v).unwrap_or(v.is_empty()));
    if on_cluster {
        let endpoint = owner(&t.st, c, &t.key, asked)?;
        t.authorize(&endpoint)?;
        let req = (Method::GET, cluster_tail(&t.uri));
        let headers = t.headers.clone();
        let reply = deliver(&t.st, t.caller, &endpoint, req, headers, Bytes::new()).await?;
        return Ok(reply.into_response());
    }
    let found = copies(&t.st.mgr.replica, c, &t.key);
    // A copy the caller may not get is not there for it (404, as the object's own get).
    let found = found.into_iter().filter(|o| t.may_get(o)).collect();
    let copy = pick_copy(found, asked).map_err(|e| e.into_api(c, &t.key))?;
    let params = copy
        .get("Params")
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    let Some(name) = &t.param else {
        return Ok(Json(params).into_response());
    };
    params
        .get(name)
        .cloned()
        .map(|v| Json(v).into_response())
        .ok_or_else(|| {
            ApiError::one(
                StatusCode::NOT_FOUND,
                c.model,
                &t.key,
                format!("{} `{}` has no param {name:?}", c.name, t.key),
            )
        })
}

/// `POST|PUT|PATCH .../params` and `POST|PUT|DELETE .../params/<param>`, on the owner.
pub async fn write(t: FederatedTarget, body: Bytes) -> ApiResult {
    let endpoint = owner(&t.st, t.c, &t.key, t.asked())?;
    t.authorize(&endpoint)?;
    let req = (t.method.clone(), cluster_tail(&t.uri));
    let reply = deliver(&t.st, t.caller, &endpoint, req, t.headers.clone(), body).await?;
    if reply.status.is_success() {
        // `/api/v3/<collection>/<key>` as it came (still percent-encoded).
        let object_path = t
            .uri
            .path()
            .splitn(6, '/')
            .take(5)
            .collect::<Vec<_>>()
            .join("/");
        let at = (object_path.as_str(), t.key.as_str());
        refresh(&t.st, t.caller, &endpoint, t.c, at, reply.commit_index()).await;
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
