//! JSON Patch (RFC 6902) of a stored object, bounded so that a small patch cannot make
//! an object huge or deep when its entry applies on every member.

use redb::Table;
use serde_json::Value;

use super::apply::{maintained, not_found, put};
use super::StoreError;
use crate::command::Response;
use crate::{fill, model};

/// Most operations one PATCH may carry.
pub const MAX_PATCH_OPS: usize = 10_000;
/// Largest object a PATCH may produce (serialized). `copy` can double an object per
/// operation, so without a bound 40 operations in a 1.5 KB body would exhaust every member's
/// memory when the entry applies (found by the `json_patch` fuzz target).
pub const MAX_PATCHED_BYTES: usize = 16 << 20;

fn json_len(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

/// Applies `ops` to `doc` one operation at a time, refusing (422) before any operation that
/// could take the result past [`MAX_PATCHED_BYTES`]. The bound is an upper estimate (what
/// `add`, `replace` and `copy` put in, nothing taken out), deterministic (every member decides
/// alike) and cheap: the bytes measured add up to at most the limit. A failed operation is
/// 409 for a `test`, else 422; the caller discards `doc` on any error.
fn patch_bounded(doc: &mut Value, ops: &json_patch::Patch) -> Result<(), (u16, String)> {
    use json_patch::PatchOperation as P;
    if ops.0.len() > MAX_PATCH_OPS {
        return Err((
            422,
            format!(
                "a patch may have at most {MAX_PATCH_OPS} operations, this one has {}",
                ops.0.len()
            ),
        ));
    }
    let mut size = json_len(doc);
    // An upper bound of the result's depth, kept per operation without walking the document
    // again: what an operation puts in sits at most its path's length below the root.
    let mut depth = crate::command::value_depth(doc);
    for (i, op) in ops.0.iter().enumerate() {
        let segments = |p: &str| p.matches('/').count();
        depth = depth.max(match op {
            P::Add(a) => segments(a.path.as_str()) + crate::command::value_depth(&a.value),
            P::Replace(r) => segments(r.path.as_str()) + crate::command::value_depth(&r.value),
            P::Copy(c) => segments(c.path.as_str()) + depth,
            P::Move(m) => segments(m.path.as_str()) + depth,
            _ => 0,
        });
        if depth > crate::command::MAX_OBJECT_DEPTH {
            return Err((
                422,
                format!(
                    "patch operation {i} could nest the object deeper than {} levels",
                    crate::command::MAX_OBJECT_DEPTH
                ),
            ));
        }
        size = size.saturating_add(match op {
            P::Add(a) => json_len(&a.value),
            P::Replace(r) => json_len(&r.value),
            P::Copy(c) => doc.pointer(c.from.as_str()).map_or(0, json_len),
            _ => 0,
        });
        if size > MAX_PATCHED_BYTES {
            return Err((
                422,
                format!(
                    "patch operation {i} would make the object larger than {} MiB",
                    MAX_PATCHED_BYTES >> 20
                ),
            ));
        }
        if let Err(e) = json_patch::patch_unsafe(doc, std::slice::from_ref(op)) {
            let status = if matches!(e.kind, json_patch::PatchErrorKind::TestFailed) {
                409
            } else {
                422
            };
            return Err((
                status,
                format!("patch operation {i} ({}): {}", e.path, e.kind),
            ));
        }
    }
    Ok(())
}

pub(super) fn apply_patch(
    objects: &mut Table<(&str, &str), &[u8]>,
    (collection, key): (&str, &str),
    original: Option<&Value>,
    patch: &Value,
    stamp: fill::Stamp,
) -> Result<Response, StoreError> {
    let Some(original) = original else {
        return Ok(not_found(collection, key));
    };
    let ops: json_patch::Patch = match serde_json::from_value(patch.clone()) {
        Ok(p) => p,
        Err(e) => {
            return Ok(Response::error(
                422,
                collection,
                key,
                format!("not a JSON Patch: {e}"),
            ))
        }
    };
    // Patched on a copy: a failure leaves the stored object untouched.
    let mut patched = original.clone();
    if let Err((status, message)) = patch_bounded(&mut patched, &ops) {
        return Ok(Response::error(status, collection, key, message));
    }
    if let Some(c) = model::collection(collection) {
        if patched.get(c.key_field).and_then(Value::as_str) != Some(key) {
            return Ok(Response::error(
                422,
                collection,
                key,
                format!("a patch may not change {}", c.key_field),
            ));
        }
        let problems = model::validate(c, &patched);
        if !problems.is_empty() {
            return Ok(Response::ok(
                422,
                crate::command::error_body(422, collection, key, problems),
            ));
        }
    }
    let stamped = fill::stored(collection, patched, Some(original), stamp);
    let patched = match maintained(objects, collection, Some(original), stamped, stamp.at_ms)? {
        Ok(object) => object,
        Err(refused) => return Ok(refused),
    };
    put(objects, collection, key, &patched)?;
    Ok(Response::ok(200, patched))
}
