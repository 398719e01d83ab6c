//! The replica on disk (`<data-dir>/replica.redb`), so it survives a manager restart.
//!
//! Changes are queued by the in-memory replica in the order it made them and written by one
//! thread of its own in batches: a batch is one transaction (one fsync), never on a tokio
//! worker. An endpoint's applied index rides in the same transaction as its objects, so after
//! a crash the file holds a consistent point to resume from (a later change lost with the
//! crash is replayed by the resume).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;

/// `endpoint \0 collection \0 key` → the object's JSON.
const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
/// endpoint → the commit index its objects reflect.
const INDEXES: TableDefinition<&str, u64> = TableDefinition::new("indexes");

/// Changes written in one transaction at most.
const MAX_BATCH: usize = 8192;

/// Why the replica's file could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb refused.
    #[error("replica store: {0}")]
    Db(#[from] redb::Error),
    /// A stored object is not JSON.
    #[error("replica store: object {0:?} is not JSON: {1}")]
    Corrupt(String, serde_json::Error),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// One change to persist, in the order the replica made it.
#[derive(Debug)]
pub(super) enum Change {
    Put {
        endpoint: String,
        collection: String,
        key: String,
        /// The same object memory holds: queued for disk without a copy.
        object: Arc<Value>,
    },
    Remove {
        endpoint: String,
        collection: String,
        key: String,
    },
    /// The endpoint's objects are exactly these now (a resync).
    Replace {
        endpoint: String,
        objects: Vec<(String, String, Arc<Value>)>,
        index: u64,
    },
    Index {
        endpoint: String,
        index: u64,
    },
    /// The endpoint is gone from the manager.
    Drop {
        endpoint: String,
    },
    /// Answered once every earlier change is on disk.
    Flush(mpsc::Sender<()>),
}

/// What the file held at start.
#[derive(Debug, Default)]
pub(super) struct Loaded {
    /// (endpoint, collection, key, object)
    pub objects: Vec<(String, String, String, Value)>,
    pub indexes: BTreeMap<String, u64>,
}

fn object_key(endpoint: &str, collection: &str, key: &str) -> String {
    format!("{endpoint}\0{collection}\0{key}")
}

/// Opens (or creates) the file and reads what it holds.
pub(super) fn open(path: &Path) -> Result<(Database, Loaded), StoreError> {
    let db = Database::create(path)?;
    {
        let tx = db.begin_write()?;
        tx.open_table(OBJECTS)?;
        tx.open_table(INDEXES)?;
        tx.commit()?;
    }
    let mut loaded = Loaded::default();
    let tx = db.begin_read()?;
    for row in tx.open_table(OBJECTS)?.iter()? {
        let (k, v) = row?;
        let mut parts = k.value().splitn(3, '\0');
        let (Some(e), Some(c), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let object = serde_json::from_slice(v.value())
            .map_err(|err| StoreError::Corrupt(k.value().to_string(), err))?;
        loaded
            .objects
            .push((e.to_string(), c.to_string(), key.to_string(), object));
    }
    for row in tx.open_table(INDEXES)?.iter()? {
        let (k, v) = row?;
        loaded.indexes.insert(k.value().to_string(), v.value());
    }
    Ok((db, loaded))
}

/// The queue to the writer thread; the thread ends when this is dropped.
#[derive(Debug)]
pub(super) struct Writer {
    tx: mpsc::Sender<Change>,
}

impl Writer {
    /// Starts the thread writing `db`.
    pub(super) fn spawn(db: Database) -> Writer {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("replica-store".into())
            .spawn(move || write_loop(db, rx));
        if let Err(e) = spawned {
            tracing::error!("cannot start the replica's store writer: {e}");
        }
        Writer { tx }
    }

    pub(super) fn queue(&self, change: Change) {
        // The thread is gone only if it could not start; that was logged.
        let _ = self.tx.send(change);
    }

    /// Waits (on the blocking pool) until every change queued so far is on disk, at most
    /// `timeout`; false when it was not.
    pub(super) async fn flush(&self, timeout: Duration) -> bool {
        let (done_tx, done_rx) = mpsc::channel();
        self.queue(Change::Flush(done_tx));
        tokio::task::spawn_blocking(move || done_rx.recv_timeout(timeout).is_ok())
            .await
            .unwrap_or(false)
    }
}

fn write_loop(db: Database, rx: mpsc::Receiver<Change>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let mut flushed = Vec::new();
        let changes: Vec<Change> = batch
            .into_iter()
            .filter_map(|c| match c {
                Change::Flush(done) => {
                    flushed.push(done);
                    None
                }
                c => Some(c),
            })
            .collect();
        if !changes.is_empty() {
            if let Err(e) = write_batch(&db, changes) {
                tracing::error!("writing the replica to disk: {e}");
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}

/// Writes `changes` in one transaction, in order.
pub(super) fn write_batch(db: &Database, changes: Vec<Change>) -> Result<(), StoreError> {
    let tx = db.begin_write()?;
    {
        let mut objects = tx.open_table(OBJECTS)?;
        let mut indexes = tx.open_table(INDEXES)?;
        for change in changes {
            match change {
                Change::Put {
                    endpoint,
                    collection,
                    key,
                    object,
                } => {
                    let raw = serde_json::to_vec(object.as_ref()).unwrap_or_default();
                    objects.insert(
                        object_key(&endpoint, &collection, &key).as_str(),
                        raw.as_slice(),
                    )?;
                }
                Change::Remove {
                    endpoint,
                    collection,
                    key,
                } => {
                    objects.remove(object_key(&endpoint, &collection, &key).as_str())?;
                }
                Change::Replace {
                    endpoint,
                    objects: all,
                    index,
                } => {
                    drop_objects(&mut objects, &endpoint)?;
                    for (collection, key, object) in all {
                        let raw = serde_json::to_vec(object.as_ref()).unwrap_or_default();
                        objects.insert(
                            object_key(&endpoint, &collection, &key).as_str(),
                            raw.as_slice(),
                        )?;
                    }
                    indexes.insert(endpoint.as_str(), index)?;
                }
                Change::Index { endpoint, index } => {
                    indexes.insert(endpoint.as_str(), index)?;
                }
                Change::Drop { endpoint } => {
                    drop_objects(&mut objects, &endpoint)?;
                    indexes.remove(endpoint.as_str())?;
                }
                Change::Flush(_) => {}
            }
        }
    }
    tx.commit()?;
    Ok(())
}

fn drop_objects(objects: &mut redb::Table<&str, &[u8]>, endpoint: &str) -> Result<(), StoreError> {
    let (from, to) = (format!("{endpoint}\0"), format!("{endpoint}\u{1}"));
    objects.retain_in(from.as_str()..to.as_str(), |_, _| false)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put(e: &str, c: &str, k: &str, v: Value) -> Change {
        Change::Put {
            endpoint: e.into(),
            collection: c.into(),
            key: k.into(),
            object: Arc::new(v),
        }
    }

    /// Puts, removes, a resync and a dropped endpoint read back as written, with each
    /// endpoint's index; another endpoint whose id extends the first's is left alone.
    #[test]
    fn changes_read_back_after_reopen() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("replica.redb");
        {
            let (db, loaded) = open(&path).expect("open");
            assert!(loaded.objects.is_empty() && loaded.indexes.is_empty());
            write_batch(
                &db,
                vec![
                    put("a", "machines", "m1", json!({"Name": "m1"})),
                    put("a", "machines", "m2", json!({"Name": "m2"})),
                    put("ab", "profiles", "p", json!({"Name": "p"})),
                    Change::Index {
                        endpoint: "ab".into(),
                        index: 7,
                    },
                    Change::Remove {
                        endpoint: "a".into(),
                        collection: "machines".into(),
                        key: "m2".into(),
                    },
                    put("c", "machines", "gone", json!({})),
                    Change::Index {
                        endpoint: "c".into(),
                        index: 3,
                    },
                ],
            )
            .expect("write");
            write_batch(
                &db,
                vec![
                    Change::Replace {
                        endpoint: "a".into(),
                        objects: vec![(
                            "machines".into(),
                            "m3".into(),
                            Arc::new(json!({"Name": "m3"})),
                        )],
                        index: 42,
                    },
                    Change::Drop {
                        endpoint: "c".into(),
                    },
                ],
            )
            .expect("write");
        }
        let (_db, loaded) = open(&path).expect("reopen");
        let keys: Vec<_> = loaded
            .objects
            .iter()
            .map(|(e, c, k, _)| format!("{e}/{c}/{k}"))
            .collect();
        assert_eq!(keys, ["a/machines/m3", "ab/profiles/p"]);
        assert_eq!(loaded.objects[0].3, json!({"Name": "m3"}));
        assert_eq!(
            loaded.indexes,
            BTreeMap::from([("a".to_string(), 42), ("ab".to_string(), 7)])
        );
    }

    /// The writer thread writes queued changes; a flush returns once they are on disk.
    #[tokio::test]
    async fn the_writer_flushes_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("replica.redb");
        let (db, _) = open(&path).expect("open");
        let writer = Writer::spawn(db);
        for i in 0..100 {
            writer.queue(put("a", "machines", &format!("m{i}"), json!({"I": i})));
            writer.queue(Change::Index {
                endpoint: "a".into(),
                index: i,
            });
        }
        assert!(writer.flush(Duration::from_secs(60)).await, "flushed");
        drop(writer);
        // The thread lets go of the file once its queue is gone.
        let mut reopened = None;
        for _ in 0..3000 {
            if let Ok((_, l)) = open(&path) {
                reopened = Some(l);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let loaded = reopened.expect("the writer let go of the file");
        assert_eq!(loaded.objects.len(), 100);
        assert_eq!(loaded.indexes["a"], 99);
    }
}
