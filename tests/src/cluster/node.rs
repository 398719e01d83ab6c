//! [`Node`]: one `drp-endpoint` process and its remains (data dir, log), its lifecycle and
//! its addresses. Spawning, signals, logs and API calls live in sibling modules.

use std::path::{Path, PathBuf};
use std::process::Child;

use anyhow::{Context, Result};

use super::{free_port, Opts, Placement, Start, PLACED_API_PORT, PLACED_CONSENSUS_PORT};
use crate::http::Http;

/// One `drp-endpoint` process (or its stopped remains: data dir and log).
pub struct Node {
    pub name: String,
    pub ha_id: String,
    pub(super) bin: PathBuf,
    pub(super) dir: PathBuf,
    pub(super) api_port: u16,
    pub(super) consensus_port: u16,
    pub(super) opts: Opts,
    pub(super) placement: Option<Placement>,
    pub(super) child: Option<Child>,
    pub(super) paused: bool,
    pub(super) retired: bool,
    pub(super) consensus_id: Option<String>,
    pub(super) http: Http,
}

impl Node {
    pub(super) fn new(
        name: &str,
        ha_id: &str,
        root: &Path,
        bin: &Path,
        opts: &Opts,
        http: &Http,
        placement: Option<Placement>,
    ) -> Result<Self> {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("data"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let (api_port, consensus_port) = match placement {
            Some(_) => (PLACED_API_PORT, PLACED_CONSENSUS_PORT),
            None => (free_port()?, free_port()?),
        };
        Ok(Node {
            name: name.to_string(),
            ha_id: ha_id.to_string(),
            bin: bin.to_path_buf(),
            dir,
            api_port,
            consensus_port,
            opts: opts.clone(),
            placement,
            child: None,
            paused: false,
            retired: false,
            consensus_id: None,
            http: http.clone(),
        })
    }

    /// SIGKILL the process and reap it. No-op if not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.note(&format!("==== harness: killed {} (SIGKILL)", self.name));
        }
        self.paused = false;
    }

    /// Start again with the same data dir and ports (no --bootstrap/--join) and wait until the
    /// API answers.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn(Start::Restart)?;
        self.wait_ready(self.opts.ready_timeout).await
    }

    /// Kill it and delete its data dir: the next [`Node::spawn`] starts a new identity on the
    /// same ports.
    pub fn wipe(&mut self) -> Result<()> {
        self.kill();
        let data = self.data_dir();
        std::fs::remove_dir_all(&data).with_context(|| format!("removing {}", data.display()))?;
        std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        self.consensus_id = None;
        self.note(&format!(
            "==== harness: wiped the data dir of {}",
            self.name
        ));
        Ok(())
    }

    /// Kill it and exclude it from [`Cluster::live`] for good (after removal from membership).
    pub fn retire(&mut self) {
        self.kill();
        self.retired = true;
    }

    /// Running and not paused.
    pub fn is_up(&self) -> bool {
        self.child.is_some() && !self.paused
    }
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
    pub fn is_retired(&self) -> bool {
        self.retired
    }
    /// Has the process exited on its own? (Reaps it if so.)
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// `https://127.0.0.1:<api port>` (`https://<ip>:8092` for a node with a [`Placement`];
    /// `http` with `--no-tls`).
    pub fn url(&self) -> String {
        // `http` for a cluster started with `--no-tls` (drp-bench's plain-HTTP cells).
        let plain = self.opts.extra_args.iter().any(|a| a == "--no-tls");
        let scheme = if plain { "http" } else { "https" };
        format!("{scheme}://{}", self.host_port(self.api_port))
    }
    /// `https://127.0.0.1:<api port>/api/v3<path>`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v3{}", self.url(), path)
    }
    pub fn api_port(&self) -> u16 {
        self.api_port
    }
    pub fn consensus_addr(&self) -> String {
        self.host_port(self.consensus_port)
    }
    fn host_port(&self, port: u16) -> String {
        match self.placement.as_ref().map(|p| p.ip) {
            Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            Some(ip) => format!("{ip}:{port}"),
            None => format!("127.0.0.1:{port}"),
        }
    }
    /// Where the node runs, when not on loopback.
    pub fn placement(&self) -> Option<&Placement> {
        self.placement.as_ref()
    }
    /// The running process's pid (with a [`Placement`]: drp-endpoint's own, as
    /// `ip netns exec` execs it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("node.log")
    }

    /// This node's ConsensusID (known once it has been ready once; it never changes).
    pub fn consensus_id(&self) -> &str {
        self.consensus_id.as_deref().unwrap_or("")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
