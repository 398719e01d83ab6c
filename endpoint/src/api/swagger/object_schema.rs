//! The schema of a collection's objects, from DRP's model as `fill` types it.

use serde_json::{json, Map, Value};

use super::names::singular;
use crate::model::Collection;

/// The JSON schema of a DRP wire type (`fill::Ty`), null allowed.
pub(super) fn field_schema(ty: crate::fill::Ty) -> Value {
    use crate::fill::Ty;
    let object_of = |fields: &[crate::fill::Field]| {
        let properties: Map<String, Value> = fields
            .iter()
            .map(|f| (f.name.to_string(), field_schema(f.ty)))
            .collect();
        json!({ "type": "object", "properties": properties, "additionalProperties": true })
    };
    let mut schema = match ty {
        Ty::Str => json!({ "type": "string" }),
        Ty::Bool => json!({ "type": "boolean" }),
        Ty::Int => json!({ "type": "integer" }),
        Ty::Time => json!({ "type": "string", "format": "date-time" }),
        Ty::Any => json!({}),
        Ty::StrList => json!({ "type": "array", "items": { "type": "string" } }),
        Ty::StrMap => json!({ "type": "object", "additionalProperties": { "type": "string" } }),
        Ty::Map => json!({ "type": "object", "additionalProperties": true }),
        Ty::ListMap => {
            json!({ "type": "object", "additionalProperties": { "type": "array", "items": { "type": "string" } } })
        }
        Ty::Struct(fields) => object_of(fields),
        Ty::StructList(fields) => json!({ "type": "array", "items": object_of(fields) }),
        Ty::StructMap(fields) => {
            json!({ "type": "object", "additionalProperties": object_of(fields) })
        }
    };
    if let Some(map) = schema.as_object_mut() {
        if !map.is_empty() {
            map.insert("nullable".into(), Value::Bool(true));
        }
    }
    schema
}

/// The schema of a collection's objects: loosely typed, with the key field and the fields
/// every stored object carries.
pub(super) fn object_schema(c: &Collection) -> Value {
    let mut key = json!({
        "type": "string",
        "description": if c.generated_key {
            "The key (generated, a UUID, when a created object has none)"
        } else {
            "The key"
        },
    });
    if c.key_field == "Uuid" {
        key["format"] = json!("uuid");
    }
    let mut properties = Map::new();
    properties.insert(c.key_field.into(), key);
    // Params, Meta, ReadOnly and Profiles: a null in a request is the default, like an absent
    // field.
    properties.insert(
        "Params".into(),
        json!({ "type": "object", "additionalProperties": true, "nullable": true, "description": "Param name to value" }),
    );
    properties.insert(
        "Meta".into(),
        json!({ "type": "object", "additionalProperties": true, "nullable": true }),
    );
    properties.insert(
        "ReadOnly".into(),
        json!({ "type": "boolean", "nullable": true, "description": "Set on a content pack's objects: they change only with their pack" }),
    );
    properties.insert(
        "Validated".into(),
        json!({ "type": "boolean", "readOnly": true }),
    );
    properties.insert(
        "Available".into(),
        json!({ "type": "boolean", "readOnly": true, "description": "False when a reference dangles; Errors says which" }),
    );
    properties.insert(
        "Errors".into(),
        json!({ "type": "array", "items": { "type": "string" }, "readOnly": true }),
    );
    if c.name == "machines" {
        properties.insert(
            "Profiles".into(),
            json!({ "type": "array", "items": { "type": "string" }, "nullable": true }),
        );
    }
    // Every other field of DRP's model, typed as `fill` checks it (null means the default).
    for field in crate::fill::COMMON
        .iter()
        .chain(crate::fill::fields(c.name))
    {
        properties
            .entry(field.name)
            .or_insert_with(|| field_schema(field.ty));
    }
    if c.name == "users" {
        properties.insert(
            "Password".into(),
            json!({ "type": "string", "writeOnly": true, "description": "Hashed (argon2) when written; no hash is ever returned" }),
        );
    }
    json!({
        "type": "object",
        "description": format!("A DRP {} object, keyed by {}", singular(c.model), c.key_field),
        "x-drp-key": c.key_field,
        "properties": properties,
        "additionalProperties": true,
    })
}
