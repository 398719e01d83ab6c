//! The manager's replica of every registered cluster's writable objects (DRP's Multi-Site
//! Manager "single pane of glass"): each object is kept with the endpoint that owns it, and
//! served with `Endpoint: <id>` set.
//!
//! This file is the interface the HTTP layer uses; the follower that fills it from each
//! cluster's event stream lives beside it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, watch};

/// The field naming the owning endpoint on every object the manager serves.
pub const ENDPOINT_FIELD: &str = "Endpoint";

/// Federated events buffered per subscriber before it is told it lost some.
const EVENT_CAPACITY: usize = 4096;

/// A change seen on one cluster, as DRP's event (`Type`, `Action`, `Key`, `Object`, ...),
/// with `Endpoint` set on the event and on its object.
#[derive(Debug, Clone)]
pub struct FederatedEvent {
    pub endpoint: String,
    pub event: Value,
}

/// How current the replica of one endpoint is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointSync {
    /// The endpoint's commit index the replica has applied up to (0: unknown).
    pub index: u64,
    /// Whether the replica follows the endpoint's stream right now; `false` = stale.
    pub current: bool,
    /// Why it is stale, if it is.
    pub error: Option<String>,
}

type Objects = BTreeMap<(String, String), BTreeMap<String, Value>>;

/// The replicated objects of every endpoint: `(collection, key) → endpoint → object`.
pub struct Replica {
    objects: Mutex<Objects>,
    sync: watch::Sender<BTreeMap<String, EndpointSync>>,
    events: broadcast::Sender<FederatedEvent>,
}

impl Default for Replica {
    fn default() -> Self {
        Self {
            objects: Mutex::new(BTreeMap::new()),
            sync: watch::channel(BTreeMap::new()).0,
            events: broadcast::channel(EVENT_CAPACITY).0,
        }
    }
}

impl Replica {
    /// Every endpoint's objects of `collection`, each with `Endpoint` set, ordered by key then
    /// endpoint.
    pub fn list(&self, collection: &str) -> Vec<Value> {
        let Ok(objects) = self.objects.lock() else {
            return Vec::new();
        };
        objects
            .range((collection.to_string(), String::new())..)
            .take_while(|((c, _), _)| c == collection)
            .flat_map(|(_, owners)| owners.values().cloned())
            .collect()
    }

    /// The copies of `collection/key`, one per endpoint holding it (normally one).
    pub fn get(&self, collection: &str, key: &str) -> Vec<Value> {
        self.objects
            .lock()
            .ok()
            .and_then(|o| {
                o.get(&(collection.to_string(), key.to_string()))
                    .map(|owners| owners.values().cloned().collect())
            })
            .unwrap_or_default()
    }

    /// The endpoints holding `collection/key`.
    pub fn owners(&self, collection: &str, key: &str) -> Vec<String> {
        self.objects
            .lock()
            .ok()
            .and_then(|o| {
                o.get(&(collection.to_string(), key.to_string()))
                    .map(|owners| owners.keys().cloned().collect())
            })
            .unwrap_or_default()
    }

    /// Stores `object` as `endpoint`'s copy of `collection/key` (setting `Endpoint`).
    pub fn put(&self, endpoint: &str, collection: &str, key: &str, mut object: Value) {
        if let Some(o) = object.as_object_mut() {
            o.insert(ENDPOINT_FIELD.into(), Value::String(endpoint.into()));
        }
        if let Ok(mut objects) = self.objects.lock() {
            objects
                .entry((collection.to_string(), key.to_string()))
                .or_default()
                .insert(endpoint.to_string(), object);
        }
    }

    /// Drops `endpoint`'s copy of `collection/key`.
    pub fn remove(&self, endpoint: &str, collection: &str, key: &str) {
        if let Ok(mut objects) = self.objects.lock() {
            let k = (collection.to_string(), key.to_string());
            if let Some(owners) = objects.get_mut(&k) {
                owners.remove(endpoint);
                if owners.is_empty() {
                    objects.remove(&k);
                }
            }
        }
    }

    /// Every endpoint's sync state.
    pub fn sync_states(&self) -> BTreeMap<String, EndpointSync> {
        self.sync.borrow().clone()
    }

    /// The endpoints whose objects are served from a replica that is not current.
    pub fn stale(&self) -> Vec<String> {
        self.sync
            .borrow()
            .iter()
            .filter(|(_, s)| !s.current)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Records how current `endpoint`'s replica is.
    pub fn set_sync(&self, endpoint: &str, state: EndpointSync) {
        self.sync.send_modify(|m| {
            m.insert(endpoint.to_string(), state);
        });
    }

    /// Waits until the replica of `endpoint` has applied its commit `index` (read-your-writes
    /// after a routed write); `false` when `timeout` passed first.
    pub async fn wait_for(&self, endpoint: &str, index: u64, timeout: Duration) -> bool {
        let mut rx = self.sync.subscribe();
        tokio::time::timeout(
            timeout,
            rx.wait_for(|m| m.get(endpoint).is_some_and(|s| s.index >= index)),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    }

    /// Federated events from every endpoint, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<FederatedEvent> {
        self.events.subscribe()
    }

    /// Publishes a change seen on an endpoint to every federated subscriber.
    pub fn publish(&self, event: FederatedEvent) {
        let _ = self.events.send(event);
    }
}
