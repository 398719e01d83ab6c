//! The flags of `drp-endpoint serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

/// `--cache-mib`'s default.
pub const DEFAULT_CACHE_MIB: u64 = 48;

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
    /// Log entries between snapshots, at least (the log is purged behind each snapshot).
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_every: u64,
    /// Log entries between snapshots per object in the store, at least: each snapshot is a
    /// dump of the whole store, so a large store snapshots less often (0: every
    /// `--snapshot-every` entries whatever the store holds).
    #[arg(long, default_value_t = 1.0)]
    pub snapshot_stretch: f64,
    /// Memory for the stores' own page caches, in MiB: the object store gets three quarters,
    /// the Raft log the rest. Pages past it are read from (and written back to) the OS page
    /// cache, so a large store costs file space and kernel cache, not process memory.
    #[arg(long, default_value_t = DEFAULT_CACHE_MIB, value_parser = clap::value_parser!(u64).range(4..=65_536))]
    pub cache_mib: u64,
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
    /// Election timeout range lower bound; the upper bound is twice this. A follower that
    /// stops hearing the leader starts an election after the leader lease (the upper bound)
    /// plus a random timeout in the range: 300-400 ms at the default.
    #[arg(long, default_value_t = 100)]
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
    /// Fault injection for the test suite: publish and apply at most this command version, so
    /// this build acts as an older one (the "old build" of a rolling-upgrade test).
    #[arg(long, hide = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub fault_cap_command_version: Option<u32>,
    /// For the test suite: how many recent events this member keeps for a websocket consumer
    /// resuming with `?since=` (the ring; default 10,000). A small ring makes a short gap
    /// uncovered, so the manager's re-list after one can be tested.
    #[arg(long, hide = true, default_value_t = crate::events::RING_CAPACITY as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub event_ring: u64,
    /// Fault injection for the test suite: a power cut at every start. Each state-machine
    /// checkpoint keeps a savepoint, and the start reverts the store to the newest one, losing
    /// every applied write since, even after a clean stop; the Raft log replays them.
    #[arg(long, hide = true)]
    pub fault_power_cut_state: bool,
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
