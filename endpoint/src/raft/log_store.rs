//! The Raft log on redb with group commit.
//!
//! One dedicated thread owns every write: it drains all queued operations (appends, votes,
//! truncations, purges) into ONE write transaction and ONE fsync, then completes each
//! operation's callback in order. Votes and log writes share that FIFO queue, so they are
//! never reordered, and no fsync ever runs on a tokio worker. Entries appended but not yet
//! flushed stay readable from an in-memory overlay, as openraft requires.
//!
//! The committed log id rides along in each batch (no write of its own): after a crash the
//! member replays the log up to it at start, since the state machine commits without fsync.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use super::{io_err, Entry, LogId, TypeConfig, Vote};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("log_meta");
const VOTE_KEY: &str = "vote";
const PURGED_KEY: &str = "last_purged";
const COMMITTED_KEY: &str = "committed";
/// Upper bound of operations folded into one transaction.
const MAX_BATCH: usize = 4096;

enum LogOp {
    Append {
        entries: Vec<(LogId, Vec<u8>)>,
        done: IOFlushed<TypeConfig>,
    },
    SaveVote {
        vote: Vec<u8>,
        done: oneshot::Sender<io::Result<()>>,
    },
    TruncateAfter {
        keep_through: Option<u64>,
        done: oneshot::Sender<io::Result<()>>,
    },
    Purge {
        upto: LogId,
        raw: Vec<u8>,
        done: oneshot::Sender<io::Result<()>>,
    },
}

struct Shared {
    db: Database,
    /// Appended, not yet durable: index → entry. Removed once its batch commits.
    unflushed: Mutex<BTreeMap<u64, Entry>>,
    /// The latest committed log id openraft reported, written with the next batch.
    committed: Mutex<Option<LogId>>,
    /// Declared after `db`, so it drops after the database has closed.
    _open: OpenLog,
}

/// How many raft logs this process has open. The writer thread (and readers) hold the
/// database, and it closes only when the last of them lets go, which can be after `main` has
/// finished shutting the runtime down: a process that exits then leaves the file unclean, and
/// the next start repairs it. `wait_closed` lets `main` wait for that.
static OPEN_LOGS: (std::sync::Mutex<usize>, std::sync::Condvar) =
    (std::sync::Mutex::new(0), std::sync::Condvar::new());

struct OpenLog;

impl OpenLog {
    fn new() -> Self {
        *OPEN_LOGS.0.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        OpenLog
    }
}

impl Drop for OpenLog {
    fn drop(&mut self) {
        let mut open = OPEN_LOGS.0.lock().unwrap_or_else(|p| p.into_inner());
        *open = open.saturating_sub(1);
        OPEN_LOGS.1.notify_all();
    }
}

/// Waits up to `timeout` until every raft log this process opened has closed; false if one is
/// still open (something still holds it).
pub fn wait_closed(timeout: Duration) -> bool {
    let open = OPEN_LOGS.0.lock().unwrap_or_else(|p| p.into_inner());
    let (open, _) = OPEN_LOGS
        .1
        .wait_timeout_while(open, timeout, |open| *open > 0)
        .unwrap_or_else(|p| p.into_inner());
    *open == 0
}

/// The log storage handed to openraft.
pub struct LogStore {
    shared: Arc<Shared>,
    writer: mpsc::Sender<(Instant, LogOp)>,
}

/// A cheap read handle for openraft's replication tasks.
#[derive(Clone)]
pub struct LogReader {
    shared: Arc<Shared>,
}

/// The page cache of a log opened without a size (tests): `--cache-mib`'s default share. Only
/// the recent tail is read back (replication, replay), so a small cache holds what matters.
pub const DEFAULT_CACHE_BYTES: usize = 12 << 20;

impl LogStore {
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::open_with(path, DEFAULT_CACHE_BYTES, Duration::ZERO)
    }

    /// `cache_bytes` bounds redb's page cache (read cache and write buffer together).
    /// `write_delay` > 0 is fault injection for the test suite: each append is written no
    /// sooner than that after it was made, like a slow disk, so this member's log lags what it
    /// has sent.
    pub fn open_with(path: &Path, cache_bytes: usize, write_delay: Duration) -> io::Result<Self> {
        // redb repairs a file the last process did not close; say so (tests grep for this).
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .set_repair_callback(|r| {
                tracing::warn!(
                    progress = r.progress(),
                    "raft log not shut down cleanly: repairing"
                )
            })
            .create(path)
            .map_err(io_err)?;
        let tx = db.begin_write().map_err(io_err)?;
        tx.open_table(LOG).map_err(io_err)?;
        tx.open_table(META).map_err(io_err)?;
        tx.commit().map_err(io_err)?;
        let shared = Arc::new(Shared {
            db,
            unflushed: Mutex::new(BTreeMap::new()),
            committed: Mutex::new(None),
            _open: OpenLog::new(),
        });
        let (writer, queue) = mpsc::channel();
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || writer_loop(thread_shared, queue, write_delay))?;
        Ok(LogStore { shared, writer })
    }

    fn submit(&self, op: LogOp) -> io::Result<()> {
        self.writer
            .send((Instant::now(), op))
            .map_err(|_| io_err("raft log writer has stopped"))
    }
}

/// Runs until every `LogStore` handle is dropped (openraft shut down).
fn writer_loop(
    shared: Arc<Shared>,
    queue: mpsc::Receiver<(Instant, LogOp)>,
    write_delay: Duration,
) {
    // With the fault delay, an append is written no sooner than `write_delay` after it was
    // submitted; a younger append waits for the next batch, with everything queued after it.
    let due = |(at, op): &(Instant, LogOp)| {
        !matches!(op, LogOp::Append { .. }) || at.elapsed() >= write_delay
    };
    let mut carried: Option<(Instant, LogOp)> = None;
    // The committed log id last written.
    let mut saved: Option<LogId> = None;
    loop {
        let first = match carried.take() {
            Some(op) => op,
            None => match queue.recv() {
                Ok(op) => op,
                Err(_) => return,
            },
        };
        if !due(&first) {
            std::thread::sleep(write_delay.saturating_sub(first.0.elapsed()));
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(op) if due(&op) => batch.push(op),
                Ok(op) => {
                    carried = Some(op);
                    break;
                }
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let committed = *shared.committed.lock().unwrap_or_else(|p| p.into_inner());
        let committed = committed.filter(|c| saved.as_ref() != Some(c));
        let result = write_batch(&shared.db, batch.iter().map(|(_, op)| op), committed);
        if let Ok(Some(written)) = &result {
            saved = Some(*written);
        }
        super::observe::log_batch_written(batch.len(), started.elapsed());
        if let Err(e) = &result {
            tracing::error!(error = %e, "raft log write failed");
        }
        for (submitted, op) in batch {
            let outcome = result.as_ref().map(|_| ()).map_err(io_err);
            match op {
                LogOp::Append { done, entries } => {
                    if outcome.is_ok() {
                        forget_flushed(&shared, &entries);
                        super::observe::log_append_durable(submitted.elapsed());
                    }
                    done.io_completed(outcome);
                }
                LogOp::SaveVote { done, .. }
                | LogOp::TruncateAfter { done, .. }
                | LogOp::Purge { done, .. } => {
                    let _ = done.send(outcome);
                }
            }
        }
    }
}

/// Writes the batch in one transaction, and `committed` with it when the log it leaves holds
/// that very entry (an append of it may still be queued behind this batch); returns the
/// committed log id written, if any.
fn write_batch<'a>(
    db: &Database,
    batch: impl Iterator<Item = &'a LogOp>,
    committed: Option<LogId>,
) -> Result<Option<LogId>, redb::Error> {
    let tx = db.begin_write()?;
    let mut written = None;
    {
        let mut log = tx.open_table(LOG)?;
        let mut meta = tx.open_table(META)?;
        for op in batch {
            match op {
                LogOp::Append { entries, .. } => {
                    for (log_id, raw) in entries {
                        log.insert(log_id.index, raw.as_slice())?;
                    }
                }
                LogOp::SaveVote { vote, .. } => {
                    meta.insert(VOTE_KEY, vote.as_slice())?;
                }
                LogOp::TruncateAfter { keep_through, .. } => {
                    let from = keep_through.map_or(0, |i| i + 1);
                    log.retain_in(from.., |_, _| false)?;
                }
                LogOp::Purge { upto, raw, .. } => {
                    log.retain_in(..=upto.index, |_, _| false)?;
                    meta.insert(PURGED_KEY, raw.as_slice())?;
                }
            }
        }
        if let Some(c) = committed {
            let held = match log.get(c.index)? {
                Some(raw) => decode_entry(raw.value()).ok().map(|e| e.log_id),
                None => None,
            };
            if held == Some(c) {
                let raw = serde_json::to_vec(&c).map_err(|e| redb::StorageError::Io(io_err(e)))?;
                meta.insert(COMMITTED_KEY, raw.as_slice())?;
                written = Some(c);
            }
        }
    }
    tx.commit()?;
    Ok(written)
}

/// Drops flushed entries from the overlay unless a later append replaced them.
fn forget_flushed(shared: &Shared, entries: &[(LogId, Vec<u8>)]) {
    let Ok(mut unflushed) = shared.unflushed.lock() else {
        return;
    };
    for (log_id, _) in entries {
        if unflushed
            .get(&log_id.index)
            .is_some_and(|e| &e.log_id == log_id)
        {
            unflushed.remove(&log_id.index);
        }
    }
}

fn decode_entry(raw: &[u8]) -> io::Result<Entry> {
    serde_json::from_slice(raw).map_err(io_err)
}

impl LogReader {
    fn entries(&self, range: impl RangeBounds<u64>) -> io::Result<Vec<Entry>> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => Some(e),
            Bound::Excluded(&0) => return Ok(Vec::new()),
            Bound::Excluded(&e) => Some(e - 1),
            Bound::Unbounded => None,
        };
        if end.is_some_and(|e| e < start) {
            return Ok(Vec::new());
        }
        let bounds = (
            Bound::Included(start),
            end.map_or(Bound::Unbounded, Bound::Included),
        );
        // Copy the overlay BEFORE opening the read transaction. The writer thread commits a
        // batch and only then drops it from the overlay, so anything missing from this copy
        // is already visible to the transaction opened after it: no gap is possible. (In the
        // other order, a batch committed between the two reads would vanish from both.)
        let overlay: Vec<(u64, Entry)> = {
            let unflushed = self
                .shared
                .unflushed
                .lock()
                .map_err(|_| io_err("log overlay poisoned"))?;
            unflushed
                .range(bounds)
                .map(|(i, e)| (*i, e.clone()))
                .collect()
        };
        let mut out: BTreeMap<u64, Entry> = BTreeMap::new();
        {
            let tx = self.shared.db.begin_read().map_err(io_err)?;
            let log = tx.open_table(LOG).map_err(io_err)?;
            for row in log.range::<u64>(bounds).map_err(io_err)? {
                let (k, v) = row.map_err(io_err)?;
                out.insert(k.value(), decode_entry(v.value())?);
            }
        }
        // Unflushed entries are newer than anything durable at the same index.
        out.extend(overlay);
        Ok(out.into_values().collect())
    }

    fn meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let tx = self.shared.db.begin_read().map_err(io_err)?;
        let meta = tx.open_table(META).map_err(io_err)?;
        match meta.get(key).map_err(io_err)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value()).map_err(io_err)?)),
            None => Ok(None),
        }
    }

    fn last_durable(&self) -> io::Result<Option<LogId>> {
        let tx = self.shared.db.begin_read().map_err(io_err)?;
        let log = tx.open_table(LOG).map_err(io_err)?;
        let last = match log.last().map_err(io_err)? {
            Some((_, v)) => Some(decode_entry(v.value())?.log_id),
            None => None,
        };
        Ok(last)
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        self.entries(range)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.meta(VOTE_KEY)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        self.reader().entries(range)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.reader().meta(VOTE_KEY)
    }
}

impl LogStore {
    fn reader(&self) -> LogReader {
        LogReader {
            shared: self.shared.clone(),
        }
    }

    async fn await_done(&self, rx: oneshot::Receiver<io::Result<()>>) -> io::Result<()> {
        rx.await
            .map_err(|_| io_err("raft log writer dropped a request"))?
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let reader = self.reader();
        let last_purged_log_id: Option<LogId> = reader.meta(PURGED_KEY)?;
        let unflushed_last = {
            let unflushed = self
                .shared
                .unflushed
                .lock()
                .map_err(|_| io_err("log overlay poisoned"))?;
            unflushed.values().next_back().map(|e| e.log_id)
        };
        let last = match unflushed_last {
            Some(id) => Some(id),
            None => reader.last_durable()?,
        };
        let last_log_id = last.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Kept for the next batch: a lagging value only means a shorter replay at start.
        *self
            .shared
            .committed
            .lock()
            .map_err(|_| io_err("committed log id poisoned"))? = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        // This process's latest if it saved one (not yet written, maybe), else the log's.
        let saved = *self
            .shared
            .committed
            .lock()
            .map_err(|_| io_err("committed log id poisoned"))?;
        let committed = match saved {
            Some(c) => Some(c),
            None => self.reader().meta(COMMITTED_KEY)?,
        };
        tracing::info!(
            committed = committed.map_or(0, |c| c.index),
            "raft log: committed entries up to this index are applied again at start if the state machine lost them"
        );
        Ok(committed)
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let (done, rx) = oneshot::channel();
        self.submit(LogOp::SaveVote {
            vote: serde_json::to_vec(vote).map_err(io_err)?,
            done,
        })?;
        self.await_done(rx).await
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut encoded = Vec::new();
        {
            let mut unflushed = self
                .shared
                .unflushed
                .lock()
                .map_err(|_| io_err("log overlay poisoned"))?;
            for entry in entries {
                encoded.push((entry.log_id, serde_json::to_vec(&entry).map_err(io_err)?));
                unflushed.insert(entry.log_id.index, entry);
            }
        }
        if encoded.is_empty() {
            callback.io_completed(Ok(()));
            return Ok(());
        }
        self.submit(LogOp::Append {
            entries: encoded,
            done: callback,
        })
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let keep_through = last_log_id.map(|id| id.index);
        {
            let mut unflushed = self
                .shared
                .unflushed
                .lock()
                .map_err(|_| io_err("log overlay poisoned"))?;
            let from = keep_through.map_or(0, |i| i + 1);
            unflushed.retain(|&i, _| i < from);
        }
        let (done, rx) = oneshot::channel();
        self.submit(LogOp::TruncateAfter { keep_through, done })?;
        self.await_done(rx).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        {
            let mut unflushed = self
                .shared
                .unflushed
                .lock()
                .map_err(|_| io_err("log overlay poisoned"))?;
            unflushed.retain(|&i, _| i > log_id.index);
        }
        let raw = serde_json::to_vec(&log_id).map_err(io_err)?;
        let (done, rx) = oneshot::channel();
        self.submit(LogOp::Purge {
            upto: log_id,
            raw,
            done,
        })?;
        self.await_done(rx).await
    }
}
