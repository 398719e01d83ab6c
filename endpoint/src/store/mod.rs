//! The replicated DRP object store: one redb database holding every object, the
//! idempotency records and the state machine's own metadata (last applied log id and
//! membership), all changed in one transaction per applied batch.

mod apply;
mod contents;
pub mod durability;
pub mod files;
pub mod member_attributes;
mod object_ops;
mod patch;
pub mod runtime;
mod snapshot;
mod tenants;
pub mod unique;
pub mod versionset;

pub use apply::{apply, apply_with_event};
pub use contents::CONTENTS;
pub use snapshot::{restore, SnapshotBody, SNAPSHOT_FORMAT};

use std::path::Path;
use std::sync::Arc;

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};
use serde_json::Value;

/// (collection, key) → object JSON.
pub(crate) const OBJECTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("objects");
/// idempotency key → `IdemRecord` JSON.
pub(crate) const IDEMPOTENCY: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");
/// (expires_at_ms, key) → (); expires keys in order without scanning them all.
pub(crate) const IDEMPOTENCY_EXPIRY: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("idempotency_expiry");
/// file path → bytes (the metadata lives in OBJECTS under ("files", path)).
pub(crate) const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");
/// (upload id, chunk index) → bytes of an upload in progress.
pub(crate) const UPLOADS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("uploads");
/// state-machine metadata, e.g. "last_applied", "membership".
pub(crate) const META_TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Db(String),
    #[error("store: corrupt record: {0}")]
    Corrupt(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.to_string()) }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SavepointError,
    redb::SetDurabilityError
);

/// The objects table open in a write transaction, as every part of `apply` takes it.
pub(crate) type Objects<'t> = redb::Table<'t, (&'static str, &'static str), &'static [u8]>;

/// A page of a collection, in key order.
pub struct ListPage {
    pub total: u64,
    pub items: Vec<Value>,
}

/// The page cache of a store opened without a size (tools and tests): `--cache-mib`'s default
/// share.
pub const DEFAULT_CACHE_BYTES: usize = 36 << 20;

/// Shared read handle onto the object store. Reads never block writers (MVCC).
#[derive(Clone)]
pub struct ObjectStore {
    db: Arc<Database>,
}

impl ObjectStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// `cache_bytes` bounds redb's page cache (read cache and write buffer together); redb's
    /// own default, 1 GiB, made a 300k-machine member's memory twice etcd's.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        // redb repairs a file the last process did not close; say so (tests grep for this).
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .set_repair_callback(|r| {
                tracing::warn!(
                    progress = r.progress(),
                    "object store not shut down cleanly: repairing"
                )
            })
            .create(path)?;
        let mut tx = db.begin_write()?;
        // Durable, like every checkpoint after it: a crash before the first one reopens fast.
        durability::quick_repair(&mut tx);
        {
            tx.open_table(OBJECTS)?;
            tx.open_table(IDEMPOTENCY)?;
            tx.open_table(IDEMPOTENCY_EXPIRY)?;
            tx.open_table(FILES)?;
            tx.open_table(UPLOADS)?;
            let fresh = tx.open_table(META_TABLE)?.is_empty()?;
            if fresh {
                let mut objects = tx.open_table(OBJECTS)?;
                for (collection, key, object) in crate::model::builtins() {
                    let raw = serde_json::to_vec(&object)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    objects.insert((collection, key), raw.as_slice())?;
                }
            }
        }
        // A store written before the index existed gets one; afterwards it is kept current
        // by every apply and rebuilt by snapshot installs, so a restart need not scan.
        let indexed = tx.list_tables()?.any(|t| t.name() == unique::NAMES.name());
        if !indexed {
            unique::rebuild(&tx)?;
        }
        tx.commit()?;
        Ok(ObjectStore { db: Arc::new(db) })
    }

    pub fn db(&self) -> &Arc<Database> {
        &self.db
    }

    pub fn get(&self, collection: &str, key: &str) -> Result<Option<Value>, StoreError> {
        self.get_as(collection, key)
    }

    /// Whether `(collection, key)` is stored, without decoding it.
    pub fn contains(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(OBJECTS)?;
        Ok(table.get((collection, key))?.is_some())
    }

    /// One object decoded straight into `T`: a caller after a field or two (declare them
    /// as `Option<Value>`, so an odd type reads as absent) skips the whole `Value` tree;
    /// the fields `T` does not name are skipped without being built.
    pub fn get_as<T: serde::de::DeserializeOwned>(
        &self,
        collection: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(OBJECTS)?;
        match table.get((collection, key))? {
            Some(raw) => serde_json::from_slice(raw.value())
                .map(Some)
                .map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    pub fn list(
        &self,
        collection: &str,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<ListPage, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(OBJECTS)?;
        let mut total = 0u64;
        let mut items = Vec::new();
        for row in table.range((collection, "")..)? {
            let (k, v) = row?;
            if k.value().0 != collection {
                break;
            }
            let position = total as usize;
            total += 1;
            if position >= offset && limit.is_none_or(|l| items.len() < l) {
                items.push(decode(v.value())?);
            }
        }
        Ok(ListPage { total, items })
    }

    pub fn count(&self, collection: &str) -> Result<u64, StoreError> {
        Ok(self.list(collection, usize::MAX, Some(0))?.total)
    }

    /// Number of objects of every collection; used by tests and `info`.
    pub fn object_count(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(OBJECTS)?.len()?)
    }

    pub(crate) fn read_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(META_TABLE)?;
        Ok(table.get(name)?.map(|v| v.value().to_vec()))
    }

    /// The bytes of a stored file.
    pub fn file(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(FILES)?;
        Ok(table.get(path)?.map(|v| v.value().to_vec()))
    }

    /// All prefs as a flat string map.
    pub fn prefs(&self) -> Result<Value, StoreError> {
        let tx = self.db.begin_read()?;
        prefs(&tx.open_table(OBJECTS)?)
    }
}

/// Prefs are stored one object per pref under collection "prefs".
pub(crate) fn prefs(
    objects: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
) -> Result<Value, StoreError> {
    let mut map = serde_json::Map::new();
    for row in objects.range(("prefs", "")..)? {
        let (k, v) = row?;
        let (collection, name) = k.value();
        if collection != "prefs" {
            break;
        }
        map.insert(name.to_string(), decode(v.value())?);
    }
    Ok(Value::Object(map))
}

/// A stored object's ETag: a digest of its canonical JSON (serde_json maps are sorted).
pub fn etag(object: &Value) -> String {
    use sha2::Digest;
    let bytes = serde_json::to_vec(object).unwrap_or_default();
    format!("\"{}\"", hex::encode(&sha2::Sha256::digest(bytes)[..16]))
}

pub(crate) fn decode(raw: &[u8]) -> Result<Value, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests;
