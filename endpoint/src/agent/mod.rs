//! `drp-agent`: DRP's agent loop for one machine. Create the machine's next job, fetch its
//! actions, write the files, run the scripts with bash, stream the log, report the exit
//! state; again until nothing is left to run. Every write carries an idempotency key derived
//! from the job, so a retry on another member after a leader dies neither loses a result nor
//! makes the server act twice.

pub mod client;
mod runner;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::runtime::job::{self, exit_code_meaning};
use client::{Client, Credentials};
use runner::{JobContext, JobLog, Outcome};

/// How often a machine with nothing to run asks again (without `--once`).
const IDLE_POLL: Duration = Duration::from_secs(2);

#[derive(Debug, clap::Parser)]
#[command(
    name = "drp-agent",
    about = "Runs DRP jobs for one machine against any cluster member"
)]
pub struct Args {
    /// Members to talk to, any of them (comma-separated URLs).
    #[arg(long, env = "RS_ENDPOINTS", value_delimiter = ',', required = true)]
    pub endpoints: Vec<String>,
    /// The machine's UUID.
    #[arg(long)]
    pub machine: String,
    /// A machine token (`GET /api/v3/machines/<uuid>/token`).
    #[arg(long, env = "RS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// `user:password`, used when no token is given.
    #[arg(long = "key", env = "RS_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// A CA certificate (PEM) to trust for the members' API certificate.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// The directory standing for the machine's root: files land under it, scripts run in it.
    #[arg(long, default_value = "/")]
    pub work_dir: PathBuf,
    /// Return when the machine has nothing left to run: exit 0 when its workflow is complete,
    /// 1 when it stopped (a task failed).
    #[arg(long)]
    pub once: bool,
}

/// How the agent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The workflow is complete (`--once`).
    Complete,
    /// The machine is stopped: a task failed, or it is not runnable.
    Stopped,
    /// A task asked for a reboot, poweroff or stop: the agent leaves that to the machine.
    ExitState(&'static str),
    /// SIGTERM.
    Terminated,
}

pub async fn run(args: Args, mut shutdown: watch::Receiver<bool>) -> Result<Finish> {
    let credentials = match (&args.token, &args.key) {
        (Some(t), _) => Credentials::Token(t.clone()),
        (None, Some(k)) => {
            let (user, password) = k.split_once(':').context("RS_KEY must be user:password")?;
            Credentials::Basic {
                user: user.to_string(),
                password: password.to_string(),
            }
        }
        (None, None) => bail!("give a machine token (--token or RS_TOKEN) or RS_KEY=user:password"),
    };
    let ca = match &args.ca {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
        }
        None => None,
    };
    let client = Client::new(args.endpoints.clone(), credentials, ca.as_deref())?;
    loop {
        if *shutdown.borrow() {
            return Ok(Finish::Terminated);
        }
        let Some(job) = next_job(&client, &args.machine).await? else {
            if args.once {
                return machine_finish(&client, &args.machine).await;
            }
            tokio::select! {
                _ = tokio::time::sleep(IDLE_POLL) => continue,
                _ = shutdown.changed() => return Ok(Finish::Terminated),
            }
        };
        match run_job(&client, &args, &job, &mut shutdown).await? {
            None => continue,
            Some(finish) => return Ok(finish),
        }
    }
}

/// The machine's next job: `POST /jobs`, retried under one key so only one job is made.
async fn next_job(client: &Client, machine: &str) -> Result<Option<Value>> {
    let key = format!("create-{}", uuid::Uuid::new_v4());
    let body = serde_json::to_vec(&json!({ "Machine": machine }))?;
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
        status => bail!("creating a job for {machine}: {status} {}", reply.text()),
    }
}

/// What `--once` reports once nothing is left to run.
async fn machine_finish(client: &Client, machine: &str) -> Result<Finish> {
    let reply = client
        .call(
            Method::GET,
            &format!("/api/v3/machines/{machine}"),
            None,
            None,
        )
        .await?;
    if reply.status != 200 {
        bail!(
            "reading machine {machine}: {} {}",
            reply.status,
            reply.text()
        );
    }
    let m = reply.json()?;
    if m.get("WorkflowComplete").and_then(Value::as_bool) == Some(true) {
        Ok(Finish::Complete)
    } else {
        Ok(Finish::Stopped)
    }
}

/// Runs one job to its end state. `Some` when the agent should stop after it.
async fn run_job(
    client: &Client,
    args: &Args,
    job_obj: &Value,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<Finish>> {
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
    set_state(
        client,
        &uuid,
        &[("State", state), ("ExitState", exit_state)],
        "end",
    )
    .await?;
    Ok(match (outcome, exit_state) {
        (Outcome::Interrupted, _) => Some(Finish::Terminated),
        (_, "reboot") => Some(Finish::ExitState("reboot")),
        (_, "poweroff") => Some(Finish::ExitState("poweroff")),
        (_, "stop") => Some(Finish::ExitState("stop")),
        _ => None,
    })
}

/// PATCHes job fields under a key derived from the job and the step, so the step happens once
/// however often it is retried, from this run of the agent or the next.
async fn set_state(client: &Client, job: &str, fields: &[(&str, &str)], step: &str) -> Result<()> {
    let patch: Vec<Value> = fields
        .iter()
        .map(|(f, v)| json!({"op": "replace", "path": format!("/{f}"), "value": v}))
        .collect();
    let key = format!("job-{job}-{step}");
    let reply = client
        .call(
            Method::PATCH,
            &format!("/api/v3/jobs/{job}"),
            Some(("application/json-patch+json", serde_json::to_vec(&patch)?)),
            Some(&key),
        )
        .await?;
    if reply.status != 200 {
        bail!(
            "job {job}: setting {fields:?}: {} {}",
            reply.status,
            reply.text()
        );
    }
    Ok(())
}
