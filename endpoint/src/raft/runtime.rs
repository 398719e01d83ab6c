//! The runtime consensus runs on: Raft's core, its replication to peers, the consensus
//! listener and the member channels get worker threads of their own, so heartbeats and votes
//! never wait in a queue behind API requests on the main runtime (a member saturated by API
//! traffic must not cause an election).

use std::future::Future;

use tokio::runtime::{Handle, Runtime};

/// Worker threads of the consensus runtime: enough for the core and its replication streams
/// to run beside each other; the work is small, it only must not queue.
const WORKERS: usize = 2;

/// Why the consensus runtime could not start or run a task.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The OS refused the runtime's threads or its I/O driver.
    #[error("starting the consensus runtime")]
    Start(#[source] std::io::Error),
    /// It was already shut down.
    #[error("the consensus runtime has stopped")]
    Stopped,
    /// The task panicked or was cancelled.
    #[error("a task on the consensus runtime failed")]
    Task(#[source] tokio::task::JoinError),
}

pub struct ConsensusRuntime(Option<Runtime>);

impl ConsensusRuntime {
    pub fn new() -> Result<Self, RuntimeError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("consensus")
            .enable_all()
            .build()
            .map_err(RuntimeError::Start)?;
        Ok(ConsensusRuntime(Some(rt)))
    }

    pub fn handle(&self) -> Option<Handle> {
        self.0.as_ref().map(|rt| rt.handle().clone())
    }

    /// Runs `fut` on the consensus runtime (everything it spawns stays there) and waits for
    /// it from the caller's runtime.
    pub async fn run<F>(&self, fut: F) -> Result<F::Output, RuntimeError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = self.0.as_ref().ok_or(RuntimeError::Stopped)?;
        rt.spawn(fut).await.map_err(RuntimeError::Task)
    }
}

impl Drop for ConsensusRuntime {
    fn drop(&mut self) {
        // A runtime may not be dropped from async code; its tasks have been told to stop by
        // then, so leaving the rest to wind down in the background loses nothing.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}
