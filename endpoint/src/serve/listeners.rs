//! Step 5, listeners: the API and consensus sockets (bound first, so a port in use fails the
//! start at once), the addresses this member advertises, and the servers on them.

use std::net::SocketAddr;

use futures::StreamExt;
use netguard::LiveConfig;
use proto::raft::cluster_service_server::ClusterServiceServer;
use proto::raft::raft_service_server::RaftServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;

use super::{ServeArgs, ServeError};
use crate::api;
use crate::cluster::service::ClusterGrpc;
use crate::limits::RateLimits;
use crate::node::Node;
use crate::raft::runtime::{ConsensusRuntime, RuntimeError};
use crate::raft::server::RaftGrpc;
use crate::raft::RaftHandle;
use crate::tls;

/// Largest gRPC message between members (a batch of log entries).
const MAX_PEER_MESSAGE: usize = 64 << 20;

pub(super) struct Bound {
    pub api: TcpListener,
    pub consensus: TcpListener,
    pub api_port: u16,
    /// The URL other members and clients reach the API at.
    pub api_url: String,
    /// The host:port other members reach the consensus listener at.
    pub consensus_addr: String,
}

pub(super) async fn bind(args: &ServeArgs) -> Result<Bound, ServeError> {
    let api = TcpListener::bind(args.api_listen)
        .await
        .map_err(ServeError::io(format!("binding {}", args.api_listen)))?;
    let consensus = TcpListener::bind(args.consensus_listen)
        .await
        .map_err(ServeError::io(format!("binding {}", args.consensus_listen)))?;
    let api_local = api
        .local_addr()
        .map_err(ServeError::io("reading the bound API address"))?;
    let api_url = args.api_url.clone().unwrap_or_else(|| {
        let scheme = if args.no_tls { "http" } else { "https" };
        format!("{scheme}://{}", advertised(&api_local))
    });
    let consensus_addr = args
        .consensus_addr
        .clone()
        .unwrap_or_else(|| advertised(&args.consensus_listen));
    Ok(Bound {
        api,
        consensus,
        api_port: api_local.port(),
        api_url,
        consensus_addr,
    })
}

fn advertised(listen: &SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("127.0.0.1:{}", listen.port())
    } else {
        listen.to_string()
    }
}

/// The consensus gRPC server (Raft and the cluster service, members only), on the consensus
/// runtime: mutual TLS 1.3 with the cluster CA; the accept loop also sets TCP_NODELAY (small
/// Raft replies must not wait out delayed ACKs).
pub(super) fn serve_consensus(
    node: &Node,
    raft: &RaftHandle,
    listener: TcpListener,
    config: LiveConfig,
    runtime: &ConsensusRuntime,
    args: &ServeArgs,
    shutdown: &watch::Receiver<bool>,
) -> Result<JoinHandle<Result<(), tonic::transport::Error>>, ServeError> {
    let raft = raft.clone();
    let ha_id = node.settings.ha_id.clone();
    let raft_svc =
        RaftServiceServer::new(RaftGrpc::new(&raft, node.node_id, ha_id, shutdown.clone()))
            .max_decoding_message_size(MAX_PEER_MESSAGE)
            .max_encoding_message_size(MAX_PEER_MESSAGE);
    let cluster_svc = ClusterServiceServer::new(ClusterGrpc::new(node.clone()))
        .max_decoding_message_size(MAX_PEER_MESSAGE)
        .max_encoding_message_size(MAX_PEER_MESSAGE);
    let raft_svc = InterceptedService::new(raft_svc, tls::peer::members_only(raft.clone()));
    let cluster_svc = InterceptedService::new(cluster_svc, tls::peer::members_only(raft));
    let rt = runtime.handle().ok_or(RuntimeError::Stopped)?;
    let accepted = {
        let _on_consensus_runtime = rt.enter();
        netguard::tls_incoming(
            listener,
            config,
            args.conn.consensus_limits(),
            shutdown.clone(),
            "consensus",
        )
        .1
    };
    let incoming =
        tokio_stream::wrappers::ReceiverStream::new(accepted).map(Ok::<_, std::io::Error>);
    let mut stop = shutdown.clone();
    Ok(rt.spawn(
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(raft_svc)
            .add_service(cluster_svc)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop.changed().await;
            }),
    ))
}

/// The API server: the router behind the rate and connection limits, HTTPS unless `config` is
/// `None`.
pub(super) fn serve_api(
    node: &Node,
    listener: TcpListener,
    config: Option<LiveConfig>,
    args: &ServeArgs,
    shutdown: &watch::Receiver<bool>,
) -> JoinHandle<()> {
    let app = api::router(node.clone(), RateLimits::new(&args.rate));
    netguard::serve(
        listener,
        config,
        app,
        args.conn.limits(),
        shutdown.clone(),
        "api",
    )
    .task
}
