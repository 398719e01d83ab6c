//! Waiting on conditions (never fixed sleeps) and serialising cluster tests.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// Poll `cond` every 50 ms until it yields `Some` or `timeout` passes. An `Err` from `cond`
/// counts as "not yet" and is reported if the wait times out.
pub async fn wait_for<T>(
    timeout: Duration,
    what: &str,
    mut cond: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    let mut last: Option<anyhow::Error> = None;
    loop {
        match cond().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = Some(e),
        }
        if start.elapsed() >= timeout {
            match last {
                Some(e) => {
                    bail!("timed out after {timeout:?} waiting for {what}; last error: {e:#}")
                }
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Serialises tests that run clusters: they measure timings on a 2-core machine, so they must
/// not compete with each other. Hold the guard for the whole test.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}
