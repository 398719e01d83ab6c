//! The manager's own users and roles, DRP's shapes, kept in its registry: the objects of the
//! manager as an endpoint. They appear in the federated `/api/v3/users` and `/api/v3/roles`
//! with `Endpoint: <manager id>`, and a write of one the manager owns is applied here instead
//! of being routed to a cluster. `PasswordHash` is never shown (DRP masks it); a `Password`
//! written is hashed with the shared argon2. The admin (`--admin-password`) and the built-in
//! `superuser` role are always there and cannot be changed through this API.
//!
//! `GET /api/v3/users/<name>/token` issues a bearer token for a manager user, signed with the
//! secret in the registry.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::http::authz::Identity;
use crate::http::body::apply_patch;
use crate::http::{ApiError, ApiResult, AppState, ADMIN_USER};
use crate::registry::Accounts;
use crate::replica::ENDPOINT_FIELD;
use crate::state::Manager;

use access::password::HASH_FIELD;

/// The built-in objects: the admin user and the `superuser` role.
fn built_in(kind: Accounts) -> (&'static str, Value) {
    match kind {
        Accounts::Users => (
            ADMIN_USER,
            json!({"Name": ADMIN_USER, "Roles": [access::SUPERUSER]}),
        ),
        Accounts::Roles => (
            access::SUPERUSER,
            json!({"Name": access::SUPERUSER,
                   "Claims": [{"Scope": "*", "Action": "*", "Specific": "*"}]}),
        ),
    }
}

/// An object as the API shows it: no hash, the manager as its endpoint.
fn shown(mgr: &Manager, mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.remove(HASH_FIELD);
        map.insert(ENDPOINT_FIELD.into(), Value::String(mgr.config.id.clone()));
    }
    object
}

/// Every user or role of the manager's own, as the federated list shows them.
pub fn own_objects(mgr: &Manager, kind: Accounts) -> Vec<Value> {
    let (name, object) = built_in(kind);
    let mut all = mgr.registry.accounts(kind);
    all.entry(name.to_string()).or_insert(object);
    all.into_values().map(|o| shown(mgr, o)).collect()
}

/// The manager's own users or roles for a federated list of `collection` whose visible
/// endpoints are `visible` (`None`: all); none for any other collection.
pub fn listed(mgr: &Manager, collection: &str, visible: Option<&[String]>) -> Vec<Arc<Value>> {
    let Some(kind) = Accounts::of(collection) else {
        return Vec::new();
    };
    if visible.is_some_and(|v| !v.contains(&mgr.config.id)) {
        return Vec::new();
    }
    own_objects(mgr, kind).into_iter().map(Arc::new).collect()
}

/// One user or role of the manager's own.
pub fn own_object(mgr: &Manager, kind: Accounts, key: &str) -> Option<Value> {
    let (name, object) = built_in(kind);
    let found = if key == name {
        Some(object)
    } else {
        mgr.registry.account(kind, key)
    };
    found.map(|o| shown(mgr, o))
}

fn invalid(kind: Accounts, key: &str, message: String) -> ApiError {
    let model = kind.collection();
    ApiError::one(StatusCode::UNPROCESSABLE_ENTITY, model, key, message)
}

fn strings<'a>(object: &'a Map<String, Value>, field: &str) -> Option<Vec<&'a str>> {
    match object.get(field) {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(Value::as_str).collect(),
        Some(_) => None,
    }
}

/// Checks a user or role as it is about to be stored; the problems are what a 422 names.
fn validate(mgr: &Manager, kind: Accounts, key: &str, object: &Value) -> Result<(), ApiError> {
    let Some(map) = object.as_object() else {
        return Err(invalid(kind, key, "the body must be a JSON object".into()));
    };
    let name = map.get("Name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() || name != key {
        return Err(invalid(
            kind,
            key,
            format!("Name: must be {key:?}, got {name:?}"),
        ));
    }
    match kind {
        Accounts::Users => {
            let Some(roles) = strings(map, "Roles") else {
                return Err(invalid(
                    kind,
                    key,
                    "Roles: must be a list of role names".into(),
                ));
            };
            let unknown: Vec<&str> = roles
                .into_iter()
                .filter(|r| *r != access::SUPERUSER)
                .filter(|r| mgr.registry.account(Accounts::Roles, r).is_none())
                .collect();
            if !unknown.is_empty() {
                let unknown = unknown.join(", ");
                return Err(invalid(
                    kind,
                    key,
                    format!("Roles: no such role: {unknown}"),
                ));
            }
        }
        Accounts::Roles => {
            let claims = match map.get("Claims") {
                None | Some(Value::Null) => &Vec::new(),
                Some(Value::Array(claims)) => claims,
                Some(_) => return Err(invalid(kind, key, "Claims: must be a list".into())),
            };
            for (i, claim) in claims.iter().enumerate() {
                let ok = claim.as_object().is_some_and(|c| {
                    c.values().all(Value::is_string)
                        && ["Scope", "Action"]
                            .iter()
                            .all(|f| c.contains_key(*f) || c.contains_key(&f.to_lowercase()))
                });
                if !ok {
                    return Err(invalid(
                        kind,
                        key,
                        format!(
                            "Claims[{i}]: must be {{Scope, Action, Specific?, Endpoint?}} \
                             with string values"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A `Password` in a user body becomes its argon2 `PasswordHash` (hashed on the blocking
/// pool); without one the stored hash stays. A client never sets the hash itself.
async fn hash_password(object: &mut Value, kept: Option<Value>) -> Result<(), ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Ok(());
    };
    match access::password::hash_field(map).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            if let Some(hash) = kept {
                map.insert(HASH_FIELD.into(), hash);
            }
            Ok(())
        }
        Err(e @ access::password::FieldError::NotAPassword) => {
            Err(invalid(Accounts::Users, "", e.to_string()))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

fn parse_object(kind: Accounts, key: &str, body: &Bytes) -> Result<Value, ApiError> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(kind.collection(), key, format!("body: invalid JSON: {e}"))
    })?;
    if let Some(map) = value.as_object_mut() {
        // The manager's field, not part of the object.
        map.remove(ENDPOINT_FIELD);
    }
    Ok(value)
}

/// A create (`POST`, `key` empty), `PUT`, `PATCH` (JSON Patch) or `DELETE` of a user or role
/// the manager owns, if `who` holds the claim for it on the manager.
pub async fn apply(
    st: &AppState,
    who: &Identity,
    kind: Accounts,
    method: &Method,
    key: &str,
    body: Bytes,
) -> ApiResult {
    let mgr = &st.mgr;
    let model = kind.collection();
    let create = key.is_empty();
    let mut object = if create || *method == Method::PUT {
        Some(parse_object(kind, key, &body)?)
    } else {
        None
    };
    let key = match (&object, create) {
        (Some(o), true) => o
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        _ => key.to_string(),
    };
    let rest = if create {
        model.to_string()
    } else {
        format!("{model}/{key}")
    };
    if let Some(need) = access::route::need(method.as_str(), &rest) {
        who.require(&need, &mgr.config.id)?;
    }
    if key == built_in(kind).0 {
        let why = format!("{model}/{key} is built in and cannot be changed here");
        return Err(ApiError::conflict(model, &key, why));
    }
    let stored = mgr.registry.account(kind, &key);
    match (create, &stored) {
        (true, Some(_)) => {
            let why = format!("{model}/{key} already exists on the manager");
            return Err(ApiError::conflict(model, &key, why));
        }
        (false, None) => return Err(ApiError::not_found(model, &key)),
        _ => {}
    }
    if *method == Method::DELETE {
        if kind == Accounts::Roles {
            refuse_role_in_use(mgr, &key)?;
        }
        let m = mgr.clone();
        let k = key.clone();
        blocking(move || m.registry.delete_account(kind, &k)).await?;
        let gone = stored.unwrap_or(Value::Null);
        return Ok(Json(shown(mgr, gone)).into_response());
    }
    if *method == Method::PATCH {
        let mut doc = stored.clone().unwrap_or(Value::Null);
        if let Some(map) = doc.as_object_mut() {
            map.remove(HASH_FIELD);
        }
        object = Some(apply_patch(doc, &body, model, &key)?);
    }
    let Some(mut object) = object else {
        return Err(ApiError::bad_request(
            model,
            &key,
            format!("{method} is not served"),
        ));
    };
    validate(mgr, kind, &key, &object)?;
    if kind == Accounts::Users {
        let kept = stored.as_ref().and_then(|s| s.get(HASH_FIELD)).cloned();
        hash_password(&mut object, kept).await?;
    }
    let (m, k, o) = (mgr.clone(), key.clone(), object.clone());
    blocking(move || m.registry.put_account(kind, &k, o)).await?;
    let status = if create {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(shown(mgr, object))).into_response())
}

/// A registry write: its fsync runs on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::registry::RegistryError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// DRP refuses to delete a role a user still holds.
fn refuse_role_in_use(mgr: &Manager, role: &str) -> Result<(), ApiError> {
    let holders: Vec<String> = mgr
        .registry
        .accounts(Accounts::Users)
        .into_iter()
        .filter(|(_, u)| {
            u.get("Roles")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|x| x.as_str() == Some(role)))
        })
        .map(|(name, _)| name)
        .collect();
    if holders.is_empty() {
        return Ok(());
    }
    let why = format!("role {role} is held by users: {}", holders.join(", "));
    Err(ApiError::conflict("roles", role, why))
}

/// `PUT /api/v3/users/<name>/password` with DRP's `UserPassword` `{"Password": "..."}`: a
/// manager user's new password, hashed here. One's own needs no claim; anyone else's needs a
/// `password` claim on the user (see `authz`). The admin's comes from `--admin-password`; a
/// cluster's user is changed on its cluster (`/<endpoint>/api/v3/users/<name>/password`).
pub(super) async fn set_password(
    State(st): State<AppState>,
    who: Option<axum::Extension<Identity>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let mgr = &st.mgr;
    let name = match who {
        // DRP's literal `{name}`: the caller's own password.
        Some(axum::Extension(who)) if name == access::LITERAL_NAME => who.user,
        _ => name,
    };
    if name == ADMIN_USER {
        let why = format!("{name}'s password is the manager's --admin-password");
        return Err(ApiError::conflict("users", &name, why));
    }
    let Some(mut object) = mgr.registry.account(Accounts::Users, &name) else {
        let why = format!(
            "users/{name} is not one of the manager's users; a cluster's user's password is \
             changed on its cluster: /<endpoint>/api/v3/users/{name}/password"
        );
        return Err(ApiError::one(StatusCode::NOT_FOUND, "users", &name, why));
    };
    let sent = parse_object(Accounts::Users, &name, &body)?;
    let Some(password) = sent.get("Password").filter(|p| !p.is_null()).cloned() else {
        return Err(invalid(
            Accounts::Users,
            &name,
            "Password is required".into(),
        ));
    };
    if let Some(map) = object.as_object_mut() {
        map.insert("Password".into(), password);
    }
    hash_password(&mut object, None).await?;
    let (m, k, o) = (mgr.clone(), name.clone(), object.clone());
    blocking(move || m.registry.put_account(Accounts::Users, &k, o)).await?;
    Ok(Json(shown(mgr, object)).into_response())
}

/// `?ttl=<seconds>` of a token request.
#[derive(Deserialize)]
pub(super) struct TokenQuery {
    ttl: Option<u64>,
}

/// `GET /api/v3/users/<name>/token?ttl=<seconds>`: a signed, expiring token for the manager
/// user `name` (one's own, or anyone's with a `token` claim on users: see `authz`).
pub(super) async fn token(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<TokenQuery>,
) -> ApiResult {
    let mgr = &st.mgr;
    if !crate::http::auth::user_exists(mgr, &name) {
        return Err(ApiError::not_found("users", &name));
    }
    let ttl = q.ttl.unwrap_or(3600);
    let secret =
        access::token::decode_secret(&mgr.registry.token_secret()).map_err(ApiError::internal)?;
    let (token, exp) =
        access::token::sign(&secret, &name, None, ttl).map_err(ApiError::internal)?;
    // DRP's UserToken: the token, who and until when.
    Ok(Json(json!({
        "Token": token,
        "Info": {
            "id": mgr.config.id,
            "manager": true,
            "User": name,
            "Expires": exp,
            "Ttl": ttl.clamp(1, access::token::MAX_TTL_SECS),
        }
    }))
    .into_response())
}
