//! Runs one job's actions: files are written, scripts run with bash one after another, and
//! everything they print is streamed to the job's log. The first script whose exit code is
//! not 0 ends the job with that code's meaning.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch};

use super::client::Client;
use super::{AgentError, Result};

/// Log text is sent when this much has gathered, or after `LOG_FLUSH`.
const LOG_CHUNK_BYTES: usize = 64 << 10;
const LOG_FLUSH: Duration = Duration::from_millis(500);

/// How a job's actions ended.
pub enum Outcome {
    /// The exit code of the last script run (0 when every one succeeded).
    Exited(i32),
    /// SIGTERM arrived while a script ran; it was killed.
    Interrupted,
}

/// Appends to a job's log, each append once: its idempotency key is this run's id and the
/// append's sequence number, so a retry across members never doubles a line.
pub struct JobLog<'a> {
    client: &'a Client,
    job: String,
    run: String,
    seq: u64,
}

impl<'a> JobLog<'a> {
    pub fn new(client: &'a Client, job: &str) -> Self {
        JobLog {
            client,
            job: job.to_string(),
            run: uuid::Uuid::new_v4().to_string(),
            seq: 0,
        }
    }

    pub async fn append(&mut self, text: &str) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        print!("{text}");
        self.seq += 1;
        let key = format!("log-{}-{}-{}", self.job, self.run, self.seq);
        let reply = self
            .client
            .call(
                Method::PUT,
                &format!("/api/v3/jobs/{}/log", self.job),
                Some(("text/plain", text.as_bytes().to_vec())),
                Some(&key),
            )
            .await?;
        if reply.status >= 300 {
            // A full log (413) must not fail the task: the output is still on stdout.
            tracing::warn!(
                "job {} log append: {} {}",
                self.job,
                reply.status,
                reply.text()
            );
        }
        Ok(())
    }
}

/// Where an action's `Path` lands: under the work dir, which stands for the machine's root.
fn file_target(work_dir: &Path, path: &str) -> Result<PathBuf> {
    let relative = Path::new(path.trim_start_matches('/'));
    if relative.components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    }) {
        return Err(AgentError::Usage(format!(
            "action path {path:?} leaves the work dir"
        )));
    }
    Ok(work_dir.join(relative))
}

pub struct JobContext<'a> {
    pub client: &'a Client,
    pub work_dir: &'a Path,
    pub machine: &'a str,
    pub token: Option<&'a str>,
    pub job: &'a str,
    pub task: &'a str,
}

/// Runs `actions` in order; stops at the first script that does not exit 0.
pub async fn run_actions(
    ctx: &JobContext<'_>,
    actions: &[Value],
    log: &mut JobLog<'_>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Outcome> {
    let job_dir = ctx.work_dir.join(".drp-agent").join(ctx.job);
    tokio::fs::create_dir_all(&job_dir)
        .await
        .map_err(AgentError::file(format!("creating {}", job_dir.display())))?;
    for (n, action) in actions.iter().enumerate() {
        let field = |f: &str| {
            action
                .get(f)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (name, path, content) = (field("Name"), field("Path"), field("Content"));
        if !path.is_empty() {
            let target = file_target(ctx.work_dir, &path)?;
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            tokio::fs::write(&target, content.as_bytes())
                .await
                .map_err(AgentError::file(format!("writing {}", target.display())))?;
            log.append(&format!("=== {}: wrote {path}\n", ctx.task))
                .await?;
            continue;
        }
        let script = job_dir.join(format!("{n:03}.sh"));
        tokio::fs::write(&script, content.as_bytes()).await?;
        log.append(&format!("=== {}: running {name}\n", ctx.task))
            .await?;
        match run_script(ctx, &script, &job_dir, log, shutdown).await? {
            Outcome::Exited(0) => {}
            other => return Ok(other),
        }
    }
    Ok(Outcome::Exited(0))
}

async fn run_script(
    ctx: &JobContext<'_>,
    script: &Path,
    dir: &Path,
    log: &mut JobLog<'_>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Outcome> {
    let mut command = tokio::process::Command::new("bash");
    command
        .arg(script)
        .current_dir(dir)
        .env("RS_ENDPOINT", ctx.client.endpoint())
        .env("RS_UUID", ctx.machine)
        .env("RS_JOB", ctx.job)
        .env("RS_TASK", ctx.task)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(token) = ctx.token {
        command.env("RS_TOKEN", token);
    }
    let mut child = command
        .spawn()
        .map_err(AgentError::file("starting bash".to_string()))?;
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump(out, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(err, tx.clone()));
    }
    drop(tx);
    let mut pending = Vec::new();
    let mut tick = tokio::time::interval(LOG_FLUSH);
    let mut open = true;
    let status = loop {
        tokio::select! {
            chunk = rx.recv(), if open => match chunk {
                Some(bytes) => {
                    pending.extend_from_slice(&bytes);
                    if pending.len() >= LOG_CHUNK_BYTES {
                        log.append(&String::from_utf8_lossy(&std::mem::take(&mut pending))).await?;
                    }
                }
                None => open = false,
            },
            _ = tick.tick() => {
                log.append(&String::from_utf8_lossy(&std::mem::take(&mut pending))).await?;
            }
            status = child.wait(), if !open => break status?,
            _ = shutdown.changed() => {
                let _ = child.kill().await;
                log.append(&String::from_utf8_lossy(&std::mem::take(&mut pending))).await?;
                log.append("=== interrupted by SIGTERM\n").await?;
                return Ok(Outcome::Interrupted);
            }
        }
    };
    log.append(&String::from_utf8_lossy(&pending)).await?;
    // Killed by a signal: DRP counts that as a failure.
    Ok(Outcome::Exited(status.code().unwrap_or(1)))
}

async fn pump(mut from: impl AsyncRead + Unpin, to: mpsc::Sender<Vec<u8>>) {
    let mut buf = vec![0u8; 16 << 10];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.send(buf[..n].to_vec()).await.is_err() {
            break;
        }
    }
}
