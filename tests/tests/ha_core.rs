//! HA core: membership, replication, failover, durability, catch-up, bad enrolls, no-quorum
//! behaviour and idempotency — against real `drp-endpoint` processes on loopback.
//!
//! Run: `cargo test -p tests --test ha_core` (builds `drp-endpoint` itself, or set
//! `DRP_ENDPOINT_BIN`). Tests take a global lock and run one at a time.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::{json, Value};
use tests::cluster::{serial, wait_for, Cluster, Opts, Start};
use tests::http::{HDR_COMMIT, HDR_COUNT, HDR_LEADER};
use tests::workload::{self, create_profiles, missing, profile_names, BackgroundWriter};

/// Followers of `leader` among the live nodes.
fn followers(c: &Cluster, leader: usize) -> Vec<usize> {
    c.live().into_iter().filter(|&i| i != leader).collect()
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:05}")).collect()
}

/// `HEAD /profiles` count on node `i`.
async fn profile_count(c: &Cluster, i: usize, stale: bool) -> Result<u64> {
    let mut req = c.node(i).head("/profiles");
    if stale {
        req = req.stale();
    }
    let r = req.send().await?.expect(200)?;
    r.header(HDR_COUNT)
        .ok_or_else(|| anyhow!("HEAD /profiles: no {HDR_COUNT} header"))?
        .parse::<u64>()
        .context("count header")
}

/// Every name in `acked` is readable (linearizable GET) on node `i`.
async fn assert_all_readable(c: &Cluster, i: usize, acked: &BTreeSet<String>) -> Result<()> {
    let have = profile_names(&c.http, &c.node(i).url(), false).await?;
    let (n, some) = missing(acked, &have);
    ensure!(
        n == 0,
        "{}: {n} acknowledged profiles missing, e.g. {some:?}",
        c.node(i).name
    );
    Ok(())
}

// 1 -------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t1_bootstrap_and_join_three_voters() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let l = c.wait_converged(3, Duration::from_secs(10)).await?;
    let leader_id = c.node(l).consensus_id().to_string();
    let all_ids: BTreeSet<String> = c
        .nodes
        .iter()
        .map(|n| n.consensus_id().to_string())
        .collect();
    ensure!(
        all_ids.len() == 3,
        "ConsensusIDs are not distinct: {all_ids:?}"
    );
    for i in c.live() {
        let n = c.node(i);
        let st = n.state().await?;
        ensure!(
            st.voters().len() == 3,
            "{}: voters {:?}",
            n.name,
            st.voter_ids()
        );
        ensure!(
            st.leaders().len() == 1,
            "{}: leaders {:?}",
            n.name,
            st.leaders()
        );
        ensure!(
            st.leader_id == leader_id,
            "{}: LeaderID {} != {leader_id}",
            n.name,
            st.leader_id
        );
        ensure!(
            st.leaders()[0].consensus_id == leader_id,
            "{}: leader role on the wrong node",
            n.name
        );
        ensure!(
            st.ha_id == c.ha_id,
            "{}: HaID {} != {}",
            n.name,
            st.ha_id,
            c.ha_id
        );
        let ids: BTreeSet<String> = st.nodes.iter().map(|x| x.consensus_id.clone()).collect();
        ensure!(
            ids == all_ids,
            "{}: member ids {ids:?} != {all_ids:?}",
            n.name
        );
        for m in &st.nodes {
            let owner = c
                .index_of(&m.consensus_id)
                .ok_or_else(|| anyhow!("unknown member {}", m.consensus_id))?;
            ensure!(
                m.consensus_addr == c.node(owner).consensus_addr(),
                "{}: member {} ConsensusAddr {} != {}",
                n.name,
                m.consensus_id,
                m.consensus_addr,
                c.node(owner).consensus_addr()
            );
        }
        let id: String = n
            .get("/system/consensus/id")
            .send()
            .await?
            .expect(200)?
            .json()?;
        ensure!(id == n.consensus_id(), "id changed");
        let lid: String = n
            .get("/system/consensus/leader")
            .send()
            .await?
            .expect(200)?
            .json()?;
        ensure!(lid == leader_id, "{}: /leader says {lid}", n.name);
        let peers: Vec<Value> = n
            .get("/system/consensus/peers")
            .send()
            .await?
            .expect(200)?
            .json()?;
        ensure!(peers.len() == 3, "{}: peers {peers:?}", n.name);
        let info = n.get("/info").send().await?.expect(200)?;
        ensure!(
            info.header(HDR_LEADER).as_deref() == Some(leader_id.as_str()),
            "{}: X-DRP-Leader {:?}",
            n.name,
            info.header(HDR_LEADER)
        );
        let info = info.value()?;
        for k in [
            "id",
            "version",
            "ha_id",
            "ha_enabled",
            "ha_is_active",
            "ha_active_id",
            "api_port",
        ] {
            ensure!(info.get(k).is_some(), "{}: /info lacks {k}: {info}", n.name);
        }
        ensure!(
            info["ha_enabled"] == json!(true),
            "{}: ha_enabled {}",
            n.name,
            info["ha_enabled"]
        );
    }
    c.success();
    Ok(())
}

// 2 -------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t2_write_via_follower_readable_everywhere() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let l = c.leader().await?;
    let fs = followers(&c, l);
    let f = fs[0];
    // Nothing else writes: the profile's log entry comes after this.
    let before = c.node(l).state().await?.commit_index;

    let resp = c
        .node(f)
        .create_profile("t2", json!({"color": "blue", "n": 7}))
        .await?
        .expect(201)?;
    let created = resp.value()?;
    ensure!(created["Name"] == json!("t2"), "created body {created}");
    let write_index: u64 = resp
        .header(HDR_COMMIT)
        .ok_or_else(|| anyhow!("write response without {HDR_COMMIT}"))?
        .parse()
        .context("commit index header")?;
    // The follower answers as soon as the leader applied the write, maybe before it learns
    // that index committed: the answer still names the write's own index.
    ensure!(
        write_index > before,
        "write via follower answered at commit index {write_index}, not past {before} before it"
    );
    ensure!(
        resp.header(HDR_LEADER).as_deref() == Some(c.node(l).consensus_id()),
        "write via follower: X-DRP-Leader {:?}",
        resp.header(HDR_LEADER)
    );

    // Linearizable reads on every member see it at once.
    for i in c.live() {
        let n = c.node(i);
        let r = n.get("/profiles/t2").send().await?.expect(200)?;
        let read_index: u64 = r
            .header(HDR_COMMIT)
            .ok_or_else(|| anyhow!("{}: read without {HDR_COMMIT}", n.name))?
            .parse()
            .context("commit index header")?;
        ensure!(
            read_index >= write_index,
            "{}: read at commit index {read_index} < the write's {write_index}",
            n.name
        );
        let p = r.value()?;
        ensure!(p["Params"]["color"] == json!("blue"), "{}: {p}", n.name);
        let v = n
            .get("/profiles/t2/params/n")
            .send()
            .await?
            .expect(200)?
            .value()?;
        ensure!(v == json!(7), "{}: param n = {v}", n.name);
    }

    // A param write (key with '/') via the other follower.
    let f2 = fs[1];
    c.node(f2)
        .post("/profiles/t2/params/bench/value")
        .json(&json!("x".repeat(64)))
        .send()
        .await?
        .expect(200)?;
    for i in c.live() {
        let v = c
            .node(i)
            .get("/profiles/t2/params/bench/value")
            .send()
            .await?
            .expect(200)?
            .value()?;
        ensure!(
            v == json!("x".repeat(64)),
            "{}: bench/value = {v}",
            c.node(i).name
        );
        let all = c
            .node(i)
            .get("/profiles/t2/params")
            .send()
            .await?
            .expect(200)?
            .value()?;
        ensure!(
            all.get("bench/value").is_some(),
            "{}: params {all}",
            c.node(i).name
        );
    }

    // Stale (local) reads on the followers eventually see both writes.
    for &i in &fs {
        let n = c.node(i);
        wait_for(
            Duration::from_secs(5),
            &format!("stale read on {}", n.name),
            async || {
                let r = n.get("/profiles/t2").stale().send().await?;
                if r.status != 200 {
                    return Ok(None);
                }
                let p = r.value()?;
                Ok((p["Params"].get("bench/value").is_some()).then_some(()))
            },
        )
        .await?;
    }

    // Unknown object: 404 with a DRP error body.
    let r = c.node(f).get("/profiles/nope").send().await?;
    ensure!(r.status == 404, "missing profile: {}", r.status);
    ensure!(
        !r.messages().is_empty(),
        "404 without Messages: {}",
        r.text()
    );
    c.success();
    Ok(())
}

// 3 -------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t3_leader_kill_fast_failover_no_loss() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let l = c.leader().await?;
    let bases: Vec<String> = c.live().iter().map(|&i| c.node(i).url()).collect();
    let mut acked =
        create_profiles(&c.http, &bases, names("t3", 60), 8, Duration::from_secs(30)).await?;
    let old_id = c.node(l).consensus_id().to_string();
    // Writes racing the kill: every one acknowledged must survive too.
    let writer = BackgroundWriter::start(&c.http, bases.clone(), "t3-race", 2);
    wait_for(Duration::from_secs(10), "racing writes", async || {
        Ok((writer.acked_count() >= 3).then_some(()))
    })
    .await?;

    let t0 = Instant::now();
    c.node_mut(l).kill();
    let nl = wait_for(Duration::from_secs(10), "a new leader", async || {
        Ok(c.try_leader().await.filter(|&i| i != l))
    })
    .await?;
    let elected = t0.elapsed();
    ensure!(
        c.node(nl).consensus_id() != old_id,
        "new leader has the old id"
    );
    eprintln!("t3: new leader {} after {elected:?}", c.node(nl).name);
    let target = writer.acked_count() + 3;
    wait_for(
        Duration::from_secs(10),
        "writes after the failover",
        async || Ok((writer.acked_count() >= target).then_some(())),
    )
    .await?;
    let report = writer.stop().await?;
    eprintln!(
        "t3: racing writer: {} acked, {} failed",
        report.acked.len(),
        report.failed
    );
    acked.extend(report.acked);
    ensure!(
        elected < Duration::from_secs(2),
        "new leader took {elected:?} (> 2 s)"
    );

    for i in c.live() {
        let n = c.node(i);
        // The first linearizable read may race the new leader's first commit: allow retries.
        wait_for(
            Duration::from_secs(5),
            &format!("{} to serve reads", n.name),
            async || Ok((n.get("/profiles/t3-00000").send().await?.status == 200).then_some(())),
        )
        .await?;
        assert_all_readable(&c, i, &acked).await?;
    }
    for i in c.live() {
        let n = c.node(i);
        let name = format!("t3-after-{}", n.name);
        let r = wait_for(
            Duration::from_secs(5),
            &format!("a write via {}", n.name),
            async || {
                let r = workload::post_profile(&c.http, &n.url(), &name, Duration::from_secs(3))
                    .await?;
                Ok((r.status == 201).then_some(r))
            },
        )
        .await?;
        ensure!(r.value()?["Name"] == json!(name), "write body {}", r.text());
    }
    c.success();
    Ok(())
}

// 4 -------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t4_kill_all_restart_keeps_acked_writes() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let bases: Vec<String> = c.live().iter().map(|&i| c.node(i).url()).collect();
    let mut acked = create_profiles(
        &c.http,
        &bases,
        names("t4", 200),
        16,
        Duration::from_secs(60),
    )
    .await?;
    // A param write acknowledged just before the crash.
    c.node(0)
        .post("/profiles/t4-00000/params/last")
        .json(&json!("before-crash"))
        .send()
        .await?
        .expect(200)?;
    acked.insert("t4-00000".into());

    for i in 0..c.nodes.len() {
        c.node_mut(i).kill();
    }
    for i in 0..c.nodes.len() {
        c.node_mut(i).spawn(Start::Restart)?;
    }
    for i in 0..c.nodes.len() {
        c.node_mut(i).wait_ready(Duration::from_secs(20)).await?;
    }
    let l = c.wait_converged(3, Duration::from_secs(20)).await?;
    assert_all_readable(&c, l, &acked).await?;
    let v = c
        .node(l)
        .get("/profiles/t4-00000/params/last")
        .send()
        .await?
        .expect(200)?
        .value()?;
    ensure!(v == json!("before-crash"), "param after restart: {v}");
    c.wait_caught_up(Duration::from_secs(20)).await?;
    for i in c.live() {
        let have = profile_names(&c.http, &c.node(i).url(), true).await?;
        let (n, some) = missing(&acked, &have);
        ensure!(
            n == 0,
            "{} (stale read): {n} missing, e.g. {some:?}",
            c.node(i).name
        );
    }
    // And the cluster still takes writes.
    c.node(l)
        .create_profile("t4-after", json!({}))
        .await?
        .expect(201)?;
    c.success();
    Ok(())
}

// 5 -------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t5_follower_catches_up_across_snapshot() -> Result<()> {
    let _g = serial().await;
    let total: usize = std::env::var("DRP_T5_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let opts = Opts {
        extra_args: vec!["--snapshot-every".into(), "500".into()],
        ..Opts::default()
    };
    let mut c = Cluster::start_with(3, opts).await?;
    let l = c.leader().await?;
    let f = followers(&c, l)[0];
    // Profiles the endpoint itself may create (e.g. a `global` profile) are not ours.
    let baseline = profile_count(&c, l, false).await? as usize;
    c.node_mut(f).kill();

    let t0 = Instant::now();
    let acked = create_profiles(
        &c.http,
        &[c.node(l).url()],
        names("bulk", total),
        32,
        Duration::from_secs(150),
    )
    .await?;
    let took = t0.elapsed();
    eprintln!(
        "t5: {total} writes in {took:?} ({:.0}/s)",
        total as f64 / took.as_secs_f64()
    );
    ensure!(acked.len() == total, "acked {} of {total}", acked.len());
    let commit = c.node(l).state().await?.commit_index;

    let t1 = Instant::now();
    c.node_mut(f).restart().await?;
    let fnode = c.node(f);
    wait_for(
        Duration::from_secs(90),
        &format!("{} to apply index {commit}", fnode.name),
        async || {
            let st = fnode.state().await?;
            Ok((st.applied_index >= commit).then_some(()))
        },
    )
    .await?;
    eprintln!(
        "t5: {} caught up to {commit} in {:?}",
        fnode.name,
        t1.elapsed()
    );

    let count = profile_count(&c, f, true).await?;
    ensure!(
        count as usize == total + baseline,
        "{}: HEAD count {count} != {total} + {baseline} pre-existing",
        fnode.name
    );
    let have = profile_names(&c.http, &fnode.url(), true).await?;
    let (n, some) = missing(&acked, &have);
    ensure!(
        n == 0,
        "{}: {n} profiles missing after catch-up, e.g. {some:?}",
        fnode.name
    );
    let leader_count = profile_count(&c, l, false).await?;
    ensure!(
        leader_count as usize == total + baseline,
        "leader count {leader_count}"
    );
    let snap_lines = fnode
        .log()
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("snapshot"))
        .count();
    eprintln!(
        "t5: {snap_lines} log lines of {} mention snapshots",
        fnode.name
    );
    c.success();
    Ok(())
}

// 6 -------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t6_grow_to_five_shrink_to_three_under_load() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let bases: Vec<String> = c.live().iter().map(|&i| c.node(i).url()).collect();
    let writer = BackgroundWriter::start(&c.http, bases, "t6", 2);
    wait_for(Duration::from_secs(10), "background writes", async || {
        Ok((writer.acked_count() >= 5).then_some(()))
    })
    .await?;

    let t0 = Instant::now();
    let a = c.add_node().await?;
    eprintln!(
        "t6: 4th voter after {:?} ({} acked)",
        t0.elapsed(),
        writer.acked_count()
    );
    let b = c.add_node().await?;
    eprintln!(
        "t6: 5th voter after {:?} ({} acked)",
        t0.elapsed(),
        writer.acked_count()
    );
    c.wait_converged(5, Duration::from_secs(20)).await?;
    let at_five = writer.acked_count();

    // Remove two non-leaders: one original member and one of the new ones.
    for pick in [vec![0, 1, 2], vec![a, b]] {
        let l = c.leader().await?;
        let victim = pick
            .into_iter()
            .find(|&i| i != l && !c.node(i).is_retired())
            .ok_or_else(|| anyhow!("no non-leader to remove"))?;
        let id = c.node(victim).consensus_id().to_string();
        let before = c.node(l).state().await?.voters().len();
        c.remove_member(&id).await?;
        let l = c.wait_leader(Duration::from_secs(10)).await?;
        let ln = &c.node(l);
        wait_for(
            Duration::from_secs(20),
            &format!("{id} removed"),
            async || {
                let st = ln.state().await?;
                Ok((!st.nodes.iter().any(|n| n.consensus_id == id)
                    && st.voters().len() == before - 1)
                    .then_some(()))
            },
        )
        .await?;
        c.node_mut(victim).retire();
        eprintln!(
            "t6: removed {} after {:?} ({} acked)",
            c.node(victim).name,
            t0.elapsed(),
            writer.acked_count()
        );
    }
    let l = c.wait_converged(3, Duration::from_secs(20)).await?;
    // Keep writing a little on the final configuration.
    let target = writer.acked_count() + 5;
    wait_for(
        Duration::from_secs(10),
        "writes after the shrink",
        async || Ok((writer.acked_count() >= target).then_some(())),
    )
    .await?;
    let report = writer.stop().await?;
    eprintln!(
        "t6: {} acked ({at_five} by the time of 5 voters), {} failed; first failures: {:?}",
        report.acked.len(),
        report.failed,
        report.failures.iter().take(5).collect::<Vec<_>>()
    );
    for i in c.live() {
        let st = c.node(i).state().await?;
        ensure!(
            st.voters().len() == 3,
            "{}: final voters {:?}",
            c.node(i).name,
            st.voter_ids()
        );
        ensure!(
            st.nodes.len() == 3,
            "{}: final members {:?}",
            c.node(i).name,
            st.membership()
        );
    }
    assert_all_readable(&c, l, &report.acked).await?;
    for i in c.live() {
        assert_all_readable(&c, i, &report.acked).await?;
    }
    c.success();
    Ok(())
}

// 7 -------------------------------------------------------------------------------------------

/// `POST /system/consensus/enroll` on node `i` (raw body), retried for up to 10 s while the
/// answer is 409 "another membership change is in progress" (a join that is still settling),
/// so each case exercises its own validation path.
async fn enroll(c: &Cluster, i: usize, body: Vec<u8>) -> Result<tests::http::Resp> {
    let start = Instant::now();
    loop {
        let r = c
            .node(i)
            .post("/system/consensus/enroll")
            .raw_json(body.clone())
            .timeout(Duration::from_secs(40))
            .send()
            .await?;
        let busy = r.status == 409 && r.text().contains("in progress");
        if !busy || start.elapsed() > Duration::from_secs(10) {
            return Ok(r);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t7_bad_enrolls_rejected_membership_unchanged() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let l = c.leader().await?;
    let f = followers(&c, l)[0];
    let before = c.node(l).state().await?.membership();
    let dead_consensus = tests::cluster::free_port()?;
    let dead_api = tests::cluster::free_port()?;
    let cases: Vec<(&str, Option<Value>, &str)> = vec![
        (
            "unreachable address",
            Some(
                json!({"ConsensusAddr": format!("127.0.0.1:{dead_consensus}"),
                        "ApiUrl": format!("http://127.0.0.1:{dead_api}"), "Observer": false}),
            ),
            "",
        ),
        (
            "malformed JSON",
            None,
            "{\"ConsensusAddr\": \"127.0.0.1:1\", ",
        ),
        (
            "missing ConsensusAddr",
            Some(json!({"ApiUrl": "http://127.0.0.1:1", "Observer": false})),
            "",
        ),
        (
            "wrong type",
            Some(json!({"ConsensusAddr": 42, "ApiUrl": true})),
            "",
        ),
    ];
    let mut problems = Vec::new();
    for (what, body, raw) in cases {
        for target in [l, f] {
            let raw = match &body {
                Some(b) => b.to_string().into_bytes(),
                None => raw.as_bytes().to_vec(),
            };
            let t0 = Instant::now();
            let r = enroll(&c, target, raw)
                .await
                .with_context(|| format!("{what} via {}", c.node(target).name))?;
            eprintln!(
                "t7: {what} via {}: {} in {:?}: {}",
                c.node(target).name,
                r.status,
                t0.elapsed(),
                r.text()
            );
            if !r.is_client_error() {
                problems.push(format!(
                    "{what} via {}: status {} (want 4xx): {}",
                    c.node(target).name,
                    r.status,
                    r.text()
                ));
            } else if r.messages().is_empty() {
                problems.push(format!(
                    "{what} via {}: {} without Messages: {}",
                    c.node(target).name,
                    r.status,
                    r.text()
                ));
            }
        }
    }
    // A member's own address again (exact duplicate, or with another ApiUrl): the endpoint may
    // treat it as an idempotent re-enrol of that same member (200) or refuse it (4xx); either
    // way nothing changes.
    for (what, api) in [
        ("exact duplicate", c.node(f).url()),
        (
            "member address, other ApiUrl",
            format!("http://127.0.0.1:{dead_api}"),
        ),
    ] {
        let dup =
            json!({"ConsensusAddr": c.node(f).consensus_addr(), "ApiUrl": api, "Observer": false});
        let r = enroll(&c, l, dup.to_string().into_bytes()).await?;
        eprintln!(
            "t7: {what} of {}: {} {}",
            c.node(f).name,
            r.status,
            r.text()
        );
        if !(r.is_client_error() || r.is_success()) {
            problems.push(format!("{what}: status {}: {}", r.status, r.text()));
        }
    }

    // An address held by a member but now answered by a DIFFERENT node: wipe the other
    // follower and start it empty (a new identity, joining, so it holds a member certificate
    // and answers on the consensus port) on the same ports, then enrol that address. Its own
    // enrol attempts are refused the same way.
    let other = followers(&c, l)[1];
    c.node_mut(other).wipe()?;
    let leader_url = c.node(l).url();
    c.node_mut(other).spawn(Start::Join(vec![leader_url]))?;
    c.node_mut(other)
        .wait_ready(Duration::from_secs(20))
        .await?;
    let body = json!({"ConsensusAddr": c.node(other).consensus_addr(), "ApiUrl": c.node(other).url(), "Observer": false});
    let r = enroll(&c, l, body.to_string().into_bytes()).await?;
    eprintln!(
        "t7: address held by a different member: {} {}",
        r.status,
        r.text()
    );
    if !r.is_client_error() || r.messages().is_empty() {
        problems.push(format!(
            "address held by a different member: status {} (want 4xx with Messages): {}",
            r.status,
            r.text()
        ));
    }
    c.node_mut(other).retire();

    // Membership stays as it was, on every member, for a while.
    let hold = Instant::now();
    while hold.elapsed() < Duration::from_secs(1) {
        for i in c.live() {
            let m = c.node(i).state().await?.membership();
            if m != before {
                problems.push(format!(
                    "{}: membership changed: {before:?} -> {m:?}",
                    c.node(i).name
                ));
            }
        }
        if problems.iter().any(|p| p.contains("membership changed")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.wait_converged(3, Duration::from_secs(10)).await?;
    if !problems.is_empty() {
        bail!("bad enrolls:\n  {}", problems.join("\n  "));
    }
    c.success();
    Ok(())
}

// 8 -------------------------------------------------------------------------------------------

/// A write to `target` must come back 503/504 within 15 s.
async fn assert_no_quorum_write(c: &Cluster, target: usize, name: &str) -> Result<()> {
    let t0 = Instant::now();
    let r = workload::post_profile(
        &c.http,
        &c.node(target).url(),
        name,
        Duration::from_secs(20),
    )
    .await;
    let took = t0.elapsed();
    let r = r.with_context(|| {
        format!(
            "write without quorum via {} (after {took:?})",
            c.node(target).name
        )
    })?;
    eprintln!(
        "t8: write without quorum via {}: {} in {took:?}: {}",
        c.node(target).name,
        r.status,
        r.text()
    );
    ensure!(took < Duration::from_secs(15), "took {took:?}");
    ensure!(
        r.status == 503 || r.status == 504,
        "write without quorum via {}: {} (want 503/504): {}",
        c.node(target).name,
        r.status,
        r.text()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t8_no_quorum_write_fails_fast() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;

    // (a) Both followers die: the leader alone cannot commit.
    let l = c.leader().await?;
    let fs = followers(&c, l);
    for &f in &fs {
        c.node_mut(f).kill();
    }
    assert_no_quorum_write(&c, l, "t8-a").await?;

    // Recover.
    for &f in &fs {
        c.node_mut(f).restart().await?;
    }
    let l = c.wait_converged(3, Duration::from_secs(20)).await?;
    c.node(l)
        .create_profile("t8-recovered-1", json!({}))
        .await?
        .expect(201)?;

    // (b) The leader and one follower die: the survivor has no leader to forward to.
    let f = followers(&c, l)[0];
    let other = followers(&c, l)[1];
    c.node_mut(l).kill();
    c.node_mut(other).kill();
    assert_no_quorum_write(&c, f, "t8-b").await?;

    c.node_mut(l).restart().await?;
    let l2 = c.wait_leader(Duration::from_secs(20)).await?;
    let n = c.node(l2);
    wait_for(
        Duration::from_secs(10),
        "a write after quorum returns",
        async || {
            let r =
                workload::post_profile(&c.http, &n.url(), "t8-recovered-2", Duration::from_secs(5))
                    .await?;
            Ok((r.status == 201).then_some(()))
        },
    )
    .await?;
    c.success();
    Ok(())
}

// 9 -------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t9_idempotency_keys() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let l = c.leader().await?;
    let f = followers(&c, l)[0];

    // (a) Same key twice: same status and body, one object. A machine POST without Uuid
    // generates one, so a double apply would show as two machines.
    let body = json!({"Name": "idem-m1", "Description": "idempotency"});
    let r1 = c
        .node(f)
        .post("/machines")
        .json(&body)
        .idem("k1")
        .send()
        .await?
        .expect(201)?;
    let r2 = c
        .node(l)
        .post("/machines")
        .json(&body)
        .idem("k1")
        .send()
        .await?;
    ensure!(
        r2.status == r1.status,
        "replay status {} != {}: {}",
        r2.status,
        r1.status,
        r2.text()
    );
    ensure!(
        r2.value()? == r1.value()?,
        "replay body differs:\n{}\n{}",
        r1.text(),
        r2.text()
    );
    let machines: Vec<Value> = c
        .node(l)
        .get("/machines")
        .send()
        .await?
        .expect(200)?
        .json()?;
    let same: Vec<&Value> = machines
        .iter()
        .filter(|m| m["Name"] == json!("idem-m1"))
        .collect();
    ensure!(same.len() == 1, "machines named idem-m1: {same:?}");
    // Profiles too; and a replay via another member.
    let p1 = c
        .node(l)
        .post("/profiles")
        .json(&json!({"Name": "idem-p1"}))
        .idem("k2")
        .send()
        .await?
        .expect(201)?;
    let p2 = c
        .node(f)
        .post("/profiles")
        .json(&json!({"Name": "idem-p1"}))
        .idem("k2")
        .send()
        .await?;
    ensure!(
        p2.status == 201 && p2.value()? == p1.value()?,
        "profile replay: {} {}",
        p2.status,
        p2.text()
    );

    // (b) Outcome unknown: send via a follower, kill the leader at once, retry after failover.
    let key = "k-failover";
    let req_body = json!({"Name": "idem-x", "Params": {"v": 1}});
    let first = {
        let http = c.http.clone();
        let url = c.node(f).api("/profiles");
        let b = req_body.clone();
        tokio::spawn(async move {
            http.post(url)
                .json(&b)
                .idem(key)
                .timeout(Duration::from_secs(2))
                .send()
                .await
        })
    };
    c.node_mut(l).kill();
    let first = first.await.context("first attempt task")?;
    match &first {
        Ok(r) => eprintln!("t9: first attempt: {} {}", r.status, r.text()),
        Err(e) => eprintln!("t9: first attempt: {e:#}"),
    }
    c.wait_leader(Duration::from_secs(10)).await?;
    let survivors = c.live();
    let mut results = Vec::new();
    for &s in &survivors {
        let n = c.node(s);
        let r = wait_for(
            Duration::from_secs(10),
            &format!("retry via {}", n.name),
            async || {
                let r = n
                    .post("/profiles")
                    .json(&req_body)
                    .idem(key)
                    .timeout(Duration::from_secs(3))
                    .send()
                    .await?;
                Ok((r.status < 500).then_some(r))
            },
        )
        .await?;
        eprintln!("t9: retry via {}: {} {}", n.name, r.status, r.text());
        ensure!(
            r.status == 201,
            "retry via {} must replay 201, got {}: {}",
            n.name,
            r.status,
            r.text()
        );
        results.push(r.value()?);
    }
    ensure!(
        results.windows(2).all(|w| w[0] == w[1]),
        "retries differ: {results:?}"
    );
    if let Ok(r) = &first {
        if r.status == 201 {
            ensure!(
                r.value()? == results[0],
                "first 201 {} != replay {}",
                r.text(),
                results[0]
            );
        }
    }
    // A different request body under a used key must not silently replay or apply.
    let r = c
        .node(survivors[0])
        .post("/profiles")
        .json(&json!({"Name": "idem-other"}))
        .idem(key)
        .send()
        .await?;
    eprintln!(
        "t9: other body under the same key: {} {}",
        r.status,
        r.text()
    );
    let other = c
        .node(survivors[0])
        .get("/profiles/idem-other")
        .send()
        .await?;
    ensure!(
        (r.status == 201 && r.value()? == results[0] || r.is_client_error()) && other.status == 404,
        "same key, different body: {} {} (profile idem-other: {})",
        r.status,
        r.text(),
        other.status
    );

    // (c) Outcome unknown, deterministic flavour: the leader is frozen (SIGSTOP) when the
    // write arrives at a follower, so the client times out; then the frozen leader is killed
    // and the write retried after failover.
    c.node_mut(l).restart().await?;
    let l = c.wait_converged(3, Duration::from_secs(20)).await?;
    let f = followers(&c, l)[0];
    c.node_mut(l).pause()?;
    let key = "k-frozen";
    let req_body = json!({"Name": "idem-y", "Params": {"v": 2}});
    let first = c
        .node(f)
        .post("/profiles")
        .json(&req_body)
        .idem(key)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    eprintln!(
        "t9: write while the leader is frozen: {:?}",
        first.as_ref().map(|r| (r.status, r.text()))
    );
    c.node_mut(l).kill();
    c.wait_leader(Duration::from_secs(10)).await?;
    let mut replies = Vec::new();
    for s in c.live() {
        let n = c.node(s);
        let r = wait_for(
            Duration::from_secs(10),
            &format!("retry via {}", n.name),
            async || {
                let r = n
                    .post("/profiles")
                    .json(&req_body)
                    .idem(key)
                    .timeout(Duration::from_secs(3))
                    .send()
                    .await?;
                Ok((r.status < 500).then_some(r))
            },
        )
        .await?;
        eprintln!(
            "t9: frozen-leader retry via {}: {} {}",
            n.name,
            r.status,
            r.text()
        );
        ensure!(
            r.status == 201,
            "retry via {} must be 201, got {}: {}",
            n.name,
            r.status,
            r.text()
        );
        replies.push(r.value()?);
    }
    ensure!(
        replies.windows(2).all(|w| w[0] == w[1]),
        "retries differ: {replies:?}"
    );
    c.success();
    Ok(())
}
