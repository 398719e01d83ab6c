//! Prometheus metrics of one member, served as `GET /metrics` (OpenMetrics text).
//!
//! One process-wide set of metric families: the hooks sit in layers that run before a `Node`
//! exists or below it (the Raft log's writer thread, the TLS accept loop), so a global keeps
//! each hook to one call instead of threading a handle through their constructors. Every
//! label set is bounded: route templates (never a key), status codes, states, member
//! addresses (a handful per cluster), never a UUID.

pub mod http;
pub mod raft_gauges;

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::raft::observe::latency;

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
        // The storage layer records into its own instruments (it sits below this module);
        // these clones share their values.
        let storage = crate::raft::observe::stats();
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
            log_append_seconds: storage.log_append_seconds.clone(),
            log_fsync_seconds: storage.log_fsync_seconds.clone(),
            log_batch_ops: storage.log_batch_ops.clone(),
            snapshot_seconds: storage.snapshot_seconds.clone(),
            snapshot_bytes: storage.snapshot_bytes.clone(),
            http_requests: Family::new_with_constructor(latency),
            tls_handshake_failures: Family::default(),
            objects: Family::default(),
            jobs: Family::default(),
            leases: Family::default(),
        };
        let mut r = Registry::with_prefix("drp");
        m.register_raft_state(&mut r);
        m.register_raft_traffic(&mut r);
        m.register_storage(&mut r);
        m.register_serving(&mut r);
        Self { registry: r, ..m }
    }

    /// Term, leadership and the log positions.
    fn register_raft_state(&self, r: &mut Registry) {
        r.register("raft_term", "Current Raft term", self.term.clone());
        r.register(
            "raft_is_leader",
            "1 while this member leads",
            self.is_leader.clone(),
        );
        r.register(
            "raft_leader_changes",
            "Times this member saw a new leader",
            self.leader_changes.clone(),
        );
        r.register(
            "raft_commit_index",
            "Highest log index this member knows committed",
            self.commit_index.clone(),
        );
        r.register(
            "raft_applied_index",
            "Highest log index applied to this member's store",
            self.applied_index.clone(),
        );
        r.register(
            "raft_last_log_index",
            "Highest index in this member's log",
            self.last_log_index.clone(),
        );
        r.register(
            "raft_apply_lag_entries",
            "Committed entries not yet applied here",
            self.apply_lag.clone(),
        );
        r.register(
            "raft_snapshot_index",
            "Last log index covered by this member's snapshot",
            self.snapshot_index.clone(),
        );
    }

    /// Writes and reads going through consensus, and replication.
    fn register_raft_traffic(&self, r: &mut Registry) {
        r.register(
            "raft_proposals_failed",
            "Writes proposed on this member (as leader) that did not commit",
            self.proposals_failed.clone(),
        );
        r.register(
            "raft_forwarded_writes",
            "Writes this member forwarded to the leader",
            self.forwarded_writes.clone(),
        );
        r.register(
            "raft_read_index_rounds",
            "Linearizable-read fences (read index rounds) by who confirmed them",
            self.read_index_rounds.clone(),
        );
        r.register(
            "raft_read_index_batches",
            "Read-index rounds this member ran as leader; each serves every linearizable read that arrived while the previous one ran",
            crate::raft::observe::read_rounds().clone(),
        );
        r.register(
            "raft_replication_lag_entries",
            "On the leader: entries each member's log is behind the leader's",
            self.replication_lag.clone(),
        );
    }

    /// The Raft log's durable writes and snapshots.
    fn register_storage(&self, r: &mut Registry) {
        r.register(
            "raft_log_append_seconds",
            "From a log append's submission to its durable write",
            self.log_append_seconds.clone(),
        );
        r.register(
            "raft_log_fsync_seconds",
            "One group-commit batch: its write transaction and fsync",
            self.log_fsync_seconds.clone(),
        );
        r.register(
            "raft_log_batch_ops",
            "Operations folded into one group-commit batch",
            self.log_batch_ops.clone(),
        );
        r.register(
            "raft_snapshot_build_seconds",
            "Time to build and persist a snapshot",
            self.snapshot_seconds.clone(),
        );
        r.register(
            "raft_snapshot_bytes",
            "Size of the last snapshot built or installed",
            self.snapshot_bytes.clone(),
        );
    }

    /// The API, TLS listeners and what this member stores and serves.
    fn register_serving(&self, r: &mut Registry) {
        r.register(
            "http_request_duration_seconds",
            "API requests by method, route template and status",
            self.http_requests.clone(),
        );
        r.register(
            "tls_handshake_failures",
            "TLS handshakes refused or timed out, by listener",
            self.tls_handshake_failures.clone(),
        );
        r.register(
            "objects",
            "Objects stored on this member, by collection",
            self.objects.clone(),
        );
        r.register("jobs", "Jobs by state", self.jobs.clone());
        r.register("leases", "DHCP leases by state", self.leases.clone());
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

pub fn read_index_round(role: &'static str) {
    global()
        .read_index_rounds
        .get_or_create(&RoleLabels { role })
        .inc();
}
