//! Issue 3 on a real 3-node cluster: each object API behaviour, written through one member
//! and read through another (reads are linearizable, so what one member acknowledged is
//! what every member serves).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use tests::cluster::{serial, Cluster};
use tests::http::{Http, Resp, HDR_COUNT};

const M1: &str = "6d1c4a8e-0001-4c4f-9d0a-5a1e00000001";
const M2: &str = "6d1c4a8e-0002-4c4f-9d0a-5a1e00000002";
const M3: &str = "6d1c4a8e-0003-4c4f-9d0a-5a1e00000003";
const SECRET: &str = "hunter2-at-rest-check";

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["Name"].as_str().map(str::to_string))
        .collect()
}

fn message(r: &Resp) -> String {
    r.messages().join(" | ")
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(path.display().to_string());
                }
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_api_on_three_members() -> Result<()> {
    let _g = serial().await;
    let c = Cluster::start(3).await?;
    let (w, r) = (0, 1);
    let (writer, reader) = (c.node(w), c.node(r));

    // Validation: DRP's error shape, naming the field; nothing created.
    let bad = writer
        .post("/machines")
        .json(&json!({"Uuid": "not-a-uuid", "Name": "bad"}))
        .send()
        .await?
        .expect(422)?;
    let err = bad.value()?;
    ensure!(
        err["Model"] == json!("machines") || err["Model"] == json!("machine"),
        "{err}"
    );
    ensure!(
        err["Code"] == json!(422) && message(&bad).contains("Uuid"),
        "{err}"
    );
    ensure!(reader.get("/machines").send().await?.value()? == json!([]));

    // Machines: unique Name, lookups by index on another member.
    writer
        .post("/profiles")
        .json(&json!({"Name": "rack1", "Params": {"ntp": "10.0.0.1", "rank": 1}}))
        .send()
        .await?
        .expect(201)?;
    writer
        .post("/machines")
        .json(&json!({"Uuid": M1, "Name": "fred1", "Profiles": ["rack1"], "Params": {"rank": 5}}))
        .send()
        .await?
        .expect(201)?;
    let fred = reader
        .get("/machines/Name:fred1")
        .send()
        .await?
        .expect(200)?
        .value()?;
    ensure!(
        fred["Uuid"] == json!(M1) && fred["Available"] == json!(true),
        "{fred}"
    );
    let dup = reader
        .post("/machines")
        .json(&json!({"Uuid": M2, "Name": "fred1"}))
        .send()
        .await?
        .expect(409)?;
    ensure!(
        message(&dup).contains("fred1") && message(&dup).contains(M1),
        "{}",
        message(&dup)
    );
    writer
        .get(&format!("/machines/{M2}"))
        .send()
        .await?
        .expect(404)?;
    writer
        .post("/machines")
        .json(&json!({"Uuid": M2, "Name": "fred2"}))
        .send()
        .await?
        .expect(201)?;
    let rename = json!([{"op": "replace", "path": "/Name", "value": "fred1"}]);
    let refused = c
        .node(2)
        .http()
        .request(
            reqwest::Method::PATCH,
            c.node(2).api(&format!("/machines/{M2}")),
        )
        .json(&rename)
        .send()
        .await?
        .expect(409)?;
    ensure!(
        message(&refused).contains("unique"),
        "{}",
        message(&refused)
    );
    ensure!(reader.get("/machines/Name:fred2").send().await?.value()?["Uuid"] == json!(M2));
    let put = json!({"Uuid": M2, "Name": "fred3"});
    writer
        .put(&format!("/machines/{M2}"))
        .json(&put)
        .send()
        .await?
        .expect(200)?;
    reader
        .get("/machines/Name:fred2")
        .send()
        .await?
        .expect(404)?;
    ensure!(reader.get("/machines/Name:fred3").send().await?.value()?["Uuid"] == json!(M2));
    writer
        .delete(&format!("/machines/{M2}"))
        .send()
        .await?
        .expect(200)?;
    // The name is free again once its machine is gone.
    writer
        .post("/machines")
        .json(&json!({"Uuid": M3, "Name": "fred3", "Profiles": ["missing"]}))
        .send()
        .await?
        .expect(201)?;
    let dangling = reader
        .get(&format!("/machines/{M3}"))
        .send()
        .await?
        .value()?;
    ensure!(dangling["Available"] == json!(false), "{dangling}");
    ensure!(
        dangling["Errors"].to_string().contains("profiles/missing"),
        "{dangling}"
    );

    // Filters, sort and paging, with the HEAD count.
    for i in 1..=5 {
        writer
            .post("/profiles")
            .json(&json!({"Name": format!("f{i}"), "Description": format!("d{i}"), "Params": {"group": "t", "rank": i}}))
            .send()
            .await?
            .expect(201)?;
    }
    let select = |q: &'static str| async move {
        let resp = reader
            .get(&format!("/profiles?group=Eq(t)&{q}"))
            .send()
            .await?
            .expect(200)?;
        anyhow::Ok(names(&resp.value()?))
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    ensure!(select("rank=Lt(3)").await? == s(&["f1", "f2"]));
    ensure!(select("rank=Lte(3)").await? == s(&["f1", "f2", "f3"]));
    ensure!(select("rank=Gt(3)").await? == s(&["f4", "f5"]));
    ensure!(select("rank=Gte(4)").await? == s(&["f4", "f5"]));
    ensure!(select("rank=Ne(2)").await? == s(&["f1", "f3", "f4", "f5"]));
    ensure!(select("rank=Between(2,4)").await? == s(&["f2", "f3", "f4"]));
    ensure!(select("rank=Except(2,4)").await? == s(&["f1", "f5"]));
    ensure!(select("Description=Eq(d3)").await? == s(&["f3"]));
    ensure!(select("Name=f2").await? == s(&["f2"]));
    ensure!(select("sort=rank&reverse=true&offset=1&limit=2").await? == s(&["f4", "f3"]));
    let head = reader
        .head("/profiles?group=Eq(t)&rank=Gt(2)")
        .send()
        .await?
        .expect(200)?;
    ensure!(
        head.header(HDR_COUNT).as_deref() == Some("3"),
        "{:?}",
        head.headers
    );
    let unknown_op = reader
        .get("/profiles?rank=Near(2)")
        .send()
        .await?
        .expect(400)?;
    ensure!(
        message(&unknown_op).contains("Near"),
        "{}",
        message(&unknown_op)
    );

    // PATCH: a failed test rejects the whole patch and changes nothing.
    let patch = |body: Value| {
        writer
            .http()
            .request(reqwest::Method::PATCH, writer.api("/profiles/f1"))
            .json(&body)
    };
    patch(json!([
        {"op": "replace", "path": "/Description", "value": "changed"},
        {"op": "test", "path": "/Params/rank", "value": 99}
    ]))
    .send()
    .await?
    .expect(409)?;
    ensure!(reader.get("/profiles/f1").send().await?.value()?["Description"] == json!("d1"));
    patch(json!([
        {"op": "test", "path": "/Params/rank", "value": 1},
        {"op": "replace", "path": "/Description", "value": "patched"}
    ]))
    .send()
    .await?
    .expect(200)?;
    ensure!(reader.get("/profiles/f1").send().await?.value()?["Description"] == json!("patched"));

    // PUT replaces the whole object; If-Match guards it.
    let etag = writer
        .get("/profiles/f1")
        .send()
        .await?
        .header("etag")
        .context("ETag on GET")?;
    let replacement = json!({"Name": "f1", "Description": "replaced"});
    writer
        .put("/profiles/f1")
        .header("If-Match", "\"not-the-etag\"")
        .json(&replacement)
        .send()
        .await?
        .expect(412)?;
    writer
        .put("/profiles/f1")
        .header("If-Match", &etag)
        .json(&replacement)
        .send()
        .await?
        .expect(200)?;
    writer
        .put("/profiles/f1")
        .header("If-Match", &etag)
        .json(&replacement)
        .send()
        .await?
        .expect(412)?;
    let replaced = reader.get("/profiles/f1").send().await?.value()?;
    ensure!(
        replaced["Description"] == json!("replaced") && replaced["Params"] == json!({}),
        "{replaced}"
    );

    // Params, and their aggregate through profiles and `global`.
    writer
        .post("/profiles/global/params/dns")
        .json(&json!("10.0.0.53"))
        .send()
        .await?
        .expect(200)?;
    writer
        .post(&format!("/machines/{M1}/params/color"))
        .json(&json!("red"))
        .send()
        .await?
        .expect(200)?;
    ensure!(
        reader
            .get(&format!("/machines/{M1}/params/color"))
            .send()
            .await?
            .value()?
            == json!("red")
    );
    let own = reader
        .get(&format!("/machines/{M1}/params"))
        .send()
        .await?
        .value()?;
    ensure!(own == json!({"rank": 5, "color": "red"}), "{own}");
    let all = reader
        .get(&format!("/machines/{M1}/params?aggregate=true"))
        .send()
        .await?
        .value()?;
    ensure!(
        all == json!({"rank": 5, "color": "red", "ntp": "10.0.0.1", "dns": "10.0.0.53"}),
        "own params win over the profile's, then global: {all}"
    );
    writer
        .delete(&format!("/machines/{M1}/params/color"))
        .send()
        .await?
        .expect(200)?;
    reader
        .get(&format!("/machines/{M1}/params/color"))
        .send()
        .await?
        .expect(404)?;

    // Prefs.
    writer
        .post("/prefs")
        .json(&json!({"defaultBootEnv": "local", "unknownBootEnv": "discovery"}))
        .send()
        .await?
        .expect(200)?;
    let prefs = reader.get("/prefs").send().await?.value()?;
    ensure!(prefs["defaultBootEnv"] == json!("local"), "{prefs}");

    // Users, roles and tokens: claims decide what a user may do, on every member.
    writer
        .post("/roles")
        .json(&json!({"Name": "machine-reader", "Claims": [{"Scope": "machines", "Action": "get,list", "Specific": "*"}]}))
        .send()
        .await?
        .expect(201)?;
    let alice_created = writer
        .post("/users")
        .json(&json!({"Name": "alice", "Password": "alice-pw-1", "Roles": ["machine-reader"]}))
        .send()
        .await?
        .expect(201)?
        .text();
    ensure!(!alice_created.contains("alice-pw-1") && !alice_created.contains("PasswordHash"));
    let admin: &Http = reader.http();
    let alice = admin.as_user("alice", "alice-pw-1");
    alice
        .get(reader.api("/machines"))
        .send()
        .await?
        .expect(200)?;
    alice
        .get(reader.api(&format!("/machines/{M1}")))
        .send()
        .await?
        .expect(200)?;
    let denied = alice
        .get(reader.api("/profiles"))
        .send()
        .await?
        .expect(403)?;
    ensure!(
        message(&denied).contains("list on profiles"),
        "{}",
        message(&denied)
    );
    alice
        .post(reader.api("/machines"))
        .json(&json!({"Name": "nope"}))
        .send()
        .await?
        .expect(403)?;
    alice
        .delete(reader.api(&format!("/machines/{M1}")))
        .send()
        .await?
        .expect(403)?;
    admin
        .as_user("alice", "wrong")
        .get(reader.api("/machines"))
        .send()
        .await?
        .expect(401)?;
    let token = alice
        .get(reader.api("/users/alice/token?ttl=60"))
        .send()
        .await?
        .expect(200)?
        .value()?["Token"]
        .as_str()
        .context("Token")?
        .to_string();
    // A token from one member works on another, with the same claims.
    let bearer = admin.with_token(&token);
    bearer
        .get(c.node(2).api("/machines"))
        .send()
        .await?
        .expect(200)?;
    bearer
        .get(c.node(2).api("/profiles"))
        .send()
        .await?
        .expect(403)?;
    alice
        .get(reader.api("/users/rocketskates/token"))
        .send()
        .await?
        .expect(403)?;
    admin
        .with_token("eyJ1IjoiYWRtaW4ifQ.00")
        .get(reader.api("/machines"))
        .send()
        .await?
        .expect(401)?;

    // Secure params: sealed before they are proposed, opened only for getSecure.
    writer
        .post("/params")
        .json(&json!({"Name": "ipmi/password", "Secure": true, "Schema": {"type": "string"}}))
        .send()
        .await?
        .expect(201)?;
    // Keys may hold '/', sent as %2F.
    let def = reader
        .get("/params/ipmi%2Fpassword")
        .send()
        .await?
        .expect(200)?
        .value()?;
    ensure!(def["Secure"] == json!(true), "{def}");
    writer
        .post(&format!("/machines/{M1}/params/ipmi/password"))
        .json(&json!(SECRET))
        .send()
        .await?
        .expect(200)?;
    let sealed = reader
        .get(&format!("/machines/{M1}/params/ipmi/password"))
        .send()
        .await?
        .expect(200)?
        .value()?;
    ensure!(
        sealed["Payload"].is_string()
            && sealed["Nonce"].is_string()
            && !sealed.to_string().contains(SECRET),
        "{sealed}"
    );
    let opened = reader
        .get(&format!("/machines/{M1}/params/ipmi/password?decode=true"))
        .send()
        .await?
        .expect(200)?
        .value()?;
    ensure!(opened == json!(SECRET), "{opened}");
    let whole = reader
        .get(&format!("/machines/{M1}?decode=true"))
        .send()
        .await?
        .expect(200)?
        .value()?;
    ensure!(whole["Params"]["ipmi/password"] == json!(SECRET), "{whole}");
    let refused = alice
        .get(reader.api(&format!("/machines/{M1}/params/ipmi/password?decode=true")))
        .send()
        .await?
        .expect(403)?;
    ensure!(
        message(&refused).contains("getSecure"),
        "{}",
        message(&refused)
    );
    ensure!(!alice
        .get(reader.api(&format!("/machines/{M1}")))
        .send()
        .await?
        .text()
        .contains(SECRET));
    writer
        .post("/roles")
        .json(&json!({"Name": "secrets", "Claims": [{"Scope": "machines", "Action": "get,getSecure", "Specific": M1}]}))
        .send()
        .await?
        .expect(201)?;
    writer
        .post("/users")
        .json(&json!({"Name": "bob", "Password": "bob-pw-1", "Roles": ["secrets"]}))
        .send()
        .await?
        .expect(201)?;
    let bob = admin.as_user("bob", "bob-pw-1");
    let bobs = bob
        .get(
            c.node(2)
                .api(&format!("/machines/{M1}/params/ipmi/password?decode=true")),
        )
        .send()
        .await?
        .expect(200)?
        .value()?;
    ensure!(bobs == json!(SECRET), "{bobs}");
    // Inline in a created object, and through PATCH: sealed as well.
    writer
        .post("/machines")
        .json(&json!({"Uuid": M2, "Name": "fred4", "Params": {"ipmi/password": SECRET}}))
        .send()
        .await?
        .expect(201)?;
    writer
        .http()
        .request(
            reqwest::Method::PATCH,
            writer.api(&format!("/machines/{M3}")),
        )
        .json(&json!([{"op": "add", "path": "/Params/ipmi~1password", "value": SECRET}]))
        .send()
        .await?
        .expect(200)?;
    for m in [M2, M3] {
        let params = reader
            .get(&format!("/machines/{m}/params"))
            .send()
            .await?
            .value()?;
        ensure!(!params.to_string().contains(SECRET), "{m}: {params}");
    }
    // At rest: no member's data dir (Raft log, state machine, snapshots) nor log holds it.
    let mut leaks = BTreeSet::new();
    for i in c.live() {
        leaks.extend(files_containing(&c.node(i).data_dir(), SECRET.as_bytes()));
        ensure!(
            !c.node(i).log().contains(SECRET),
            "member {i} logged the secret"
        );
    }
    ensure!(
        leaks.is_empty(),
        "plaintext secure param at rest in {leaks:?}"
    );
    Ok(())
}

/// DRP's tenants and claims naming objects: a user sees, lists and changes only what its
/// tenant holds and its claims name, on every member; hidden objects answer as absent; a
/// second tenant for the same user, or one naming no collection, is refused with nothing
/// changed; the admin is never limited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_and_claims_limit_what_a_user_sees() -> Result<()> {
    let _g = serial().await;
    let c = Cluster::start(3).await?;
    let (writer, reader) = (c.node(0), c.node(1));
    for (uuid, name) in [(M1, "t1"), (M2, "t2"), (M3, "t3")] {
        writer
            .post("/machines")
            .json(&json!({"Uuid": uuid, "Name": name}))
            .send()
            .await?
            .expect(201)?;
    }
    for p in ["p1", "p2"] {
        writer
            .post("/profiles")
            .json(&json!({"Name": p}))
            .send()
            .await?
            .expect(201)?;
    }
    writer
        .post("/roles")
        .json(&json!({"Name": "ops", "Claims": [
            {"Scope": "machines", "Action": "get,list,update", "Specific": "*"},
            {"Scope": "profiles", "Action": "get,list", "Specific": "p1, p2"},
        ]}))
        .send()
        .await?
        .expect(201)?;
    writer
        .post("/users")
        .json(&json!({"Name": "carol", "Password": "carol-pw-1", "Roles": ["ops"]}))
        .send()
        .await?
        .expect(201)?;
    let admin: &Http = reader.http();
    let carol = admin.as_user("carol", "carol-pw-1");

    // A list claim naming objects: the listing holds just those (not `global`).
    let profiles = carol
        .get(reader.api("/profiles"))
        .send()
        .await?
        .expect(200)?;
    ensure!(
        names(&profiles.value()?) == ["p1", "p2"],
        "{}",
        profiles.text()
    );
    carol
        .get(reader.api("/profiles/global"))
        .send()
        .await?
        .expect(403)?;
    let all = carol
        .get(reader.api("/machines"))
        .send()
        .await?
        .expect(200)?;
    ensure!(names(&all.value()?).len() == 3, "{}", all.text());

    // A tenant holding two of the machines.
    writer
        .post("/tenants")
        .json(&json!({"Name": "blue", "Members": {"machines": [M1, M2]}, "Users": ["carol"]}))
        .send()
        .await?
        .expect(201)?;
    let listed = carol
        .get(reader.api("/machines"))
        .send()
        .await?
        .expect(200)?;
    ensure!(names(&listed.value()?) == ["t1", "t2"], "{}", listed.text());
    ensure!(listed.header("x-drp-list-total-count").as_deref() == Some("2"));
    let head = carol
        .head(reader.api("/machines"))
        .send()
        .await?
        .expect(200)?;
    ensure!(head.header(HDR_COUNT).as_deref() == Some("2"));
    carol
        .get(reader.api(&format!("/machines/{M1}")))
        .send()
        .await?
        .expect(200)?;
    carol
        .get(reader.api("/machines/Name:t2"))
        .send()
        .await?
        .expect(200)?;
    // Hidden: answered as absent, by key, by name, and for writes.
    let hidden = carol
        .get(reader.api(&format!("/machines/{M3}")))
        .send()
        .await?
        .expect(404)?;
    ensure!(!hidden.text().contains("t3"), "{}", hidden.text());
    carol
        .get(reader.api("/machines/Name:t3"))
        .send()
        .await?
        .expect(404)?;
    carol
        .request(
            reqwest::Method::PATCH,
            reader.api(&format!("/machines/{M3}")),
        )
        .json(&json!([{"op": "replace", "path": "/Description", "value": "x"}]))
        .send()
        .await?
        .expect(404)?;
    carol
        .request(
            reqwest::Method::PATCH,
            c.node(2).api(&format!("/machines/{M2}")),
        )
        .json(&json!([{"op": "replace", "path": "/Description", "value": "carol was here"}]))
        .send()
        .await?
        .expect(200)?;
    // Collections the tenant does not name are not limited by it.
    let profiles = carol
        .get(c.node(2).api("/profiles"))
        .send()
        .await?
        .expect(200)?;
    ensure!(names(&profiles.value()?) == ["p1", "p2"]);
    // The admin sees everything.
    ensure!(names(&reader.get("/machines").send().await?.value()?).len() == 3);
    let m3 = reader
        .get(&format!("/machines/{M3}"))
        .send()
        .await?
        .expect(200)?;
    ensure!(m3.value()?["Description"] == json!(""), "{}", m3.text());

    // Bad tenants: refused, naming the problem, with nothing stored.
    let twice = writer
        .post("/tenants")
        .json(&json!({"Name": "red", "Members": {}, "Users": ["carol"]}))
        .send()
        .await?
        .expect(422)?;
    ensure!(
        message(&twice).contains("carol is already in tenant blue"),
        "{}",
        message(&twice)
    );
    let unknown = writer
        .post("/tenants")
        .json(&json!({"Name": "red", "Members": {"nope": ["x"]}}))
        .send()
        .await?
        .expect(422)?;
    ensure!(
        message(&unknown).contains("\"nope\""),
        "{}",
        message(&unknown)
    );
    reader.get("/tenants/red").send().await?.expect(404)?;

    // Out of the tenant: everything is visible again.
    writer
        .http()
        .request(reqwest::Method::PATCH, writer.api("/tenants/blue"))
        .json(&json!([{"op": "replace", "path": "/Users", "value": []}]))
        .send()
        .await?
        .expect(200)?;
    let all = carol
        .get(reader.api("/machines"))
        .send()
        .await?
        .expect(200)?;
    ensure!(names(&all.value()?).len() == 3, "{}", all.text());
    Ok(())
}
