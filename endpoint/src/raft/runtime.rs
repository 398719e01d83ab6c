//! The runtime consensus runs on: Raft's core, its replication to peers, the consensus
//! listener and the member channels get worker threads of their own, so heartbeats and votes
//! never wait in a queue behind API requests on the main runtime (a member saturated by API
//! traffic must not cause an election).

use std::future::Future;

use anyhow::Context;
use tokio::runtime::{Handle, Runtime};

/// Worker threads of the consensus runtime: enough for the core and its replication streams
/// to run beside each other; the work is small, it only must not queue.
const WORKERS: usize = 2;

pub struct ConsensusRuntime(Option<Runtime>);

impl ConsensusRuntime {
    pub fn new() -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("consensus")
            .enable_all()
            .build()
            .context("starting the consensus runtime")?;
        Ok(ConsensusRuntime(Some(rt)))
    }

    pub fn handle(&self) -> Option<Handle> {
        self.0.as_ref().map(|rt| rt.handle().clone())
    }

    /// Runs `fut` on the consensus runtime (everything it spawns stays there) and waits for
    /// it from the caller's runtime.
    pub async fn run<F>(&self, fut: F) -> anyhow::Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = self
            .0
            .as_ref()
            .context("the consensus runtime has stopped")?;
        rt.spawn(fut)
            .await
            .context("a task on the consensus runtime failed")
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
