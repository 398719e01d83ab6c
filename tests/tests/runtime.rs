//! Issue 13 on a real 3-node cluster: workflows run to completion through `drp-agent`, job
//! state changes and logs are replicated, a leader killed mid-task loses nothing and runs
//! nothing twice, a failed task stops the machine and resumes once fixed, and bad input is
//! refused without changing the store.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use tests::cluster::{agent_bin, serial, wait_for, Cluster, Node};
use tests::http::Resp;

const M1: &str = "7a1c4a8e-0001-4c4f-9d0a-5a1e00000001";
const M2: &str = "7a1c4a8e-0002-4c4f-9d0a-5a1e00000002";

/// A task whose one script appends `<name>` to `ran` and prints a line, after `extra`.
fn task(name: &str, ran: &Path, extra: &str) -> Value {
    let script = format!(
        "#!/usr/bin/env bash\nset -e\n{extra}\necho {name} >> {}\necho hello from {name}\n",
        ran.display()
    );
    json!({"Name": name, "Templates": [{"Name": format!("{name}.sh"), "Contents": script}]})
}

/// Tasks t1..t3 (t2's script starts with `t2_extra`), stages s1..s3 (s1 in bootenv `local`),
/// workflow `wf`.
async fn content(n: &Node, ran: &Path, t2_extra: &str) -> Result<()> {
    n.post("/bootenvs")
        .json(&json!({"Name": "local"}))
        .send()
        .await?
        .expect(201)?;
    for (i, extra) in [(1, ""), (2, t2_extra), (3, "")] {
        let t = format!("t{i}");
        n.post("/tasks")
            .json(&task(&t, ran, extra))
            .send()
            .await?
            .expect(201)?;
        let mut stage = json!({"Name": format!("s{i}"), "Tasks": [t]});
        if i == 1 {
            stage["BootEnv"] = json!("local");
        }
        n.post("/stages").json(&stage).send().await?.expect(201)?;
    }
    n.post("/workflows")
        .json(&json!({"Name": "wf", "Stages": ["s1", "s2", "s3"]}))
        .send()
        .await?
        .expect(201)?;
    Ok(())
}

async fn machine(n: &Node, uuid: &str, name: &str, workflow: &str) -> Result<Value> {
    n.post("/machines")
        .json(&json!({"Uuid": uuid, "Name": name, "Workflow": workflow}))
        .send()
        .await?
        .expect(201)?
        .value()
}

async fn token(n: &Node, uuid: &str) -> Result<String> {
    let t = n
        .get(&format!("/machines/{uuid}/token"))
        .send()
        .await?
        .expect(200)?
        .value()?;
    Ok(t["Token"].as_str().context("Token")?.to_string())
}

async fn patch(n: &Node, path: &str, ops: Value) -> Result<Resp> {
    n.http()
        .request(Method::PATCH, n.api(path))
        .raw_json(ops.to_string())
        .send()
        .await
}

fn ran_lines(ran: &Path) -> Vec<String> {
    std::fs::read_to_string(ran)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

struct Agent {
    child: tokio::process::Child,
    log: PathBuf,
}

impl Agent {
    /// `drp-agent --once`.
    async fn start(endpoints: &[&Node], uuid: &str, token: &str, dir: &Path) -> Result<Agent> {
        Agent::spawn(endpoints, uuid, token, dir, &["--once"]).await
    }

    /// `drp-agent` with `extra` flags (no `--once`: it runs until it exits by itself or is
    /// stopped).
    async fn spawn(
        endpoints: &[&Node],
        uuid: &str,
        token: &str,
        dir: &Path,
        extra: &[&str],
    ) -> Result<Agent> {
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &tests::tls::test_tls().ca_pem)?;
        let work = dir.join("machine");
        std::fs::create_dir_all(&work)?;
        let log = dir.join(format!("agent-{}.log", uuid::Uuid::new_v4()));
        let out = std::fs::File::create(&log)?;
        let urls: Vec<String> = endpoints.iter().map(|n| n.url()).collect();
        let child = tokio::process::Command::new(agent_bin()?)
            .arg("--endpoints")
            .arg(urls.join(","))
            .args(["--machine", uuid])
            .args(extra)
            .arg("--ca")
            .arg(&ca)
            .arg("--work-dir")
            .arg(&work)
            .env("RS_TOKEN", token)
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .context("starting drp-agent")?;
        Ok(Agent { child, log })
    }

    /// The agent's exit code, within `timeout`.
    async fn exit_code(&mut self, timeout: Duration) -> Result<i32> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => Ok(status?.code().unwrap_or(-1)),
            Err(_) => bail!(
                "drp-agent still running after {timeout:?}:\n{}",
                self.output()
            ),
        }
    }

    /// Sends SIGTERM (the agent's clean stop).
    fn terminate(&self) -> Result<()> {
        let pid = self.child.id().context("the agent already exited")?;
        // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
        let rc = unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        ensure!(rc == 0, "kill: {}", std::io::Error::last_os_error());
        Ok(())
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn jobs_of(n: &Node, uuid: &str) -> Result<Vec<Value>> {
    let list = n
        .get(&format!("/jobs?Machine=Eq({uuid})&sort=StartTime"))
        .send()
        .await?
        .expect(200)?
        .value()?;
    Ok(list.as_array().cloned().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_runs_to_complete_through_a_follower() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let tmp = tempfile::tempdir()?;
    let ran = tmp.path().join("ran.txt");
    let leader = c.leader().await?;
    let f = (leader + 1) % 3;
    let follower = c.node(f);
    content(follower, &ran, "").await?;

    let m = machine(follower, M1, "m1", "wf").await?;
    ensure!(
        m["Tasks"]
            == json!([
                "stage:s1",
                "bootenv:local",
                "t1",
                "stage:s2",
                "t2",
                "stage:s3",
                "t3"
            ]),
        "{m}"
    );
    ensure!(
        m["Stage"] == "s1" && m["BootEnv"] == "local" && m["CurrentTask"] == 1,
        "{m}"
    );
    ensure!(
        m["Runnable"] == true && m["WorkflowComplete"] == false,
        "{m}"
    );
    // Server-maintained fields are not the client's to set.
    let put = follower
        .put(&format!("/machines/{M1}"))
        .json(&json!({"Name": "m1", "Workflow": "wf", "CurrentTask": 6, "WorkflowComplete": true, "Stage": "s3"}))
        .send()
        .await?
        .expect(200)?
        .value()?;
    ensure!(
        put["CurrentTask"] == 1 && put["WorkflowComplete"] == false && put["Stage"] == "s1",
        "{put}"
    );

    let t = token(follower, M1).await?;
    let mut agent = Agent::start(&[follower], M1, &t, tmp.path()).await?;
    let code = agent.exit_code(Duration::from_secs(90)).await?;
    ensure!(code == 0, "agent exited {code}:\n{}", agent.output());
    ensure!(
        agent.output().contains("running task t2"),
        "{}",
        agent.output()
    );
    ensure!(
        ran_lines(&ran) == ["t1", "t2", "t3"],
        "{:?}",
        ran_lines(&ran)
    );

    let m = c
        .node(leader)
        .get(&format!("/machines/{M1}"))
        .send()
        .await?
        .value()?;
    ensure!(
        m["WorkflowComplete"] == true && m["Stage"] == "s3" && m["CurrentTask"] == 6,
        "{m}"
    );
    let jobs = jobs_of(c.node(leader), M1).await?;
    ensure!(jobs.len() == 3, "{jobs:?}");
    for (job, name) in jobs.iter().zip(["t1", "t2", "t3"]) {
        ensure!(
            job["Task"] == name && job["State"] == "finished" && job["ExitState"] == "complete",
            "{job}"
        );
        let uuid = job["Uuid"].as_str().context("Uuid")?;
        // Replicated: every member serves the log.
        for i in 0..3 {
            let log = c
                .node(i)
                .get(&format!("/jobs/{uuid}/log"))
                .send()
                .await?
                .expect(200)?
                .text();
            ensure!(
                log.contains(&format!("hello from {name}")),
                "member {i}: {log}"
            );
        }
    }
    // Nothing left: a new job request answers 204 and creates nothing.
    let none = follower
        .post("/jobs")
        .json(&json!({"Machine": M1}))
        .send()
        .await?;
    ensure!(none.status == 204, "{}: {}", none.status, none.text());
    ensure!(jobs_of(follower, M1).await?.len() == 3);
    c.success();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_mid_task_loses_nothing_and_runs_nothing_twice() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let tmp = tempfile::tempdir()?;
    let ran = tmp.path().join("ran.txt");
    let started = tmp.path().join("t2-started");
    let release = tmp.path().join("t2-release");
    let hold = format!(
        "touch {}\nwhile [ ! -e {} ]; do sleep 0.05; done",
        started.display(),
        release.display()
    );
    let leader = c.leader().await?;
    let f = (leader + 1) % 3;
    content(c.node(f), &ran, &hold).await?;
    machine(c.node(f), M1, "m1", "wf").await?;
    let t = token(c.node(f), M1).await?;
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let endpoints = [c.node(others[0]), c.node(others[1]), c.node(leader)];
    let mut agent = Agent::start(&endpoints, M1, &t, tmp.path()).await?;

    wait_for(Duration::from_secs(60), "t2 to start", async || {
        Ok(started.exists().then_some(()))
    })
    .await
    .with_context(|| agent.output())?;
    c.node_mut(leader).kill();
    std::fs::write(&release, b"go")?;
    let code = agent.exit_code(Duration::from_secs(120)).await?;
    ensure!(code == 0, "agent exited {code}:\n{}", agent.output());
    // Each task ran exactly once, t2 across the failover included.
    ensure!(
        ran_lines(&ran) == ["t1", "t2", "t3"],
        "{:?}\n{}",
        ran_lines(&ran),
        agent.output()
    );
    let n = c.node(others[0]);
    let jobs = jobs_of(n, M1).await?;
    ensure!(jobs.len() == 3, "one job per task: {jobs:?}");
    ensure!(jobs.iter().all(|j| j["State"] == "finished"), "{jobs:?}");
    let m = n.get(&format!("/machines/{M1}")).send().await?.value()?;
    ensure!(m["WorkflowComplete"] == true, "{m}");
    c.success();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_task_stops_the_machine_and_resumes_once_fixed() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let tmp = tempfile::tempdir()?;
    let ran = tmp.path().join("ran.txt");
    let leader = c.leader().await?;
    let n = c.node((leader + 1) % 3);
    content(n, &ran, "echo 'boom: disk on fire'; exit 3").await?;
    machine(n, M1, "m1", "wf").await?;
    let t = token(n, M1).await?;

    let mut agent = Agent::start(&[n], M1, &t, tmp.path()).await?;
    let code = agent.exit_code(Duration::from_secs(90)).await?;
    ensure!(
        code == 1,
        "a failed task ends --once non-zero, got {code}:\n{}",
        agent.output()
    );
    ensure!(ran_lines(&ran) == ["t1"], "{:?}", ran_lines(&ran));
    let m = n.get(&format!("/machines/{M1}")).send().await?.value()?;
    ensure!(
        m["Runnable"] == false && m["WorkflowComplete"] == false && m["CurrentTask"] == 4,
        "{m}"
    );
    let jobs = jobs_of(n, M1).await?;
    let failed = jobs.last().context("a job")?;
    ensure!(
        failed["Task"] == "t2" && failed["State"] == "failed" && failed["ExitState"] == "failed",
        "{failed}"
    );
    let errors = failed["ResultErrors"].to_string();
    ensure!(
        errors.contains("boom: disk on fire"),
        "the log tail is in the job: {failed}"
    );
    // Not runnable: nothing to run.
    let none = n.post("/jobs").json(&json!({"Machine": M1})).send().await?;
    ensure!(none.status == 204, "{}", none.status);

    // Fix the task, make the machine runnable: it resumes from t2, t1 is not run again.
    n.put("/tasks/t2")
        .json(&task("t2", &ran, ""))
        .send()
        .await?
        .expect(200)?;
    patch(
        n,
        &format!("/machines/{M1}"),
        json!([{"op": "replace", "path": "/Runnable", "value": true}]),
    )
    .await?
    .expect(200)?;
    let mut agent = Agent::start(&[n], M1, &t, tmp.path()).await?;
    let code = agent.exit_code(Duration::from_secs(90)).await?;
    ensure!(code == 0, "agent exited {code}:\n{}", agent.output());
    ensure!(
        ran_lines(&ran) == ["t1", "t2", "t3"],
        "{:?}",
        ran_lines(&ran)
    );
    c.success();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_runtime_input_is_refused_and_changes_nothing() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let tmp = tempfile::tempdir()?;
    let ran = tmp.path().join("ran.txt");
    let n = c.node(0);
    content(n, &ran, "").await?;

    // An unknown workflow: stored, not available, the reason named, nothing to run.
    let m = machine(n, M2, "m2", "no-such-workflow").await?;
    ensure!(m["Available"] == false, "{m}");
    ensure!(
        m["Errors"]
            .to_string()
            .contains("workflows/no-such-workflow"),
        "{m}"
    );
    ensure!(m["Tasks"] == json!([]), "{m}");
    let none = n.post("/jobs").json(&json!({"Machine": M2})).send().await?;
    ensure!(none.status == 204, "{}", none.status);
    ensure!(jobs_of(n, M2).await?.is_empty());

    // A job of machine 1, touched with machine 2's token: 403, the job unchanged.
    machine(n, M1, "m1", "wf").await?;
    let job = n
        .post("/jobs")
        .json(&json!({"Machine": M1}))
        .send()
        .await?
        .expect(201)?
        .value()?;
    let job_uuid = job["Uuid"].as_str().context("Uuid")?.to_string();
    ensure!(job["State"] == "created" && job["Task"] == "t1", "{job}");
    let again = n
        .post("/jobs")
        .json(&json!({"Machine": M1}))
        .send()
        .await?
        .expect(202)?
        .value()?;
    ensure!(
        again["Uuid"] == job["Uuid"],
        "a job in progress is handed out again: {again}"
    );
    let t2 = token(n, M2).await?;
    let as_m2 = n.http().with_token(&t2);
    let r = as_m2
        .request(Method::PATCH, n.api(&format!("/jobs/{job_uuid}")))
        .raw_json(json!([{"op": "replace", "path": "/State", "value": "failed"}]).to_string())
        .send()
        .await?;
    ensure!(r.status == 403, "{}: {}", r.status, r.text());
    let r = as_m2
        .post(n.api("/jobs"))
        .json(&json!({"Machine": M1}))
        .send()
        .await?;
    ensure!(r.status == 403, "{}: {}", r.status, r.text());
    let r = as_m2.get(n.api(&format!("/machines/{M1}"))).send().await?;
    ensure!(r.status == 403, "{}: {}", r.status, r.text());
    let after = n.get(&format!("/jobs/{job_uuid}")).send().await?.value()?;
    ensure!(after == job, "unchanged: {after}");
    // Its own token works.
    let t1 = token(n, M1).await?;
    let as_m1 = n.http().with_token(&t1);
    as_m1
        .request(Method::PATCH, n.api(&format!("/jobs/{job_uuid}")))
        .raw_json(json!([{"op": "replace", "path": "/State", "value": "running"}]).to_string())
        .send()
        .await?
        .expect(200)?;
    // An ended job stays ended; a bogus state is named.
    let r = patch(
        n,
        &format!("/jobs/{job_uuid}"),
        json!([{"op": "replace", "path": "/State", "value": "bogus"}]),
    )
    .await?;
    ensure!(
        r.status == 422 && r.text().contains("bogus"),
        "{}",
        r.text()
    );

    // The job log is bounded: an append past 1 MiB is refused whole.
    let big = "x".repeat(700 << 10);
    as_m1
        .put(n.api(&format!("/jobs/{job_uuid}/log")))
        .header("Content-Type", "text/plain")
        .raw_json(big.clone())
        .send()
        .await?
        .expect(204)?;
    let r = as_m1
        .put(n.api(&format!("/jobs/{job_uuid}/log")))
        .raw_json("y".repeat(400 << 10))
        .send()
        .await?;
    ensure!(
        r.status == 413 && r.text().contains("limit"),
        "{}: {}",
        r.status,
        r.text()
    );
    let log = c
        .node(1)
        .get(&format!("/jobs/{job_uuid}/log"))
        .send()
        .await?
        .expect(200)?
        .text();
    ensure!(
        log == big,
        "the log holds only the first append ({} bytes)",
        log.len()
    );
    c.success();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_render_with_drp_data_and_bad_ones_are_refused() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let tmp = tempfile::tempdir()?;
    let ran = tmp.path().join("ran.txt");
    let n = c.node(1);
    n.post("/params")
        .json(&json!({"Name": "greeting", "Schema": {"type": "string", "default": "hi"}}))
        .send()
        .await?
        .expect(201)?;
    n.post("/profiles")
        .json(&json!({"Name": "site", "Params": {"greeting": "hello-from-profile"}}))
        .send()
        .await?
        .expect(201)?;
    n.post("/templates")
        .json(&json!({"ID": "motd.tmpl", "Contents": "machine {{.Machine.Name}} says {{.Param \"greeting\"}}\n"}))
        .send()
        .await?
        .expect(201)?;
    let script = format!(
        "#!/usr/bin/env bash\necho {{{{.Machine.Name}}}}-{{{{.Param \"greeting\"}}}} >> {}\n",
        ran.display()
    );
    n.post("/tasks")
        .json(&json!({"Name": "greet", "Templates": [
            {"Name": "motd", "Path": "/etc/motd", "ID": "motd.tmpl"},
            {"Name": "greet.sh", "Contents": script},
        ]}))
        .send()
        .await?
        .expect(201)?;
    n.post("/stages")
        .json(&json!({"Name": "hello", "Tasks": ["greet"]}))
        .send()
        .await?
        .expect(201)?;
    n.post("/workflows")
        .json(&json!({"Name": "hello-wf", "Stages": ["hello"]}))
        .send()
        .await?
        .expect(201)?;
    n.post("/machines")
        .json(&json!({"Uuid": M1, "Name": "m1", "Profiles": ["site"], "Workflow": "hello-wf"}))
        .send()
        .await?
        .expect(201)?;

    // The render route: params through the machine's profile.
    let text = n
        .get(&format!("/machines/{M1}/render?template=motd.tmpl"))
        .send()
        .await?
        .expect(200)?
        .text();
    ensure!(text == "machine m1 says hello-from-profile\n", "{text:?}");

    // The agent writes the file under its work dir and runs the rendered script.
    let t = token(n, M1).await?;
    let mut agent = Agent::start(&[n], M1, &t, tmp.path()).await?;
    let code = agent.exit_code(Duration::from_secs(90)).await?;
    ensure!(code == 0, "agent exited {code}:\n{}", agent.output());
    ensure!(
        ran_lines(&ran) == ["m1-hello-from-profile"],
        "{:?}",
        ran_lines(&ran)
    );
    let motd = std::fs::read_to_string(tmp.path().join("machine/etc/motd"))?;
    ensure!(motd == "machine m1 says hello-from-profile\n", "{motd:?}");

    // Without the profile's value, the param's default applies.
    n.post("/machines")
        .json(&json!({"Uuid": M2, "Name": "m2"}))
        .send()
        .await?
        .expect(201)?;
    let text = n
        .get(&format!("/machines/{M2}/render?template=motd.tmpl"))
        .send()
        .await?
        .expect(200)?
        .text();
    ensure!(text == "machine m2 says hi\n", "{text:?}");

    // A template with a syntax error is refused with its position, and nothing is stored.
    let bad = n
        .post("/templates")
        .json(&json!({"ID": "broken.tmpl", "Contents": "line one\n  {{ if .Machine.Name }\n"}))
        .send()
        .await?;
    ensure!(bad.status == 422, "{}: {}", bad.status, bad.text());
    let message = bad.messages().join(" ");
    ensure!(
        message.contains("broken.tmpl") && message.contains("line 2"),
        "{message}"
    );
    ensure!(n.get("/templates/broken.tmpl").send().await?.status == 404);
    let bad = n
        .post("/tasks")
        .json(
            &json!({"Name": "broken", "Templates": [{"Name": "b.sh", "Contents": "{{ .Param }"}]}),
        )
        .send()
        .await?;
    ensure!(
        bad.status == 422 && bad.text().contains("b.sh"),
        "{}: {}",
        bad.status,
        bad.text()
    );
    ensure!(n.get("/tasks/broken").send().await?.status == 404);
    c.success();
    Ok(())
}

/// A job's log.
async fn log_of(n: &Node, job: &str) -> Result<String> {
    Ok(n.get(&format!("/jobs/{job}/log"))
        .send()
        .await?
        .expect(200)?
        .text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_agent_fails_the_job_a_dead_agent_left_and_runs_on() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let tmp = tempfile::tempdir()?;
    let ran = tmp.path().join("ran.txt");
    let leader = c.leader().await?;
    let n = c.node((leader + 1) % 3);
    content(n, &ran, "").await?;
    machine(n, M1, "m1", "wf").await?;
    let t = token(n, M1).await?;
    // An agent that took t1 and died mid-task: its job stays running.
    let stale = n
        .http()
        .with_token(&t)
        .post(n.api("/jobs"))
        .json(&json!({"Machine": M1}))
        .send()
        .await?
        .expect(201)?
        .value()?;
    let stale_uuid = stale["Uuid"].as_str().context("Uuid")?.to_string();
    ensure!(stale["Task"] == "t1" && stale["Context"] == "", "{stale}");
    patch(
        n,
        &format!("/jobs/{stale_uuid}"),
        json!([{"op": "replace", "path": "/State", "value": "running"}]),
    )
    .await?
    .expect(200)?;

    let mut agent = Agent::start(&[n], M1, &t, tmp.path()).await?;
    let code = agent.exit_code(Duration::from_secs(90)).await?;
    ensure!(code == 0, "agent exited {code}:\n{}", agent.output());
    ensure!(
        agent
            .output()
            .contains(&format!("job {stale_uuid} was left running")),
        "{}",
        agent.output()
    );
    // The dead agent's job is failed and says why; t1 ran again in a new job, then the rest.
    let after = n
        .get(&format!("/jobs/{stale_uuid}"))
        .send()
        .await?
        .value()?;
    ensure!(after["State"] == "failed", "{after}");
    ensure!(
        log_of(n, &stale_uuid)
            .await?
            .contains("agent running this job is gone"),
        "the stale job's log says why"
    );
    ensure!(
        ran_lines(&ran) == ["t1", "t2", "t3"],
        "{:?}",
        ran_lines(&ran)
    );
    let jobs = jobs_of(n, M1).await?;
    let finished: Vec<&str> = jobs
        .iter()
        .filter(|j| j["State"] == "finished")
        .filter_map(|j| j["Task"].as_str())
        .collect();
    ensure!(jobs.len() == 4, "{jobs:?}");
    ensure!(
        finished.len() == 3 && ["t1", "t2", "t3"].iter().all(|t| finished.contains(t)),
        "{jobs:?}"
    );
    let m = n.get(&format!("/machines/{M1}")).send().await?.value()?;
    ensure!(m["WorkflowComplete"] == true, "{m}");
    c.success();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runs_only_while_the_machine_is_in_its_context() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let tmp = tempfile::tempdir()?;
    let ran = tmp.path().join("ran.txt");
    let leader = c.leader().await?;
    let n = c.node((leader + 1) % 3);
    content(n, &ran, "").await?;
    machine(n, M1, "m1", "wf").await?;
    let m = patch(
        n,
        &format!("/machines/{M1}"),
        json!([{"op": "replace", "path": "/Context", "value": "other"}]),
    )
    .await?
    .expect(200)?
    .value()?;
    ensure!(m["Context"] == "other", "{m}");
    // The server makes no job for another context's agent, and says what is wrong with a
    // context that is not a string.
    let none = n
        .post("/jobs")
        .json(&json!({"Machine": M1, "Context": ""}))
        .send()
        .await?;
    ensure!(none.status == 204, "{}: {}", none.status, none.text());
    let bad = n
        .post("/jobs")
        .json(&json!({"Machine": M1, "Context": 7}))
        .send()
        .await?;
    ensure!(
        bad.status == 422 && bad.text().contains("Context"),
        "{}: {}",
        bad.status,
        bad.text()
    );

    let t = token(n, M1).await?;
    // Re-reads only hourly: only the machine's event can wake it within the test.
    let mut agent = Agent::spawn(&[n], M1, &t, tmp.path(), &["--event-poll-secs", "3600"]).await?;
    wait_for(Duration::from_secs(60), "the agent to wait", async || {
        Ok(agent
            .output()
            .contains("waiting for runnable")
            .then_some(()))
    })
    .await
    .with_context(|| agent.output())?;
    ensure!(
        agent.output().contains("following the machine's events"),
        "{}",
        agent.output()
    );
    ensure!(jobs_of(n, M1).await?.is_empty(), "no job in context other");
    ensure!(ran_lines(&ran).is_empty());

    // Back in the default context: woken by the change, the waiting agent runs the workflow.
    patch(
        n,
        &format!("/machines/{M1}"),
        json!([{"op": "replace", "path": "/Context", "value": ""}]),
    )
    .await?
    .expect(200)?;
    wait_for(
        Duration::from_secs(90),
        "the workflow to complete",
        async || {
            let m = n.get(&format!("/machines/{M1}")).send().await?.value()?;
            Ok((m["WorkflowComplete"] == true).then_some(()))
        },
    )
    .await
    .with_context(|| agent.output())?;
    ensure!(
        ran_lines(&ran) == ["t1", "t2", "t3"],
        "{:?}",
        ran_lines(&ran)
    );
    let jobs = jobs_of(n, M1).await?;
    ensure!(
        jobs.len() == 3 && jobs.iter().all(|j| j["Context"] == ""),
        "{jobs:?}"
    );
    // It keeps waiting for new work until SIGTERM, then stops cleanly.
    agent.terminate()?;
    let code = agent.exit_code(Duration::from_secs(30)).await?;
    ensure!(code == 0, "agent exited {code}:\n{}", agent.output());
    c.success();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_stage_map_moves_the_machine_on_stop_ends_the_agent_and_a_bootenv_reboots(
) -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(3).await?;
    let tmp = tempfile::tempdir()?;
    let ran = tmp.path().join("ran.txt");
    let leader = c.leader().await?;
    let n = c.node((leader + 1) % 3);
    content(n, &ran, "").await?;
    // No workflow: the client picks the stage, and the map says what follows it.
    let m = n
        .post("/machines")
        .json(&json!({"Uuid": M1, "Name": "m1", "Stage": "s1",
            "Params": {"change-stage/map": {"s1": "s2:Success", "s2": "s3:Stop"}}}))
        .send()
        .await?
        .expect(201)?
        .value()?;
    ensure!(
        m["Tasks"] == json!(["stage:s1", "bootenv:local", "t1"])
            && m["Stage"] == "s1"
            && m["BootEnv"] == "local",
        "{m}"
    );
    // A stage that does not exist is named and changes nothing.
    let bad = patch(
        n,
        &format!("/machines/{M1}"),
        json!([{"op": "replace", "path": "/Stage", "value": "nope"}]),
    )
    .await?;
    ensure!(
        bad.status == 422 && bad.text().contains("stages/nope"),
        "{}: {}",
        bad.status,
        bad.text()
    );
    let same = n.get(&format!("/machines/{M1}")).send().await?.value()?;
    ensure!(
        same["Stage"] == "s1" && same["Tasks"] == m["Tasks"],
        "{same}"
    );

    let t = token(n, M1).await?;
    let mut agent = Agent::spawn(&[n], M1, &t, tmp.path(), &[]).await?;
    // `Stop` in the map ends the agent's run by itself (no --once, no signal).
    let code = agent.exit_code(Duration::from_secs(90)).await?;
    ensure!(code == 0, "agent exited {code}:\n{}", agent.output());
    let out = agent.output();
    ensure!(
        out.contains("changing stage from s1 to s2")
            && out.contains("changing stage from s2 to s3"),
        "{out}"
    );
    ensure!(
        out.contains("ChangeStage -> Exit(ExitState(\"stop\"))"),
        "{out}"
    );
    ensure!(ran_lines(&ran) == ["t1", "t2"], "{:?}", ran_lines(&ran));
    let m = n.get(&format!("/machines/{M1}")).send().await?.value()?;
    ensure!(
        m["Stage"] == "s3" && m["Tasks"] == json!(["stage:s3", "t3"]) && m["CurrentTask"] == 0,
        "{m}"
    );
    let jobs = jobs_of(n, M1).await?;
    ensure!(
        jobs.len() == 2 && jobs.iter().all(|j| j["State"] == "finished"),
        "{jobs:?}"
    );

    // A new agent runs s3 (nothing mapped after it) and waits; a stage in another bootenv
    // moves the machine there, and the agent reboots it (an exit here: it powers nothing).
    let mut agent = Agent::spawn(&[n], M1, &t, tmp.path(), &[]).await?;
    wait_for(
        Duration::from_secs(60),
        "the agent to wait after s3",
        async || {
            Ok(agent
                .output()
                .contains("waiting for a stage or task change")
                .then_some(()))
        },
    )
    .await
    .with_context(|| agent.output())?;
    ensure!(
        ran_lines(&ran) == ["t1", "t2", "t3"],
        "{:?}",
        ran_lines(&ran)
    );
    n.post("/bootenvs")
        .json(&json!({"Name": "sledgehammer"}))
        .send()
        .await?
        .expect(201)?;
    n.post("/stages")
        .json(&json!({"Name": "discover", "BootEnv": "sledgehammer", "Tasks": ["t1"]}))
        .send()
        .await?
        .expect(201)?;
    patch(
        n,
        &format!("/machines/{M1}"),
        json!([{"op": "replace", "path": "/Stage", "value": "discover"}]),
    )
    .await?
    .expect(200)?;
    let code = agent.exit_code(Duration::from_secs(90)).await?;
    ensure!(code == 0, "agent exited {code}:\n{}", agent.output());
    ensure!(
        agent.output().contains("WaitForChangeStage -> Reboot"),
        "{}",
        agent.output()
    );
    ensure!(
        ran_lines(&ran) == ["t1", "t2", "t3"],
        "nothing runs in the new bootenv before the reboot: {:?}",
        ran_lines(&ran)
    );
    c.success();
    Ok(())
}
