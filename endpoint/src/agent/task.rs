//! One job, AGENT_RUN_TASK's work: mark it running, fetch its actions, run them, report the
//! end state. Every write carries a key derived from the job and the step, so a retry on
//! another member (or by a later pass of this process) happens once.

use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::client::Client;
use super::runner::{self, JobContext, JobLog, Outcome};
use super::Args;
use super::{AgentError, Result};
use crate::runtime::job::{self, exit_code_meaning};

/// A job's end, decided by this process: kept until the server has acknowledged it, so an
/// agent that meets an outage after running a task reports it instead of running it again.
#[derive(Debug, Clone)]
pub struct Report {
    pub job: String,
    pub state: &'static str,
    pub exit_state: &'static str,
}

impl Report {
    pub async fn send(&self, client: &Client) -> Result<()> {
        set_state(
            client,
            &self.job,
            &[("State", self.state), ("ExitState", self.exit_state)],
            "end",
        )
        .await
        .map(|_| ())
    }
}

/// `POST /jobs` for the agent's context, retried under one key so only one job is made.
/// `None`: nothing to run for this agent.
pub async fn next_job(client: &Client, machine: &str, context: &str) -> Result<Option<Value>> {
    let key = format!("create-{}", uuid::Uuid::new_v4());
    let body = serde_json::to_vec(&json!({ "Machine": machine, "Context": context }))?;
    let reply = client
        .call(
            Method::POST,
            "/api/v3/jobs",
            Some(("application/json", body)),
            Some(&key),
        )
        .await?;
    match reply.status {
        201 | 202 => Ok(Some(reply.json()?)),
        204 => Ok(None),
        status => Err(AgentError::Reply(format!(
            "creating a job for {machine}: {status} {}",
            reply.text()
        ))),
    }
}

/// Runs `job_obj`'s actions and decides its end. `None` when SIGTERM interrupted it (it is
/// then reported incomplete at once).
pub async fn run(
    client: &Client,
    args: &Args,
    job_obj: &Value,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Report> {
    let field = |f: &str| {
        job_obj
            .get(f)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (uuid, task) = (field("Uuid"), field("Task"));
    println!(
        "drp-agent: machine {} running task {task} (job {uuid})",
        args.machine
    );
    set_state(client, &uuid, &[("State", job::RUNNING)], "running").await?;
    let mut log = JobLog::new(client, &uuid);
    let reply = client
        .call(
            Method::GET,
            &format!("/api/v3/jobs/{uuid}/actions"),
            None,
            None,
        )
        .await?;
    let outcome = if reply.status == 200 {
        let actions: Vec<Value> = serde_json::from_value(reply.json()?)?;
        let ctx = JobContext {
            client,
            work_dir: &args.work_dir,
            machine: &args.machine,
            token: args.token.as_deref(),
            job: &uuid,
            task: &task,
        };
        match runner::run_actions(&ctx, &actions, &mut log, shutdown).await {
            Ok(outcome) => outcome,
            Err(e) => {
                log.append(&format!("=== {task}: {e:#}\n")).await?;
                Outcome::Exited(1)
            }
        }
    } else {
        log.append(&format!(
            "=== {task}: its actions could not be had: {}\n",
            reply.text()
        ))
        .await?;
        Outcome::Exited(1)
    };
    let (state, exit_state) = match outcome {
        Outcome::Interrupted => (job::INCOMPLETE, "incomplete"),
        Outcome::Exited(code) => exit_code_meaning(code),
    };
    println!("drp-agent: task {task} (job {uuid}) {state} ({exit_state})");
    Ok(Report {
        job: uuid,
        state,
        exit_state,
    })
}

/// Fails a job another agent left created or running: DRP's AGENT_INIT. Its log says why.
/// `false`: it had ended meanwhile.
pub async fn fail_stale(client: &Client, job: &str) -> Result<bool> {
    let mut log = JobLog::new(client, job);
    log.append("=== drp-agent: the agent running this job is gone; failed by a new agent\n")
        .await?;
    set_state(
        client,
        job,
        &[("State", job::FAILED), ("ExitState", "failed")],
        "stale",
    )
    .await
}

/// PATCHes job fields under a key derived from the job and the step, so the step happens once
/// however often it is retried, from this run of the agent or the next. `false`: the job had
/// already ended otherwise.
async fn set_state(
    client: &Client,
    job: &str,
    fields: &[(&str, &str)],
    step: &str,
) -> Result<bool> {
    let patch: Value = fields
        .iter()
        .map(|(f, v)| json!({"op": "replace", "path": format!("/{f}"), "value": v}))
        .collect();
    let key = format!("job-{job}-{step}");
    let reply = client
        .patch(&format!("/api/v3/jobs/{job}"), &patch, &key)
        .await?;
    match reply.status {
        200 => Ok(true),
        // An ending step on a job that has already ended (an operator, a new agent): nothing
        // is left to report, and retrying would never succeed.
        409 if step != "running" => {
            tracing::warn!("job {job}: {}", reply.text());
            println!("drp-agent: job {job} had already ended; {step} not reported");
            Ok(false)
        }
        status => Err(AgentError::Reply(format!(
            "job {job}: setting {fields:?}: {status} {}",
            reply.text()
        ))),
    }
}
