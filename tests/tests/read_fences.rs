//! The read fence each row of the endpoint's route table declares, applied by its router
//! rather than by each handler (issue 12), seen from outside on a member that lost its quorum:
//! a linearizable read is refused with 503 while the same read with `X-DRP-Stale-Read: true`
//! answers from the member's own state; a row that is always linearizable (the snapshot) is
//! refused even then; a row answered from the member's own view needs no quorum.
//!
//! Run: `cargo test -p tests --test read_fences` (builds `drp-endpoint` itself, or set
//! `DRP_ENDPOINT_BIN`).

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::json;
use tests::cluster::{serial, wait_for, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_table_fences_reads_on_a_member_without_quorum() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let l = c.leader().await?;
    c.node(l)
        .create_profile("fenced-1", json!({}))
        .await?
        .expect(201)?;
    // A linearizable read on every member sees the write (the fence passes with a quorum).
    for i in c.live() {
        c.node(i)
            .get("/profiles/fenced-1")
            .send()
            .await?
            .expect(200)?;
    }

    // The leader and one follower stop: the survivor can no longer confirm a read index.
    let survivor = c
        .live()
        .into_iter()
        .find(|&i| i != l)
        .context("a follower")?;
    for i in c.live().into_iter().filter(|&i| i != survivor) {
        c.node_mut(i).kill();
    }
    let n = c.node(survivor);

    let linearizable = n.get("/profiles/fenced-1").send().await?;
    ensure!(
        linearizable.status == 503,
        "a linearizable read without quorum: {} {}",
        linearizable.status,
        linearizable.text()
    );
    // HEAD is fenced as its GET row declares.
    let head = n.head("/profiles/fenced-1").send().await?;
    ensure!(head.status == 503, "HEAD without quorum: {}", head.status);

    let stale = n.get("/profiles/fenced-1").stale().send().await?;
    ensure!(
        stale.status == 200 && stale.value()?["Name"] == "fenced-1",
        "a stale read answers from this member: {} {}",
        stale.status,
        stale.text()
    );
    let listed = n.get("/profiles").stale().send().await?;
    ensure!(listed.status == 200, "a stale list: {}", listed.status);

    // Always linearizable: the stale-read header does not lift the fence.
    let snapshot = n.get("/system/consensus/snapshot").stale().send().await?;
    ensure!(
        snapshot.status == 503,
        "the snapshot without quorum, stale read asked: {} {}",
        snapshot.status,
        snapshot.text()
    );

    // A row answered from this member's own view has no fence.
    wait_for(
        Duration::from_secs(30),
        "the survivor's own view of the cluster",
        async || {
            let r = n.get("/system/consensus/state").send().await?;
            Ok((r.status == 200).then_some(()))
        },
    )
    .await?;
    c.success();
    Ok(())
}
