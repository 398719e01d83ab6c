//! Unique `Name`s in collections keyed by something else: a machine is keyed by its Uuid,
//! and DRP refuses a second machine with the same Name. An index (collection, Name) → key
//! changes in the same transaction as the object, so the check costs one lookup at apply
//! time, and `/machines/Name:fred1` resolves without a scan.

use redb::{ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};
use serde_json::Value;

use super::{decode, StoreError, OBJECTS};
use crate::command::{Op, Response};

/// (collection, unique field value) → key.
pub(crate) const NAMES: TableDefinition<(&str, &str), &str> = TableDefinition::new("unique_names");

/// The field that must be unique in `collection`, besides its key.
pub fn unique_field(collection: &str) -> Option<&'static str> {
    match collection {
        "machines" => Some("Name"),
        _ => None,
    }
}

fn value_of<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The object an op may create, rename or remove in a collection with a unique field.
pub(super) fn indexed_target(op: &Op) -> Option<(&str, &str)> {
    match op {
        Op::Create {
            collection, key, ..
        }
        | Op::Replace {
            collection, key, ..
        }
        | Op::Patch {
            collection, key, ..
        }
        | Op::Delete { collection, key } => {
            unique_field(collection).map(|_| (collection.as_str(), key.as_str()))
        }
        _ => None,
    }
}

/// Moves `collection/key`'s index entry from `before` to `after` (`None`: no object). When
/// another object already holds the new value, returns the 409 and changes nothing: the
/// caller then puts `before` back.
pub(super) fn reindex(
    names: &mut Table<(&str, &str), &str>,
    collection: &str,
    key: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Result<Option<Response>, StoreError> {
    let Some(field) = unique_field(collection) else {
        return Ok(None);
    };
    let old = before.and_then(|o| value_of(o, field));
    let new = after.and_then(|o| value_of(o, field));
    if old == new {
        return Ok(None);
    }
    if let Some(new) = new {
        let holder = names.get((collection, new))?.map(|h| h.value().to_string());
        if let Some(holder) = holder.filter(|h| h != key) {
            return Ok(Some(Response::error(
                409,
                collection,
                key,
                format!("{field} {new:?} is already used by {collection}/{holder}; {field} must be unique"),
            )));
        }
    }
    if let Some(old) = old {
        let held_by_key = names.get((collection, old))?.map(|h| h.value() == key);
        if held_by_key == Some(true) {
            names.remove((collection, old))?;
        }
    }
    if let Some(new) = new {
        names.insert((collection, new), key)?;
    }
    Ok(None)
}

/// Rebuilds the index from the objects (after a snapshot restore, and at open so that a
/// store written before the index existed gets one). The first key in order keeps a value
/// that older data may hold twice.
pub(super) fn rebuild(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.delete_table(NAMES)?;
    let mut names = tx.open_table(NAMES)?;
    let objects = tx.open_table(OBJECTS)?;
    for collection in ["machines"] {
        let Some(field) = unique_field(collection) else {
            continue;
        };
        for row in objects.range((collection, "")..)? {
            let (k, v) = row?;
            let (c, key) = k.value();
            if c != collection {
                break;
            }
            let object = decode(v.value())?;
            if let Some(value) = value_of(&object, field) {
                if names.get((collection, value))?.is_none() {
                    names.insert((collection, value), key)?;
                }
            }
        }
    }
    Ok(())
}

/// The key of the object in `collection` whose unique field is `value`.
pub fn lookup(
    db: &redb::Database,
    collection: &str,
    value: &str,
) -> Result<Option<String>, StoreError> {
    let tx = db.begin_read()?;
    let names = match tx.open_table(NAMES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(names
        .get((collection, value))?
        .map(|k| k.value().to_string()))
}
