//! Starts this member's metrics tasks: the leader-change watch and, with
//! `--metrics-listen`, the credential-free listener.

use std::sync::Arc;

use super::{raft_watch, Node};
use crate::metrics::http::{self, ScrapeSource};

impl Node {
    /// What `/metrics` reads from this member.
    pub fn scrape_source(&self) -> ScrapeSource {
        let node = self.clone();
        ScrapeSource {
            store: self.store.clone(),
            raft: Arc::new(move || raft_watch::sample(&node)),
        }
    }
}

/// Starts the leader-change watch and, with `--metrics-listen`, the credential-free listener.
pub async fn spawn_metrics(
    node: &Node,
    listen: Option<std::net::SocketAddr>,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, http::BindError> {
    let mut tasks = vec![raft_watch::spawn_raft_watch(
        node.raft.clone(),
        shutdown.clone(),
    )];
    if let Some(addr) = listen {
        tasks.push(http::serve_plain(addr, node.scrape_source(), shutdown.clone()).await?);
    }
    Ok(tasks)
}
