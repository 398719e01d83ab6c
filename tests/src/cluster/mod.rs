//! A cluster harness that runs REAL `drp-endpoint` processes on loopback.
//!
//! * Every node gets free ports and its own temp dir (data dir + `node.log` capturing the
//!   process's stdout and stderr).
//! * Every process is SIGKILLed when its [`Node`] is dropped (also during a panic), and the
//!   kernel kills it if the harness process dies (`PR_SET_PDEATHSIG`).
//! * When a [`Cluster`] is dropped without [`Cluster::success`] having been called (a failed
//!   assertion, an early `?` return, a panic) the tail of every node's log is printed.
//! * Set `DRP_KEEP_DIRS=1` to keep the temp dirs after a failure (their paths are printed).
//!
//! The binary is `$DRP_ENDPOINT_BIN`, or built once per process with
//! `cargo build -p endpoint --bin drp-endpoint` in the profile of the running executable.
//!
//! | module | what |
//! |---|---|
//! | `bins` | locating or building `drp-endpoint`, `drp-agent`, `drp-manager` |
//! | `ports`, `wait` | free ports, condition waits, the cluster-test lock |
//! | `opts` | how nodes start: [`Start`], [`Opts`], [`Placement`], [`NodeArgs`] |
//! | `node`, `spawn`, `signals` | one process: lifecycle, command line, signals |
//! | `node_api` | a node's API: request builders, readiness, consensus state |
//! | `logs` | log tails, first errors, the failure dump, the password-leak check |
//! | `set`, `leader` | [`Cluster`]: start, grow, tear down; leader and convergence waits |

mod bins;
mod leader;
mod logs;
mod node;
mod node_api;
mod opts;
mod ports;
mod set;
mod signals;
mod spawn;
mod wait;

pub use bins::{agent_bin, die_with_parent, endpoint_bin, manager_bin};
pub use logs::{plain, since_last_spawn, tail, SPAWN_MARK};
pub use node::Node;
pub use opts::{
    NodeArgs, NodeArgsFn, Opts, Placement, Start, PLACED_API_PORT, PLACED_CONSENSUS_PORT,
};
pub use ports::free_port;
pub use set::Cluster;
pub use wait::{serial, wait_for};

/// `GET /api/v3/system/consensus/state`: the workspace's one definition, as the endpoint
/// serves it.
pub use proto::cluster::{ClusterState, NodeInfo};
