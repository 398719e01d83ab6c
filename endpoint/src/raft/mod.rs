//! Everything openraft: the type config, storage adapters, the gRPC network and its server.
//! No other module names an openraft type directly, so an openraft upgrade touches only here.

mod coalesce;
pub mod compact;
mod handle;
pub mod log_store;
pub mod network;
pub mod observe;
pub mod runtime;
pub mod server;
pub mod snapshot_schedule;
pub mod state_machine;
mod status;
pub mod transfer;

pub use handle::{
    ApplyError, Changes, MembershipChange, RaftFailure, RaftHandle, ReadError, ReadPoint,
    WriteError,
};
pub use status::Metrics;

use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::{Request, Response};

/// gRPC metadata on every Raft message: the NodeId (hex) and HaID it is meant for.
pub const TARGET_HEADER: &str = "x-drp-target";
pub const HA_ID_HEADER: &str = "x-drp-ha-id";

/// How members address each other; stored in the Raft membership config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub consensus_id: String,
    pub consensus_addr: String,
    pub api_url: String,
    pub observer: bool,
}

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = MemberInfo,
        // Classic Raft: at most one leader per term (the default `leader_id_adv` lets two
        // candidates each lead the same term in turn), so "no two leaders in one term" holds.
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
);

pub type NodeId = u64;
/// openraft's handle: only `raft/` uses it; everything else goes through [`RaftHandle`].
pub(crate) type Raft = openraft::Raft<TypeConfig, state_machine::StateMachineStore>;
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, Vec<u8>>;

/// The openraft NodeId for a ConsensusID (a UUID): its first 64 bits. Stable and invertible
/// through the membership config, which stores the full ConsensusID.
pub fn node_id_of(consensus_id: &str) -> Option<NodeId> {
    let uuid = uuid::Uuid::parse_str(consensus_id).ok()?;
    let bytes = uuid.as_bytes();
    let mut high = [0u8; 8];
    high.copy_from_slice(&bytes[..8]);
    Some(u64::from_be_bytes(high))
}

/// Timing knobs a node runs with.
#[derive(Debug, Clone)]
pub struct Timing {
    pub heartbeat: Duration,
    pub election_min: Duration,
    pub election_max: Duration,
    pub snapshot_every: u64,
}

fn raft_config(
    ha_id: &str,
    timing: &Timing,
) -> Result<std::sync::Arc<openraft::Config>, openraft::ConfigError> {
    let keep = timing.snapshot_every.min(1000);
    let config = openraft::Config {
        cluster_name: ha_id.to_string(),
        heartbeat_interval: timing.heartbeat.as_millis() as u64,
        election_timeout_min: timing.election_min.as_millis() as u64,
        election_timeout_max: timing.election_max.as_millis() as u64,
        enable_pre_vote: Some(true),
        install_snapshot_timeout: 10_000,
        // Snapshots are asked for by `snapshot_schedule`, which sizes the interval by the store.
        snapshot_policy: openraft::SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: keep,
        purge_batch_size: 256,
        // No "leader restore": a member that led before a restart must win a new election,
        // in a new term. A leader replicates entries before its own write of them is
        // durable, so it can restart with a shorter log than its followers; restored as
        // leader of the same term it would propose new entries under log ids (term, index)
        // the followers already hold with other contents, and they would keep theirs: the
        // members' states diverge and writes acknowledged through it are lost elsewhere
        // (`tests/tests/faults.rs`, f12).
        enable_leader_restore: Some(false),
        ..Default::default()
    };
    config.validate().map(std::sync::Arc::new)
}

pub(crate) fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// openraft's latest metrics (for `raft/` itself; others read [`RaftHandle::metrics`]).
pub(crate) fn metrics_now(raft: &Raft) -> openraft::RaftMetrics<TypeConfig> {
    use openraft::async_runtime::WatchReceiver;
    raft.metrics().borrow_watched().clone()
}
