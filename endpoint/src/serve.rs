//! `drp-endpoint serve`: opens the stores, starts Raft, the consensus gRPC listener and the
//! API listener, bootstraps or joins when the data dir is new, and shuts all of it down on
//! SIGINT/SIGTERM.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use proto::raft::cluster_service_server::ClusterServiceServer;
use proto::raft::raft_service_server::RaftServiceServer;
use tokio::net::TcpListener;
use tokio::sync::{watch, Mutex};

use crate::cluster::join::join_until_member;
use crate::cluster::service::ClusterGrpc;
use crate::limits::RateLimits;
use crate::node::{Node, NodeInner, NodeSettings};
use crate::raft::log_store::LogStore;
use crate::raft::network::{Channels, NetworkFactory};
use crate::raft::runtime::ConsensusRuntime;
use crate::raft::server::RaftGrpc;
use crate::raft::state_machine::StateMachineStore;
use crate::raft::{self, node_id_of, MemberInfo, Timing};
use crate::store::ObjectStore;
use crate::tls::{self, TlsDir};
use crate::{api, identity};
use futures::StreamExt;
use tonic::service::interceptor::InterceptedService;

/// Largest gRPC message between members (a batch of log entries).
const MAX_PEER_MESSAGE: usize = 64 << 20;

#[derive(Clone, clap::Args)] // no Debug: it holds the admin password
pub struct ServeArgs {
    /// Where this node keeps its identity, Raft log, objects and snapshots.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// DRP REST API listener.
    #[arg(long, default_value = "0.0.0.0:8092")]
    pub api_listen: SocketAddr,
    /// Raft consensus listener (members only).
    #[arg(long, default_value = "0.0.0.0:8093")]
    pub consensus_listen: SocketAddr,
    /// The HA cluster's id; stored at first start and checked on every later start.
    #[arg(long)]
    pub ha_id: Option<String>,
    /// On an empty data dir, create a one-node cluster.
    #[arg(long)]
    pub bootstrap: bool,
    /// On an empty data dir, ask any of these members (API URLs) to enrol this node.
    #[arg(long, value_delimiter = ',')]
    pub join: Vec<String>,
    /// The URL other members and clients use to reach this node's API.
    #[arg(long)]
    pub api_url: Option<String>,
    /// The host:port other members use to reach this node's consensus listener.
    #[arg(long)]
    pub consensus_addr: Option<String>,
    /// Source IP of this node's outbound connections to other members (default: chosen by the
    /// OS). Lets a host with several addresses, or a fault-injection proxy, tell members apart.
    #[arg(long)]
    pub consensus_source_ip: Option<std::net::IpAddr>,
    /// Log entries between snapshots (the log is purged behind each snapshot).
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_every: u64,
    /// How long a write waits for a quorum before the client gets 503.
    #[arg(long, default_value_t = 5_000)]
    pub write_timeout_ms: u64,
    /// The largest file (or ISO) `POST /api/v3/files/<path>` accepts, in bytes; larger
    /// uploads get 413. Every member stores every file, so size the disks for it.
    #[arg(long, default_value_t = crate::api::DEFAULT_MAX_FILE_BYTES)]
    pub max_file_bytes: u64,
    #[arg(long, default_value_t = 50)]
    pub heartbeat_ms: u64,
    /// Password of the admin user `rocketskates`, set when this node bootstraps a cluster
    /// (and sent when it joins one). Without it a random one is written to the data dir.
    #[arg(long, env = "RS_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Election timeout range lower bound; the upper bound is twice this.
    #[arg(long, default_value_t = 150)]
    pub election_timeout_ms: u64,
    /// The API's TLS certificate chain (PEM). Without it the API presents the certificate the
    /// cluster CA issued at bootstrap, the same on every member.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) for `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve the API over plain HTTP. For local development only: credentials and tokens then
    /// cross the network in clear. (Member-to-member traffic is mutual TLS regardless.)
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub no_tls: bool,
    /// Fault injection for the test suite: write each Raft log append no sooner than this
    /// long after it was made (a slow disk), so this member's durable log lags behind what it
    /// has already replicated. Votes are not delayed.
    #[arg(long, default_value_t = 0, hide = true,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub fault_log_write_delay_ms: u64,
    /// Connection limits of both listeners (`--max-conns-per-source`, deadlines, ...).
    #[command(flatten)]
    pub conn: netguard::ConnArgs,
    /// Request rate limits of the API.
    #[command(flatten)]
    pub rate: netguard::RateArgs,
    /// Serve `GET /metrics` without credentials on this address too (plain HTTP; meant for
    /// loopback or a private scrape network). On the API port it needs a `metrics` claim.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Boot services (static HTTP, TFTP, DHCP) and the virtual address.
    #[command(flatten)]
    pub boot: crate::boot::BootArgs,
}

fn advertised(listen: &SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("127.0.0.1:{}", listen.port())
    } else {
        listen.to_string()
    }
}

/// The HA id stored in the data dir wins; a different `--ha-id` is a configuration error.
fn settle_ha_id(data_dir: &std::path::Path, flag: Option<&str>) -> anyhow::Result<String> {
    let path = data_dir.join("ha-id");
    match std::fs::read_to_string(&path) {
        Ok(stored) => {
            let stored = stored.trim().to_string();
            if let Some(flag) = flag {
                if flag != stored {
                    bail!(
                        "--ha-id {flag:?} differs from {stored:?} stored in {}",
                        path.display()
                    );
                }
            }
            Ok(stored)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = flag
                .map(str::to_string)
                .unwrap_or_else(|| "drp-cluster".to_string());
            std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    netguard::on_handshake_failure(crate::metrics::tls_handshake_failed);
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let (consensus_id, fresh) =
        identity::load_or_create(&args.data_dir).context("loading the node identity")?;
    let ha_id = settle_ha_id(&args.data_dir, args.ha_id.as_deref())?;
    let node_id = node_id_of(&consensus_id).context("malformed ConsensusID")?;

    let api_listener = TcpListener::bind(args.api_listen)
        .await
        .with_context(|| format!("binding {}", args.api_listen))?;
    let consensus_listener = TcpListener::bind(args.consensus_listen)
        .await
        .with_context(|| format!("binding {}", args.consensus_listen))?;
    let api_port = api_listener.local_addr()?.port();
    let api_local = api_listener.local_addr()?;
    let api_url = args.api_url.clone().unwrap_or_else(|| {
        let scheme = if args.no_tls { "http" } else { "https" };
        format!("{scheme}://{}", advertised(&api_local))
    });
    let consensus_addr = args
        .consensus_addr
        .clone()
        .unwrap_or_else(|| advertised(&args.consensus_listen));

    let timing = Timing {
        heartbeat: Duration::from_millis(args.heartbeat_ms),
        election_min: Duration::from_millis(args.election_timeout_ms),
        election_max: Duration::from_millis(args.election_timeout_ms * 2),
        snapshot_every: args.snapshot_every.max(10),
    };
    let config = raft::raft_config(&ha_id, &timing).map_err(anyhow::Error::msg)?;
    let log_store = LogStore::open_with(
        &args.data_dir.join("raft-log.redb"),
        Duration::from_millis(args.fault_log_write_delay_ms),
    )
    .context("opening the raft log")?;
    let store =
        ObjectStore::open(&args.data_dir.join("state.redb")).context("opening the object store")?;
    let (events, _) = tokio::sync::broadcast::channel(crate::events::BUS_CAPACITY);
    let state_machine =
        StateMachineStore::new(store.clone(), &args.data_dir).with_events(events.clone());
    let consensus_rt = ConsensusRuntime::new()?;
    let channels =
        Channels::with_source_ip(args.consensus_source_ip).on_runtime(consensus_rt.handle());
    let network = NetworkFactory {
        channels: channels.clone(),
        ha_id: ha_id.clone(),
    };
    // A member that already holds its certificate dials with it from Raft's first message
    // (a restarted member may be elected before the API below is up).
    let tls_dir = TlsDir::new(&args.data_dir);
    let saved_member = tls_dir.load_member()?;
    if let Some(member) = &saved_member {
        channels.set_tls(tls::member_client_config(member));
    }
    let raft = consensus_rt
        .run(raft::Raft::new(
            node_id,
            config,
            network,
            log_store,
            state_machine,
        ))
        .await?
        .context("starting raft")?;

    let initialized = raft.is_initialized().await.context("reading raft state")?;
    let restored = crate::backup::restore::pending(&args.data_dir);
    let bootstrapping = !initialized && (args.bootstrap || restored);
    let had_member = saved_member.is_some();
    let member_tls = match saved_member {
        Some(t) => t,
        None if bootstrapping => {
            let hosts = api_hosts(&api_url);
            let (member, api) = tokio::task::spawn_blocking({
                let (ha_id, consensus_id, dir) =
                    (ha_id.clone(), consensus_id.clone(), args.data_dir.clone());
                move || new_cluster_tls(&dir, &ha_id, &consensus_id, &hosts)
            })
            .await??;
            tls_dir.save(&member, Some(&api))?;
            tracing::info!(dir = %args.data_dir.join("tls").display(), "created the cluster CA");
            member
        }
        None if !initialized && !args.join.is_empty() => {
            let (member, api) = tokio::select! {
                r = tls::join::obtain(&args.join, &consensus_id, args.admin_password.as_deref()) => r?,
                _ = wait_for_signal() => return Ok(()),
            };
            tls_dir.save(&member, Some(&api))?;
            member
        }
        None => bail!(
            "{} holds no member certificate: start a new node with --bootstrap or --join",
            args.data_dir.join("tls").display()
        ),
    };
    if !had_member {
        channels.set_tls(tls::member_client_config(&member_tls));
    }
    let api_source = match (&args.tls_cert, &args.tls_key) {
        _ if args.no_tls => None,
        (Some(cert), Some(key)) => Some(tls::rotation::ApiSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => Some(tls::rotation::ApiSource::Cluster),
    };
    let api_pair = match &api_source {
        None => None,
        Some(tls::rotation::ApiSource::Files { cert, key }) => Some(tls::Pair {
            cert_pem: std::fs::read_to_string(cert)
                .with_context(|| format!("reading {}", cert.display()))?,
            key_pem: std::fs::read_to_string(key)
                .with_context(|| format!("reading {}", key.display()))?,
        }),
        // The replicated certificate when this member has applied it (the newest after a
        // rotation), else the one saved when the node was created.
        Some(tls::rotation::ApiSource::Cluster) => match replicated_api_pair(&store) {
            Some(pair) => Some(pair),
            None => Some(
                tls_dir
                    .load_api()?
                    .context("no API certificate in the data dir (pass --tls-cert/--tls-key)")?,
            ),
        },
    };
    let (live_tls, api_config, member_config) = tls::rotation::Live::new(
        args.data_dir.clone(),
        api_source,
        api_pair.as_ref(),
        member_tls,
    )?;

    if args.max_file_bytes > crate::api::MAX_FILE_BYTES as u64 {
        anyhow::bail!(
            "--max-file-bytes {} is over the ceiling of {} bytes",
            args.max_file_bytes,
            crate::api::MAX_FILE_BYTES
        );
    }
    let settings = NodeSettings {
        ha_id: ha_id.clone(),
        consensus_id: consensus_id.clone(),
        api_url: api_url.clone(),
        consensus_addr: consensus_addr.clone(),
        api_port,
        write_timeout: Duration::from_millis(args.write_timeout_ms),
        read_timeout: Duration::from_millis(args.write_timeout_ms),
        election_max: timing.election_max,
        boot: args.boot.advertised(&api_url),
        admin_password: args.admin_password.clone(),
        max_file_bytes: args.max_file_bytes,
    };
    let node = Node(Arc::new(NodeInner {
        settings,
        node_id,
        raft: raft.clone(),
        store,
        channels,
        membership_lock: Mutex::new(()),
        credentials: crate::auth::CredentialCache::default(),
        events,
        tls: live_tls,
    }));
    tracing::info!(%consensus_id, %ha_id, %api_url, %consensus_addr, fresh, "node starting");

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let grpc = {
        let raft_svc = RaftServiceServer::new(RaftGrpc::new(raft.clone(), node_id, ha_id.clone()))
            .max_decoding_message_size(MAX_PEER_MESSAGE)
            .max_encoding_message_size(MAX_PEER_MESSAGE);
        let cluster_svc = ClusterServiceServer::new(ClusterGrpc::new(node.clone()))
            .max_decoding_message_size(MAX_PEER_MESSAGE)
            .max_encoding_message_size(MAX_PEER_MESSAGE);
        let raft_svc = InterceptedService::new(raft_svc, tls::peer::members_only(raft.clone()));
        let cluster_svc =
            InterceptedService::new(cluster_svc, tls::peer::members_only(raft.clone()));
        // Mutual TLS 1.3 with the cluster CA, on the consensus runtime; the accept loop also
        // sets TCP_NODELAY (small Raft replies must not wait out delayed ACKs).
        let rt = consensus_rt
            .handle()
            .context("the consensus runtime has stopped")?;
        let accepted = {
            let _on_consensus_runtime = rt.enter();
            netguard::tls_incoming(
                consensus_listener,
                member_config,
                args.conn.consensus_limits(),
                shutdown_rx.clone(),
                "consensus",
            )
            .1
        };
        let incoming =
            tokio_stream::wrappers::ReceiverStream::new(accepted).map(Ok::<_, std::io::Error>);
        let mut stop = shutdown_rx.clone();
        rt.spawn(
            tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .add_service(raft_svc)
                .add_service(cluster_svc)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stop.changed().await;
                }),
        )
    };
    if bootstrapping {
        let me = MemberInfo {
            consensus_id: consensus_id.clone(),
            consensus_addr,
            api_url,
            observer: false,
        };
        raft.initialize(BTreeMap::from([(node_id, me)]))
            .await
            .context("bootstrapping a one-node cluster")?;
        seed_cluster(&node, &args).await?;
        tracing::info!("bootstrapped a new cluster");
    } else if initialized && (args.bootstrap || !args.join.is_empty()) {
        tracing::info!("data dir holds cluster state; --bootstrap/--join ignored");
    }
    if restored {
        crate::backup::restore::finish(&raft, &args.data_dir).await?;
    }
    // The API serves only once a new cluster's seed (the admin user, the token secret) is
    // applied: before, a client saw a half-made cluster (the start-up credential accepted,
    // tokens 503). Connections made meanwhile wait in the listener's backlog.
    let http = {
        let app = api::router(node.clone(), RateLimits::new(&args.rate));
        netguard::serve(
            api_listener,
            api_config,
            app,
            args.conn.limits(),
            shutdown_rx.clone(),
            "api",
        )
        .task
    };
    let joiner = (!initialized && !args.join.is_empty()).then(|| {
        tokio::spawn(join_until_member(
            node.clone(),
            args.join.clone(),
            args.admin_password.clone(),
            shutdown_rx.clone(),
        ))
    });

    let cert_watcher = tls::rotation::spawn_watcher(node.clone(), shutdown_rx.clone());
    let metrics_tasks = crate::node::spawn_metrics(&node, args.metrics_listen, &shutdown_rx).await?;
    let boot_tasks = crate::boot::spawn(
        &node,
        &args.boot,
        &args.data_dir,
        args.conn.limits(),
        &shutdown_rx,
    )
    .await?;

    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    if let Some(j) = joiner {
        let _ = j.await;
    }
    let _ = cert_watcher.await;
    for t in metrics_tasks.into_iter().chain(boot_tasks) {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), http).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), grpc).await;
    if let Err(e) = raft.shutdown().await {
        tracing::warn!(error = %e, "raft shutdown");
    }
    drop(consensus_rt);
    Ok(())
}

/// The objects a new cluster starts with: the admin user and the token-signing secret,
/// written as one entry by the bootstrapping node.
async fn seed_cluster(node: &Node, args: &ServeArgs) -> anyhow::Result<()> {
    use crate::auth::{password, token, ADMIN_USER};
    let admin_password = match &args.admin_password {
        Some(p) if !p.is_empty() => p.clone(),
        _ => {
            let generated = password::random_password();
            let path = args.data_dir.join("admin-password");
            tls::write_file(&path, &generated, true)?;
            // The password itself never goes to the log: only where to find it.
            tracing::warn!(file = %path.display(), "no admin password given; a random one was written to this file");
            generated
        }
    };
    let hash = tokio::task::spawn_blocking(move || password::hash(&admin_password))
        .await?
        .map_err(anyhow::Error::msg)?;
    let secret: [u8; 32] = rand::Rng::random(&mut rand::rng());
    let seeds = vec![
        (
            "users".to_string(),
            ADMIN_USER.to_string(),
            serde_json::json!({ "Name": ADMIN_USER, "PasswordHash": hash, "Roles": [crate::auth::roles::SUPERUSER] }),
        ),
        (
            token::SECRET_COLLECTION.to_string(),
            token::SECRET_KEY.to_string(),
            serde_json::json!({ "Secret": hex::encode(secret) }),
        ),
    ];
    let mut seeds = seeds;
    let dir = TlsDir::new(&args.data_dir);
    let ca = dir
        .load_ca_authority()?
        .context("the bootstrap node's CA key is missing from its data dir")?;
    let api = dir
        .load_api()?
        .context("the cluster API certificate is missing")?;
    for (key, pair) in [(tls::CA_KEY, ca), (tls::API_CERT_KEY, api)] {
        seeds.push((
            token::SECRET_COLLECTION.to_string(),
            key.to_string(),
            serde_json::json!({ "CertPem": pair.cert_pem, "KeyPem": pair.key_pem }),
        ));
    }
    let request = crate::command::Request {
        idempotency: None,
        at_ms: crate::api::now_ms(),
        if_match: None,
        principal: None,
        op: crate::command::Op::Seed { objects: seeds },
    };
    node.write(request)
        .await
        .map_err(|e| anyhow::anyhow!("seeding the cluster: {e}"))?;
    Ok(())
}

/// Names the generated API certificate is valid for: loopback, and the host of `--api-url`.
pub(crate) fn api_hosts(api_url: &str) -> Vec<String> {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Some(host) = url::Url::parse(api_url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
    {
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

/// The API certificate in this member's replicated state, if it has applied one.
fn replicated_api_pair(store: &ObjectStore) -> Option<tls::Pair> {
    let record = store
        .get(crate::auth::token::SECRET_COLLECTION, tls::API_CERT_KEY)
        .ok()??;
    let field = |name: &str| record.get(name)?.as_str().map(str::to_string);
    let pair = tls::Pair {
        cert_pem: field("CertPem")?,
        key_pem: field("KeyPem")?,
    };
    tls::api_server_config(&pair).is_ok().then_some(pair)
}

/// A new cluster's CA (its key kept in the data dir until the bootstrap seed replicates it),
/// this node's member certificate and the shared API certificate.
fn new_cluster_tls(
    data_dir: &std::path::Path,
    ha_id: &str,
    consensus_id: &str,
    hosts: &[String],
) -> anyhow::Result<(tls::MemberTls, tls::Pair)> {
    let ca = tls::authority::Authority::generate(ha_id)?;
    TlsDir::new(data_dir).save_ca_authority(&ca.stored())?;
    let member = tls::MemberTls {
        ca_pem: ca.cert_pem().to_string(),
        member: ca.issue_own_member(consensus_id)?,
    };
    Ok((member, ca.issue_api(hosts)?))
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
