//! Prometheus metrics of one member, served as `GET /metrics` (OpenMetrics text).
//!
//! One process-wide set of metric families: the hooks sit in layers that run before a `Node`
//! exists or below it (the Raft log's writer thread, the TLS accept loop), so a global keeps
//! each hook to one call instead of threading a handle through their constructors. Every
//! label set is bounded: route templates (never a key), status codes, states, member
//! addresses (a handful per cluster), never a UUID.

pub mod http;
mod raft_watch;

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use raft_watch::spawn_raft_watch;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    /// The route template (`/api/v3/machines/{key}`), or `unmatched`.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    pub listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MemberLabels {
    /// The member's consensus address (bounded by the cluster's size; not its UUID).
    pub member: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    /// `leader` (confirmed its own leadership) or `follower` (asked the leader).
    pub role: &'static str,
}

fn latency() -> Histogram {
    // 100 µs .. ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

pub struct EndpointMetrics {
    registry: Registry,
    pub term: Gauge,
    pub is_leader: Gauge,
    pub leader_changes: Counter,
    pub commit_index: Gauge,
    pub applied_index: Gauge,
    pub last_log_index: Gauge,
    pub apply_lag: Gauge,
    pub snapshot_index: Gauge,
    pub proposals_failed: Counter,
    pub forwarded_writes: Counter,
    pub read_index_rounds: Family<RoleLabels, Counter>,
    pub replication_lag: Family<MemberLabels, Gauge>,
    pub log_append_seconds: Histogram,
    pub log_fsync_seconds: Histogram,
    pub log_batch_ops: Histogram,
    pub snapshot_seconds: Histogram,
    pub snapshot_bytes: Gauge,
    pub http_requests: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub tls_handshake_failures: Family<ListenerLabels, Counter>,
    pub objects: Family<CollectionLabels, Gauge>,
    pub jobs: Family<StateLabels, Gauge>,
    pub leases: Family<StateLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CollectionLabels {
    pub collection: String,
}

impl EndpointMetrics {
    fn new() -> Self {
        let mut r = Registry::with_prefix("drp");
        let m = Self {
            registry: Registry::default(),
            term: Gauge::default(),
            is_leader: Gauge::default(),
            leader_changes: Counter::default(),
            commit_index: Gauge::default(),
            applied_index: Gauge::default(),
            last_log_index: Gauge::default(),
            apply_lag: Gauge::default(),
            snapshot_index: Gauge::default(),
            proposals_failed: Counter::default(),
            forwarded_writes: Counter::default(),
            read_index_rounds: Family::default(),
            replication_lag: Family::default(),
            log_append_seconds: latency(),
            log_fsync_seconds: latency(),
            log_batch_ops: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            snapshot_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            snapshot_bytes: Gauge::default(),
            http_requests: Family::new_with_constructor(latency),
            tls_handshake_failures: Family::default(),
            objects: Family::default(),
            jobs: Family::default(),
            leases: Family::default(),
        };
        r.register("raft_term", "Current Raft term", m.term.clone());
        r.register(
            "raft_is_leader",
            "1 while this member leads",
            m.is_leader.clone(),
        );
        r.register(
            "raft_leader_changes",
            "Times this member saw a new leader",
            m.leader_changes.clone(),
        );
        r.register(
            "raft_commit_index",
            "Highest log index this member knows committed",
            m.commit_index.clone(),
        );
        r.register(
            "raft_applied_index",
            "Highest log index applied to this member's store",
            m.applied_index.clone(),
        );
        r.register(
            "raft_last_log_index",
            "Highest index in this member's log",
            m.last_log_index.clone(),
        );
        r.register(
            "raft_apply_lag_entries",
            "Committed entries not yet applied here",
            m.apply_lag.clone(),
        );
        r.register(
            "raft_snapshot_index",
            "Last log index covered by this member's snapshot",
            m.snapshot_index.clone(),
        );
        r.register(
            "raft_proposals_failed",
            "Writes proposed on this member (as leader) that did not commit",
            m.proposals_failed.clone(),
        );
        r.register(
            "raft_forwarded_writes",
            "Writes this member forwarded to the leader",
            m.forwarded_writes.clone(),
        );
        r.register(
            "raft_read_index_rounds",
            "Linearizable-read fences (read index rounds) by who confirmed them",
            m.read_index_rounds.clone(),
        );
        r.register(
            "raft_replication_lag_entries",
            "On the leader: entries each member's log is behind the leader's",
            m.replication_lag.clone(),
        );
        r.register(
            "raft_log_append_seconds",
            "From a log append's submission to its durable write",
            m.log_append_seconds.clone(),
        );
        r.register(
            "raft_log_fsync_seconds",
            "One group-commit batch: its write transaction and fsync",
            m.log_fsync_seconds.clone(),
        );
        r.register(
            "raft_log_batch_ops",
            "Operations folded into one group-commit batch",
            m.log_batch_ops.clone(),
        );
        r.register(
            "raft_snapshot_build_seconds",
            "Time to build and persist a snapshot",
            m.snapshot_seconds.clone(),
        );
        r.register(
            "raft_snapshot_bytes",
            "Size of the last snapshot built or installed",
            m.snapshot_bytes.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "API requests by method, route template and status",
            m.http_requests.clone(),
        );
        r.register(
            "tls_handshake_failures",
            "TLS handshakes refused or timed out, by listener",
            m.tls_handshake_failures.clone(),
        );
        r.register(
            "objects",
            "Objects stored on this member, by collection",
            m.objects.clone(),
        );
        r.register("jobs", "Jobs by state", m.jobs.clone());
        r.register("leases", "DHCP leases by state", m.leases.clone());
        Self { registry: r, ..m }
    }

    /// The registry as OpenMetrics text.
    fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "encoding metrics");
        }
        out
    }
}

static METRICS: LazyLock<EndpointMetrics> = LazyLock::new(EndpointMetrics::new);

pub fn global() -> &'static EndpointMetrics {
    &METRICS
}

/// Hook for the TLS accept loop.
pub fn tls_handshake_failed(listener: &'static str) {
    global()
        .tls_handshake_failures
        .get_or_create(&ListenerLabels { listener })
        .inc();
}

/// Hook for the Raft log writer: one batch of `ops` written in `took`.
pub fn log_batch_written(ops: usize, took: Duration) {
    let m = global();
    m.log_fsync_seconds.observe(took.as_secs_f64());
    m.log_batch_ops.observe(ops as f64);
}

/// Hook for the Raft log writer: an append became durable `waited` after it was submitted.
pub fn log_append_durable(waited: Duration) {
    global().log_append_seconds.observe(waited.as_secs_f64());
}

/// Hook for snapshot build and install.
pub fn snapshot_taken(took: Option<Duration>, bytes: usize) {
    let m = global();
    if let Some(took) = took {
        m.snapshot_seconds.observe(took.as_secs_f64());
    }
    m.snapshot_bytes
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
}

pub fn read_index_round(role: &'static str) {
    global()
        .read_index_rounds
        .get_or_create(&RoleLabels { role })
        .inc();
}

/// Starts the leader-change watch and, with `--metrics-listen`, the credential-free listener.
pub async fn spawn(
    node: &crate::node::Node,
    listen: Option<std::net::SocketAddr>,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = vec![spawn_raft_watch(node.raft.clone(), shutdown.clone())];
    if let Some(addr) = listen {
        tasks.push(http::serve_plain(addr, node.clone(), shutdown.clone()).await?);
    }
    Ok(tasks)
}
