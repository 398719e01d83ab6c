//! The state transitions of the plain object commands: create, replace, delete, one param
//! set or removed, prefs, and seeding built-in objects. Each answers a refusal as an `Ok`
//! 4xx response and writes nothing then; `Err` is a store failure.

use std::collections::BTreeMap;

use redb::ReadableTable;
use serde_json::{Map, Value};

use super::apply::{bad_params, load, maintained, not_found, params_mut, put};
use super::{decode, Objects, StoreError};
use crate::command::{Op, Response};
use crate::{fill, model};

pub(super) fn set_prefs(
    objects: &mut Objects,
    prefs: &BTreeMap<String, String>,
) -> Result<Response, StoreError> {
    for (name, value) in prefs {
        put(objects, "prefs", name, &Value::String(value.clone()))?;
    }
    Ok(Response::ok(200, super::prefs(objects)?))
}

/// Creates the objects that do not exist yet; answers the `collection/key` of each created.
pub(super) fn seed(
    objects: &mut Objects,
    seeds: &[(String, String, Value)],
) -> Result<Response, StoreError> {
    let mut created = Vec::new();
    for (collection, key, object) in seeds {
        if load(objects, collection, key)?.is_none() {
            put(
                objects,
                collection,
                key,
                &model::stamp_new(collection, object.clone()),
            )?;
            created.push(Value::String(format!("{collection}/{key}")));
        }
    }
    Ok(Response::ok(200, Value::Array(created)))
}

/// An op's answer, and the target object exactly as the op stored it when the op has it at
/// hand (so the change event need not read and decode it back). `None`: not at hand, or
/// nothing stored.
pub(super) struct Changed {
    pub response: Response,
    pub stored: Option<Value>,
}

impl Changed {
    /// The target as `op` left it stored, when known without reading it back: handed back by
    /// the op, or answered by a successful create or replace (which answer the stored object).
    pub fn stored_object(&self, op: &Op) -> Option<&Value> {
        let answered = matches!(op, Op::Create { .. } | Op::Replace { .. })
            && (200..300).contains(&self.response.status);
        self.stored
            .as_ref()
            .or(answered.then_some(&self.response.body))
    }
}

impl From<Response> for Changed {
    fn from(response: Response) -> Self {
        Self {
            response,
            stored: None,
        }
    }
}

pub(super) fn create(
    objects: &mut Objects,
    collection: &str,
    key: &str,
    object: &Value,
    stamp: fill::Stamp,
) -> Result<Response, StoreError> {
    if objects.get((collection, key))?.is_some() {
        return Ok(Response::error(
            409,
            collection,
            key,
            format!("{collection}/{key} already exists"),
        ));
    }
    store_whole(objects, (collection, key), object, None, stamp, 201)
}

pub(super) fn replace(
    objects: &mut Objects,
    (collection, key): (&str, &str),
    before: Option<&Value>,
    object: &Value,
    stamp: fill::Stamp,
) -> Result<Response, StoreError> {
    let Some(before) = before else {
        return Ok(not_found(collection, key));
    };
    store_whole(objects, (collection, key), object, Some(before), stamp, 200)
}

/// A whole object written over `before` (none for a create): stamped, its maintained fields
/// kept and its references checked, then stored and answered with `status`; a refusal is
/// answered as it is and writes nothing.
fn store_whole(
    objects: &mut Objects,
    (collection, key): (&str, &str),
    object: &Value,
    before: Option<&Value>,
    stamp: fill::Stamp,
    status: u16,
) -> Result<Response, StoreError> {
    let stamped = fill::stored(collection, object.clone(), before, stamp);
    let object = match maintained(objects, collection, before, stamped, stamp.at_ms)? {
        Ok(object) => object,
        Err(refused) => return Ok(refused),
    };
    put(objects, collection, key, &object)?;
    Ok(Response::ok(status, object))
}

/// Deletes an object and answers it; built-in objects stay (409).
pub(super) fn delete(
    objects: &mut Objects,
    collection: &str,
    key: &str,
) -> Result<Response, StoreError> {
    if model::is_builtin(collection, key) {
        return Ok(Response::error(
            409,
            collection,
            key,
            format!("{collection}/{key} is built in and cannot be deleted"),
        ));
    }
    Ok(match objects.remove((collection, key))? {
        Some(old) => Response::ok(200, decode(old.value())?),
        None => not_found(collection, key),
    })
}

/// Sets one param of `(collection, key)`, stored as `before`, and answers its value (with
/// the object as stored, see [`Changed`]).
pub(super) fn set_param(
    objects: &mut Objects,
    (collection, key): (&str, &str),
    before: Option<&Value>,
    param: &str,
    value: &Value,
    stamp: fill::Stamp,
) -> Result<Changed, StoreError> {
    change_params(objects, (collection, key), before, stamp, |params| {
        params.insert(param.to_string(), value.clone());
        Ok(value.clone())
    })
}

/// Removes one param of `(collection, key)`, stored as `before`, and answers its old value
/// (404 when unset).
pub(super) fn delete_param(
    objects: &mut Objects,
    (collection, key): (&str, &str),
    before: Option<&Value>,
    param: &str,
    stamp: fill::Stamp,
) -> Result<Changed, StoreError> {
    change_params(objects, (collection, key), before, stamp, |params| {
        params.remove(param).ok_or_else(|| {
            Response::error(
                404,
                collection,
                key,
                format!("param {param} is not set on {collection}/{key}"),
            )
        })
    })
}

/// Applies `change` to the params map of `(collection, key)` and, when it answers a value,
/// stores the object touched and answers that value (200). A refusal of `change` is answered
/// as it is and writes nothing; so are a missing object (404) and a Params that is not an
/// object (422).
fn change_params(
    objects: &mut Objects,
    (collection, key): (&str, &str),
    before: Option<&Value>,
    stamp: fill::Stamp,
    change: impl FnOnce(&mut Map<String, Value>) -> Result<Value, Response>,
) -> Result<Changed, StoreError> {
    let Some(mut object) = before.cloned() else {
        return Ok(not_found(collection, key).into());
    };
    let Some(params) = params_mut(&mut object) else {
        return Ok(bad_params(collection, key).into());
    };
    let answer = match change(params) {
        Ok(answer) => answer,
        Err(refused) => return Ok(refused.into()),
    };
    fill::touch(&mut object, stamp);
    put(objects, collection, key, &object)?;
    Ok(Changed {
        response: Response::ok(200, answer),
        stored: Some(object),
    })
}
