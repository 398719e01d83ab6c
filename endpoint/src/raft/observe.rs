//! What the Raft layer measures as it works: log group-commit batches, append durability,
//! snapshots and read-index rounds. The instruments live here, below `metrics`, so the log writer
//! thread and the state machine record into them without importing the metrics module
//! (which sits above `node`); `metrics` registers these same instruments for `/metrics`.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// The storage layer's instruments. Clones share their values, so the registry's copies
/// read what is recorded here.
pub struct StorageStats {
    /// From a log append's submission to its durable write.
    pub log_append_seconds: Histogram,
    /// One group-commit batch: its write transaction and fsync.
    pub log_fsync_seconds: Histogram,
    /// Operations folded into one group-commit batch.
    pub log_batch_ops: Histogram,
    /// Time to build and persist a snapshot.
    pub snapshot_seconds: Histogram,
    /// Size of the last snapshot built or installed.
    pub snapshot_bytes: Gauge,
}

/// Buckets for a latency: 100 µs .. ~3.3 s.
pub fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

static STATS: LazyLock<StorageStats> = LazyLock::new(|| StorageStats {
    log_append_seconds: latency(),
    log_fsync_seconds: latency(),
    log_batch_ops: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
    snapshot_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
    snapshot_bytes: Gauge::default(),
});

/// The process-wide instruments (one member per process).
pub fn stats() -> &'static StorageStats {
    &STATS
}

/// The log writer wrote one batch of `ops` in `took`.
pub(crate) fn log_batch_written(ops: usize, took: Duration) {
    let s = stats();
    s.log_fsync_seconds.observe(took.as_secs_f64());
    s.log_batch_ops.observe(ops as f64);
}

/// An append became durable `waited` after it was submitted.
pub(crate) fn log_append_durable(waited: Duration) {
    stats().log_append_seconds.observe(waited.as_secs_f64());
}

/// A snapshot of `bytes` was built (in `took`) or installed (`None`).
pub(crate) fn snapshot_taken(took: Option<Duration>, bytes: usize) {
    let s = stats();
    if let Some(took) = took {
        s.snapshot_seconds.observe(took.as_secs_f64());
    }
    s.snapshot_bytes
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
}

static READ_ROUNDS: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Read-index rounds run on this member as leader (each serves one or more reads).
pub fn read_rounds() -> &'static Counter {
    &READ_ROUNDS
}
