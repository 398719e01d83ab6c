//! `apply`: the deterministic state transition for one command.

use redb::{ReadableTable, Table, WriteTransaction};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{decode, StoreError, IDEMPOTENCY, IDEMPOTENCY_EXPIRY, OBJECTS};
use crate::command::{Op, Request, Response};
use crate::model;

/// What a replayed idempotency key returns.
#[derive(Serialize, Deserialize)]
struct IdemRecord {
    fingerprint: String,
    expires_at_ms: u64,
    response: Response,
}

/// Applies one command inside the batch's write transaction and returns its outcome.
/// Errors are store failures only; a rejected command is an `Ok` 4xx response.
pub fn apply(tx: &WriteTransaction, req: &Request) -> Result<Response, StoreError> {
    let mut idem = tx.open_table(IDEMPOTENCY)?;
    let mut expiry = tx.open_table(IDEMPOTENCY_EXPIRY)?;
    expire_keys(&mut idem, &mut expiry, req.at_ms)?;

    if let Some(key) = &req.idempotency {
        if let Some(raw) = idem.get(key.key.as_str())? {
            let record: IdemRecord = serde_json::from_slice(raw.value())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if record.fingerprint != key.fingerprint {
                return Ok(Response::error(
                    422,
                    req.op.collection(),
                    key.key.strip_prefix("client:").unwrap_or(&key.key),
                    "Idempotency-Key was already used with a different request",
                ));
            }
            return Ok(record.response);
        }
    }

    let mut objects = tx.open_table(OBJECTS)?;
    let response = apply_op(&mut objects, &req.op)?;

    if let Some(key) = &req.idempotency {
        let expires_at_ms = req.at_ms.saturating_add(key.ttl_ms);
        let record = IdemRecord {
            fingerprint: key.fingerprint.clone(),
            expires_at_ms,
            response: response.clone(),
        };
        let raw = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        idem.insert(key.key.as_str(), raw.as_slice())?;
        expiry.insert((expires_at_ms, key.key.as_str()), ())?;
    }
    Ok(response)
}

/// Drops idempotency records whose window ended before `now_ms` (the command's own stamp,
/// so every member expires the same keys at the same log position).
fn expire_keys(
    idem: &mut Table<&str, &[u8]>,
    expiry: &mut Table<(u64, &str), ()>,
    now_ms: u64,
) -> Result<(), StoreError> {
    let mut expired = Vec::new();
    for row in expiry.range::<(u64, &str)>(..(now_ms, ""))?.take(1024) {
        let (k, _) = row?;
        let (at, key) = k.value();
        expired.push((at, key.to_string()));
    }
    for (at, key) in expired {
        expiry.remove((at, key.as_str()))?;
        idem.remove(key.as_str())?;
    }
    Ok(())
}

fn apply_op(objects: &mut Table<(&str, &str), &[u8]>, op: &Op) -> Result<Response, StoreError> {
    Ok(match op {
        Op::Create {
            collection,
            key,
            object,
        } => {
            if objects.get((collection.as_str(), key.as_str()))?.is_some() {
                return Ok(Response::error(
                    409,
                    collection,
                    key,
                    format!("{collection}/{key} already exists"),
                ));
            }
            let object = model::stamp_new(collection, object.clone());
            put(objects, collection, key, &object)?;
            Response::ok(201, object)
        }
        Op::Replace {
            collection,
            key,
            object,
        } => {
            if objects.get((collection.as_str(), key.as_str()))?.is_none() {
                return Ok(not_found(collection, key));
            }
            let object = model::stamp_new(collection, object.clone());
            put(objects, collection, key, &object)?;
            Response::ok(200, object)
        }
        Op::Delete { collection, key } => {
            match objects.remove((collection.as_str(), key.as_str()))? {
                Some(old) => Response::ok(200, decode(old.value())?),
                None => not_found(collection, key),
            }
        }
        Op::SetParam {
            collection,
            key,
            param,
            value,
        } => {
            let Some(mut object) = load(objects, collection, key)? else {
                return Ok(not_found(collection, key));
            };
            let Some(params) = params_mut(&mut object) else {
                return Ok(bad_params(collection, key));
            };
            params.insert(param.clone(), value.clone());
            put(objects, collection, key, &object)?;
            Response::ok(200, value.clone())
        }
        Op::DeleteParam {
            collection,
            key,
            param,
        } => {
            let Some(mut object) = load(objects, collection, key)? else {
                return Ok(not_found(collection, key));
            };
            let Some(params) = params_mut(&mut object) else {
                return Ok(bad_params(collection, key));
            };
            match params.remove(param) {
                Some(old) => {
                    put(objects, collection, key, &object)?;
                    Response::ok(200, old)
                }
                None => Response::error(
                    404,
                    collection,
                    key,
                    format!("param {param} is not set on {collection}/{key}"),
                ),
            }
        }
    })
}

fn not_found(collection: &str, key: &str) -> Response {
    Response::error(
        404,
        collection,
        key,
        format!("{collection}/{key} not found"),
    )
}

fn load(
    objects: &Table<(&str, &str), &[u8]>,
    collection: &str,
    key: &str,
) -> Result<Option<Value>, StoreError> {
    match objects.get((collection, key))? {
        Some(raw) => Ok(Some(decode(raw.value())?)),
        None => Ok(None),
    }
}

fn put(
    objects: &mut Table<(&str, &str), &[u8]>,
    collection: &str,
    key: &str,
    object: &Value,
) -> Result<(), StoreError> {
    let raw = serde_json::to_vec(object).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    objects.insert((collection, key), raw.as_slice())?;
    Ok(())
}

/// The object's `Params` map, created when absent. `None` when the object or its `Params`
/// is not a JSON object (the API only stores objects, so this is a corrupt record).
fn params_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    let map = object.as_object_mut()?;
    let params = map
        .entry("Params")
        .or_insert_with(|| Value::Object(Map::new()));
    if params.is_null() {
        *params = Value::Object(Map::new());
    }
    params.as_object_mut()
}

fn bad_params(collection: &str, key: &str) -> Response {
    Response::error(
        422,
        collection,
        key,
        format!("{collection}/{key} has a Params field that is not an object"),
    )
}
