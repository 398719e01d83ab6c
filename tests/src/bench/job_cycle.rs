//! `drp-bench job-cycle`: jobs per second through DRP's full agent cycle (create the job,
//! mark it running, fetch its actions, append its log, finish it: five calls, four of them
//! Raft commits) with N concurrent agents, one machine each, on a 3-node cluster of real
//! `drp-endpoint` processes; and the p50/p99 of one whole cycle. The agents are in-process
//! HTTP loops (no bash), so this measures the server side of the protocol.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{json, Value};

use super::say;
use crate::cluster::{endpoint_bin, Cluster};
use crate::http::Http;
use crate::stats::{fmt_ms, percentile};

/// Tasks per machine's workflow. Small: every transition rewrites the machine, task list and
/// all. A machine that completes its workflow is restarted in it (not timed).
const TASKS_PER_MACHINE: usize = 50;

async fn setup(http: &Http, base: &str, agents: usize) -> Result<Vec<String>> {
    let post = |path: &str, body: Value| {
        let url = format!("{base}{path}");
        async move { http.post(url).json(&body).send().await?.ok() }
    };
    post(
        "/tasks",
        json!({"Name": "noop", "Templates": [{"Name": "noop.sh", "Contents": "#!/bin/sh\ntrue\n"}]}),
    )
    .await?;
    post(
        "/stages",
        json!({"Name": "loop", "Tasks": vec!["noop"; TASKS_PER_MACHINE]}),
    )
    .await?;
    post("/workflows", json!({"Name": "loop", "Stages": ["loop"]})).await?;
    let mut machines = Vec::new();
    for i in 0..agents {
        let uuid = uuid::Uuid::new_v4().to_string();
        post(
            "/machines",
            json!({"Uuid": uuid, "Name": format!("bench-{i}"), "Workflow": "loop"}),
        )
        .await?;
        machines.push(uuid);
    }
    Ok(machines)
}

/// Puts a machine whose workflow is complete back at its start.
async fn restart_workflow(http: &Http, base: &str, machine: &str) -> Result<()> {
    for wf in ["", "loop"] {
        http.request(Method::PATCH, format!("{base}/machines/{machine}"))
            .raw_json(json!([{"op": "replace", "path": "/Workflow", "value": wf}]).to_string())
            .send()
            .await?
            .expect(200)?;
    }
    Ok(())
}

/// One agent cycle (`Ok(false)`: the workflow was complete, nothing ran); `Err` names the
/// step that failed.
async fn cycle(http: &Http, base: &str, machine: &str) -> Result<bool> {
    let created = http
        .post(format!("{base}/jobs"))
        .idem(&format!("c-{}", uuid::Uuid::new_v4()))
        .json(&json!({"Machine": machine}))
        .send()
        .await?;
    if created.status == 204 {
        return Ok(false);
    }
    let job = created.expect(201)?.value()?;
    let id = job["Uuid"].as_str().context("job Uuid")?;
    let state = |s: &str| json!([{"op": "replace", "path": "/State", "value": s}]).to_string();
    http.request(Method::PATCH, format!("{base}/jobs/{id}"))
        .raw_json(state("running"))
        .send()
        .await?
        .expect(200)?;
    http.get(format!("{base}/jobs/{id}/actions"))
        .send()
        .await?
        .expect(200)?;
    http.put(format!("{base}/jobs/{id}/log"))
        .raw_json("ran noop\n")
        .send()
        .await?
        .expect(204)?;
    http.request(Method::PATCH, format!("{base}/jobs/{id}"))
        .raw_json(state("finished"))
        .send()
        .await?
        .expect(200)?;
    Ok(true)
}

/// Agent `i`'s loopback address: 127.0.1.1, 127.0.1.2, ... (apart from the harness's
/// 127.0.0.1), 250 to a /24.
fn agent_address(i: usize) -> std::net::IpAddr {
    let (hi, lo) = (1 + i / 250, 1 + i % 250);
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(
        127,
        0,
        u8::try_from(hi).unwrap_or(u8::MAX),
        lo as u8,
    ))
}

pub async fn job_cycle(agents: usize, secs: u64) -> Result<()> {
    say(format!(
        "job-cycle: starting 3 nodes ({})",
        endpoint_bin()?.display()
    ));
    let mut c = Cluster::start(3).await?;
    let leader = c.leader().await?;
    let base = c.node(leader).api("");
    let http = c.http.clone();
    let machines = setup(&http, &base, agents).await?;
    say(format!(
        "job-cycle: {agents} agents for {secs} s against the leader"
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, m) in machines.into_iter().enumerate() {
        // Each agent is a machine of its own, with its own address: from one address, 64
        // agents would meet the member's per-source rate limit, as no real fleet does.
        let http = http.from_source(agent_address(i))?;
        let (base, stop) = (base.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut first_error) = (Vec::new(), 0usize, None);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match cycle(&http, &base, &m).await {
                    Ok(true) => ok.push(t.elapsed()),
                    Ok(false) => {
                        if let Err(e) = restart_workflow(&http, &base, &m).await {
                            errors += 1;
                            first_error.get_or_insert(format!("{e:#}"));
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(format!("{e:#}"));
                    }
                }
            }
            (ok, errors, first_error)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut errors, mut first_error) = (Vec::new(), 0, None);
    for t in tasks {
        let (o, e, f) = t.await.context("agent task panicked")?;
        ok.extend(o);
        errors += e;
        first_error = first_error.or(f);
    }
    let elapsed = start.elapsed();
    println!("| agents | cycles | errors | jobs/s | cycle p50 ms | cycle p99 ms |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {agents} | {} | {errors} | {:.1} | {} | {} |",
        ok.len(),
        ok.len() as f64 / elapsed.as_secs_f64(),
        fmt_ms(percentile(&ok, 50.0)),
        fmt_ms(percentile(&ok, 99.0)),
    );
    if let Some(e) = first_error {
        say(format!("job-cycle: first error: {e}"));
    }
    c.success();
    Ok(())
}
