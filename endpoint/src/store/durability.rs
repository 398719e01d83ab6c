//! When the object store reaches the disk.
//!
//! The state machine commits applied batches with redb `Durability::None`: such a commit is
//! visible to readers at once but only in this process's memory until a later durable commit
//! (redb 4.6 writes the on-disk header only on a durable commit; `Database` drop promotes
//! pending ones). After a crash, redb reopens at the last durable commit and the member replays
//! the Raft log from the applied log id recorded there. A *checkpoint* is a durable commit (an
//! applied batch's own, or an empty one): it makes every earlier non-durable commit durable.
//! It also saves redb's allocator state (`quick_repair`, a two-phase commit: two fsyncs), so
//! reopening after a crash needs no repair of the store file.
//!
//! The power-cut fault keeps a redb persistent savepoint at each checkpoint; at start it
//! restores the latest one, so even a clean close (which redb makes durable) loses what a power
//! cut would: every state-machine write since the last checkpoint.

use std::time::{Duration, Instant};

use redb::Database;

use super::StoreError;

/// A checkpoint is due after this many applied entries...
pub const CHECKPOINT_ENTRIES: u64 = 1024;
/// ...or when a batch finds the last checkpoint this old.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// The time-based interval under the power-cut fault: a test that cuts power right after its
/// writes must find a tail to revert, which a 1 s checkpoint landing on the last write of a
/// slow (loaded) run would leave empty. The entry count still bounds the replay.
pub const FAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(120);

/// When the next checkpoint is due; shared by the state machine and its snapshot builder.
#[derive(Debug)]
pub struct CheckpointPolicy {
    /// Due after this many entries (`CHECKPOINT_ENTRIES`)...
    pub(crate) every_entries: u64,
    /// ...or this long (`CHECKPOINT_INTERVAL`).
    pub(crate) every: Duration,
    entries_since: u64,
    last: Instant,
    /// The power-cut fault: keep a savepoint of each checkpoint to revert to at start.
    pub keep_savepoint: bool,
}

impl CheckpointPolicy {
    /// Due `CHECKPOINT_ENTRIES` entries or `CHECKPOINT_INTERVAL` from now.
    pub fn new(keep_savepoint: bool) -> Self {
        CheckpointPolicy {
            every_entries: CHECKPOINT_ENTRIES,
            every: CHECKPOINT_INTERVAL,
            entries_since: 0,
            last: Instant::now(),
            keep_savepoint,
        }
    }

    /// Counts `entries` applied non-durably; true when a checkpoint is due.
    pub fn applied(&mut self, entries: u64) -> bool {
        self.entries_since += entries;
        self.entries_since >= self.every_entries || self.last.elapsed() >= self.every
    }

    /// A checkpoint has just committed.
    pub fn done(&mut self) {
        self.entries_since = 0;
        self.last = Instant::now();
    }
}

/// Makes every earlier commit durable (one fsync). With `keep_savepoint` it also replaces the
/// power-cut fault's savepoint with one of the state now. Blocking: call off the runtime.
pub fn checkpoint(db: &Database, keep_savepoint: bool) -> Result<(), StoreError> {
    // A new transaction is durable (redb's default).
    let mut tx = db.begin_write()?;
    quick_repair(&mut tx);
    if keep_savepoint {
        let old: Vec<u64> = tx.list_persistent_savepoints()?.collect();
        // Before any table is opened: redb refuses a savepoint in a "dirty" transaction.
        tx.persistent_savepoint()?;
        for id in old {
            tx.delete_persistent_savepoint(id)?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Marks a durable commit to save redb's allocator state with it (and commit in two phases):
/// a member that crashes after it then reopens its store at once, where redb would otherwise
/// walk and checksum the whole file (seconds for a store of 100k machines). Only checkpoints
/// pay for it; the batches between them are not durable and a crash drops them anyway.
pub fn quick_repair(tx: &mut redb::WriteTransaction) {
    tx.set_quick_repair(true);
}

/// The power-cut fault at start: restores the newest checkpoint savepoint (durably), dropping
/// every write committed after it. Returns false when there was none (a store that never ran
/// with the fault): then a savepoint of the current state is made instead, and nothing is lost.
pub fn discard_since_checkpoint(db: &Database) -> Result<bool, StoreError> {
    let mut tx = db.begin_write()?;
    let newest = tx.list_persistent_savepoints()?.max();
    let Some(id) = newest else {
        tx.abort()?;
        checkpoint(db, true)?;
        return Ok(false);
    };
    let savepoint = tx.get_persistent_savepoint(id)?;
    tx.restore_savepoint(&savepoint)?;
    drop(savepoint);
    tx.commit()?;
    Ok(true)
}
