//! Rolling upgrade of a member's binary (DRP's `/api/v3/system/upgrade/*`).
//!
//! - **Cluster version** (`cluster_version`): members publish their version, command version
//!   and features through Raft; commands and features the whole cluster does not support are
//!   refused, and a member that meets an entry newer than it understands stops applying.
//! - **stage** (`stage`): the binary is streamed to `<data-dir>/upgrade/staged`, bounded by
//!   [`stage::MAX_BINARY_BYTES`], checked against a client-named sha256, and asked for its
//!   `--version` before it is kept.
//! - **run** (`run`): the staged binary must pass `--upgrade-preflight` (`preflight`); the
//!   member then hands leadership away if it leads, shuts down through the ordinary graceful
//!   path and execs the binary with the same argv, or with the `Args` the request names (how a
//!   test drops the hidden `--fault-cap-command-version` of its "old build"), on the same data
//!   dir and ports.
//! - **rollback** (`exec`): the new process gets the old binary's path and argv in its
//!   environment. If it fails before it serves (bad arguments, any start-up error) it execs
//!   the old binary back with the reason, and the old one records `rolled-back` and the
//!   reason in `<data-dir>/upgrade/status.json`. A binary that dies before it can do that (a
//!   script that exits at once) is caught by the preflight while the old binary still serves.
//! - **status** (`status`): `{"State","Version","Error"}`; `failed` with the reason when this
//!   member stopped applying an entry it cannot understand.

pub mod cluster_version;
pub mod error;
pub mod exec;
pub mod preflight;
pub mod run;
pub mod stage;
pub mod status;

#[cfg(test)]
mod state_machine_tests;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::node::Node;
use status::Status;

static DATA_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The serving member's data dir (set once it serves).
pub fn data_dir() -> Option<&'static Path> {
    DATA_DIR.get().map(PathBuf::as_path)
}

/// Called once the member serves: remembers the data dir, records how an upgrade that
/// exec'd this process ended (done, or rolled back into this binary), and starts publishing
/// this member's attributes. The publisher stops on shutdown.
pub async fn on_serving(
    node: &Node,
    data_dir: &Path,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let _ = DATA_DIR.set(data_dir.to_path_buf());
    exec::mark_served();
    let version = cluster_version::local().version;
    if let Ok(reason) = std::env::var(exec::ENV_ROLLBACK_REASON) {
        tracing::error!(%reason, "the upgrade was rolled back: serving the old binary again");
        status::record(data_dir, Status::new("rolled-back", &version, &reason)).await;
    } else if std::env::var_os(exec::ENV_OLD_BINARY).is_some()
        && status::read(data_dir).state == "running"
    {
        tracing::info!(%version, "upgrade done: serving the new binary");
        status::record(data_dir, Status::new("done", &version, "")).await;
    }
    cluster_version::spawn_publisher(node.clone(), shutdown.clone())
}

/// This member's upgrade status, with a stopped state machine reported as `failed`.
pub fn current_status(data_dir: &Path) -> Status {
    let mut s = status::read(data_dir);
    if s.state == "idle" {
        s.version = cluster_version::local().version;
    }
    if let Some(why) = cluster_version::stopped() {
        s.state = "failed".to_string();
        s.error = why;
    }
    s
}
