//! Step 7, shutdown: on SIGINT/SIGTERM (or an upgrade's exec), every task is told to stop and
//! given a bounded time to finish, the API and consensus servers last, then Raft.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::raft::runtime::ConsensusRuntime;
use crate::raft::Raft;

/// How long each task may take to finish once told to stop.
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
        let _ = self.shutdown.send(true);
        if let Some(j) = self.joiner {
            let _ = j.await;
        }
        let _ = self.cert_watcher.await;
        let _ = self.publisher.await;
        for t in self.services {
            let _ = tokio::time::timeout(GRACE, t).await;
        }
        let _ = tokio::time::timeout(GRACE, self.http).await;
        let _ = tokio::time::timeout(GRACE, self.grpc).await;
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        drop(self.runtime);
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
