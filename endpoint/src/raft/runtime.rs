//! The runtime consensus runs on: Raft's core, its replication to peers, the consensus
//! listener and the member channels get worker threads of their own, so heartbeats and votes
//! never wait in a queue behind API requests on the main runtime (a member saturated by API
//! traffic must not cause an election).

use std::future::Future;

use tokio::runtime::{Handle, Runtime};

/// Worker threads of the consensus runtime. One: the work is small (store and fsync work runs
/// on the blocking pool and the log's writer thread), and a second worker mostly added
/// wake-ups (tokio wakes an idle worker to steal new tasks). Under write load, parking and
/// waking threads was about a quarter of each member's CPU; one worker cut the CPU per write by
/// about 10-15% (docs/benchmarks.md, "Where a write's time goes").
const WORKERS: usize = 1;

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
