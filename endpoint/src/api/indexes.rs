//! What the model offers to query: `GET /api/v3/objects` (the collections served) and
//! `GET /api/v3/indexes[/<prefix>[/<field>]]` (DRP's `Index` of each field a list filter or
//! sort may name), both read from the collection table and the fill table.

use axum::extract::Path;
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use crate::fill::{self, Ty};
use crate::model::{self, Collection, COLLECTIONS};

/// `GET /api/v3/objects`: DRP's `ObjectPrefixes`, the collections this endpoint serves.
pub async fn objects() -> Json<Vec<&'static str>> {
    Json(COLLECTIONS.iter().map(|c| c.name).collect())
}

/// DRP's `Index` for a field of `ty`, `None` for fields no filter compares (lists, maps).
fn index(ty: Ty, unique: bool) -> Option<Value> {
    let kind = match ty {
        Ty::Str => "string",
        Ty::Bool => "boolean",
        Ty::Int => "integer",
        Ty::Time => "time",
        _ => return None,
    };
    Some(json!({ "Type": kind, "Unique": unique, "Regex": false, "Unordered": false }))
}

fn indexes_of(c: &Collection) -> Map<String, Value> {
    let unique = crate::store::unique::unique_field(c.name);
    let mut out = Map::new();
    out.insert(
        c.key_field.into(),
        json!({ "Type": "string", "Unique": true, "Regex": false, "Unordered": false }),
    );
    for field in fill::COMMON.iter().chain(fill::fields(c.name)) {
        if field.name == c.key_field {
            continue;
        }
        if let Some(ix) = index(field.ty, unique == Some(field.name)) {
            out.insert(field.name.into(), ix);
        }
    }
    out
}

fn collection(prefix: &str) -> Result<&'static Collection, ApiError> {
    model::collection(prefix).ok_or_else(|| {
        ApiError::not_found(format!("no collection named {prefix:?}")).on("indexes", prefix)
    })
}

/// `GET /api/v3/indexes`: every collection's indexes, by collection.
pub async fn all() -> Json<Value> {
    let map: Map<String, Value> = COLLECTIONS
        .iter()
        .map(|c| (c.name.to_string(), Value::Object(indexes_of(c))))
        .collect();
    Json(Value::Object(map))
}

/// `GET /api/v3/indexes/<prefix>`: one collection's indexes, by field.
pub async fn of_prefix(Path(prefix): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Object(indexes_of(collection(&prefix)?))))
}

/// `GET /api/v3/indexes/<prefix>/<field>`: one index.
pub async fn one(Path((prefix, field)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let mut all = indexes_of(collection(&prefix)?);
    all.remove(&field).map(Json).ok_or_else(|| {
        ApiError::not_found(format!("{prefix} has no index {field:?}")).on("indexes", &prefix)
    })
}
