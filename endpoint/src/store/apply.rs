//! `apply`: the deterministic state transition for one command.

use redb::{ReadableTable, Table, WriteTransaction};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::object_ops::Changed;
use super::{decode, object_ops, unique, StoreError, IDEMPOTENCY, IDEMPOTENCY_EXPIRY, OBJECTS};
use crate::command::{Idempotency, Op, Request, Response};
use crate::fill;
use crate::model;

/// What a replayed idempotency key returns.
/// (Written with `expires_at_ms` too, which only the expiry table needs.)
#[derive(Deserialize)]
struct IdemRecord {
    fingerprint: String,
    response: Response,
}

/// [`IdemRecord`] as written: borrowed, so recording a reply does not copy it.
#[derive(Serialize)]
struct IdemRecordRef<'a> {
    fingerprint: &'a str,
    expires_at_ms: u64,
    response: &'a Response,
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
    let (changed, replayed) = apply_once(tx, req, index, original.as_ref())?;
    if replayed {
        // A retry answered from its idempotency record changed nothing: no event. (Its op
        // may even name another key, e.g. a create whose generated Uuid differs from the
        // first attempt's, and the recorded reply's object is the first one's.)
        return Ok((changed.response, Vec::new()));
    }
    let current = match changed.stored_object(&req.op) {
        Some(stored) => Some(stored.clone()),
        None => load_target(tx)?,
    };
    let response = changed.response;
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
    for e in &mut events {
        e.index = index;
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
    let original = match target(&req.op) {
        Some((c, k)) => load(&tx.open_table(OBJECTS)?, c, k)?,
        None => None,
    };
    apply_once(tx, req, index, original.as_ref()).map(|(changed, _)| changed.response)
}

/// [`apply`] (with the target as stored, when at hand), and whether the outcome is a replay
/// of an idempotency key's recorded one (then nothing changed). `original` is the op's
/// [`target`] as stored before it, decoded once by the caller and handed down: a `SetParam`
/// used to parse the same bytes four times.
fn apply_once(
    tx: &WriteTransaction,
    req: &Request,
    index: u64,
    original: Option<&Value>,
) -> Result<(Changed, bool), StoreError> {
    let mut idem = tx.open_table(IDEMPOTENCY)?;
    let mut expiry = tx.open_table(IDEMPOTENCY_EXPIRY)?;
    expire_keys(&mut idem, &mut expiry, req.at_ms)?;

    if let Some(key) = &req.idempotency {
        if let Some(raw) = idem.get(key.key.as_str())? {
            let record: IdemRecord = serde_json::from_slice(raw.value())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            return Ok((replay(&record, key, req.op.collection()).into(), true));
        }
    }

    let mut changed: Changed = match &req.op {
        Op::ApplyVersionSet(vs) => {
            super::versionset::apply_version_set(tx, vs, index, req.at_ms)?.into()
        }
        Op::UploadChunk {
            upload,
            index,
            data,
        } => super::files::stage_chunk(tx, upload, *index, data)?.into(),
        Op::FinishUpload {
            upload,
            path,
            chunks,
            sha256,
            explode,
        } => super::files::finish(tx, upload, path, *chunks, sha256, *explode)?.into(),
        Op::AbortUpload { upload } => super::files::abort(tx, upload)?.into(),
        Op::DeleteFile { path } => super::files::delete(tx, path)?.into(),
        op => {
            let stamp = fill::Stamp {
                at_ms: req.at_ms,
                by: req.principal.as_deref().unwrap_or_default(),
            };
            apply_object_op(tx, op, req.if_match.as_deref(), stamp, original)?
        }
    };

    let response = &mut changed.response;
    response.index = Some(index);
    if let Some(key) = &req.idempotency {
        let expires_at_ms = req.at_ms.saturating_add(key.ttl_ms);
        let record = IdemRecordRef {
            fingerprint: &key.fingerprint,
            expires_at_ms,
            response,
        };
        let raw = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        idem.insert(key.key.as_str(), raw.as_slice())?;
        expiry.insert((expires_at_ms, key.key.as_str()), ())?;
    }
    Ok((changed, false))
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
        // Existence only: no need to decode the object named.
        if objects.get((target, key.as_str()))?.is_none() {
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
pub(super) fn maintained(
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
fn read_only(op: &Op, original: Option<&Value>) -> Option<Response> {
    let (Some((collection, key)), Some(existing)) = (target(op), original) else {
        return None;
    };
    if existing.get("ReadOnly").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let bundle = existing
        .get("Bundle")
        .and_then(Value::as_str)
        .unwrap_or("a content pack");
    Some(Response::error(
        403,
        collection,
        key,
        format!("{collection}/{key} is read-only: it belongs to {bundle}; change the pack instead"),
    ))
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
    op: &Op,
    if_match: Option<&str>,
    original: Option<&Value>,
) -> Option<Response> {
    let (Some(expected), Some((collection, key))) = (if_match, target(op)) else {
        return None;
    };
    let current = original.map(super::etag);
    if expected == "*" && current.is_some() || current.as_deref() == Some(expected) {
        return None;
    }
    let message = match current {
        Some(tag) => format!("{collection}/{key} changed: its ETag is {tag}, not {expected}"),
        None => format!("{collection}/{key} does not exist"),
    };
    Some(Response::error(412, collection, key, message))
}

/// `apply_op`, keeping unique fields unique: a write that would give a second object the
/// same unique value is undone (inside this transaction) and answered 409.
fn apply_object_op(
    tx: &WriteTransaction,
    op: &Op,
    if_match: Option<&str>,
    stamp: fill::Stamp,
    original: Option<&Value>,
) -> Result<Changed, StoreError> {
    let mut objects = tx.open_table(OBJECTS)?;
    let Some((collection, key)) = unique::indexed_target(op) else {
        return apply_op(&mut objects, op, if_match, stamp, original);
    };
    // A create has no `target`, so its object is read here; the other ops' is `original`.
    let loaded;
    let before = if target(op) == Some((collection, key)) {
        original
    } else {
        loaded = load(&objects, collection, key)?;
        loaded.as_ref()
    };
    let changed = apply_op(&mut objects, op, if_match, stamp, original)?;
    if !(200..300).contains(&changed.response.status) {
        return Ok(changed);
    }
    let reread;
    let after = match changed.stored_object(op) {
        Some(stored) => Some(stored),
        None => {
            reread = load(&objects, collection, key)?;
            reread.as_ref()
        }
    };
    let mut names = tx.open_table(unique::NAMES)?;
    match unique::reindex(&mut names, collection, key, before, after)? {
        None => Ok(changed),
        Some(conflict) => {
            match before {
                Some(object) => put(&mut objects, collection, key, object)?,
                None => {
                    objects.remove((collection, key))?;
                }
            }
            Ok(conflict.into())
        }
    }
}

fn apply_op(
    objects: &mut Table<(&str, &str), &[u8]>,
    op: &Op,
    if_match: Option<&str>,
    stamp: fill::Stamp,
    original: Option<&Value>,
) -> Result<Changed, StoreError> {
    if let Some(refused) = read_only(op, original) {
        return Ok(refused.into());
    }
    if let Some(refused) = precondition_failed(op, if_match, original) {
        return Ok(refused.into());
    }
    Ok(match op {
        Op::SetPrefs { prefs } => object_ops::set_prefs(objects, prefs)?,
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
        } => super::patch::apply_patch(objects, (collection, key), original, patch, stamp)?,
        Op::CreateJob {
            machine,
            job,
            context,
        } => super::runtime::create_job(objects, machine, job, context, stamp)?,
        Op::AppendJobLog { job, data } => super::runtime::append_log(objects, job, data)?,
        op @ (Op::MemberAttributes { .. } | Op::SetUpgradeTarget { .. } | Op::Unknown(_)) => {
            super::member_attributes::apply(objects, op)?
        }
        Op::PutSystem { key, object } => {
            put(objects, "_system", key, object)?;
            Response::ok(200, Value::Null)
        }
        Op::Seed { objects: seeds } => object_ops::seed(objects, seeds)?,
        Op::Create {
            collection,
            key,
            object,
        } => object_ops::create(objects, collection, key, object, stamp)?,
        Op::Replace {
            collection,
            key,
            object,
        } => object_ops::replace(objects, (collection, key), original, object, stamp)?,
        Op::Delete { collection, key } => object_ops::delete(objects, collection, key)?,
        Op::SetParam {
            collection,
            key,
            param,
            value,
        } => {
            return object_ops::set_param(objects, (collection, key), original, param, value, stamp)
        }
        Op::DeleteParam {
            collection,
            key,
            param,
        } => return object_ops::delete_param(objects, (collection, key), original, param, stamp),
    }
    .into())
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

pub(super) fn bad_params(collection: &str, key: &str) -> Response {
    Response::error(
        422,
        collection,
        key,
        format!("{collection}/{key} has a Params field that is not an object"),
    )
}
