//! `drp-endpoint serve`: opens the stores, starts Raft, gets the member and API certificates,
//! binds and serves the consensus gRPC and API listeners, bootstraps or joins when the data
//! dir is new, and shuts all of it down on SIGINT/SIGTERM. One module per step, in order.

mod api_tls;
mod args;
mod bootstrap;
mod error;
mod listeners;
mod member_tls;
mod raft_start;
mod shutdown;
mod stores;

pub use args::ServeArgs;
pub use error::ServeError;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex};

use crate::node::{Node, NodeInner, NodeSettings};
use crate::store::ObjectStore;
use crate::tls;
use listeners::Bound;
use raft_start::Consensus;
use stores::Ids;

/// Runs this member until SIGINT/SIGTERM (or an upgrade's exec), then stops it gracefully.
pub async fn serve(args: ServeArgs) -> Result<(), ServeError> {
    netguard::on_handshake_failure(crate::metrics::tls_handshake_failed);
    crate::upgrade::cluster_version::set_cap(args.fault_cap_command_version);
    let stores = stores::open(&args)?;
    let ids = stores.ids;
    let bound = listeners::bind(&args).await?;
    let mut consensus = raft_start::start(
        &args,
        &ids.ha_id,
        ids.node_id,
        stores.log_store,
        stores.state_machine,
    )
    .await?;
    let plan = bootstrap::Plan::of(&args, consensus.initialized);
    let start = member_tls::Start {
        consensus_id: &ids.consensus_id,
        ha_id: &ids.ha_id,
        api_url: &bound.api_url,
        plan: &plan,
    };
    let Some(member_tls) = member_tls::obtain(&args, &mut consensus, start).await? else {
        return Ok(());
    };
    let (live_tls, api_config, member_config) = api_tls::live(&args, &stores.store, member_tls)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shared = Shared {
        store: stores.store,
        events: stores.events,
        tls: live_tls,
        shutdown: shutdown_rx.clone(),
    };
    let node = new_node(&args, &ids, &bound, &consensus, shared)?;
    let grpc = listeners::serve_consensus(
        &node,
        &consensus.raft,
        bound.consensus,
        member_config,
        &consensus.runtime,
        &args,
        &shutdown_rx,
    )?;
    bootstrap::settle(&node, &consensus.raft, &args, &plan).await?;
    // The API serves only once a new cluster's seed (the admin user, the token secret) is
    // applied: before, a client saw a half-made cluster (the start-up credential accepted,
    // tokens 503). Connections made meanwhile wait in the listener's backlog.
    let http = listeners::serve_api(&node, bound.api, api_config, &args, &shutdown_rx);
    let joiner = (!plan.initialized && !args.join.is_empty())
        .then(|| bootstrap::join(&node, &args, &shutdown_rx));
    let cert_watcher = tls::rotation::spawn_watcher(node.clone(), shutdown_rx.clone());
    let services = spawn_services(&node, &args, &consensus.timing, &shutdown_rx).await?;
    let publisher = crate::upgrade::on_serving(&node, &args.data_dir, &shutdown_rx).await;
    shutdown::requested().await;
    let running = shutdown::Running {
        shutdown: shutdown_tx,
        joiner,
        cert_watcher,
        publisher,
        services,
        http,
        grpc,
        raft: consensus.raft,
        runtime: consensus.runtime,
    };
    running.stop().await;
    Ok(())
}

/// The metrics, the snapshot schedule and the boot services (each stops on shutdown).
async fn spawn_services(
    node: &Node,
    args: &ServeArgs,
    timing: &crate::raft::Timing,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, ServeError> {
    let mut services = crate::node::spawn_metrics(node, args.metrics_listen, shutdown).await?;
    let schedule = crate::raft::snapshot_schedule::Schedule {
        every: timing.snapshot_every,
        stretch: args.snapshot_stretch.max(0.0),
    };
    services.push(crate::raft::snapshot_schedule::spawn(
        node.raft.clone(),
        node.store.clone(),
        schedule,
        shutdown.clone(),
    ));
    let limits = args.conn.limits();
    services.extend(crate::boot::spawn(node, &args.boot, &args.data_dir, limits, shutdown).await);
    Ok(services)
}

/// What the node holds that the earlier steps made.
struct Shared {
    store: ObjectStore,
    events: crate::events::Bus,
    tls: tls::rotation::Live,
    shutdown: watch::Receiver<bool>,
}

/// The node every handler and background task shares.
fn new_node(
    args: &ServeArgs,
    ids: &Ids,
    bound: &Bound,
    consensus: &Consensus,
    shared: Shared,
) -> Result<Node, ServeError> {
    if args.max_file_bytes > crate::api::MAX_FILE_BYTES as u64 {
        return Err(ServeError::Config(format!(
            "--max-file-bytes {} is over the ceiling of {} bytes",
            args.max_file_bytes,
            crate::api::MAX_FILE_BYTES
        )));
    }
    let settings = NodeSettings {
        ha_id: ids.ha_id.clone(),
        consensus_id: ids.consensus_id.clone(),
        api_url: bound.api_url.clone(),
        consensus_addr: bound.consensus_addr.clone(),
        api_port: bound.api_port,
        write_timeout: Duration::from_millis(args.write_timeout_ms),
        read_timeout: Duration::from_millis(args.write_timeout_ms),
        election_max: consensus.timing.election_max,
        election_min: consensus.timing.election_min,
        boot: args.boot.advertised(&bound.api_url),
        admin_password: args.admin_password.clone(),
        max_file_bytes: args.max_file_bytes,
    };
    tracing::info!(
        consensus_id = %ids.consensus_id,
        ha_id = %ids.ha_id,
        api_url = %bound.api_url,
        consensus_addr = %bound.consensus_addr,
        fresh = ids.fresh,
        "node starting"
    );
    Ok(Node(Arc::new(NodeInner {
        settings,
        node_id: ids.node_id,
        raft: consensus.raft.clone(),
        store: shared.store,
        channels: consensus.channels.clone(),
        membership_lock: Mutex::new(()),
        credentials: crate::auth::CredentialCache::default(),
        events: shared.events,
        tls: shared.tls,
        shutdown: shared.shutdown,
    })))
}
