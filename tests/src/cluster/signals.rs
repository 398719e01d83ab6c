//! Signals to a node's process: pause (SIGSTOP), resume (SIGCONT) and graceful stop (SIGTERM).

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use super::Node;

impl Node {
    /// SIGSTOP the process.
    pub fn pause(&mut self) -> Result<()> {
        self.signal(libc::SIGSTOP)?;
        self.wait_all_threads_stopped()?;
        self.paused = true;
        self.note(&format!("==== harness: paused {} (SIGSTOP)", self.name));
        Ok(())
    }

    /// SIGCONT the process.
    pub fn resume(&mut self) -> Result<()> {
        self.signal(libc::SIGCONT)?;
        self.paused = false;
        self.note(&format!("==== harness: resumed {} (SIGCONT)", self.name));
        Ok(())
    }

    /// kill(2) returns before every thread has stopped: a thread running on another core
    /// could still answer a request sent at once (the harness test once got a 200 from a
    /// "paused" node). Waits until /proc shows every thread stopped.
    fn wait_all_threads_stopped(&self) -> Result<()> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| anyhow!("{} is not running", self.name))?;
        let tasks = format!("/proc/{}/task", child.id());
        let stopped = || -> bool {
            let Ok(entries) = std::fs::read_dir(&tasks) else {
                return false;
            };
            entries.flatten().all(|t| {
                std::fs::read_to_string(t.path().join("stat")).is_ok_and(|stat| {
                    // The state follows the parenthesised name, which may hold spaces.
                    stat.rsplit_once(") ")
                        .is_some_and(|(_, rest)| rest.starts_with('T') || rest.starts_with('t'))
                })
            })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !stopped() {
            if Instant::now() > deadline {
                bail!("{} did not stop within 5 s of SIGSTOP", self.name);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn signal(&self, sig: libc::c_int) -> Result<()> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| anyhow!("{} is not running", self.name))?;
        let pid = libc::pid_t::try_from(child.id())?;
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(pid, sig) };
        if rc != 0 {
            bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Node {
    /// SIGTERM the process: the endpoint's graceful shutdown. Reap it with [`Node::wait_exit`].
    pub fn terminate(&mut self) -> Result<()> {
        self.signal(libc::SIGTERM)?;
        self.note(&format!(
            "==== harness: terminating {} (SIGTERM)",
            self.name
        ));
        Ok(())
    }

    /// Wait until the process exits on its own (after [`Node::terminate`]), reap it and return
    /// its exit status; an error if it still runs after `timeout` (it is left running).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                self.child = None;
                self.paused = false;
                self.note(&format!("==== harness: {} exited: {status}", self.name));
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "{} still running {timeout:?} after it was told to stop",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
