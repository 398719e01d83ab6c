//! One round for many callers: concurrent linearizable reads share one read-index round
//! (one heartbeat quorum) instead of each asking the Raft core for its own.
//!
//! Linearizability rule: a caller joins the NEXT round to start, never one already in flight.
//! A round that started before a read arrived may have fixed its read index before a write
//! the reader saw acknowledged; sharing it could show that reader an older state. So callers
//! queue while a round runs, and the next round serves every caller queued before it started.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// What one round computes; boxed so the coalescer holds any round function.
pub type RoundFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type RoundFn<T> = Box<dyn Fn() -> RoundFuture<T> + Send + Sync>;

/// Runs `round` once per batch of callers (see the module comment for which batch).
pub struct Coalescer<T> {
    round: RoundFn<T>,
    queue: Mutex<Queue<T>>,
    rounds: AtomicU64,
}

struct Queue<T> {
    /// A driver task is running rounds; a new caller only queues.
    running: bool,
    /// Callers that arrived since the current round started: the next round serves them.
    waiting: Vec<oneshot::Sender<T>>,
}

impl<T: Clone + Send + 'static> Coalescer<T> {
    /// A coalescer that runs `round` for each batch.
    pub fn new(round: impl Fn() -> RoundFuture<T> + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Coalescer {
            round: Box::new(round),
            queue: Mutex::new(Queue {
                running: false,
                waiting: Vec::new(),
            }),
            rounds: AtomicU64::new(0),
        })
    }

    /// The outcome of the next round to start after this call. `None` only if that round's
    /// task died (a panic, or the runtime shutting down).
    pub async fn join(self: &Arc<Self>) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut q = self.lock();
            q.waiting.push(tx);
            !std::mem::replace(&mut q.running, true)
        };
        if start {
            tokio::spawn(Arc::clone(self).drive());
        }
        rx.await.ok()
    }

    /// Rounds run so far.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    /// Callers queued for the next round (tests wait on it).
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Runs rounds back to back while callers queue, then stops: no task idles between bursts.
    async fn drive(self: Arc<Self>) {
        let mut guard = Stopped {
            owner: &self,
            clean: false,
        };
        loop {
            let batch = {
                let mut q = self.lock();
                if q.waiting.is_empty() {
                    // Cleared under the same lock a caller checks, so no caller is left queued
                    // with nobody to run its round.
                    q.running = false;
                    guard.clean = true;
                    return;
                }
                std::mem::take(&mut q.waiting)
            };
            self.rounds.fetch_add(1, Ordering::Relaxed);
            let outcome = (self.round)().await;
            for tx in batch {
                // A caller that gave up (its own deadline) dropped its receiver: nothing to do.
                let _ = tx.send(outcome.clone());
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        // The queue holds no invariant a panic could break half-way: keep using it.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Resets the queue if a driver dies mid-round (panic or cancellation): the callers queued are
/// answered `None` and the next caller starts a new driver instead of waiting forever.
struct Stopped<'a, T: Clone + Send + 'static> {
    owner: &'a Coalescer<T>,
    clean: bool,
}

impl<T: Clone + Send + 'static> Drop for Stopped<'_, T> {
    fn drop(&mut self) {
        if !self.clean {
            let mut q = self.owner.lock();
            q.running = false;
            q.waiting.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::Semaphore;

    use super::*;

    /// A round that waits for a permit and answers with its own sequence number, so a caller
    /// can tell which round served it.
    fn gated() -> (Arc<Coalescer<u64>>, Arc<Semaphore>) {
        let gate = Arc::new(Semaphore::new(0));
        let seq = Arc::new(AtomicU64::new(0));
        let g = Arc::clone(&gate);
        let c = Coalescer::new(move || {
            let (g, seq) = (Arc::clone(&g), Arc::clone(&seq));
            Box::pin(async move {
                let n = seq.fetch_add(1, Ordering::SeqCst) + 1;
                g.acquire().await.map(|p| p.forget()).ok();
                n
            })
        });
        (c, gate)
    }

    async fn until(what: &str, cond: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_during_a_round_share_the_next_one_not_the_current() {
        let (c, gate) = gated();
        // Round 1 starts for the first caller and blocks.
        let first = tokio::spawn({
            let c = Arc::clone(&c);
            async move { c.join().await }
        });
        until("round 1 started", || c.rounds() == 1).await;
        // 64 callers arrive while round 1 is in flight.
        let late: Vec<_> = (0..64)
            .map(|_| {
                let c = Arc::clone(&c);
                tokio::spawn(async move { c.join().await })
            })
            .collect();
        until("64 callers queued", || c.queued() == 64).await;
        gate.add_permits(2);
        assert_eq!(first.await.ok().flatten(), Some(1));
        for h in late {
            // Served by round 2: round 1 may predate their reads.
            assert_eq!(h.await.ok().flatten(), Some(2));
        }
        assert_eq!(c.rounds(), 2, "65 callers, 2 rounds");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_caller_gets_its_own_round_and_the_driver_stops() {
        let (c, gate) = gated();
        gate.add_permits(2);
        assert_eq!(c.join().await, Some(1));
        until("driver stopped", || !c.lock().running).await;
        assert_eq!(c.join().await, Some(2));
        assert_eq!(c.rounds(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_gives_up_does_not_stall_the_others() {
        let (c, gate) = gated();
        let gave_up = tokio::time::timeout(Duration::from_millis(20), c.join()).await;
        assert!(gave_up.is_err());
        let next = tokio::spawn({
            let c = Arc::clone(&c);
            async move { c.join().await }
        });
        until("second caller queued", || c.queued() == 1).await;
        gate.add_permits(2);
        assert_eq!(next.await.ok().flatten(), Some(2));
    }
}
