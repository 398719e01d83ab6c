//! Collection handlers (`/api/v3/<collection>[/<key>[/params[/<name>]]]`), shared by every
//! collection in `model::COLLECTIONS`. Writes become `Op`s committed through the leader;
//! reads are linearizable unless the client opts into a stale read.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::commit::{Origin, RequestHead};
use super::error::ApiError;
use super::filter;
use super::request::{fence, parse_json, respond};
use super::users::redact;
use crate::auth::visibility;
use crate::command::Op;
use crate::model::{self, Collection};
use crate::node::Node;
use crate::secure;

/// The object a secure value written to `c`/`key` is sealed for.
pub(super) fn target<'a>(c: &'a Collection, key: &'a str) -> secure::Target<'a> {
    secure::Target {
        collection: c.name,
        key,
    }
}

pub(super) fn collection(name: &str) -> Result<&'static Collection, ApiError> {
    model::collection(name)
        .ok_or_else(|| ApiError::not_found(format!("no collection named {name:?}")))
}

/// Whether `key` is a unique-index lookup (`Name:fred1`) rather than the key itself.
fn is_index_lookup(c: &Collection, key: &str) -> bool {
    key.split_once(':')
        .is_some_and(|(field, _)| field != c.key_field && model::INDEXED_FIELDS.contains(&field))
}

/// For writes: the object's key, with an index lookup read after the read fence (unless the
/// client asked for a stale read), so a write never lands on the object that held the name
/// before a rename some member acknowledged.
pub(super) async fn resolve_key(
    node: &Node,
    c: &Collection,
    key: String,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    // A write has no fence of its own (its commit orders it); only an index lookup reads
    // this member's state first, so it fences here, in the middle of the write.
    if is_index_lookup(c, &key) {
        fence(node, headers).await?;
    }
    lookup_key(node, c, key)
}

/// A write's collection and the object's key (see [`resolve_key`]).
pub(super) async fn write_target(
    node: &Node,
    name: &str,
    key: String,
    headers: &HeaderMap,
) -> Result<(&'static Collection, String), ApiError> {
    let c = collection(name)?;
    let key = resolve_key(node, c, key, headers).await?;
    Ok((c, key))
}

/// A write to one object (`/<collection>/<key>` and below, with a body): the request's
/// parts extracted as axum would for the handler, then the collection and the resolved key
/// (see [`write_target`]), so the handlers that take one share this preamble.
pub struct ObjectWrite {
    /// The member that answers.
    pub node: Node,
    /// The path's collection.
    pub c: &'static Collection,
    /// The object's key, a unique-index lookup (`Name:fred1`) resolved.
    pub key: String,
    /// The request's method, path and headers.
    pub head: RequestHead,
    /// The request's body.
    pub body: Bytes,
}

impl axum::extract::FromRequest<Node> for ObjectWrite {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, node: &Node) -> Result<Self, Response> {
        use axum::extract::FromRequestParts;
        let (mut parts, body) = req.into_parts();
        let Path((name, key)) = Path::<(String, String)>::from_request_parts(&mut parts, node)
            .await
            .map_err(IntoResponse::into_response)?;
        let head = match RequestHead::from_request_parts(&mut parts, node).await {
            Ok(head) => head,
            Err(never) => match never {},
        };
        let req = axum::extract::Request::from_parts(parts, body);
        let body = Bytes::from_request(req, node)
            .await
            .map_err(IntoResponse::into_response)?;
        let (c, key) = write_target(node, &name, key, &head.headers)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(ObjectWrite {
            node: node.clone(),
            c,
            key,
            head,
            body,
        })
    }
}

/// A read's collection and the object's key (see [`lookup_key`]); the router has applied
/// the read fence the route declares.
pub(super) fn read_target(
    node: &Node,
    name: &str,
    key: String,
) -> Result<(&'static Collection, String), ApiError> {
    let c = collection(name)?;
    let key = lookup_key(node, c, key)?;
    Ok((c, key))
}

/// The stored object, or a 404 naming it.
pub(super) fn stored(node: &Node, c: &Collection, key: &str) -> Result<Value, ApiError> {
    node.store
        .get(c.name, key)?
        .ok_or_else(|| ApiError::not_found(format!("{}/{key} not found", c.name)).on(c.model, key))
}

/// An RFC 6902 patch body, refused with a 400 when it is not one.
pub(super) fn parse_patch(body: &[u8], c: &Collection, key: &str) -> Result<Value, ApiError> {
    let patch = parse_json(body)?;
    if let Err(e) = serde_json::from_value::<json_patch::Patch>(patch.clone()) {
        return Err(
            ApiError::bad_request(format!("not an RFC 6902 JSON Patch: {e}")).on(c.model, key),
        );
    }
    Ok(patch)
}

/// DRP's unique-index lookups: `/machines/Name:fred1` addresses the machine named fred1.
/// Reads this member's state: reads call it after their own fence.
/// An object the caller's tenant hides is answered as absent.
pub(super) fn lookup_key(node: &Node, c: &Collection, key: String) -> Result<String, ApiError> {
    let key = lookup_any_key(node, c, key)?;
    if !visibility::caller_sees(&node.store, c.name, &key) {
        return Err(ApiError::not_found(format!("{}/{key} not found", c.name)).on(c.model, &key));
    }
    Ok(key)
}

fn lookup_any_key(node: &Node, c: &Collection, key: String) -> Result<String, ApiError> {
    let Some((field, value)) = key.split_once(':') else {
        return Ok(key);
    };
    if field == c.key_field {
        return Ok(value.to_string());
    }
    if !model::INDEXED_FIELDS.contains(&field) {
        return Ok(key);
    }
    if crate::store::unique::unique_field(c.name) == Some(field) {
        return crate::store::unique::lookup(node.store.db(), c.name, value)?.ok_or_else(|| {
            ApiError::not_found(format!("no {} with {field} {value:?}", c.name)).on(c.model, &key)
        });
    }
    let all = node.store.list(c.name, 0, None)?;
    all.items
        .iter()
        .find(|o| o.get(field).and_then(Value::as_str) == Some(value))
        .and_then(|o| o.get(c.key_field).and_then(Value::as_str))
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::not_found(format!("no {} with {field} {value:?}", c.name)).on(c.model, &key)
        })
}

/// Params as a machine sees them: its own, then each of its profiles in order (the first
/// profile wins a conflict), then the `global` profile.
fn aggregate_params(node: &Node, object: &Value) -> Result<Value, ApiError> {
    let mut layers = vec![object.get("Params").cloned()];
    for profile in object
        .get("Profiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = profile.as_str() {
            let p = node.store.get("profiles", name)?;
            layers.push(p.and_then(|p| p.get("Params").cloned()));
        }
    }
    let global = node.store.get("profiles", "global")?;
    layers.push(global.and_then(|g| g.get("Params").cloned()));
    let mut merged = serde_json::Map::new();
    for layer in layers.into_iter().flatten() {
        for (k, v) in layer.as_object().into_iter().flatten() {
            merged.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok(Value::Object(merged))
}

fn wants_aggregate(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == "aggregate" && !v.eq_ignore_ascii_case("false"))
    })
}

/// Commits an object write; the answer never carries a secret (users' password hashes).
pub(super) async fn commit(
    node: &Node,
    head: &RequestHead,
    body: &[u8],
    op: Op,
) -> Result<Response, ApiError> {
    let collection = op.collection().to_string();
    let outcome = super::commit::outcome(node, Origin::request(head, body), op).await?;
    Ok(respond(crate::command::Response {
        body: redact(&collection, outcome.body),
        ..outcome
    }))
}

pub async fn list(
    State(node): State<Node>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (c, q, total, selected) = selection(&node, &name, query.as_deref())?;
    let matched = selected.len();
    let items: Vec<Value> = q
        .page(selected)
        .into_iter()
        .map(|o| redact(c.name, o))
        .collect();
    Ok(with_counts(Json(items).into_response(), total, matched))
}

/// What a list and its count both answer from: the collection, the query, how many objects
/// the caller may list and those of them the query's filters select (not yet paged).
fn selection(
    node: &Node,
    name: &str,
    query: Option<&str>,
) -> Result<(&'static Collection, filter::ListQuery, u64, Vec<Value>), ApiError> {
    let c = collection(name)?;
    let q = filter::parse(query)?;
    let (total, items) = visible_items(node, c)?;
    let selected = q.select(items);
    Ok((c, q, total, selected))
}

/// Adds DRP's list count headers: the caller's total and how many the filters matched.
fn with_counts(mut resp: Response, total: u64, matched: usize) -> Response {
    resp.headers_mut()
        .insert(proto::headers::LIST_TOTAL_COUNT, HeaderValue::from(total));
    resp.headers_mut().insert(
        proto::headers::LIST_FILTER_COUNT,
        HeaderValue::from(matched),
    );
    resp
}

/// The collection's objects the caller may list (its tenant's, cut down to what its `list`
/// claims name), and how many those are.
fn visible_items(node: &Node, c: &Collection) -> Result<(u64, Vec<Value>), ApiError> {
    let all = node.store.list(c.name, 0, None)?;
    let view = visibility::caller_listing(&node.store, c.name);
    if !view.is_limited() {
        return Ok((all.total, all.items));
    }
    let items: Vec<Value> = all
        .items
        .into_iter()
        .filter(|o| view.sees(o.get(c.key_field).and_then(Value::as_str).unwrap_or("")))
        .collect();
    Ok((items.len() as u64, items))
}

/// `HEAD /<collection>`: the count in `X-Drp-List-Filter-Count` (filters apply).
pub async fn count(
    State(node): State<Node>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (_, _, total, selected) = selection(&node, &name, query.as_deref())?;
    Ok(with_counts(
        StatusCode::OK.into_response(),
        total,
        selected.len(),
    ))
}

/// `PATCH /<collection>/<key>`: RFC 6902, applied by the state machine so that a failed
/// `test` op (409) or any bad op (422) changes nothing.
pub async fn patch(w: ObjectWrite) -> Result<Response, ApiError> {
    let mut patch = parse_patch(&w.body, w.c, &w.key)?;
    secure::seal_patch(&w.node, target(w.c, &w.key), &mut patch).await?;
    let op = Op::Patch {
        collection: w.c.name.into(),
        key: w.key,
        patch,
    };
    commit(&w.node, &w.head, &w.body, op).await
}

/// A whole object from a body: a user's password hashed before anything else sees it.
async fn incoming_object(c: &Collection, body: &[u8]) -> Result<Value, ApiError> {
    let mut object = parse_json(body)?;
    if c.name == "users" {
        super::users::hash_password_field(&mut object).await?;
    }
    Ok(object)
}

/// What a whole object must pass before it is proposed: the model's rules and its templates.
fn check_object(c: &Collection, key: &str, object: &Value) -> Result<(), ApiError> {
    let problems = model::validate(c, object);
    if !problems.is_empty() {
        return Err(ApiError::with_messages(422, problems).on(c.model, key));
    }
    super::render::check_templates(c.name, object).map_err(|e| e.on(c.model, key))
}

pub async fn create(
    State(node): State<Node>,
    Path(name): Path<String>,
    head: RequestHead,
    body: Bytes,
) -> Result<Response, ApiError> {
    let c = collection(&name)?;
    let mut object = incoming_object(c, &body).await?;
    if c.generated_key {
        if let Some(map) = object.as_object_mut() {
            map.entry(c.key_field)
                // Time-ordered (v7): new objects land at the end of the store's B-tree
                // instead of on a random page each, which every member writes per create.
                .or_insert_with(|| Value::String(uuid::Uuid::now_v7().to_string()));
        }
    }
    let key = object
        .get(c.key_field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let whole = Whole { c, key, object };
    commit_whole(&node, (&head, &body), whole, WholeOp::Create).await
}

pub async fn get_one(
    State(node): State<Node>,
    Path((name, key)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (c, key) = read_target(&node, &name, key)?;
    let mut object = stored(&node, c, &key)?;
    let tag = crate::store::etag(&object);
    if secure::wants_decode(query.as_deref()) {
        if let Some(params) = object.get_mut("Params") {
            secure::decode_params(&node, c.name, &key, params).await?;
        }
    }
    let mut resp = Json(redact(c.name, object)).into_response();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        resp.headers_mut().insert(axum::http::header::ETAG, v);
    }
    Ok(resp)
}

pub async fn exists(
    State(node): State<Node>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (c, key) = read_target(&node, &name, key)?;
    let found = node.store.get(c.name, &key)?.is_some();
    Ok(if found {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
    .into_response())
}

pub async fn replace(w: ObjectWrite) -> Result<Response, ApiError> {
    let (c, key) = (w.c, w.key);
    let mut object = incoming_object(c, &w.body).await?;
    key_field_from_path(c, &key, &mut object)?;
    let whole = Whole { c, key, object };
    commit_whole(&w.node, (&w.head, &w.body), whole, WholeOp::Replace).await
}

/// A replace's body names the object the path does: a missing key field is filled in, a
/// different one refused (400).
fn key_field_from_path(c: &Collection, key: &str, object: &mut Value) -> Result<(), ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Ok(());
    };
    match map.get(c.key_field) {
        Some(Value::String(k)) if k != key => Err(ApiError::bad_request(format!(
            "{} {k:?} in the body does not match {key:?} in the path",
            c.key_field
        ))
        .on(c.model, key)),
        Some(Value::String(_)) | Some(Value::Null) | None => {
            map.insert(c.key_field.to_string(), Value::String(key.to_string()));
            Ok(())
        }
        // Left for `validate` to name: "<key field> must be a string".
        Some(_) => Ok(()),
    }
}

/// A whole object bound for `c` under `key`.
struct Whole<'a> {
    c: &'a Collection,
    key: String,
    object: Value,
}

/// Which command a whole object makes.
enum WholeOp {
    Create,
    Replace,
}

/// The tail create and replace share: secure params sealed, the object checked, then its
/// command committed.
async fn commit_whole(
    node: &Node,
    (head, body): (&RequestHead, &[u8]),
    whole: Whole<'_>,
    op: WholeOp,
) -> Result<Response, ApiError> {
    let Whole { c, key, mut object } = whole;
    secure::seal_object(node, target(c, &key), &mut object).await?;
    check_object(c, &key, &object)?;
    let collection = c.name.to_string();
    let op = match op {
        WholeOp::Create => Op::Create {
            collection,
            key,
            object,
        },
        WholeOp::Replace => Op::Replace {
            collection,
            key,
            object,
        },
    };
    commit(node, head, body, op).await
}

pub async fn remove(
    State(node): State<Node>,
    Path((name, key)): Path<(String, String)>,
    head: RequestHead,
) -> Result<Response, ApiError> {
    let (c, key) = write_target(&node, &name, key, &head.headers).await?;
    let op = Op::Delete {
        collection: c.name.into(),
        key,
    };
    commit(&node, &head, &[], op).await
}

pub async fn params(
    State(node): State<Node>,
    Path((name, key)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (c, key) = read_target(&node, &name, key)?;
    let object = stored(&node, c, &key)?;
    let mut params = if wants_aggregate(query.as_deref()) {
        aggregate_params(&node, &object)?
    } else {
        object
            .get("Params")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}))
    };
    if secure::wants_decode(query.as_deref()) {
        secure::decode_params(&node, c.name, &key, &mut params).await?;
    }
    Ok(Json(params).into_response())
}

pub async fn get_param(
    State(node): State<Node>,
    Path((name, key, param)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (c, key) = read_target(&node, &name, key)?;
    let object = stored(&node, c, &key)?;
    let params = if wants_aggregate(query.as_deref()) {
        aggregate_params(&node, &object)?
    } else {
        object.get("Params").cloned().unwrap_or_default()
    };
    match params.get(&param) {
        Some(value) if secure::wants_decode(query.as_deref()) => {
            let mut one = serde_json::json!({ param.clone(): value.clone() });
            secure::decode_params(&node, c.name, &key, &mut one).await?;
            Ok(Json(one[&param].take()).into_response())
        }
        Some(value) => Ok(Json(value.clone()).into_response()),
        None => Err(
            ApiError::not_found(format!("param {param} is not set on {}/{key}", c.name))
                .on(c.model, &key),
        ),
    }
}

pub async fn set_param(
    State(node): State<Node>,
    Path((name, key, param)): Path<(String, String, String)>,
    head: RequestHead,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (c, key) = write_target(&node, &name, key, &head.headers).await?;
    let value = secure::seal_param(&node, target(c, &key), &param, parse_json(&body)?).await?;
    let op = Op::SetParam {
        collection: c.name.into(),
        key,
        param,
        value,
    };
    commit(&node, &head, &body, op).await
}

pub async fn delete_param(
    State(node): State<Node>,
    Path((name, key, param)): Path<(String, String, String)>,
    head: RequestHead,
) -> Result<Response, ApiError> {
    let (c, key) = write_target(&node, &name, key, &head.headers).await?;
    let op = Op::DeleteParam {
        collection: c.name.into(),
        key,
        param,
    };
    commit(&node, &head, &[], op).await
}
