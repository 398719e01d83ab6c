//! Content packs as layers: a pack's objects are `ReadOnly` with `Bundle` = the pack name,
//! replaced or removed whole. A pack never silently overwrites a writable object or another
//! pack's object, and loads only when its prerequisites and required features are there.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable};
use serde_json::{json, Map, Value};

use super::apply::{load, put};
use super::{decode, ObjectStore, Objects, StoreError, OBJECTS};
use crate::command::{error_body, ContentPack, InstallMode, Response};
use crate::model;
use crate::packs::prereqs::{self, BASIC_STORE, BASIC_STORE_VERSION, BUILTIN_LAYERS};

/// Which objects each installed pack owns, so replacing or removing it is exact.
const INDEX: &str = "_content_index";
pub const CONTENTS: &str = "contents";

/// Why a pack cannot install as sent.
enum Problem {
    /// The pack itself is wrong (422).
    Invalid(String),
    /// It would take over a writable object (409 unless `replace_writable`).
    Writable(String),
    /// It would take over another pack's object (409).
    Conflict(String),
}

impl Problem {
    fn into_message(self) -> String {
        match self {
            Problem::Invalid(m) | Problem::Writable(m) | Problem::Conflict(m) => m,
        }
    }
}

/// `POST/PUT /contents`: install or replace one pack, refused whole on any problem: 409 for
/// a POST of an installed pack, 404 for a PUT of one that is not, 422
/// when the pack is invalid or its prerequisites/features are missing, else 409 when it
/// would take over objects it does not own. With `replace_writable`, writable objects the
/// pack also defines become pack objects. 201 when new, 200 when it replaced a version.
pub(super) fn install_content(
    objects: &mut Objects,
    pack: &ContentPack,
    replace_writable: bool,
    mode: InstallMode,
    features: &[String],
) -> Result<Response, StoreError> {
    let name = pack.name();
    match (mode, load(objects, CONTENTS, name)?.is_some()) {
        (InstallMode::Create, true) => {
            return Ok(Response::error(
                409,
                CONTENTS,
                name,
                format!(
                    "content pack {name} is already installed; PUT /contents/{name} replaces it"
                ),
            ))
        }
        (InstallMode::Replace, false) => {
            return Ok(Response::error(
                404,
                CONTENTS,
                name,
                format!("content pack {name} is not installed; POST /contents installs it"),
            ))
        }
        _ => {}
    }
    let mut invalid = Vec::new();
    let mut conflicts = Vec::new();
    for problem in problems(objects, pack)? {
        match problem {
            Problem::Invalid(m) => invalid.push(m),
            Problem::Writable(_) if replace_writable => {}
            Problem::Writable(m) | Problem::Conflict(m) => conflicts.push(m),
        }
    }
    if !pack.name().is_empty() {
        invalid.extend(unmet_prerequisites(objects, pack, &[], features)?);
        conflicts.extend(broken_dependents(objects, pack, &[])?);
    }
    let status = if !invalid.is_empty() {
        422
    } else if !conflicts.is_empty() {
        409
    } else {
        0
    };
    if status != 0 {
        invalid.extend(conflicts);
        return Ok(Response::ok(
            status,
            error_body(status, CONTENTS, pack.name(), invalid),
        ));
    }
    let replaced = load(objects, CONTENTS, pack.name())?.is_some();
    install_pack(objects, pack)?;
    let summary = load(objects, CONTENTS, pack.name())?.unwrap_or(Value::Null);
    Ok(Response::ok(if replaced { 200 } else { 201 }, summary))
}

/// Installed packs whose prerequisite on `pack`'s name the new version would no longer meet
/// (a replacement must not break the packs built on it), one sentence each. Packs in
/// `replaced_too` are being replaced in the same entry: their new versions' prerequisites are
/// checked on their own.
pub(super) fn broken_dependents(
    objects: &Objects,
    pack: &ContentPack,
    replaced_too: &[ContentPack],
) -> Result<Vec<String>, StoreError> {
    let (name, version) = (pack.name(), pack.version());
    let mut out = Vec::new();
    for (other, meta) in installed_metas(objects)? {
        if other == name || replaced_too.iter().any(|p| p.name() == other) {
            continue;
        }
        let Some(text) = meta.get("Prerequisites").and_then(Value::as_str) else {
            continue;
        };
        for p in prereqs::parse_prerequisites(text) {
            if p.name != name || p.range_text.is_empty() {
                continue;
            }
            let met = match (&p.range, prereqs::parse_version(version)) {
                (Ok(range), Some(v)) => range.matches(&v),
                _ => false,
            };
            if !met {
                out.push(format!(
                    "installed content pack {other} requires {name} at {:?}; version {version:?} would break it",
                    p.range_text
                ));
            }
        }
    }
    Ok(out)
}

/// `DELETE /contents/<name>`: refused (409) while another installed pack requires it.
pub(super) fn remove_content(objects: &mut Objects, name: &str) -> Result<Response, StoreError> {
    let Some(summary) = load(objects, CONTENTS, name)? else {
        return Ok(Response::error(
            404,
            CONTENTS,
            name,
            format!("content pack {name} is not installed"),
        ));
    };
    let dependents: Vec<String> = installed_metas(objects)?
        .into_iter()
        .filter(|(other, meta)| {
            other != name
                && meta
                    .get("Prerequisites")
                    .and_then(Value::as_str)
                    .is_some_and(|p| {
                        prereqs::parse_prerequisites(p)
                            .iter()
                            .any(|p| p.name == name)
                    })
        })
        .map(|(other, _)| {
            format!("content pack {name} is a prerequisite of installed content pack {other}")
        })
        .collect();
    if !dependents.is_empty() {
        return Ok(Response::ok(
            409,
            error_body(409, CONTENTS, name, dependents),
        ));
    }
    remove_pack(objects, name)?;
    Ok(Response::ok(200, summary))
}

/// What `pack` needs that is not there: prerequisite packs (installed ones, the built-in
/// `BasicStore`, and `also`: packs being installed in the same entry) and feature flags.
/// One sentence per missing item. Deterministic: reads only the store and constants.
pub(super) fn unmet_prerequisites(
    objects: &Objects,
    pack: &ContentPack,
    also: &[ContentPack],
    features: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut versions: BTreeMap<String, String> = installed_metas(objects)?
        .into_iter()
        .map(|(name, meta)| {
            let v = meta
                .get("Version")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (name, v)
        })
        .collect();
    versions.insert(BASIC_STORE.to_string(), BASIC_STORE_VERSION.to_string());
    for other in also {
        versions.insert(other.name().to_string(), other.version().to_string());
    }
    let name = pack.name();
    let features: Vec<&str> = features.iter().map(String::as_str).collect();
    Ok(
        prereqs::unmet(name, &pack.meta, |n| versions.get(n).cloned(), &features)
            .iter()
            .map(|u| u.message(name))
            .collect(),
    )
}

/// An installed pack's `meta`.
type Meta = Map<String, Value>;

/// (name, meta) of every installed pack, in name order.
fn installed_metas(objects: &Objects) -> Result<Vec<(String, Meta)>, StoreError> {
    let mut out = Vec::new();
    for row in objects.range((CONTENTS, "")..)? {
        let (k, v) = row?;
        let (collection, name) = k.value();
        if collection != CONTENTS {
            break;
        }
        let meta = match decode(v.value())?.get_mut("meta").map(Value::take) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        out.push((name.to_string(), meta));
    }
    Ok(out)
}

impl ObjectStore {
    /// The installed pack as DRP's `GET /contents/<name>` returns it: `{meta, sections}`,
    /// reassembled from the stored objects (with their `ReadOnly`/`Bundle` fields).
    pub fn content_pack(&self, name: &str) -> Result<Option<Value>, StoreError> {
        let tx = self.db().begin_read()?;
        let objects = tx.open_table(OBJECTS)?;
        let get = |c: &str, k: &str| -> Result<Option<Value>, StoreError> {
            match objects.get((c, k))? {
                Some(raw) => Ok(Some(decode(raw.value())?)),
                None => Ok(None),
            }
        };
        let Some(summary) = get(CONTENTS, name)? else {
            return Ok(None);
        };
        let mut sections: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        if let Some(counts) = summary.get("Counts").and_then(Value::as_object) {
            for section in counts.keys() {
                sections.insert(section.clone(), Map::new());
            }
        }
        let owned = get(INDEX, name)?.unwrap_or(Value::Null);
        for pair in owned.as_array().into_iter().flatten() {
            if let (Some(c), Some(k)) = (
                pair.get(0).and_then(Value::as_str),
                pair.get(1).and_then(Value::as_str),
            ) {
                if let Some(object) = get(c, k)? {
                    sections
                        .entry(c.to_string())
                        .or_default()
                        .insert(k.to_string(), object);
                }
            }
        }
        Ok(Some(json!({
            "meta": summary.get("meta").cloned().unwrap_or_else(|| json!({})),
            "sections": sections,
        })))
    }
}

/// Everything that stops `pack` from installing (prerequisites aside), each naming the
/// object or field. Used by VersionSet apply, which has no `replace_writable`.
pub(super) fn check_pack(objects: &Objects, pack: &ContentPack) -> Result<Vec<String>, StoreError> {
    Ok(problems(objects, pack)?
        .into_iter()
        .map(Problem::into_message)
        .collect())
}

fn problems(objects: &Objects, pack: &ContentPack) -> Result<Vec<Problem>, StoreError> {
    let name = pack.name();
    let mut problems = Vec::new();
    if name.is_empty() {
        problems.push(Problem::Invalid(
            "content pack meta.Name is required".to_string(),
        ));
        return Ok(problems);
    }
    if BUILTIN_LAYERS.contains(&name) {
        problems.push(Problem::Invalid(format!(
            "content pack name {name} is reserved for DRP's built-in layer"
        )));
        return Ok(problems);
    }
    if pack.version().is_empty() {
        problems.push(Problem::Invalid(format!(
            "content pack {name}: meta.Version is required"
        )));
    }
    for (section, items) in &pack.sections {
        let Some(collection) = model::collection(section) else {
            problems.push(Problem::Invalid(format!(
                "content pack {name}: unknown section {section:?}"
            )));
            continue;
        };
        for (key, object) in items {
            if key.is_empty() {
                problems.push(Problem::Invalid(format!(
                    "content pack {name}: {section} has an object with an empty key"
                )));
                continue;
            }
            let Some(map) = object.as_object() else {
                problems.push(Problem::Invalid(format!(
                    "content pack {name}: {section}/{key} is not an object"
                )));
                continue;
            };
            if let Some(Value::String(k)) = map.get(collection.key_field) {
                if k != key {
                    problems.push(Problem::Invalid(format!(
                        "content pack {name}: {section}/{key} has {} {k:?}",
                        collection.key_field
                    )));
                }
            }
            if let Some(existing) = load(objects, collection.name, key)? {
                let owner = existing
                    .get("Bundle")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if owner.is_empty() {
                    problems.push(Problem::Writable(format!(
                        "content pack {name} would overwrite the writable object {section}/{key}"
                    )));
                } else if owner != name {
                    problems.push(Problem::Conflict(format!(
                        "content pack {name}: {section}/{key} belongs to content pack {owner}"
                    )));
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
