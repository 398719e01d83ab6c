//! Spawning a node's process: its `serve` command line and environment.

use std::fs::OpenOptions;
use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::{die_with_parent, Node, Start};
use crate::http::ADMIN_PASSWORD;

impl Node {
    /// Spawn the process (it must not be running).
    pub fn spawn(&mut self, how: Start) -> Result<()> {
        if self.child.is_some() {
            bail!("{} is already running", self.name);
        }
        let log_path = self.log_path();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let node_args = self
            .opts
            .node_args
            .as_ref()
            .map(|h| (h.0)(self))
            .unwrap_or_default();
        let mut cmd = self.program();
        self.serve_args(&mut cmd, &how);
        self.tls_and_boot_args(&mut cmd, &node_args)?;
        cmd.args(&self.opts.extra_args)
            .args(&node_args)
            .env("RS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", &self.opts.rust_log)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?);
        let _ = writeln!(log, "{} {:?}", super::logs::SPAWN_MARK, cmd);
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.bin.display()))?;
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    /// The binary, run inside the node's network namespace when it has a placement.
    fn program(&self) -> Command {
        match &self.placement {
            // `ip netns exec` execs the binary: the child's pid is drp-endpoint's own.
            Some(p) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", &p.netns]).arg(&self.bin);
                cmd
            }
            None => Command::new(&self.bin),
        }
    }

    /// `serve` with the data dir, listen addresses, HaID and how to start.
    fn serve_args(&self, cmd: &mut Command, how: &Start) {
        let api_listen = match &self.placement {
            Some(_) => format!("0.0.0.0:{}", self.api_port),
            None => format!("127.0.0.1:{}", self.api_port),
        };
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--api-listen")
            .arg(api_listen)
            .arg("--consensus-listen")
            .arg(self.consensus_addr())
            .arg("--ha-id")
            .arg(&self.ha_id);
        if self.placement.is_some() {
            cmd.arg("--api-url")
                .arg(self.url())
                .arg("--consensus-addr")
                .arg(self.consensus_addr());
        }
        match how {
            Start::Bootstrap => {
                cmd.arg("--bootstrap");
            }
            Start::Join(urls) => {
                cmd.arg("--join").arg(urls.join(","));
            }
            Start::Restart => {}
        }
    }

    /// The harness's API certificate unless the test brings its own, and boot services off
    /// unless the test asks for them.
    fn tls_and_boot_args(&self, cmd: &mut Command, node_args: &[String]) -> Result<()> {
        let given = || self.opts.extra_args.iter().chain(node_args);
        let own_cert = given().any(|a| a == "--tls-cert");
        if !self.opts.cluster_tls && !own_cert {
            let (cert, key) = crate::tls::write_api_cert(&self.dir)?;
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        // Boot services stay off unless a test asks for them: every cluster's active member
        // would otherwise compete for 8091, 69 and 67 on this host.
        for flag in ["--static-port", "--tftp-port", "--dhcp-port"] {
            if !given().any(|a| a == flag) {
                cmd.arg(flag).arg("0");
            }
        }
        Ok(())
    }
}
