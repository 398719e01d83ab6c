//! Step 2, start Raft: on a runtime of its own (`ConsensusRuntime`), dialling peers with the
//! member certificate from the first message when this member already holds one.

use std::time::Duration;

use super::{ServeArgs, ServeError};
use crate::raft::log_store::LogStore;
use crate::raft::network::{Channels, NetworkFactory};
use crate::raft::runtime::ConsensusRuntime;
use crate::raft::state_machine::StateMachineStore;
use crate::raft::{NodeId, RaftHandle, Timing};
use crate::tls::{self, MemberTls, TlsDir};

pub(super) struct Consensus {
    pub runtime: ConsensusRuntime,
    pub channels: Channels,
    pub raft: RaftHandle,
    pub timing: Timing,
    /// The member certificate saved in the data dir, if any.
    pub saved_member: Option<MemberTls>,
    /// Whether Raft already held cluster state when it started.
    pub initialized: bool,
}

pub(super) async fn start(
    args: &ServeArgs,
    ha_id: &str,
    node_id: NodeId,
    log_store: LogStore,
    state_machine: StateMachineStore,
) -> Result<Consensus, ServeError> {
    let timing = Timing {
        heartbeat: Duration::from_millis(args.heartbeat_ms),
        election_min: Duration::from_millis(args.election_timeout_ms),
        election_max: Duration::from_millis(args.election_timeout_ms * 2),
        snapshot_every: args.snapshot_every.max(10),
    };
    let runtime = ConsensusRuntime::new()?;
    let channels = Channels::with_source_ip(args.consensus_source_ip).on_runtime(runtime.handle());
    let network = NetworkFactory {
        channels: channels.clone(),
        ha_id: ha_id.to_string(),
    };
    // A member that already holds its certificate dials with it from Raft's first message
    // (a restarted member may be elected before the API is up).
    let saved_member = TlsDir::new(&args.data_dir)
        .load_member()
        .map_err(ServeError::cert("loading the saved member certificate"))?;
    if let Some(member) = &saved_member {
        channels.set_tls(tls::member_client_config(member));
    }
    let stores = (log_store, state_machine);
    let raft = RaftHandle::start(&runtime, node_id, ha_id, &timing, network, stores).await?;
    let initialized = raft.is_initialized().await?;
    Ok(Consensus {
        runtime,
        channels,
        raft,
        timing,
        saved_member,
        initialized,
    })
}
