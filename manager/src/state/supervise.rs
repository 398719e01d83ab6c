//! Per-endpoint tasks that outlive their own panics. A task spawned bare dies silently when
//! it panics (tokio keeps the panic in a handle nobody awaits): a dead tracker would leave its
//! endpoint `unavailable` for good while every other task carries on. Here the panic is logged
//! and the task started again after a pause, until shutdown.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The pause before a panicked task starts again (a panic that repeats at once must not spin).
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// Spawns `make(shutdown)`'s task for endpoint `id`, started again whenever it panics, until
/// `shutdown` turns true or the task returns.
pub(super) fn spawn_supervised<F, Fut>(
    task: &'static str,
    id: &str,
    mut shutdown: watch::Receiver<bool>,
    make: F,
) -> JoinHandle<()>
where
    F: Fn(watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let id = id.to_owned();
    tokio::spawn(async move {
        loop {
            let Err(panic) = AssertUnwindSafe(make(shutdown.clone()))
                .catch_unwind()
                .await
            else {
                return;
            };
            tracing::error!(endpoint = %id, task, panic = %message(panic.as_ref()), "task panicked; starting it again");
            crate::metrics::task_restarted(task);
            // A dropped sender is a shutdown too.
            let gone = tokio::select! {
                _ = tokio::time::sleep(RESTART_AFTER) => false,
                r = shutdown.changed() => r.is_err(),
            };
            if gone || *shutdown.borrow() {
                return;
            }
        }
    })
}

/// A panic's message, when it has one.
fn message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_started_again_and_one_that_returns_is_not() {
        let runs = Arc::new(AtomicUsize::new(0));
        let (_stop, stop_rx) = watch::channel(false);
        let counted = runs.clone();
        let handle = spawn_supervised("test", "e", stop_rx, move |_| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    panic!("run {n} fails");
                }
            }
        });
        handle.await.unwrap();
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "two panics, then a run that returned"
        );
    }

    #[tokio::test]
    async fn shutdown_ends_the_restarts() {
        let (stop, stop_rx) = watch::channel(false);
        let handle = spawn_supervised("test", "e", stop_rx, |_| async { panic!("always") });
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("the supervisor stops on shutdown")
            .unwrap();
    }

    #[test]
    fn the_message_of_a_panic_is_read_from_either_payload() {
        let s: Box<dyn std::any::Any + Send> = Box::new("static");
        assert_eq!(message(s.as_ref()), "static");
        let s: Box<dyn std::any::Any + Send> = Box::new(String::from("owned"));
        assert_eq!(message(s.as_ref()), "owned");
        let s: Box<dyn std::any::Any + Send> = Box::new(7u8);
        assert_eq!(message(s.as_ref()), "(no message)");
    }
}
