//! Self-test of the cluster harness on a one-node cluster: kill, restart (identity kept),
//! pause/resume.

use std::time::Duration;

use anyhow::{ensure, Result};
use tests::cluster::{serial, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_single_node_lifecycle() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(1).await?;
    let l = c.leader().await?;
    ensure!(l == 0, "leader index {l}");
    let id = c.node(0).consensus_id().to_string();
    ensure!(!id.is_empty(), "no ConsensusID");

    c.node_mut(0).kill();
    ensure!(
        c.try_leader().await.is_none(),
        "a killed node still answers"
    );
    c.node_mut(0).restart().await?;
    ensure!(
        c.node(0).consensus_id() == id,
        "identity changed across restart"
    );
    c.wait_converged(1, Duration::from_secs(10)).await?;

    c.node_mut(0).pause()?;
    let r = c
        .node(0)
        .get("/info")
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    ensure!(
        r.is_err(),
        "a paused node answered: {:?}",
        r.map(|r| r.status)
    );
    c.node_mut(0).resume()?;
    c.wait_converged(1, Duration::from_secs(10)).await?;
    c.success();
    Ok(())
}
