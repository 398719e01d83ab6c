//! The failover workload's client: a steady single writer that records when each write was
//! acknowledged, and a poller that times when a condition first holds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bench::load::Op;
use crate::bench::POLL;

type Acks = Arc<Mutex<Vec<(Instant, Instant)>>>;

/// A single client writing back to back; attempt `k` goes to `ops[k % ops.len()]` (one op:
/// always the same target; several: round robin, moving on after any failure or timeout).
pub struct SteadyWriter {
    acks: Acks,
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: Option<tokio::task::JoinHandle<usize>>,
}

impl SteadyWriter {
    pub fn start(http: &reqwest::Client, ops: Vec<Op>, attempt_timeout: Duration) -> SteadyWriter {
        let acks: Acks = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (h, a, s) = (http.clone(), acks.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut k = 0usize;
            let mut failed = 0usize;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let op = &ops[k % ops.len()];
                let sent = Instant::now();
                match op.send_ok(&h, attempt_timeout).await {
                    Ok(_) => a
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((sent, Instant::now())),
                    Err(_) => {
                        failed += 1;
                        if ops.len() == 1 {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
                k += 1;
            }
            failed
        });
        SteadyWriter {
            acks,
            stop,
            task: Some(task),
        }
    }

    /// Wait for the first write sent at or after `t0` to be acknowledged: `ack - t0`.
    pub async fn first_ack_sent_after(&self, t0: Instant, timeout: Duration) -> Option<Duration> {
        loop {
            {
                let acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((_, ack)) = acks.iter().rev().take_while(|(s, _)| *s >= t0).last() {
                    return Some(*ack - t0);
                }
            }
            if t0.elapsed() > timeout {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Stops the writer: the number of failed attempts.
    pub async fn stop(mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        match self.task.take() {
            Some(t) => t.await.unwrap_or(0),
            None => 0,
        }
    }
}

impl Drop for SteadyWriter {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Poll `probe` every 10 ms (for up to 30 s from `t0`) until it says yes: `yes - t0`.
pub fn watch<F, Fut>(t0: Instant, mut probe: F) -> tokio::task::JoinHandle<Option<Duration>>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    tokio::spawn(async move {
        while t0.elapsed() < Duration::from_secs(30) {
            if probe().await {
                return Some(t0.elapsed());
            }
            tokio::time::sleep(POLL).await;
        }
        None
    })
}
