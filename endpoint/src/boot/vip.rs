//! The virtual address: held by the active member only. It is added when this member becomes
//! active and removed when it stops (or loses its quorum, or shuts down); at start-up a member
//! removes a copy left behind by an earlier run that was killed while active.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::watch;

use super::{Running, RunningGuard, ServiceError};

/// How long one `ip`/script call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The wait before an add that failed is tried again while still active.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Add,
    Remove,
}

impl Change {
    fn word(self) -> &'static str {
        match self {
            Change::Add => "add",
            Change::Remove => "remove",
        }
    }
}

pub struct Holder {
    addr: ipnet::IpNet,
    interface: String,
    script: Option<PathBuf>,
}

impl Holder {
    pub fn new(addr: ipnet::IpNet, interface: String, script: Option<PathBuf>) -> Self {
        Self {
            addr,
            interface,
            script,
        }
    }

    /// Holds the address exactly while `active` is true, until shutdown (when it lets go).
    pub async fn follow(
        self,
        running: Arc<Running>,
        mut active: watch::Receiver<bool>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // A copy left by an earlier run of this member (killed while active) must go before
        // anything else, or two hosts would answer on the address.
        if let Err(e) = self.change(Change::Remove).await {
            tracing::debug!(error = %e, "no stale virtual address to remove");
        }
        loop {
            tokio::select! {
                r = active.wait_for(|a| *a) => if r.is_err() { return },
                _ = shutdown.changed() => return,
            }
            let held = loop {
                match self.change(Change::Add).await {
                    Ok(()) => break true,
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "cannot add the virtual address; retrying")
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = active.wait_for(|a| !*a) => break false,
                    _ = shutdown.changed() => break false,
                }
                if !*active.borrow() || *shutdown.borrow() {
                    break false;
                }
            };
            if held {
                let _guard = RunningGuard::set(&running.virt_addr);
                tracing::info!(addr = %self.addr, interface = %self.interface, "holding the virtual address");
                self.announce().await;
                tokio::select! {
                    _ = active.wait_for(|a| !*a) => {}
                    _ = shutdown.changed() => {}
                }
            }
            match self.change(Change::Remove).await {
                Ok(()) => tracing::info!(addr = %self.addr, "released the virtual address"),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot remove the virtual address")
                }
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    async fn change(&self, change: Change) -> Result<(), ServiceError> {
        let mut cmd = match &self.script {
            Some(script) => {
                let mut c = Command::new(script);
                c.args([change.word(), &self.interface, &self.addr.to_string()]);
                c
            }
            None => {
                let mut c = Command::new("ip");
                let verb = if change == Change::Add { "add" } else { "del" };
                c.args(["addr", verb, &self.addr.to_string(), "dev", &self.interface]);
                c
            }
        };
        run(&mut cmd).await
    }

    /// A gratuitous ARP, so machines and switches learn the new holder at once instead of
    /// after their caches expire. Best effort: `arping` may not be installed.
    async fn announce(&self) {
        let ipnet::IpNet::V4(v4) = self.addr else {
            return;
        };
        let mut cmd = Command::new("arping");
        cmd.args([
            "-U",
            "-c",
            "2",
            "-I",
            &self.interface,
            &v4.addr().to_string(),
        ]);
        if let Err(e) = run(&mut cmd).await {
            tracing::debug!(error = %format!("{e:#}"), "no gratuitous ARP sent");
        }
    }
}

async fn run(cmd: &mut Command) -> Result<(), ServiceError> {
    cmd.kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let program = cmd.as_std().get_program().to_os_string();
    let out = tokio::time::timeout(CALL_TIMEOUT, cmd.output())
        .await
        .map_err(|_| ServiceError::TimedOut)?
        .map_err(ServiceError::io(format!("running {program:?}")))?;
    if !out.status.success() {
        return Err(ServiceError::CommandFailed {
            program,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}
