//! How nodes are started: [`Start`], the cluster-wide [`Opts`], network-namespace
//! [`Placement`] and the per-node argument hook [`NodeArgs`].

use std::time::Duration;

use super::Node;

/// How a node process is started.
#[derive(Debug, Clone)]
pub enum Start {
    Bootstrap,
    Join(Vec<String>),
    /// Plain restart: data dir and listen addresses only.
    Restart,
}

/// Options for every node of a cluster.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Extra `serve` arguments for every node (e.g. `--snapshot-every 500`).
    pub extra_args: Vec<String>,
    /// `RUST_LOG` for the nodes (default: `$DRP_NODE_LOG` or `info`).
    pub rust_log: String,
    /// How long a node may take to answer `/api/v3/info` after spawn.
    pub ready_timeout: Duration,
    /// How long a join may take until the node is a voter.
    pub join_timeout: Duration,
    /// Extra `serve` arguments computed for each node at every spawn, appended after
    /// `extra_args` (the fault suite uses it to put a proxy in front of each consensus port).
    pub node_args: Option<NodeArgs>,
    /// Let the nodes present the API certificate their cluster CA generated at bootstrap
    /// (trusted by reading `tls/ca.pem` from the first node), instead of the harness's.
    pub cluster_tls: bool,
    /// Run the nodes in network namespaces (tests/src/netns.rs): the k-th node created gets
    /// `placement[k]` (nodes past the end run on loopback as usual).
    pub placement: Option<Vec<Placement>>,
    /// Trust this CA (PEM) instead of the harness's test CA: for a test that gives the nodes
    /// its own `--tls-cert/--tls-key` in `extra_args` (the harness then passes none).
    pub trust_ca: Option<String>,
}

/// Where a node runs when it is not on loopback: `ip netns exec <netns> drp-endpoint ...`, the
/// API on `0.0.0.0:8092` (so a virtual address on the namespace's interface reaches it too),
/// consensus on `<ip>:8093`, and `--api-url https://<ip>:8092 --consensus-addr <ip>:8093`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub netns: String,
    pub ip: std::net::IpAddr,
}

/// DRP's API port, used by nodes with a [`Placement`] (each in a network namespace of its own).
pub const PLACED_API_PORT: u16 = 8092;
/// DRP's consensus port, used by nodes with a [`Placement`].
pub const PLACED_CONSENSUS_PORT: u16 = 8093;

/// The function inside [`NodeArgs`].
pub type NodeArgsFn = dyn Fn(&Node) -> Vec<String> + Send + Sync;

/// A per-node argument hook for [`Opts::node_args`]: called with the node about to be spawned.
#[derive(Clone)]
pub struct NodeArgs(pub std::sync::Arc<NodeArgsFn>);

impl std::fmt::Debug for NodeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeArgs(..)")
    }
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            extra_args: Vec::new(),
            rust_log: std::env::var("DRP_NODE_LOG").unwrap_or_else(|_| "info".into()),
            ready_timeout: Duration::from_secs(20),
            join_timeout: Duration::from_secs(30),
            node_args: None,
            cluster_tls: false,
            placement: None,
            trust_ca: None,
        }
    }
}
