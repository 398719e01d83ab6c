//! `run`: preflight the staged binary, hand leadership away, then have the serve loop shut
//! down cleanly and exec it (`exec::exec_if_planned`, called by `main` once serving stopped).

use std::path::Path;
use std::time::Duration;

use super::error::UpgradeError;
use super::exec::{self, Plan};
use super::preflight::{self, Needs};
use super::stage;
use super::status::{self, Status};
use crate::node::Node;

/// How long the leader waits for another member to take over before it gives up.
const HAND_OVER_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the upgrade into the staged binary with `args` (default: this process's own argv).
/// Returns the `running` status; the switch itself happens after the reply.
pub async fn run(
    node: &Node,
    data_dir: &Path,
    args: Option<Vec<String>>,
) -> Result<Status, UpgradeError> {
    let Some(staged) = stage::staged(data_dir) else {
        return Err(UpgradeError::conflict(
            "no binary is staged: POST it to /api/v3/system/upgrade/stage first",
        ));
    };
    if status::read(data_dir).state == "running" {
        return Err(UpgradeError::conflict(
            "an upgrade of this member is already running",
        ));
    }
    // Named by its hash so the binary this member then runs is never overwritten by a later
    // stage (renaming over a running binary is fine, writing into it is not).
    let short = staged
        .sha256
        .get(..12)
        .unwrap_or(&staged.sha256)
        .to_string();
    let binary = status::dir(data_dir).join(format!("drp-endpoint-{short}"));
    let needs = Needs {
        command_version: super::cluster_version::of_cluster(node).command_version,
    };
    let (dir, bin) = (data_dir.to_path_buf(), binary.clone());
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::write(preflight::needs_path(&dir), serde_json::to_vec(&needs)?)?;
        std::fs::rename(stage::binary_path(&dir), &bin)
    })
    .await
    .map_err(|e| UpgradeError::internal(e.to_string()))?
    .map_err(|e| UpgradeError::internal(format!("preparing the staged binary: {e}")))?;

    let check = vec![
        preflight::FLAG.to_string(),
        "--data-dir".to_string(),
        data_dir.to_string_lossy().into_owned(),
    ];
    if let Err(why) = stage::run_bounded(&binary, &check).await {
        let why = format!("preflight of the staged binary failed: {why}");
        tracing::warn!(%why, "upgrade refused");
        status::record(data_dir, Status::new("failed", &staged.version, &why)).await;
        let _ = tokio::fs::remove_file(&binary).await;
        return Err(UpgradeError::refused(why));
    }
    let running = Status::new("running", &staged.version, "");
    status::record(data_dir, running.clone()).await;
    let args = args.unwrap_or_else(exec::own_args);
    let (node, dir) = (node.clone(), data_dir.to_path_buf());
    tokio::spawn(async move {
        match node.raft.hand_over(HAND_OVER_TIMEOUT).await {
            Ok(to) => {
                tracing::info!(new_leader = ?to.map(|t| format!("{t:x}")), version = %staged.version,
                    "upgrading: stopping to exec the staged binary");
                exec::request(Plan { binary, args });
            }
            Err(e) => {
                let why = format!("could not hand leadership away: {e}");
                tracing::warn!(%why, "upgrade stopped; still serving");
                status::record(&dir, Status::new("failed", &staged.version, &why)).await;
            }
        }
    });
    Ok(running)
}
