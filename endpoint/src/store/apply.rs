//! `apply`: the deterministic state transition for one command.

use redb::{ReadableTable, Table, WriteTransaction};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{decode, unique, StoreError, IDEMPOTENCY, IDEMPOTENCY_EXPIRY, OBJECTS};
use crate::command::{Idempotency, Op, Request, Response};
use crate::fill;
use crate::model;

/// What a replayed idempotency key returns.
#[derive(Serialize, Deserialize)]
struct IdemRecord {
    fingerprint: String,
    expires_at_ms: u64,
    response: Response,
}

/// The outcome already recorded for this idempotency key, if any: a replay, or a 422 when
/// the key was first used with a different request.
fn replay(record: &IdemRecord, key: &Idempotency, collection: &str) -> Response {
    if record.fingerprint != key.fingerprint {
        return Response::error(
            422,
            collection,
            key.key.strip_prefix("client:").unwrap_or(&key.key),
            "Idempotency-Key was already used with a different request",
        );
    }
    record.response.clone()
}

impl super::ObjectStore {
    /// What `apply` would answer for an already-used key, read without proposing anything:
    /// lets the leader answer a retry without adding a log entry.
    pub fn recorded_outcome(&self, req: &Request) -> Result<Option<Response>, StoreError> {
        let Some(key) = &req.idempotency else {
            return Ok(None);
        };
        let tx = redb::ReadableDatabase::begin_read(self.db().as_ref())?;
        let table = tx.open_table(IDEMPOTENCY)?;
        let Some(raw) = table.get(key.key.as_str())? else {
            return Ok(None);
        };
        let record: IdemRecord =
            serde_json::from_slice(raw.value()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some(replay(&record, key, req.op.collection())))
    }
}

/// `apply`, plus the change events it produced: the target's (object before and after, for
/// object ops), and a machine's that a job command moved on the side.
pub fn apply_with_event(
    tx: &WriteTransaction,
    req: &Request,
    index: u64,
) -> Result<(Response, Vec<crate::events::Event>), StoreError> {
    let load_target = |tx: &WriteTransaction| -> Result<Option<Value>, StoreError> {
        match target(&req.op) {
            Some((c, k)) => load(&tx.open_table(OBJECTS)?, c, k),
            None => Ok(None),
        }
    };
    let original = load_target(tx)?;
    let side_machine = job_machine(&req.op, original.as_ref());
    let machine_before = match &side_machine {
        Some(m) => load(&tx.open_table(OBJECTS)?, "machines", m)?,
        None => None,
    };
    let response = apply(tx, req, index)?;
    let current = load_target(tx)?;
    let mut events: Vec<_> = crate::events::for_change(req, &response, original, current)
        .into_iter()
        .collect();
    if let (Some(m), true) = (side_machine, (200..300).contains(&response.status)) {
        if let Some(after) = load(&tx.open_table(OBJECTS)?, "machines", &m)? {
            if machine_before.as_ref() != Some(&after) {
                events.push(crate::events::for_machine_side_change(
                    req,
                    &m,
                    machine_before,
                    after,
                ));
            }
        }
    }
    Ok((response, events))
}

/// The machine a job command may change on the side: the one a job is created for, or the
/// `Machine` of the job being written. None for a log append, which never moves its machine
/// and is the runtime's most frequent command: no machine is read twice for it.
fn job_machine(op: &Op, original_job: Option<&Value>) -> Option<String> {
    let machine_of = |job: &Value| job.get("Machine")?.as_str().map(str::to_string);
    match op {
        Op::CreateJob { machine, .. } => Some(machine.clone()),
        Op::AppendJobLog { .. } => None,
        Op::Create {
            collection, object, ..
        }
        | Op::Replace {
            collection, object, ..
        } if collection == "jobs" => {
            machine_of(object).or_else(|| original_job.and_then(machine_of))
        }
        op if op.collection() == "jobs" => original_job.and_then(machine_of),
        _ => None,
    }
}

/// Applies one command inside the batch's write transaction and returns its outcome.
/// Errors are store failures only; a rejected command is an `Ok` 4xx response.
pub fn apply(tx: &WriteTransaction, req: &Request, index: u64) -> Result<Response, StoreError> {
    let mut idem = tx.open_table(IDEMPOTENCY)?;
    let mut expiry = tx.open_table(IDEMPOTENCY_EXPIRY)?;
    expire_keys(&mut idem, &mut expiry, req.at_ms)?;

    if let Some(key) = &req.idempotency {
        if let Some(raw) = idem.get(key.key.as_str())? {
            let record: IdemRecord = serde_json::from_slice(raw.value())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            return Ok(replay(&record, key, req.op.collection()));
        }
    }

    let response = match &req.op {
        Op::ApplyVersionSet(vs) => super::versionset::apply_version_set(tx, vs, index, req.at_ms)?,
        Op::UploadChunk {
            upload,
            index,
            data,
        } => super::files::stage_chunk(tx, upload, *index, data)?,
        Op::FinishUpload {
            upload,
            path,
            chunks,
            sha256,
            explode,
        } => super::files::finish(tx, upload, path, *chunks, sha256, *explode)?,
        Op::AbortUpload { upload } => super::files::abort(tx, upload)?,
        Op::DeleteFile { path } => super::files::delete(tx, path)?,
        op => {
            let stamp = fill::Stamp {
                at_ms: req.at_ms,
                by: req.principal.as_deref().unwrap_or_default(),
            };
            apply_object_op(tx, op, req.if_match.as_deref(), stamp)?
        }
    };

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

/// DRP keeps an object whose references dangle, marked `Available: false` with the reason
/// in `Errors`. Runs in apply, so every member reaches the same verdict.
fn mark_references(
    objects: &Table<(&str, &str), &[u8]>,
    collection: &str,
    mut object: Value,
) -> Result<Value, StoreError> {
    let mut errors = Vec::new();
    for (target, key, field) in model::references(collection, &object) {
        if load(objects, target, &key)?.is_none() {
            errors.push(Value::String(format!(
                "{field}: {target}/{key} does not exist"
            )));
        }
    }
    if !errors.is_empty() {
        if let Some(map) = object.as_object_mut() {
            map.insert("Available".into(), Value::Bool(false));
            map.insert("Errors".into(), Value::Array(errors));
        }
    }
    Ok(object)
}

/// A written object as it is stored: the runtime's fields maintained (machines, jobs) and
/// its references checked. `Err` is the refusal to answer instead; nothing is written then.
fn maintained(
    objects: &mut Table<(&str, &str), &[u8]>,
    collection: &str,
    before: Option<&Value>,
    object: Value,
    at_ms: u64,
) -> Result<Result<Value, Response>, StoreError> {
    let (object, problems) = match (collection, before) {
        ("machines", _) => match super::runtime::maintain_machine(objects, before, object)? {
            Ok(kept) => kept,
            Err(refused) => return Ok(Err(refused)),
        },
        ("jobs", Some(before)) => {
            match super::runtime::maintain_job(objects, before, object, at_ms)? {
                Ok(kept) => (kept, Vec::new()),
                Err(refused) => return Ok(Err(refused)),
            }
        }
        ("tenants", _) => {
            let key = object.get("Name").and_then(Value::as_str).unwrap_or("");
            if let Some(refused) = super::tenants::check(objects, key, &object)? {
                return Ok(Err(refused));
            }
            (object, Vec::new())
        }
        _ => (object, Vec::new()),
    };
    let mut object = mark_references(objects, collection, object)?;
    super::runtime::add_problems(&mut object, problems);
    Ok(Ok(object))
}

/// Objects from a content pack change only with their pack.
fn read_only(
    objects: &Table<(&str, &str), &[u8]>,
    op: &Op,
) -> Result<Option<Response>, StoreError> {
    let Some((collection, key)) = target(op) else {
        return Ok(None);
    };
    let Some(existing) = load(objects, collection, key)? else {
        return Ok(None);
    };
    if existing.get("ReadOnly").and_then(Value::as_bool) != Some(true) {
        return Ok(None);
    }
    let bundle = existing
        .get("Bundle")
        .and_then(Value::as_str)
        .unwrap_or("a content pack");
    Ok(Some(Response::error(
        403,
        collection,
        key,
        format!("{collection}/{key} is read-only: it belongs to {bundle}; change the pack instead"),
    )))
}

/// The object an op targets, for `If-Match` checks.
fn target(op: &Op) -> Option<(&str, &str)> {
    match op {
        Op::Replace {
            collection, key, ..
        }
        | Op::Delete { collection, key }
        | Op::SetParam {
            collection, key, ..
        }
        | Op::DeleteParam {
            collection, key, ..
        }
        | Op::Patch {
            collection, key, ..
        } => Some((collection, key)),
        _ => None,
    }
}

fn precondition_failed(
    objects: &Table<(&str, &str), &[u8]>,
    op: &Op,
    if_match: Option<&str>,
) -> Result<Option<Response>, StoreError> {
    let (Some(expected), Some((collection, key))) = (if_match, target(op)) else {
        return Ok(None);
    };
    let current = load(objects, collection, key)?.map(|o| super::etag(&o));
    if expected == "*" && current.is_some() || current.as_deref() == Some(expected) {
        return Ok(None);
    }
    let message = match current {
        Some(tag) => format!("{collection}/{key} changed: its ETag is {tag}, not {expected}"),
        None => format!("{collection}/{key} does not exist"),
    };
    Ok(Some(Response::error(412, collection, key, message)))
}

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

fn apply_patch(
    objects: &mut Table<(&str, &str), &[u8]>,
    collection: &str,
    key: &str,
    patch: &Value,
    stamp: fill::Stamp,
) -> Result<Response, StoreError> {
    let Some(original) = load(objects, collection, key)? else {
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
    let stamped = fill::stored(collection, patched, Some(&original), stamp);
    let patched = match maintained(objects, collection, Some(&original), stamped, stamp.at_ms)? {
        Ok(object) => object,
        Err(refused) => return Ok(refused),
    };
    put(objects, collection, key, &patched)?;
    Ok(Response::ok(200, patched))
}

/// `apply_op`, keeping unique fields unique: a write that would give a second object the
/// same unique value is undone (inside this transaction) and answered 409.
fn apply_object_op(
    tx: &WriteTransaction,
    op: &Op,
    if_match: Option<&str>,
    stamp: fill::Stamp,
) -> Result<Response, StoreError> {
    let mut objects = tx.open_table(OBJECTS)?;
    let Some((collection, key)) = unique::indexed_target(op) else {
        return apply_op(&mut objects, op, if_match, stamp);
    };
    let before = load(&objects, collection, key)?;
    let response = apply_op(&mut objects, op, if_match, stamp)?;
    if !(200..300).contains(&response.status) {
        return Ok(response);
    }
    let after = load(&objects, collection, key)?;
    let mut names = tx.open_table(unique::NAMES)?;
    match unique::reindex(&mut names, collection, key, before.as_ref(), after.as_ref())? {
        None => Ok(response),
        Some(conflict) => {
            match &before {
                Some(object) => put(&mut objects, collection, key, object)?,
                None => {
                    objects.remove((collection, key))?;
                }
            }
            Ok(conflict)
        }
    }
}

fn apply_op(
    objects: &mut Table<(&str, &str), &[u8]>,
    op: &Op,
    if_match: Option<&str>,
    stamp: fill::Stamp,
) -> Result<Response, StoreError> {
    if let Some(refused) = read_only(objects, op)? {
        return Ok(refused);
    }
    if let Some(refused) = precondition_failed(objects, op, if_match)? {
        return Ok(refused);
    }
    Ok(match op {
        Op::SetPrefs { prefs } => {
            for (name, value) in prefs {
                put(objects, "prefs", name, &Value::String(value.clone()))?;
            }
            Response::ok(200, super::prefs(objects)?)
        }
        Op::UploadChunk { .. }
        | Op::FinishUpload { .. }
        | Op::AbortUpload { .. }
        | Op::DeleteFile { .. } => Response::error(500, "files", "", "file op routed wrongly"),
        Op::ApplyVersionSet(_) => {
            Response::error(500, "version_sets", "", "versionset apply routed wrongly")
        }
        Op::InstallContent {
            pack,
            replace_writable,
            mode,
            features,
        } => super::contents::install_content(objects, pack, *replace_writable, *mode, features)?,
        Op::RemoveContent { name } => super::contents::remove_content(objects, name)?,
        Op::Patch {
            collection,
            key,
            patch,
        } => apply_patch(objects, collection, key, patch, stamp)?,
        Op::CreateJob {
            machine,
            job,
            context,
        } => super::runtime::create_job(objects, machine, job, context, stamp)?,
        Op::AppendJobLog { job, data } => super::runtime::append_log(objects, job, data)?,
        Op::PutSystem { key, object } => {
            put(objects, "_system", key, object)?;
            Response::ok(200, Value::Null)
        }
        Op::Seed { objects: seeds } => {
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
            Response::ok(200, Value::Array(created))
        }
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
            let stamped = fill::stored(collection, object.clone(), None, stamp);
            let object = match maintained(objects, collection, None, stamped, stamp.at_ms)? {
                Ok(object) => object,
                Err(refused) => return Ok(refused),
            };
            put(objects, collection, key, &object)?;
            Response::ok(201, object)
        }
        Op::Replace {
            collection,
            key,
            object,
        } => {
            let Some(before) = load(objects, collection, key)? else {
                return Ok(not_found(collection, key));
            };
            let stamped = fill::stored(collection, object.clone(), Some(&before), stamp);
            let object = match maintained(objects, collection, Some(&before), stamped, stamp.at_ms)?
            {
                Ok(object) => object,
                Err(refused) => return Ok(refused),
            };
            put(objects, collection, key, &object)?;
            Response::ok(200, object)
        }
        Op::Delete { collection, key } if model::is_builtin(collection, key) => Response::error(
            409,
            collection,
            key,
            format!("{collection}/{key} is built in and cannot be deleted"),
        ),
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
            fill::touch(&mut object, stamp);
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
                    fill::touch(&mut object, stamp);
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

pub(super) fn not_found(collection: &str, key: &str) -> Response {
    Response::error(
        404,
        collection,
        key,
        format!("{collection}/{key} not found"),
    )
}

pub(super) fn load(
    objects: &Table<(&str, &str), &[u8]>,
    collection: &str,
    key: &str,
) -> Result<Option<Value>, StoreError> {
    match objects.get((collection, key))? {
        Some(raw) => Ok(Some(decode(raw.value())?)),
        None => Ok(None),
    }
}

pub(super) fn put(
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
pub(super) fn params_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
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
