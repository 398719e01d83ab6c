//! The state machine adapter: applies committed entries to the object store, one redb
//! transaction per batch (data, last-applied log id and membership together), and builds,
//! persists and installs snapshots. Blocking store work runs on the blocking pool.
//!
//! Applied batches commit without an fsync (`store::durability`): the Raft log is the durable
//! record, and after a crash openraft replays it from the applied log id of the last durable
//! commit. The batch that reaches `CHECKPOINT_ENTRIES` entries or `CHECKPOINT_INTERVAL` since
//! the last durable checkpoint commits durably (one fsync), and a checkpoint precedes every
//! snapshot handed to openraft, so the log is never purged past what the store holds durably.
//!
//! A small batch of single-object commands with no checkpoint due applies inline, on the
//! consensus worker: it is a short redb transaction with no fsync, and the round trip through
//! the blocking pool (two thread wake-ups) cost more than the work on every acknowledged write.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};

use super::{io_err, LogId, Snapshot, SnapshotMeta, StoredMembership, TypeConfig};
use crate::command::{Request, Response};
use crate::store::durability::{self, CheckpointPolicy};
use crate::store::{self, ObjectStore};

const LAST_APPLIED: &str = "last_applied";
const MEMBERSHIP: &str = "membership";
const SNAPSHOT_FILE: &str = "snapshot.bin";
/// Largest batch applied inline on the consensus worker; a larger one (a loaded leader's
/// batch) goes to the blocking pool, where it runs beside replication instead of before it.
const INLINE_MAX_ENTRIES: usize = 4;

type Applying = Vec<EntryResponder<TypeConfig>>;

#[derive(Clone)]
pub struct StateMachineStore {
    store: ObjectStore,
    dir: PathBuf,
    /// Change events, published after each batch commits.
    events: Option<crate::events::Bus>,
    /// When the next durable checkpoint is due (shared with the snapshot builder clones).
    policy: Arc<Mutex<CheckpointPolicy>>,
    /// The power-cut fault's discard, done once before openraft first reads the store.
    discard_pending: Arc<AtomicBool>,
    /// Held by every write transaction this adapter opens. An inline apply only tries it, so
    /// the consensus worker never waits behind a snapshot's checkpoint (an fsync).
    writing: Arc<Mutex<()>>,
}

impl StateMachineStore {
    pub fn new(store: ObjectStore, dir: &Path) -> Self {
        StateMachineStore {
            store,
            dir: dir.to_path_buf(),
            events: None,
            policy: Arc::new(Mutex::new(CheckpointPolicy::new(false))),
            discard_pending: Arc::new(AtomicBool::new(false)),
            writing: Arc::new(Mutex::new(())),
        }
    }

    /// The power-cut fault (`--fault-power-cut-state`): every checkpoint keeps a savepoint,
    /// and before openraft first reads the store, the store reverts to the newest one, losing
    /// every write since the last checkpoint as a power cut would, however the last run ended.
    /// Checkpoints then come by entry count only (see `FAULT_CHECKPOINT_INTERVAL`).
    pub fn with_power_cut_fault(self, on: bool) -> Self {
        if on {
            let mut policy = self.lock_policy();
            policy.keep_savepoint = true;
            policy.every = durability::FAULT_CHECKPOINT_INTERVAL;
            drop(policy);
            self.discard_pending.store(true, Ordering::SeqCst);
        }
        self
    }

    fn lock_policy(&self) -> std::sync::MutexGuard<'_, CheckpointPolicy> {
        // The policy is two counters: a panic elsewhere leaves them usable.
        lock(&self.policy)
    }

    /// A durable checkpoint now, on the blocking pool.
    async fn checkpoint(&self) -> io::Result<()> {
        let store = self.store.clone();
        let keep_savepoint = self.lock_policy().keep_savepoint;
        let writing = self.writing.clone();
        blocking(move || {
            let _writing = lock(&writing);
            durability::checkpoint(store.db(), keep_savepoint).map_err(io_err)
        })
        .await?;
        self.lock_policy().done();
        Ok(())
    }

    /// The power-cut fault's discard, once; logs the applied index before and after.
    async fn discard_if_pending(&self) -> io::Result<()> {
        if !self.discard_pending.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let before = self.applied_index()?;
        let store = self.store.clone();
        let writing = self.writing.clone();
        let found = blocking(move || {
            let _writing = lock(&writing);
            durability::discard_since_checkpoint(store.db()).map_err(io_err)
        })
        .await?;
        let after = self.applied_index()?;
        tracing::warn!(
            applied_before = before,
            applied_after = after,
            savepoint = found,
            "power-cut fault: state machine reverted to its last durable checkpoint"
        );
        Ok(())
    }

    /// The index of the last applied entry the store holds now (0: none).
    pub(crate) fn applied_index(&self) -> io::Result<u64> {
        let applied: Option<LogId> = self.read_meta(LAST_APPLIED)?.flatten();
        Ok(applied.map_or(0, |l| l.index))
    }

    /// Publishes change events on `bus` as entries apply.
    pub fn with_events(mut self, bus: crate::events::Bus) -> Self {
        self.events = Some(bus);
        self
    }

    fn read_meta<T: serde::de::DeserializeOwned>(&self, name: &str) -> io::Result<Option<T>> {
        match self.store.read_meta(name).map_err(io_err)? {
            Some(raw) => Ok(Some(serde_json::from_slice(&raw).map_err(io_err)?)),
            None => Ok(None),
        }
    }
}

/// Writes the snapshot file atomically: temp file, fsync, rename, fsync the directory.
fn persist_snapshot(dir: &Path, meta: &SnapshotMeta, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let header = serde_json::to_vec(meta).map_err(io_err)?;
    let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&(header.len() as u64).to_be_bytes())?;
    file.write_all(&header)?;
    file.write_all(data)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(SNAPSHOT_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

fn load_snapshot(dir: &Path) -> io::Result<Option<Snapshot>> {
    let raw = match std::fs::read(dir.join(SNAPSHOT_FILE)) {
        Ok(raw) => raw,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let (len, rest) = raw
        .split_first_chunk::<8>()
        .ok_or_else(|| io_err("snapshot file truncated"))?;
    let len = u64::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(io_err("snapshot file truncated"));
    }
    let meta: SnapshotMeta = serde_json::from_slice(&rest[..len]).map_err(io_err)?;
    Ok(Some(Snapshot {
        meta,
        snapshot: rest[len..].to_vec(),
    }))
}

/// The meta entries that are this cluster's Raft state rather than replicated data; a store
/// restored into a new cluster must not carry them over.
pub const RAFT_META: [&str; 2] = [LAST_APPLIED, MEMBERSHIP];

/// The (term, index) of the last applied entry recorded in a store dump's meta.
pub fn applied_in(meta: &[(String, Vec<u8>)]) -> io::Result<Option<(u64, u64)>> {
    let Some((_, raw)) = meta.iter().find(|(name, _)| name == LAST_APPLIED) else {
        return Ok(None);
    };
    let applied: Option<LogId> = serde_json::from_slice(raw).map_err(io_err)?;
    Ok(applied.map(|l| (l.leader_id.term, l.index)))
}

/// Locks one of this adapter's mutexes, poisoned or not: the write gate guards no data, and
/// the checkpoint policy's counters stay usable after a panic elsewhere.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether a batch may apply inline (module docs): few entries, each touching one object.
fn light(batch: &Applying) -> bool {
    batch.len() <= INLINE_MAX_ENTRIES
        && batch.iter().all(|(entry, _)| match &entry.payload {
            EntryPayload::Normal(req) => req.op.is_light(),
            EntryPayload::Membership(_) | EntryPayload::Blank => true,
        })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io_err)?
}

/// One batch in one write transaction: each entry's response and change events. Commits
/// durably only when a checkpoint is `due` (module docs).
fn apply_batch(
    store: &ObjectStore,
    batch: &Applying,
    due: bool,
    keep_savepoint: bool,
) -> io::Result<(Vec<Response>, Vec<crate::events::Event>)> {
    let mut tx = store.db().begin_write().map_err(io_err)?;
    if !due || keep_savepoint {
        // No fsync: the Raft log already holds these entries durably (module docs).
        tx.set_durability(redb::Durability::None).map_err(io_err)?;
    } else {
        durability::quick_repair(&mut tx);
    }
    let mut responses = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    {
        let mut last = None;
        let mut membership = None;
        for (entry, _) in batch {
            let response = match &entry.payload {
                EntryPayload::Normal(req) => {
                    apply_request(&tx, req, entry.log_id.index, &mut events)?
                }
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembership::new(Some(entry.log_id), m.clone()));
                    Response::default()
                }
                EntryPayload::Blank => Response::default(),
            };
            responses.push(response);
            last = Some(entry.log_id);
        }
        let mut meta = tx.open_table(store::META_TABLE).map_err(io_err)?;
        let raw = serde_json::to_vec(&last).map_err(io_err)?;
        meta.insert(LAST_APPLIED, raw.as_slice()).map_err(io_err)?;
        if let Some(m) = membership {
            let raw = serde_json::to_vec(&m).map_err(io_err)?;
            meta.insert(MEMBERSHIP, raw.as_slice()).map_err(io_err)?;
        }
    }
    tx.commit().map_err(io_err)?;
    if due && keep_savepoint {
        // The savepoint needs a transaction of its own (no table opened yet).
        durability::checkpoint(store.db(), true).map_err(io_err)?;
    }
    Ok((responses, events))
}

fn apply_request(
    tx: &redb::WriteTransaction,
    req: &Request,
    index: u64,
    events: &mut Vec<crate::events::Event>,
) -> io::Result<Response> {
    crate::store::member_attributes::check_entry(req, index).map_err(io_err)?;
    let (response, changes) = store::apply_with_event(tx, req, index).map_err(io_err)?;
    events.extend(changes);
    Ok(response)
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let store = self.store.clone();
        let dir = self.dir.clone();
        let started = std::time::Instant::now();
        let keep_savepoint = self.lock_policy().keep_savepoint;
        let writing = self.writing.clone();
        let snapshot = blocking(move || {
            let body = store.dump().map_err(io_err)?;
            // The dump may include non-durable batches; make them durable before openraft
            // gets a snapshot it may purge the log behind.
            {
                let _writing = lock(&writing);
                durability::checkpoint(store.db(), keep_savepoint).map_err(io_err)?;
            }
            let mut last_log_id: Option<LogId> = None;
            let mut last_membership = StoredMembership::default();
            for (name, raw) in &body.meta {
                match name.as_str() {
                    LAST_APPLIED => last_log_id = serde_json::from_slice(raw).map_err(io_err)?,
                    MEMBERSHIP => last_membership = serde_json::from_slice(raw).map_err(io_err)?,
                    _ => {}
                }
            }
            let meta = SnapshotMeta {
                last_log_id,
                last_membership,
            };
            persist_snapshot(&dir, &meta, &body.bytes)?;
            tracing::info!(last = ?meta.last_log_id, bytes = body.bytes.len(), "snapshot built");
            super::observe::snapshot_taken(Some(started.elapsed()), body.bytes.len());
            Ok(Snapshot {
                meta,
                snapshot: body.bytes,
            })
        })
        .await?;
        self.lock_policy().done();
        Ok(snapshot)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        self.discard_if_pending().await?;
        let applied = self.read_meta(LAST_APPLIED)?.flatten();
        let membership = self.read_meta(MEMBERSHIP)?.unwrap_or_default();
        Ok((applied, membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures::Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>>
            + Unpin
            + OptionalSend,
    {
        let mut batch: Applying = Vec::new();
        while let Some(item) = entries.next().await {
            batch.push(item?);
        }
        // A due checkpoint is this batch's commit made durable, before its responses: an
        // acknowledged write is then never behind a checkpoint still to come.
        let (due, keep_savepoint) = {
            let mut policy = self.lock_policy();
            (policy.applied(batch.len() as u64), policy.keep_savepoint)
        };
        let inline = if !due && light(&batch) {
            match self.writing.try_lock() {
                Ok(_writing) => Some(apply_batch(&self.store, &batch, due, keep_savepoint)?),
                Err(_) => None,
            }
        } else {
            None
        };
        let (batch, (responses, events)) = match inline {
            Some(applied) => (batch, applied),
            None => {
                let store = self.store.clone();
                let writing = self.writing.clone();
                blocking(move || {
                    let _writing = lock(&writing);
                    let applied = apply_batch(&store, &batch, due, keep_savepoint)?;
                    Ok((batch, applied))
                })
                .await?
            }
        };
        if due {
            self.lock_policy().done();
        }
        if let Some(bus) = &self.events {
            for event in events {
                bus.send(event);
            }
        }
        for ((_, responder), response) in batch.into_iter().zip(responses) {
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Vec<u8>,
    ) -> Result<(), io::Error> {
        let store = self.store.clone();
        let dir = self.dir.clone();
        let installed = meta.last_log_id.as_ref().map(|l| l.index);
        let meta = meta.clone();
        let writing = self.writing.clone();
        blocking(move || {
            let _writing = lock(&writing);
            let mut tx = store.db().begin_write().map_err(io_err)?;
            durability::quick_repair(&mut tx);
            store::restore(&tx, &snapshot).map_err(io_err)?;
            {
                let mut table = tx.open_table(store::META_TABLE).map_err(io_err)?;
                let applied = serde_json::to_vec(&meta.last_log_id).map_err(io_err)?;
                table
                    .insert(LAST_APPLIED, applied.as_slice())
                    .map_err(io_err)?;
                let membership = serde_json::to_vec(&meta.last_membership).map_err(io_err)?;
                table
                    .insert(MEMBERSHIP, membership.as_slice())
                    .map_err(io_err)?;
            }
            // The file before the commit (and after `restore` accepted the data). A crash in
            // between leaves a snapshot newer than the store, which openraft installs again at
            // the next start. The other order would leave the store ahead of the only snapshot
            // on disk; openraft, which purges the log up to the store at start, would then
            // offer peers a snapshot older than the log it kept, and a lagging follower could
            // never catch up.
            persist_snapshot(&dir, &meta, &snapshot)?;
            // Durable (redb's default), like a checkpoint.
            tx.commit().map_err(io_err)?;
            tracing::info!(last = ?meta.last_log_id, bytes = snapshot.len(), "snapshot installed");
            super::observe::snapshot_taken(None, snapshot.len());
            Ok(())
        })
        .await?;
        if let (Some(bus), Some(last)) = (&self.events, installed) {
            bus.skipped_to(last);
        }
        // The power-cut fault's savepoint must not predate the install.
        self.checkpoint().await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let dir = self.dir.clone();
        blocking(move || load_snapshot(&dir)).await
    }
}

#[cfg(test)]
mod tests;
