//! Issue 4 on a real 3-node cluster: a VersionSet apply is one entry every member holds
//! whole; the same key commits once; a bad or conflicting set changes nothing; the leader
//! killed right after receiving an apply, then the same key retried: applied exactly once.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tests::cluster::{serial, wait_for, Cluster};

fn apply_body(pack_version: &str, pref: &str) -> Value {
    let file = b"hello from a versionset\n";
    json!({
        "VersionSet": {
            "Id": "site",
            "Components": [{"Type": "CP", "Name": "vs-pack", "Version": pack_version}],
            "Prefs": {"vs/pref": pref},
            "Global": {"ntp/servers": ["10.0.0.1"]},
            "Files": [{"Path": "vs/hello.txt", "Sha256Sum": hex::encode(Sha256::digest(file)), "Source": "self://vs/hello.txt"}]
        },
        "Contents": [{"meta": {"Name": "vs-pack", "Version": pack_version},
                      "sections": {"profiles": {"vs-profile": {"Name": "vs-profile", "Params": {"v": pack_version}}}}}],
        "Files": {"vs/hello.txt": base64::engine::general_purpose::STANDARD.encode(file)}
    })
}

async fn applied(c: &Cluster, i: usize) -> Result<Value> {
    c.node(i)
        .get("/system/versionset")
        .send()
        .await?
        .expect(200)?
        .value()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versionset_apply_is_atomic_and_exactly_once() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let l = c.leader().await?;
    let f = c
        .live()
        .into_iter()
        .find(|&i| i != l)
        .context("a follower")?;

    let first = c
        .node(f)
        .post("/system/versionset/apply")
        .json(&apply_body("v1.0.0", "one"))
        .idem("vs-1")
        .send()
        .await?
        .expect(200)?
        .value()?;
    let index = first["Index"].as_u64().context("Index")?;
    for i in c.live() {
        let n = c.node(i);
        ensure!(
            n.get("/prefs").send().await?.value()?["vs/pref"] == json!("one"),
            "member {i} lacks the pref"
        );
        ensure!(
            n.get("/profiles/global/params/ntp/servers")
                .send()
                .await?
                .value()?
                == json!(["10.0.0.1"])
        );
        ensure!(n.get("/profiles/vs-profile").send().await?.value()?["Bundle"] == json!("vs-pack"));
        ensure!(n.get("/files/vs/hello.txt").send().await?.text() == "hello from a versionset\n");
        ensure!(
            applied(&c, i).await?["Index"] == json!(index),
            "member {i} reports another applied index"
        );
    }

    // The same key again, through another member: the first reply, nothing committed.
    let commit_before = c.node(l).state().await?.commit_index;
    let again = c
        .node(l)
        .post("/system/versionset/apply")
        .json(&apply_body("v1.0.0", "one"))
        .idem("vs-1")
        .send()
        .await?
        .expect(200)?
        .value()?;
    ensure!(
        again == first,
        "a replay must return the first reply: {again} vs {first}"
    );
    ensure!(
        c.node(l).state().await?.commit_index == commit_before,
        "a replayed key must commit nothing"
    );

    // A component whose pack is neither installed nor supplied: 422 naming it, nothing changes.
    let mut bad = apply_body("v2.0.0", "two");
    bad["Contents"] = json!([]);
    let r = c
        .node(f)
        .post("/system/versionset/apply")
        .json(&bad)
        .idem("vs-bad")
        .send()
        .await?;
    ensure!(
        r.status == 422 && r.text().contains("vs-pack"),
        "bad component: {} {}",
        r.status,
        r.text()
    );
    // A pack that would overwrite a writable object: 409, and no part of the set lands.
    c.node(l)
        .post("/profiles")
        .json(&json!({"Name": "mine"}))
        .send()
        .await?
        .expect(201)?;
    let mut conflict = apply_body("v2.0.0", "two");
    conflict["Contents"][0]["sections"]["profiles"]["mine"] = json!({"Name": "mine"});
    let r = c
        .node(f)
        .post("/system/versionset/apply")
        .json(&conflict)
        .idem("vs-conflict")
        .send()
        .await?;
    ensure!(
        r.status == 409 && r.text().contains("profiles/mine"),
        "conflict: {} {}",
        r.status,
        r.text()
    );
    // A pack whose prerequisite is neither installed nor in the set: refused, naming it.
    let mut needs = apply_body("v2.0.0", "two");
    needs["Contents"][0]["meta"]["Prerequisites"] = json!("vs-base:>=1.0.0");
    let r = c
        .node(f)
        .post("/system/versionset/apply")
        .json(&needs)
        .idem("vs-needs")
        .send()
        .await?;
    ensure!(
        r.status == 409 && r.text().contains("vs-base"),
        "missing prerequisite: {} {}",
        r.status,
        r.text()
    );
    for i in c.live() {
        ensure!(
            c.node(i).get("/prefs").send().await?.value()?["vs/pref"] == json!("one"),
            "member {i}: a refused set changed prefs"
        );
        ensure!(applied(&c, i).await?["Index"] == json!(index));
    }

    // Leader killed right after receiving an apply; the client retries the same key.
    let l = c.leader().await?;
    let body = apply_body("v2.0.0", "three");
    let url = c.node(l).api("/system/versionset/apply");
    let http = c.node(l).http().clone();
    let inflight = tokio::spawn(async move {
        http.post(url)
            .json(&body)
            .idem("vs-2")
            .timeout(Duration::from_secs(2))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    c.node_mut(l).kill();
    let _ = inflight.await;
    let survivor = c.live()[0];
    let body = apply_body("v2.0.0", "three");
    let reply = wait_for(Duration::from_secs(20), "the retried apply", async || {
        let r = c
            .node(survivor)
            .post("/system/versionset/apply")
            .json(&body)
            .idem("vs-2")
            .send()
            .await?;
        ensure!(r.status == 200, "{} {}", r.status, r.text());
        Ok(Some(r.value()?))
    })
    .await?;
    let again = c
        .node(survivor)
        .post("/system/versionset/apply")
        .json(&apply_body("v2.0.0", "three"))
        .idem("vs-2")
        .send()
        .await?
        .expect(200)?
        .value()?;
    ensure!(
        again["Index"] == reply["Index"],
        "retries must all report the one commit: {again} vs {reply}"
    );
    for i in c.live() {
        let a = applied(&c, i).await?;
        ensure!(
            a["Key"] == json!("vs-2") && a["Index"] == reply["Index"],
            "member {i}: {a}"
        );
        ensure!(
            c.node(i)
                .get("/profiles/vs-profile/params/v")
                .send()
                .await?
                .value()?
                == json!("v2.0.0")
        );
    }
    // A prerequisite met by another pack of the same set: applied.
    let mut pair = apply_body("v3.0.0", "four");
    pair["VersionSet"]["Components"]
        .as_array_mut()
        .context("Components")?
        .push(json!({"Type": "CP", "Name": "vs-base", "Version": "v1.2.0"}));
    pair["Contents"][0]["meta"]["Prerequisites"] = json!("vs-base:>=1.0.0");
    pair["Contents"]
        .as_array_mut()
        .context("Contents")?
        .push(json!({"meta": {"Name": "vs-base", "Version": "v1.2.0"}, "sections": {}}));
    let live = *c.live().first().context("a live member")?;
    let r = c
        .node(live)
        .post("/system/versionset/apply")
        .json(&pair)
        .idem("vs-pair")
        .send()
        .await?;
    ensure!(
        r.status == 200,
        "prerequisite in the set: {} {}",
        r.status,
        r.text()
    );
    c.success();
    Ok(())
}
