//! The agent as DRP's finite-state machine: one function per state, each returning the next;
//! the loop logs every transition. Decisions are in `state`; this is their I/O.
//!
//! Retries within this process differ from a restart: a job this process created or took up
//! is never failed as stale when it passes AGENT_INIT again (after an outage), and a job end
//! it decided is reported before anything else, so a task it ran is not run again. A new
//! process knows none of its predecessor's jobs: it fails the one left running, as DRP does.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::client::Client;
use super::events::Events;
use super::state::{self, Finish, State};
use super::task::{self, Report};
use super::Args;
use super::{AgentError, Result};

/// How often a wait re-reads the machine when no event socket is open.
const POLL: Duration = Duration::from_secs(2);
/// The pause before AGENT_INIT after an error (DRP's initOrExit).
const RETRY_PAUSE: Duration = Duration::from_secs(5);

pub struct Agent<'a> {
    args: &'a Args,
    client: &'a Client,
    tls: Option<Arc<rustls::ClientConfig>>,
    shutdown: watch::Receiver<bool>,
    /// The machine as the agent last saw it (DRP's `a.machine`).
    machine: Value,
    /// Jobs this process created or took up.
    own_jobs: HashSet<String>,
    /// A job end decided but not yet acknowledged.
    pending: Option<Report>,
    events: Option<Events>,
}

/// What a wait found.
enum Waited {
    Met(Value),
    /// `--once`: the condition does not hold now.
    NotMet(Value),
    Interrupted,
}

impl<'a> Agent<'a> {
    pub fn new(
        args: &'a Args,
        client: &'a Client,
        tls: Option<Arc<rustls::ClientConfig>>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Agent {
            args,
            client,
            tls,
            shutdown,
            machine: Value::Null,
            own_jobs: HashSet::new(),
            pending: None,
            events: None,
        }
    }

    pub async fn run(mut self) -> Result<Finish> {
        let mut current = State::Init;
        println!("drp-agent: state {current:?}");
        loop {
            if *self.shutdown.borrow() {
                current = State::Exit(Finish::Terminated);
            }
            let next = match current {
                State::Init => self.init().await,
                State::WaitForRunnable => self.wait_for_runnable().await,
                State::RunTask => self.run_task().await,
                State::WaitForChangeStage => self.wait_for_change_stage().await,
                State::ChangeStage => self.change_stage().await,
                State::Exit(finish) => return Ok(finish),
                State::Reboot => Ok(State::Exit(Finish::ExitState("reboot"))),
                State::Poweroff => Ok(State::Exit(Finish::ExitState("poweroff"))),
                // A staged kernel would be kexec'd by the reboot; the agent powers nothing.
                State::Kexec => Ok(State::Reboot),
            };
            let next = match next {
                Ok(next) => next,
                Err(e) if self.args.once => return Err(e),
                Err(e) => {
                    eprintln!("drp-agent: in {current:?}: {e:#}; starting over");
                    self.events = None;
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_PAUSE) => State::Init,
                        _ = self.shutdown.changed() => State::Exit(Finish::Terminated),
                    }
                }
            };
            if next != current {
                println!("drp-agent: state {current:?} -> {next:?}");
            }
            current = next;
        }
    }

    /// AGENT_INIT: report a job end still owed, read the machine afresh, fail a job another
    /// agent of this context left behind, open the event stream.
    async fn init(&mut self) -> Result<State> {
        self.events = None;
        if let Some(report) = self.pending.clone() {
            report.send(self.client).await?;
            self.pending = None;
        }
        self.machine = self.get_machine().await?;
        let current = str_of(&self.machine, "CurrentJob").to_string();
        if let Some(job) = self.current_job(&current).await? {
            if state::is_stale(&job, &self.args.context, self.own_jobs.contains(&current)) {
                println!(
                    "drp-agent: job {current} was left {}; failing it",
                    str_of(&job, "State")
                );
                if task::fail_stale(self.client, &current).await? {
                    self.restart_after_stale(&current).await?;
                }
                self.machine = self.get_machine().await?;
            }
        }
        self.open_events().await;
        Ok(State::WaitForRunnable)
    }

    /// A failed job stops its machine; the one failed for a dead agent did not fail its task,
    /// so the default context's agent makes the machine runnable again (as DRP's agent marks
    /// it runnable when it starts), only while that job is still its current one.
    async fn restart_after_stale(&self, job: &str) -> Result<()> {
        if !self.args.context.is_empty() {
            return Ok(());
        }
        let patch = json!([
            {"op": "test", "path": "/CurrentJob", "value": job},
            {"op": "replace", "path": "/Runnable", "value": true},
        ]);
        let reply = self
            .client
            .patch(
                &format!("/api/v3/machines/{}", self.args.machine),
                &patch,
                &format!("restart-{}-{job}", self.args.machine),
            )
            .await?;
        if reply.status != 200 {
            // The machine moved on meanwhile (another job, an operator): leave it be.
            tracing::warn!(
                "making the machine runnable after job {job}: {} {}",
                reply.status,
                reply.text()
            );
        }
        Ok(())
    }

    async fn wait_for_runnable(&mut self) -> Result<State> {
        let context = self.args.context.clone();
        let known = self.machine.clone();
        let waited = self
            .wait(|m| state::runnable(&context, &known, m), "runnable")
            .await?;
        Ok(self.after_wait(waited))
    }

    async fn wait_for_change_stage(&mut self) -> Result<State> {
        let context = self.args.context.clone();
        let known = self.machine.clone();
        let waited = self
            .wait(
                |m| state::stage_changed(&context, &known, m),
                "a stage or task change",
            )
            .await?;
        Ok(self.after_wait(waited))
    }

    fn after_wait(&mut self, waited: Waited) -> State {
        match waited {
            Waited::Met(m) => {
                let next = state::after_wait(&self.args.context, &self.machine, &m, kexec_loaded());
                self.machine = m;
                next
            }
            Waited::NotMet(m) => {
                self.machine = m;
                State::Exit(state::once_finish(&self.machine))
            }
            Waited::Interrupted => State::Exit(Finish::Terminated),
        }
    }

    /// AGENT_RUN_TASK: the next job for this context, run to its end.
    async fn run_task(&mut self) -> Result<State> {
        let Some(job) = task::next_job(self.client, &self.args.machine, &self.args.context).await?
        else {
            self.machine = self.get_machine().await?;
            if str_of(&self.machine, "Workflow").is_empty() {
                return Ok(State::ChangeStage);
            }
            if self.args.once {
                return Ok(State::Exit(state::once_finish(&self.machine)));
            }
            return Ok(State::WaitForChangeStage);
        };
        let uuid = str_of(&job, "Uuid").to_string();
        self.own_jobs.insert(uuid);
        let mut shutdown = self.shutdown.clone();
        let report = task::run(self.client, self.args, &job, &mut shutdown).await?;
        self.pending = Some(report.clone());
        report.send(self.client).await?;
        self.pending = None;
        if report.exit_state == "incomplete" && *self.shutdown.borrow() {
            return Ok(State::Exit(Finish::Terminated));
        }
        Ok(state::after_task(
            report.exit_state,
            str_of(&self.machine, "BootEnv"),
            self.args.once,
            kexec_loaded(),
        ))
    }

    /// AGENT_CHANGE_STAGE (a machine without a workflow whose stage has nothing left): the
    /// `change-stage/map` param, resolved as the machine sees it, names the next stage.
    async fn change_stage(&mut self) -> Result<State> {
        let params = self
            .get(&format!(
                "/api/v3/machines/{}/params?aggregate=true",
                self.args.machine
            ))
            .await?;
        let map = params
            .get("change-stage/map")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let stage = str_of(&self.machine, "Stage").to_string();
        let bootenv = str_of(&self.machine, "BootEnv").to_string();
        let Some((next, target)) = state::next_stage(&map, &stage, &bootenv) else {
            if self.args.once {
                return Ok(State::Exit(state::once_finish(&self.machine)));
            }
            return Ok(State::WaitForChangeStage);
        };
        println!("drp-agent: changing stage from {stage} to {next} ({target:?})");
        let stage_obj = self.get(&format!("/api/v3/stages/{next}")).await?;
        let then = state::after_stage_change(&stage_obj, &target, &bootenv, kexec_loaded());
        let patch = json!([
            {"op": "test", "path": "/Stage", "value": stage},
            {"op": "replace", "path": "/Stage", "value": next},
        ]);
        let reply = self
            .client
            .patch(
                &format!("/api/v3/machines/{}", self.args.machine),
                &patch,
                &format!("stage-{}", uuid::Uuid::new_v4()),
            )
            .await?;
        if reply.status != 200 {
            return Err(AgentError::Reply(format!(
                "moving the machine to stage {next}: {} {}",
                reply.status,
                reply.text()
            )));
        }
        self.machine = reply.json()?;
        Ok(then)
    }

    /// Waits until `cond` holds for the machine: woken by its events, re-read on each, with
    /// a poll in case an event is lost. `--once` does not wait.
    async fn wait(&mut self, cond: impl Fn(&Value) -> bool, what: &str) -> Result<Waited> {
        let mut said = false;
        loop {
            if self.events.is_none() {
                self.open_events().await;
            }
            let m = self.get_machine().await?;
            if cond(&m) {
                return Ok(Waited::Met(m));
            }
            if self.args.once {
                return Ok(Waited::NotMet(m));
            }
            if !said {
                println!(
                    "drp-agent: waiting for {what} (Runnable {}, Context {:?}, agent context {:?})",
                    m["Runnable"], m["Context"], self.args.context
                );
                said = true;
            }
            let poll = if self.events.is_some() {
                Duration::from_secs(self.args.event_poll_secs.max(1))
            } else {
                POLL
            };
            let (events, shutdown) = (&mut self.events, &mut self.shutdown);
            let woke = async {
                match events.as_mut() {
                    Some(events) => events.next().await,
                    None => std::future::pending().await,
                }
            };
            let lost = tokio::select! {
                alive = woke => !alive,
                _ = tokio::time::sleep(poll) => false,
                _ = shutdown.changed() => return Ok(Waited::Interrupted),
            };
            if lost {
                // The member went away or closed it: poll, and open another next time round.
                self.events = None;
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = self.shutdown.changed() => return Ok(Waited::Interrupted),
                }
            }
        }
    }

    /// Opens the event stream on the member calls go to; without one the waits poll.
    /// `--once` never waits, so it has no use for one.
    async fn open_events(&mut self) {
        if self.args.once {
            return;
        }
        match Events::open(
            self.client.endpoint(),
            &self.client.authorization(),
            self.tls.clone(),
            &self.args.machine,
        )
        .await
        {
            Ok(events) => {
                println!(
                    "drp-agent: following the machine's events on {}",
                    self.client.endpoint()
                );
                self.events = Some(events);
            }
            Err(e) => tracing::info!("no event stream ({e:#}); polling every {POLL:?}"),
        }
    }

    /// The machine's current job, if it names one that exists (a deleted job is none).
    async fn current_job(&self, uuid: &str) -> Result<Option<Value>> {
        if uuid.is_empty() {
            return Ok(None);
        }
        let path = format!("/api/v3/jobs/{uuid}");
        let reply = self.client.call(Method::GET, &path, None, None).await?;
        match reply.status {
            200 => Ok(Some(reply.json()?)),
            404 => Ok(None),
            status => Err(AgentError::Reply(format!(
                "GET {path}: {status} {}",
                reply.text()
            ))),
        }
    }

    async fn get_machine(&self) -> Result<Value> {
        self.get(&format!("/api/v3/machines/{}", self.args.machine))
            .await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let reply = self.client.call(Method::GET, path, None, None).await?;
        if reply.status != 200 {
            return Err(AgentError::Reply(format!(
                "GET {path}: {} {}",
                reply.status,
                reply.text()
            )));
        }
        reply
            .json()
            .map_err(AgentError::during(format!("GET {path}")))
    }
}

fn str_of<'v>(v: &'v Value, f: &str) -> &'v str {
    v.get(f).and_then(Value::as_str).unwrap_or("")
}

/// Whether a kernel is staged for kexec (Linux); the reboot then goes through it.
fn kexec_loaded() -> bool {
    std::fs::read("/sys/kernel/kexec_loaded").is_ok_and(|b| b.first() == Some(&b'1'))
}
