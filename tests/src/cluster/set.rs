//! [`Cluster`]: a set of nodes sharing an HaID, started (bootstrap then joins), grown, and
//! torn down (logs dumped on failure).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use super::{endpoint_bin, wait_for, Node, Opts, Start};
use crate::http::Http;

/// A set of nodes sharing an HaID. Dropping it kills every process.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub ha_id: String,
    pub http: Http,
    pub(super) opts: Opts,
    pub(super) bin: PathBuf,
    pub(super) root: Option<tempfile::TempDir>,
    pub(super) ok: bool,
}

impl Cluster {
    /// `n` voters: one bootstrapped, the rest joined one by one; waits until every member
    /// agrees on `n` voters and one leader.
    pub async fn start(n: usize) -> Result<Cluster> {
        Self::start_with(n, Opts::default()).await
    }

    pub async fn start_with(n: usize, opts: Opts) -> Result<Cluster> {
        anyhow::ensure!(n >= 1, "a cluster needs at least one node");
        let bin = endpoint_bin()?;
        let root = tempfile::Builder::new()
            .prefix("drp-cluster-")
            .tempdir()
            .context("creating the cluster temp dir")?;
        let mut c = Cluster {
            nodes: Vec::new(),
            ha_id: format!("ha-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            http: match &opts.trust_ca {
                Some(ca) => Http::trusting(ca)?,
                None => Http::new()?,
            },
            opts,
            bin,
            root: Some(root),
            ok: false,
        };
        let first = c.new_node()?;
        c.nodes[first].spawn(Start::Bootstrap)?;
        let rt = c.opts.ready_timeout;
        if c.opts.cluster_tls {
            let path = c.nodes[first].data_dir().join("tls").join("ca.pem");
            let ca = wait_for(rt, "the cluster CA file", async || {
                Ok(std::fs::read_to_string(&path)
                    .ok()
                    .filter(|s| s.contains("END")))
            })
            .await?;
            c.http = Http::trusting(&ca)?;
            c.nodes[first].http = c.http.clone();
        }
        c.nodes[first].wait_ready(rt).await?;
        c.wait_leader(Duration::from_secs(20)).await?;
        for _ in 1..n {
            c.add_node().await?;
        }
        c.wait_converged(n, Duration::from_secs(20)).await?;
        Ok(c)
    }

    fn root(&self) -> Result<&Path> {
        self.root
            .as_ref()
            .map(|t| t.path())
            .ok_or_else(|| anyhow!("cluster dir gone"))
    }

    fn new_node(&mut self) -> Result<usize> {
        let name = format!("n{}", self.nodes.len() + 1);
        let placement = self
            .opts
            .placement
            .as_ref()
            .and_then(|p| p.get(self.nodes.len()).cloned());
        let node = Node::new(
            &name,
            &self.ha_id,
            self.root()?,
            &self.bin,
            &self.opts,
            &self.http,
            placement,
        )?;
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    /// Start a new node with `--join <every live member>` and wait until it is a voter.
    pub async fn add_node(&mut self) -> Result<usize> {
        let urls: Vec<String> = self.live().iter().map(|&i| self.nodes[i].url()).collect();
        anyhow::ensure!(!urls.is_empty(), "no live member to join");
        let i = self.new_node()?;
        self.nodes[i].spawn(Start::Join(urls))?;
        let rt = self.opts.ready_timeout;
        self.nodes[i].wait_ready(rt).await?;
        let id = self.nodes[i].consensus_id().to_string();
        let jt = self.opts.join_timeout;
        let this = &*self;
        wait_for(
            jt,
            &format!("{} ({id}) to become a voter", this.nodes[i].name),
            async || {
                let l = this
                    .try_leader()
                    .await
                    .ok_or_else(|| anyhow!("no leader"))?;
                let st = this.nodes[l].state().await?;
                Ok(st
                    .nodes
                    .iter()
                    .any(|n| n.consensus_id == id && n.voter)
                    .then_some(()))
            },
        )
        .await?;
        Ok(i)
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }
    pub fn node_mut(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i]
    }

    /// Indices of nodes that are running, not paused and not retired.
    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_up() && !self.nodes[i].retired)
            .collect()
    }

    /// Index of the node with this ConsensusID.
    pub fn index_of(&self, consensus_id: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| !consensus_id.is_empty() && n.consensus_id() == consensus_id)
    }

    /// Mark the test as passed: logs are not printed on drop.
    pub fn success(&mut self) {
        self.ok = true;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        let leaked = if std::thread::panicking() {
            Vec::new()
        } else {
            self.leaked_secret()
        };
        if !leaked.is_empty() {
            self.ok = false;
        }
        if !self.ok || std::thread::panicking() {
            let lines = std::env::var("DRP_LOG_TAIL")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(60);
            self.dump_logs(lines);
            if std::env::var_os("DRP_KEEP_DIRS").is_some() {
                if let Some(root) = self.root.take() {
                    let path = root.keep();
                    eprintln!("kept cluster dir {}", path.display());
                }
            }
        }
        assert!(
            leaked.is_empty(),
            "the admin password appears in the log of {leaked:?}"
        );
    }
}
