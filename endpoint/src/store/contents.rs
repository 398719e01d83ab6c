//! Content packs as layers: a pack's objects are `ReadOnly` with `Bundle` = the pack name,
//! replaced or removed whole. A pack never silently overwrites a writable object or another
//! pack's object.

use redb::Table;
use serde_json::{json, Map, Value};

use super::apply::{load, put};
use super::{decode, StoreError};
use crate::command::{error_body, ContentPack, Response};
use crate::model;

type Objects<'t> = Table<'t, (&'static str, &'static str), &'static [u8]>;

/// Which objects each installed pack owns, so replacing or removing it is exact.
const INDEX: &str = "_content_index";
pub const CONTENTS: &str = "contents";

/// `POST/PUT /contents`: install or replace one pack, refused whole (409) on any conflict.
/// With `replace_writable`, writable objects the pack also defines become pack objects.
pub(super) fn install_content(
    objects: &mut Objects,
    pack: &ContentPack,
    replace_writable: bool,
) -> Result<Response, StoreError> {
    let problems: Vec<String> = check_pack(objects, pack)?
        .into_iter()
        .filter(|p| !(replace_writable && p.contains("would overwrite the writable object")))
        .collect();
    if !problems.is_empty() {
        return Ok(Response::ok(
            409,
            error_body(409, CONTENTS, pack.name(), problems),
        ));
    }
    install_pack(objects, pack)?;
    let summary = load(objects, CONTENTS, pack.name())?.unwrap_or(Value::Null);
    Ok(Response::ok(201, summary))
}

/// `DELETE /contents/<name>`.
pub(super) fn remove_content(objects: &mut Objects, name: &str) -> Result<Response, StoreError> {
    let summary = load(objects, CONTENTS, name)?;
    if remove_pack(objects, name)? {
        Ok(Response::ok(200, summary.unwrap_or(Value::Null)))
    } else {
        Ok(Response::error(
            404,
            CONTENTS,
            name,
            format!("content pack {name} is not installed"),
        ))
    }
}

/// Everything that stops `pack` from installing, each naming the object or field.
pub(super) fn check_pack(objects: &Objects, pack: &ContentPack) -> Result<Vec<String>, StoreError> {
    let name = pack.name();
    let mut problems = Vec::new();
    if name.is_empty() {
        problems.push("content pack meta.Name is required".to_string());
        return Ok(problems);
    }
    if pack.version().is_empty() {
        problems.push(format!("content pack {name}: meta.Version is required"));
    }
    for (section, items) in &pack.sections {
        let Some(collection) = model::collection(section) else {
            problems.push(format!("content pack {name}: unknown section {section:?}"));
            continue;
        };
        for (key, object) in items {
            let Some(map) = object.as_object() else {
                problems.push(format!(
                    "content pack {name}: {section}/{key} is not an object"
                ));
                continue;
            };
            if let Some(Value::String(k)) = map.get(collection.key_field) {
                if k != key {
                    problems.push(format!(
                        "content pack {name}: {section}/{key} has {} {k:?}",
                        collection.key_field
                    ));
                }
            }
            if let Some(existing) = load(objects, collection.name, key)? {
                let owner = existing
                    .get("Bundle")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if owner.is_empty() {
                    problems.push(format!(
                        "content pack {name} would overwrite the writable object {section}/{key}"
                    ));
                } else if owner != name {
                    problems.push(format!(
                        "content pack {name}: {section}/{key} belongs to content pack {owner}"
                    ));
                }
            }
        }
    }
    Ok(problems)
}

/// Replaces the layer named `pack.name()` with `pack`. Call only after `check_pack` passed.
pub(super) fn install_pack(objects: &mut Objects, pack: &ContentPack) -> Result<(), StoreError> {
    let name = pack.name();
    remove_pack(objects, name)?;
    let mut owned = Vec::new();
    let mut counts = Map::new();
    for (section, items) in &pack.sections {
        let Some(collection) = model::collection(section) else {
            continue;
        };
        for (key, object) in items {
            let mut object = object.clone();
            if let Some(map) = object.as_object_mut() {
                map.insert(collection.key_field.into(), Value::String(key.clone()));
                map.insert("ReadOnly".into(), Value::Bool(true));
                map.insert("Bundle".into(), Value::String(name.to_string()));
            }
            put(
                objects,
                collection.name,
                key,
                &model::stamp_new(collection.name, object),
            )?;
            owned.push(json!([collection.name, key]));
        }
        counts.insert(section.clone(), json!(items.len()));
    }
    put(objects, INDEX, name, &Value::Array(owned))?;
    put(
        objects,
        CONTENTS,
        name,
        &json!({ "meta": pack.meta, "Counts": counts }),
    )
}

/// Removes a pack and every object it owns. Returns whether it was installed.
pub(super) fn remove_pack(objects: &mut Objects, name: &str) -> Result<bool, StoreError> {
    let Some(owned) = objects
        .remove((INDEX, name))?
        .map(|v| decode(v.value()))
        .transpose()?
    else {
        return Ok(false);
    };
    for pair in owned.as_array().into_iter().flatten() {
        if let (Some(c), Some(k)) = (
            pair.get(0).and_then(Value::as_str),
            pair.get(1).and_then(Value::as_str),
        ) {
            objects.remove((c, k))?;
        }
    }
    objects.remove((CONTENTS, name))?;
    Ok(true)
}
