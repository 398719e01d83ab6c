//! Step 7, shutdown: on SIGINT/SIGTERM (or an upgrade's exec), every task is told to stop and
//! given a bounded time to finish, the API and consensus servers last, then Raft.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::raft::runtime::ConsensusRuntime;
use crate::raft::Raft;

/// How long the tasks (together, since they are told at once) and then Raft may take to stop.
/// A step that outlasts it is abandoned with a warning, so a member told to stop exits in
/// bounded time even if something hangs.
const GRACE: Duration = Duration::from_secs(5);

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
    pub raft: Raft,
    pub runtime: ConsensusRuntime,
}

impl Running {
    pub async fn stop(self) {
        tracing::info!("shutting down");
        let started = Instant::now();
        // Every task watches this and winds down at once, so they share one deadline: a hung
        // one cannot add its grace to the next one's.
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
