//! `PUT`/`PATCH`/`DELETE /api/v3/<collection>/<key>` and `POST /api/v3/<collection>` routed to
//! the owning cluster's leader by the gateway's forwarding (same failover and retry rules, an
//! Idempotency-Key for PATCH and POST), the reply coming back with `Endpoint` set.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use proto::collections::Collection;
use proto::headers;
use serde_json::Value;

use super::extract::FederatedTarget;
use super::settle::settle;
use super::target::{copies, create_target, forwarded_query, holders, route, write_owner};
use crate::http::accounts;
use crate::http::auth::Caller;
use crate::http::gateway::{self, Forward};
use crate::http::{ApiError, ApiResult, AppState};
use crate::replica::ENDPOINT_FIELD;

/// One routed write: where it goes and what it carries.
struct Routed<'a> {
    c: &'static Collection,
    /// The key in the URL (empty for a create).
    key: &'a str,
    endpoint: String,
    method: Method,
    /// `/api/v3/...?query` on the cluster.
    tail: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A JSON body without `Endpoint` (the manager's field, not the cluster's), and the endpoint it
/// named; any other body unchanged.
fn strip_endpoint(body: Bytes) -> (Bytes, Option<String>) {
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&body) else {
        return (body, None);
    };
    let Some(named) = obj.remove(ENDPOINT_FIELD) else {
        return (body, None);
    };
    match serde_json::to_vec(&obj) {
        Ok(bytes) => (Bytes::from(bytes), named.as_str().map(str::to_owned)),
        Err(_) => (body, None),
    }
}

/// The request's path and query as the cluster serves them: the same `/api/v3/...` path (still
/// percent-encoded), without the manager's `Endpoint` parameter.
pub(super) fn cluster_tail(uri: &Uri) -> String {
    format!("{}{}", uri.path(), forwarded_query(uri.query()))
}

/// The endpoint that holds `key` (or the one asked for).
pub(super) fn owner(
    st: &AppState,
    c: &Collection,
    key: &str,
    asked: Option<&str>,
) -> Result<String, ApiError> {
    let found = copies(&st.mgr.replica, c, key);
    write_owner(&holders(&found), asked).map_err(|e| e.into_api(c, key))
}

/// `PUT`, `PATCH` or `DELETE /api/v3/<collection>/<key>`: the write goes to the endpoint
/// holding the object (or the one `?Endpoint=` names; for a PUT also `Endpoint` in the body).
pub async fn write(t: FederatedTarget, body: Bytes) -> ApiResult {
    let (body, named) = if t.method == Method::PUT {
        strip_endpoint(body)
    } else {
        (body, None)
    };
    let asked = t.asked().or(named.as_deref());
    if let Some(kind) = t.own_account(asked) {
        return accounts::apply(&t.st, &t.who, kind, &t.method, &t.key, body).await;
    }
    let endpoint = owner(&t.st, t.c, &t.key, asked)?;
    t.authorize(&endpoint)?;
    let routed = Routed {
        c: t.c,
        key: &t.key,
        endpoint,
        method: t.method.clone(),
        tail: cluster_tail(&t.uri),
        headers: t.headers.clone(),
        body,
    };
    forward(&t.st, t.caller, routed).await
}

/// `POST /api/v3/<collection>`: creates on the endpoint named by `Endpoint` in the body (or
/// `?Endpoint=`); without one, 422 naming the field.
pub async fn create(t: FederatedTarget, body: Bytes) -> ApiResult {
    let c = t.c;
    let mut object: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(c.model, "", format!("the body is not JSON: {e}")))?;
    let named = object.get(ENDPOINT_FIELD).and_then(Value::as_str);
    if let Some(kind) = t.own_account(named.or(t.asked())) {
        return accounts::apply(&t.st, &t.who, kind, &t.method, "", body).await;
    }
    let endpoint = create_target(&mut object, t.asked()).map_err(|e| e.into_api(c))?;
    t.authorize(&endpoint)?;
    if route(&t.st.mgr, &endpoint, String::new()).is_none() {
        return Err(ApiError::one(
            StatusCode::UNPROCESSABLE_ENTITY,
            c.model,
            "",
            format!("Endpoint: `{endpoint}` is not a registered endpoint"),
        ));
    }
    let body = serde_json::to_vec(&object).map_err(ApiError::internal)?;
    let routed = Routed {
        c,
        key: "",
        endpoint,
        method: Method::POST,
        tail: cluster_tail(&t.uri),
        headers: t.headers.clone(),
        body: Bytes::from(body),
    };
    forward(&t.st, t.caller, routed).await
}

/// A cluster's reply, buffered: status, the headers that go back, body.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl Reply {
    /// The commit index the cluster answered with (`X-DRP-Commit-Index`).
    pub(super) fn commit_index(&self) -> Option<u64> {
        self.headers
            .get(headers::COMMIT_INDEX)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    }

    /// The reply as the manager's answer.
    pub(super) fn into_response(self) -> Response {
        let mut resp = (self.status, self.body).into_response();
        resp.headers_mut().extend(self.headers);
        resp
    }
}

/// Sends a request to `endpoint`'s leader by the gateway's forwarding and buffers the reply
/// (a single object or value: the caller rewrites or settles it).
pub(super) async fn deliver(
    st: &AppState,
    caller: Caller,
    endpoint: &str,
    (method, tail): (Method, String),
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let Some((cluster, tail)) = route(&st.mgr, endpoint, tail) else {
        return Err(ApiError::not_found("endpoints", endpoint));
    };
    let (fwd, auth) = Forward::new(method, tail, headers, body);
    let resp = gateway::send(&cluster, fwd, caller, auth)
        .await
        .map_err(|e| gateway::send_failed(endpoint, &e))?;
    let status = resp.status();
    let headers = gateway::reply_headers(resp.headers());
    let body = resp.bytes().await.map_err(|e| {
        ApiError::one(
            StatusCode::BAD_GATEWAY,
            "endpoints",
            endpoint,
            format!("cluster `{endpoint}`: reading the reply: {e}"),
        )
    })?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Sends the write to the endpoint's leader and answers with its reply: status and headers as
/// the cluster gave them, a JSON object with `Endpoint` set and settled into the replica.
async fn forward(st: &AppState, caller: Caller, w: Routed<'_>) -> ApiResult {
    let deleted = w.method == Method::DELETE;
    let mut reply = deliver(
        st,
        caller,
        &w.endpoint,
        (w.method, w.tail),
        w.headers,
        w.body,
    )
    .await?;
    let object = match serde_json::from_slice::<Value>(&reply.body) {
        Ok(Value::Object(mut o)) if reply.status.is_success() => {
            o.insert(ENDPOINT_FIELD.into(), Value::String(w.endpoint.clone()));
            Value::Object(o)
        }
        _ => return Ok(reply.into_response()),
    };
    let index = reply.commit_index();
    let how = settle(
        &st.mgr.replica,
        &w.endpoint,
        w.c,
        w.key,
        deleted,
        index,
        &object,
    )
    .await;
    tracing::debug!(endpoint = %w.endpoint, collection = w.c.name, ?how, "routed write settled");
    reply.body = Bytes::from(serde_json::to_vec(&object).map_err(ApiError::internal)?);
    reply.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(reply.into_response())
}
