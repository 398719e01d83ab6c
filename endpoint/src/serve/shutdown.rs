//! Step 7, shutdown: on SIGINT/SIGTERM (or an upgrade's exec), a leader first hands leadership
//! to the most caught-up voter (so the others need not wait out an election timeout), then
//! every task is told to stop and given a bounded time to finish, the API and consensus
//! servers last, then Raft.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::raft::runtime::ConsensusRuntime;
use crate::raft::RaftHandle;

/// How long the tasks (together, since they are told at once) and then Raft may take to stop.
/// A step that outlasts it is abandoned with a warning, so a member told to stop exits in
/// bounded time even if something hangs.
const GRACE: Duration = Duration::from_secs(5);
/// How long a stopping leader may spend handing leadership over. Past it the member stops
/// anyway and the others elect a leader after their election timeout, as after a crash.
const HAND_OVER: Duration = Duration::from_secs(2);

/// What runs until shutdown.
pub(super) struct Running {
    pub shutdown: watch::Sender<bool>,
    pub joiner: Option<JoinHandle<()>>,
    pub cert_watcher: JoinHandle<()>,
    pub publisher: JoinHandle<()>,
    /// Metrics and boot services.
    pub services: Vec<JoinHandle<()>>,
    pub http: JoinHandle<()>,
    pub grpc: JoinHandle<Result<(), tonic::transport::Error>>,
    pub raft: RaftHandle,
    pub runtime: ConsensusRuntime,
}

impl Running {
    pub async fn stop(self) {
        tracing::info!("shutting down");
        let started = Instant::now();
        // Still serving while it hands over: requests in flight are forwarded to the new
        // leader, and the consensus watch streams announce it before they end (on the
        // shutdown watch, with everything else).
        hand_over(&self.raft).await;
        // Every task (and every streaming response) watches this and winds down at once, so
        // they share one deadline: a hung one cannot add its grace to the next one's.
        let _ = self.shutdown.send(true);
        let deadline = started + GRACE;
        if let Some(j) = self.joiner {
            bounded("join", j, deadline).await;
        }
        bounded("certificate watcher", self.cert_watcher, deadline).await;
        bounded("attribute publisher", self.publisher, deadline).await;
        for t in self.services {
            bounded("service", t, deadline).await;
        }
        bounded("API server", self.http, deadline).await;
        bounded("consensus server", self.grpc, deadline).await;
        match tokio::time::timeout(GRACE, self.raft.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "raft shutdown"),
            Err(_) => tracing::warn!(grace = ?GRACE, "raft did not stop within the grace"),
        }
        tracing::info!(ms = started.elapsed().as_millis() as u64, "shut down");
        drop(self.runtime);
    }
}

/// When this member leads, hands leadership to the most caught-up other voter, bounded by
/// [`HAND_OVER`]; a failure is only logged (the stop goes on).
async fn hand_over(raft: &RaftHandle) {
    if raft.voters().len() < 2 {
        return; // nobody to hand over to
    }
    let started = Instant::now();
    let done = tokio::time::timeout(HAND_OVER, raft.hand_over(HAND_OVER)).await;
    let ms = started.elapsed().as_millis() as u64;
    match done {
        Ok(Ok(None)) => {}
        Ok(Ok(Some(to))) => {
            tracing::info!(new_leader = %format!("{to:x}"), ms, "handed leadership over before stopping")
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, ms, "could not hand leadership over; stopping anyway")
        }
        Err(_) => tracing::warn!(ms, "leadership hand-over timed out; stopping anyway"),
    }
}

/// Waits until `deadline` for `task` to finish, then aborts it.
async fn bounded<T>(step: &'static str, mut task: JoinHandle<T>, deadline: Instant) {
    if tokio::time::timeout_at(deadline.into(), &mut task)
        .await
        .is_err()
    {
        task.abort();
        tracing::warn!(step, grace = ?GRACE, "did not stop within the grace; abandoned");
    } else {
        tracing::debug!(step, "stopped");
    }
}

/// Until a signal, or an upgrade that execs the new binary.
pub(super) async fn requested() {
    tokio::select! {
        _ = wait_for_signal() => {}
        _ = crate::upgrade::exec::requested() => {}
    }
}

/// Until SIGINT or SIGTERM.
pub(super) async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
