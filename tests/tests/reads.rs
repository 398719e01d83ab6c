//! Linearizable reads (issue 19) against a real 3-member cluster: a read after an
//! acknowledged write sees it on every member, and concurrent reads on the leader share
//! read-index rounds (counted by the leader's `drp_raft_read_index_batches` against its
//! per-read `drp_raft_read_index_rounds{role="leader"}`).

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;
use tests::cluster::{serial, Cluster, Opts};
use tests::fault::proxy::{slot_of_name, FaultNet, Rule};
use tests::http::{Http, HDR_COMMIT};

/// Reads fired at once at the leader.
const READERS: usize = 64;
/// Writers that each read their own write back through another member.
const WRITERS: usize = 24;
/// Leader → follower delay while the readers run: each round then takes at least this long,
/// so reads arriving together queue behind one round instead of racing ahead of it.
const ROUND_DELAY: Duration = Duration::from_millis(200);

/// A counter's value in a Prometheus text exposition (0 when absent).
fn counter(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// (read-index rounds run, leader-local linearizable reads fenced) on the node at `url`.
async fn read_counters(http: &Http, url: &str) -> Result<(f64, f64)> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .ok()
        .context("GET /metrics")?
        .text();
    Ok((
        counter(&text, "drp_raft_read_index_batches_total "),
        counter(&text, "drp_raft_read_index_rounds_total{role=\"leader\"} "),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_share_rounds_and_see_acknowledged_writes() -> Result<()> {
    let _g = serial().await;
    if !tests::fault::scenarios::proxy_supported()? {
        eprintln!("SKIPPED: drp-endpoint has no --consensus-source-ip");
        return Ok(());
    }
    let net = FaultNet::start(3).await?;
    // Long election timeouts: the delay below must not look like a dead leader.
    let opts = Opts {
        extra_args: vec!["--election-timeout-ms".into(), "3000".into()],
        ..Opts::default()
    };
    let mut c = Cluster::start_with(3, net.opts(opts)).await?;
    let l = c.wait_converged(3, Duration::from_secs(60)).await?;

    // Read your write, across members: each writer creates a profile through one member and
    // reads it at once through the next (a follower's read asks the leader for a read index).
    let urls: Vec<String> = c.nodes.iter().map(|n| n.api("")).collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|k| {
            let (http, urls) = (c.http.clone(), urls.clone());
            tokio::spawn(async move {
                let name = format!("ryw-{k}");
                let body = json!({"Name": name, "Params": {"k": k}});
                let write = &urls[k % 3];
                http.post(format!("{write}/profiles"))
                    .json(&body)
                    .send()
                    .await?
                    .ok()?;
                let read = &urls[(k + 1) % 3];
                let got = http
                    .get(format!("{read}/profiles/{name}"))
                    .send()
                    .await?
                    .ok()
                    .with_context(|| format!("reading {name} back through {read}"))?
                    .value()?;
                anyhow::ensure!(
                    got["Params"]["k"] == json!(k),
                    "{name} read back through {read} as {got}"
                );
                anyhow::Ok(())
            })
        })
        .collect();
    for w in writers {
        w.await??;
    }

    // Concurrent reads on the leader, each round slowed to at least ROUND_DELAY.
    let slot = |i: usize| slot_of_name(&c.nodes[i].name).context("node slot");
    for f in (0..3).filter(|&i| i != l) {
        net.set(slot(l)?, slot(f)?, Rule::Delay(ROUND_DELAY));
    }
    let leader = c.nodes[l].url();
    let before = read_counters(&c.http, &leader).await?;
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (http, url) = (c.http.clone(), urls[l].clone());
            tokio::spawn(async move {
                let got = http
                    .get(format!("{url}/profiles/ryw-0"))
                    .timeout(Duration::from_secs(60))
                    .send()
                    .await?
                    .ok()?
                    .value()?;
                anyhow::ensure!(got["Params"]["k"] == json!(0), "read {got}");
                anyhow::Ok(())
            })
        })
        .collect();
    for r in readers {
        r.await??;
    }

    // A write through a follower that learns of commits late (the delay above): its answer
    // still names an index at or past the write's own, which is past the leader's commit
    // index before it (nothing else writes now).
    let f = (0..3).find(|&i| i != l).context("a follower")?;
    let committed = c.nodes[l].state().await?.commit_index;
    let resp = c
        .http
        .post(format!("{}/profiles", urls[f]))
        .json(&json!({"Name": "late-follower"}))
        .send()
        .await?
        .ok()?;
    let answered: u64 = resp
        .header(HDR_COMMIT)
        .context("write answer without X-DRP-Commit-Index")?
        .parse()?;
    assert!(
        answered > committed,
        "a write through a lagging follower answered at commit index {answered}, \
         not past the {committed} committed before it"
    );
    net.heal();
    let after = read_counters(&c.http, &leader).await?;
    let rounds = after.0 - before.0;
    let reads = after.1 - before.1;
    println!("{reads} linearizable reads on the leader took {rounds} read-index rounds");
    assert!(
        reads >= READERS as f64,
        "{reads} reads fenced, expected {READERS}"
    );
    assert!(rounds >= 1.0, "no read-index round counted");
    assert!(
        rounds * 4.0 <= reads,
        "{reads} concurrent reads took {rounds} rounds: they were not coalesced"
    );
    c.success();
    Ok(())
}
