//! The manager's replica of every registered cluster's writable objects (DRP's Multi-Site
//! Manager "single pane of glass"): each object is kept with the endpoint that owns it, and
//! served with `Endpoint: <id>` set.
//!
//! This file is the interface the HTTP layer uses; the follower that fills it from each
//! cluster's event stream is [`follow`] (its socket [`socket`], how it applies an event
//! [`apply`]), and [`store`] keeps it on disk across restarts. An endpoint that is itself a
//! manager brings its subtree: [`nested`].

mod apply;
pub mod follow;
mod held;
pub mod nested;
pub mod socket;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use store::StoreError;

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

/// How an endpoint's replica was brought current, counted since the manager started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// Full re-lists of every replicated collection.
    pub lists: u64,
    /// Reconnections that caught up from the endpoint's event ring instead.
    pub resumes: u64,
    /// Events applied.
    pub events: u64,
}

/// Objects are shared (`Arc`): a list holds the lock only to collect pointers (or, filtered by
/// owner only, to walk up to its page), and filters, sorts and copies outside it, so followers
/// applying events are not held up.
type Objects = held::Held;

/// The replicated objects of every endpoint: `collection → key → endpoint → object`.
pub struct Replica {
    objects: Mutex<Objects>,
    sync: watch::Sender<BTreeMap<String, EndpointSync>>,
    events: broadcast::Sender<FederatedEvent>,
    counts: Mutex<BTreeMap<String, SyncCounts>>,
    /// Leaves served through a followed manager: leaf id → that manager's id ([`nested`]).
    /// Their objects are owned by the leaf here and stored on disk under the manager.
    origins: Mutex<BTreeMap<String, String>>,
    /// What each followed manager last said of its leaves' sync ([`nested::SYNC_TYPE`]).
    reports: Mutex<BTreeMap<String, nested::LeafReport>>,
    /// Managers to re-list: one of their leaves was re-listed down there ([`nested`]).
    relists: Mutex<BTreeSet<String>>,
    /// Where changes are persisted (none: in memory only).
    disk: Option<store::Writer>,
}

impl Default for Replica {
    fn default() -> Self {
        Self {
            objects: Mutex::new(Objects::default()),
            sync: watch::channel(BTreeMap::new()).0,
            events: broadcast::channel(EVENT_CAPACITY).0,
            counts: Mutex::new(BTreeMap::new()),
            origins: Mutex::new(BTreeMap::new()),
            reports: Mutex::new(BTreeMap::new()),
            relists: Mutex::new(BTreeSet::new()),
            disk: None,
        }
    }
}

/// The name of the replica's file in the manager's data directory.
pub const FILE: &str = "replica.redb";

impl Replica {
    /// The replica kept in `<data_dir>/replica.redb`: what it held at the last stop, every
    /// endpoint stale until its follower is current again.
    pub fn open(data_dir: &Path) -> Result<Replica, StoreError> {
        let (db, loaded) = store::open(&data_dir.join(FILE))?;
        let mut objects = Objects::default();
        let mut origins = BTreeMap::new();
        for (endpoint, collection, key, object) in loaded.objects {
            // Stored under a followed manager, owned by the leaf it names.
            let owner = match nested::leaf_of(&object) {
                Some(leaf) if leaf != endpoint => {
                    origins.insert(leaf.to_owned(), endpoint);
                    leaf.to_owned()
                }
                _ => endpoint,
            };
            objects.insert(collection, key, &owner, Arc::new(object));
        }
        let sync = loaded
            .indexes
            .into_iter()
            .map(|(endpoint, index)| {
                let state = EndpointSync {
                    index,
                    current: false,
                    error: Some("not followed yet since the manager started".into()),
                };
                (endpoint, state)
            })
            .collect();
        Ok(Self {
            objects: Mutex::new(objects),
            sync: watch::channel(sync).0,
            origins: Mutex::new(origins),
            disk: Some(store::Writer::spawn(db)),
            ..Self::default()
        })
    }

    fn persist(&self, change: store::Change) {
        if let Some(disk) = &self.disk {
            disk.queue(change);
        }
    }

    /// Waits until every change so far is on disk (at most `timeout`): at shutdown.
    pub async fn flush(&self, timeout: Duration) -> bool {
        match &self.disk {
            Some(disk) => disk.flush(timeout).await,
            None => true,
        }
    }

    /// Every endpoint's objects of `collection` (only those of `endpoints`, when given), each
    /// with `Endpoint` set, ordered by key then endpoint; shared, not copied (a list copies only
    /// the page it serves). Owners are the map's keys, so `Endpoint=<id>` costs no JSON lookup.
    pub fn list_shared(&self, collection: &str, endpoints: Option<&[&str]>) -> Vec<Arc<Value>> {
        let Ok(objects) = self.objects.lock() else {
            return Vec::new();
        };
        let range = objects.collection(collection);
        match endpoints {
            None => range.flat_map(|owners| owners.values().cloned()).collect(),
            Some(wanted) => range
                .flat_map(|owners| {
                    owners
                        .iter()
                        .filter(|(e, _)| wanted.contains(&e.as_str()))
                        .map(|(_, o)| o.clone())
                })
                .collect(),
        }
    }

    /// How many objects of `collection` the replica holds, over every endpoint.
    pub fn collection_len(&self, collection: &str) -> usize {
        self.objects
            .lock()
            .map_or(0, |objects| objects.collection_len(collection))
    }

    /// How many objects of `collection` the `endpoints` hold (each counted once).
    pub fn count_of(&self, collection: &str, endpoints: &BTreeSet<&str>) -> usize {
        self.objects.lock().map_or(0, |objects| {
            endpoints
                .iter()
                .map(|e| objects.count_in(collection, e))
                .sum()
        })
    }

    /// One page of `collection` in stored order (by key, then endpoint; reversed when
    /// `reverse`), of the `endpoints` given (None: all): `offset` skipped, then at most
    /// `limit`. Walks only up to the page, so a list that filters by nothing but the owner
    /// costs its page, not the fleet.
    pub fn page_shared(
        &self,
        collection: &str,
        endpoints: Option<&BTreeSet<&str>>,
        reverse: bool,
        (offset, limit): (usize, usize),
    ) -> Vec<Arc<Value>> {
        let Ok(objects) = self.objects.lock() else {
            return Vec::new();
        };
        let wanted =
            |(e, _): &(&String, &Arc<Value>)| endpoints.is_none_or(|w| w.contains(e.as_str()));
        let keys = objects.collection(collection);
        let copies: Box<dyn Iterator<Item = (&String, &Arc<Value>)>> = if reverse {
            Box::new(keys.rev().flat_map(|owners| owners.iter().rev()))
        } else {
            Box::new(keys.flat_map(|owners| owners.iter()))
        };
        copies
            .filter(wanted)
            .skip(offset)
            .take(limit)
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// The copies of `collection/key`, one per endpoint holding it (normally one).
    pub fn get(&self, collection: &str, key: &str) -> Vec<Value> {
        self.objects
            .lock()
            .ok()
            .and_then(|o| {
                o.get(collection, key)
                    .map(|owners| owners.values().map(|v| (**v).clone()).collect())
            })
            .unwrap_or_default()
    }

    /// The endpoints holding `collection/key`.
    pub fn owners(&self, collection: &str, key: &str) -> Vec<String> {
        self.objects
            .lock()
            .ok()
            .and_then(|o| {
                o.get(collection, key)
                    .map(|owners| owners.keys().cloned().collect())
            })
            .unwrap_or_default()
    }

    /// Stores `object` as `endpoint`'s copy of `collection/key` (setting `Endpoint`).
    pub fn put(&self, endpoint: &str, collection: &str, key: &str, mut object: Value) {
        if let Some(o) = object.as_object_mut() {
            o.insert(ENDPOINT_FIELD.into(), Value::String(endpoint.into()));
        }
        let stored_as = self.stored_as(endpoint);
        if let Ok(mut objects) = self.objects.lock() {
            // Queued under the lock: the disk sees changes in the order memory does.
            let object = Arc::new(object);
            self.persist(store::Change::Put {
                endpoint: stored_as,
                collection: collection.into(),
                key: key.into(),
                object: object.clone(),
            });
            objects.insert(collection.into(), key.into(), endpoint, object);
        }
    }

    /// Drops `endpoint`'s copy of `collection/key`.
    pub fn remove(&self, endpoint: &str, collection: &str, key: &str) {
        let stored_as = self.stored_as(endpoint);
        if let Ok(mut objects) = self.objects.lock() {
            if objects.remove(collection, key, endpoint) {
                self.persist(store::Change::Remove {
                    endpoint: stored_as,
                    collection: collection.into(),
                    key: key.into(),
                });
            }
        }
    }

    /// Makes `objects` (collection, key, object) exactly `endpoint`'s copies, reflecting its
    /// commit `index` (a resync by listing).
    pub fn replace_endpoint(
        &self,
        endpoint: &str,
        listed: Vec<(String, String, Value)>,
        index: u64,
    ) {
        let Ok(mut objects) = self.objects.lock() else {
            return;
        };
        objects.remove_owner(endpoint);
        let mut stored = Vec::with_capacity(listed.len());
        for (collection, key, mut object) in listed {
            if let Some(o) = object.as_object_mut() {
                o.insert(ENDPOINT_FIELD.into(), Value::String(endpoint.into()));
            }
            let object = Arc::new(object);
            objects.insert(collection.clone(), key.clone(), endpoint, object.clone());
            stored.push((collection, key, object));
        }
        self.persist(store::Change::Replace {
            endpoint: endpoint.into(),
            objects: stored,
            index,
        });
        drop(objects);
        self.sync.send_modify(|m| {
            m.entry(endpoint.to_string()).or_default().index = index;
        });
    }

    /// Records that `endpoint`'s replica reflects its commit `index` (never lowers it).
    pub fn set_index(&self, endpoint: &str, index: u64) {
        let mut raised = false;
        self.sync.send_if_modified(|m| {
            let s = m.entry(endpoint.to_string()).or_default();
            raised = index > s.index;
            if raised {
                s.index = index;
            }
            raised
        });
        if raised {
            if let Ok(_order) = self.objects.lock() {
                self.persist(store::Change::Index {
                    endpoint: endpoint.into(),
                    index,
                });
            }
        }
    }

    /// Forgets everything of an endpoint removed from the manager (a manager's: its leaves').
    pub fn drop_endpoint(&self, endpoint: &str) {
        let leaves = self.forget_leaves(endpoint);
        self.forget_reports(&leaves);
        if let Ok(mut objects) = self.objects.lock() {
            objects.remove_owner(endpoint);
            for leaf in &leaves {
                objects.remove_owner(leaf);
            }
            self.persist(store::Change::Drop {
                endpoint: endpoint.into(),
            });
        }
        self.sync.send_modify(|m| {
            m.remove(endpoint);
            for leaf in &leaves {
                m.remove(leaf);
            }
        });
        if let Ok(mut c) = self.counts.lock() {
            c.remove(endpoint);
        }
    }

    /// Every endpoint the replica holds objects or a sync state of.
    pub fn endpoints(&self) -> Vec<String> {
        let mut out: BTreeSet<String> = self.sync.borrow().keys().cloned().collect();
        if let Ok(objects) = self.objects.lock() {
            out.extend(objects.owners().cloned());
        }
        out.into_iter().collect()
    }

    /// How many objects the replica holds of `endpoint`.
    pub fn object_count(&self, endpoint: &str) -> usize {
        self.objects.lock().map(|o| o.count(endpoint)).unwrap_or(0)
    }

    /// How `endpoint`'s replica was brought current since the manager started.
    pub fn counts(&self, endpoint: &str) -> SyncCounts {
        self.counts
            .lock()
            .ok()
            .and_then(|c| c.get(endpoint).copied())
            .unwrap_or_default()
    }

    pub(crate) fn count(&self, endpoint: &str, f: impl FnOnce(&mut SyncCounts)) {
        if let Ok(mut c) = self.counts.lock() {
            f(c.entry(endpoint.to_string()).or_default());
        }
    }

    /// The commit index `endpoint`'s replica reflects (0: unknown).
    pub fn index(&self, endpoint: &str) -> u64 {
        self.sync.borrow().get(endpoint).map_or(0, |s| s.index)
    }

    /// Every endpoint's sync state, as it changes (the federated socket reports it).
    pub fn watch_sync(&self) -> watch::Receiver<BTreeMap<String, EndpointSync>> {
        self.sync.subscribe()
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

    /// Marks `endpoint`'s replica current or stale, keeping its index.
    pub fn set_current(&self, endpoint: &str, error: Option<String>) {
        self.sync.send_if_modified(|m| {
            let s = m.entry(endpoint.to_string()).or_default();
            let (current, changed) = (
                error.is_none(),
                s.error != error || s.current != error.is_none(),
            );
            s.current = current;
            s.error = error;
            changed
        });
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
