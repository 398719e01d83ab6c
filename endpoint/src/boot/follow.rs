//! Runs a service while this member is active, and stops it when it is not.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// How long a service gets to stop after it is told to.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// The wait before a service that failed (a busy port, no permission) is started again.
const RETRY: Duration = Duration::from_secs(2);

/// Starts `start(stop)` each time `active` turns true and sends `stop` when it turns false
/// (or on shutdown). A service that fails while active is logged and started again.
pub async fn while_active<F, Fut>(
    name: &'static str,
    mut active: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
    mut start: F,
) where
    F: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = Result<(), super::ServiceError>> + Send + 'static,
{
    let mut last_error = String::new();
    loop {
        // Wait to become active.
        tokio::select! {
            r = active.wait_for(|a| *a) => if r.is_err() { return },
            _ = shutdown.changed() => return,
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut service = tokio::spawn(start(stop_rx));
        let ended = tokio::select! {
            r = &mut service => Some(r),
            _ = active.wait_for(|a| !*a) => None,
            _ = shutdown.changed() => None,
        };
        match ended {
            None => {
                let _ = stop_tx.send(true);
                match tokio::time::timeout(STOP_GRACE, &mut service).await {
                    Ok(Ok(Err(e))) => {
                        tracing::warn!(service = name, error = %e, "stopped with an error")
                    }
                    Err(_) => {
                        tracing::warn!(service = name, "did not stop in time; aborted");
                        service.abort();
                    }
                    _ => tracing::info!(service = name, "stopped: this member is not active"),
                }
                if *shutdown.borrow() {
                    return;
                }
            }
            Some(result) => {
                let message = match result {
                    Ok(Ok(())) => "ended".to_string(),
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(e) => format!("task failed: {e}"),
                };
                // The same failure again (a port that stays busy) is logged once.
                if message != last_error {
                    tracing::warn!(service = name, error = %message, "not serving; retrying");
                    last_error = message;
                }
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}
