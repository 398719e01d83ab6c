//! `drp-agent`: DRP's machine agent for one machine, as DRP's finite-state machine (`fsm`,
//! decisions in `state`): wait until the machine is runnable in the agent's context, create
//! its next job, run the job's actions (`task`, `runner`), report the end state; at the end
//! of a stage's tasks follow `change-stage/map`; leave reboots and power-offs to the machine.
//! Every write carries an idempotency key derived from the job, so a retry on another member
//! after a leader dies neither loses a result nor makes the server act twice.

pub mod client;
mod error;
mod events;
mod fsm;
mod runner;
pub mod state;
mod task;

use std::path::PathBuf;

use tokio::sync::watch;

use client::{Client, Credentials};
pub use error::{AgentError, Result};
pub use state::Finish;

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
    /// The context this agent runs tasks for: only while the machine's `Context` is this one
    /// ("" is the agent on the machine itself).
    #[arg(long, env = "RS_CONTEXT", default_value = "")]
    pub context: String,
    /// Seconds between re-reads of the machine while its events are followed (a re-read
    /// covers an event lost in a member change).
    #[arg(long, default_value_t = 30)]
    pub event_poll_secs: u64,
    /// Return when the machine has nothing left to run: exit 0 when its workflow is complete,
    /// 1 when it stopped (a task failed).
    #[arg(long)]
    pub once: bool,
}

pub async fn run(args: Args, shutdown: watch::Receiver<bool>) -> Result<Finish> {
    let credentials = match (&args.token, &args.key) {
        (Some(t), _) => Credentials::Token(t.clone()),
        (None, Some(k)) => {
            let (user, password) = k
                .split_once(':')
                .ok_or_else(|| AgentError::Usage("RS_KEY must be user:password".to_string()))?;
            Credentials::Basic {
                user: user.to_string(),
                password: password.to_string(),
            }
        }
        (None, None) => {
            return Err(AgentError::Usage(
                "give a machine token (--token or RS_TOKEN) or RS_KEY=user:password".to_string(),
            ))
        }
    };
    let ca = match &args.ca {
        Some(path) => Some(
            std::fs::read(path).map_err(AgentError::file(format!("reading {}", path.display())))?,
        ),
        None => None,
    };
    let client = Client::new(args.endpoints.clone(), credentials, ca.as_deref())?;
    let tls = ca.as_deref().map(events::tls_config).transpose()?;
    fsm::Agent::new(&args, &client, tls, shutdown).run().await
}
