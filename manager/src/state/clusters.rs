//! One tracker, one reconciler and one replica follower per effective endpoint, started, updated
//! and stopped as the endpoints change; each is started again if it panics.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::supervise::spawn_supervised;
use super::Manager;
use crate::cluster::{Cluster, PinError, PinSink};

pub(super) struct ClusterHandle {
    cluster: Arc<Cluster>,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Manager {
    pub fn cluster(&self, id: &str) -> Option<Arc<Cluster>> {
        self.clusters
            .lock()
            .ok()?
            .get(id)
            .map(|h| h.cluster.clone())
    }

    /// Wakes the reconciler of every endpoint (after a git change).
    pub fn wake_all(&self) {
        if let Ok(c) = self.clusters.lock() {
            for h in c.values() {
                h.wake.notify_one();
            }
        }
    }

    pub fn wake(&self, id: &str) {
        if let Ok(c) = self.clusters.lock() {
            if let Some(h) = c.get(id) {
                h.wake.notify_one();
            }
        }
    }

    /// Starts a tracker and a reconciler for each effective endpoint, updates connections,
    /// and stops those of endpoints that are gone.
    pub fn sync_clusters(self: &Arc<Self>) {
        if *self.shutdown.borrow() {
            return;
        }
        let wanted = self.effective_endpoints();
        let Ok(mut clusters) = self.clusters.lock() else {
            return;
        };
        let gone: Vec<String> = clusters
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for id in self.registry.pinned_ids() {
            if !wanted.contains_key(&id) {
                match self.registry.forget_pin(&id) {
                    Ok(_) => tracing::info!(endpoint = %id, "forgot the pinned certificate"),
                    Err(e) => tracing::error!(endpoint = %id, "forgetting the pin: {e}"),
                }
            }
        }
        for id in gone {
            if let Some(h) = clusters.remove(&id) {
                let _ = h.stop.send(true);
                for t in h.tasks {
                    t.abort();
                }
                tracing::info!(endpoint = %id, "stopped tracking");
            }
        }
        // The replica keeps no endpoint the manager no longer has (also one removed while
        // the manager was down).
        for id in self.replica.endpoints() {
            if !wanted.contains_key(&id) {
                self.replica.drop_endpoint(&id);
                tracing::info!(endpoint = %id, "dropped its replica");
            }
        }
        for (id, (ep, _)) in wanted {
            let conn = self.connection(&ep);
            if let Some(h) = clusters.get(&id) {
                h.cluster.set_connection(conn);
                h.wake.notify_one();
                continue;
            }
            let cluster = match Cluster::new(&id, conn, self.pin_sink()) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(endpoint = %id, "cannot track: {e:#}");
                    continue;
                }
            };
            let wake = Arc::new(Notify::new());
            let (stop, stop_rx) = watch::channel(false);
            let tracker = {
                let cluster = cluster.clone();
                spawn_supervised("tracker", &id, stop_rx.clone(), move |stop| {
                    cluster.clone().run(stop)
                })
            };
            let reconciler = {
                let (mgr, key, cluster, wake) =
                    (self.clone(), id.clone(), cluster.clone(), wake.clone());
                spawn_supervised("reconciler", &id, stop_rx.clone(), move |stop| {
                    let (m, k, c, w) = (mgr.clone(), key.clone(), cluster.clone(), wake.clone());
                    crate::sync::reconcile::run(m, k, c, w, stop)
                })
            };
            let follower = {
                let (mgr, key, cluster) = (self.clone(), id.clone(), cluster.clone());
                spawn_supervised("replica", &id, stop_rx, move |stop| {
                    crate::replica::follow::run(mgr.clone(), key.clone(), cluster.clone(), stop)
                })
            };
            tracing::info!(endpoint = %id, "tracking");
            clusters.insert(
                id,
                ClusterHandle {
                    cluster,
                    wake,
                    stop,
                    tasks: vec![tracker, reconciler, follower],
                },
            );
        }
    }

    /// Where trackers store a certificate pinned on first use.
    fn pin_sink(self: &Arc<Self>) -> PinSink {
        let weak = Arc::downgrade(self);
        Arc::new(move |id, pin| {
            let mgr = weak.upgrade().ok_or(PinError::Stopping)?;
            Ok(mgr.registry.pin_if_absent(id, pin)?)
        })
    }

    /// Stops every cluster's tasks and waits for them to end.
    pub async fn stop_all(&self) {
        let handles: Vec<JoinHandle<()>> = match self.clusters.lock() {
            Ok(mut c) => std::mem::take(&mut *c)
                .into_values()
                .flat_map(|h| {
                    let _ = h.stop.send(true);
                    h.tasks
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        for h in handles {
            let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
        }
        if !self.replica.flush(Duration::from_secs(10)).await {
            tracing::warn!("the replica's last changes were not all written before stopping");
        }
    }
}
