//! The DHCP server's copy of the `leases` collection. Reading (and decoding) every lease for
//! every packet made each packet cost O(leases) JSON decoding; this table is loaded once when
//! the server starts and kept current from the change events every member's apply emits, from
//! this server's own commits, and from the store when a commit finds a lease changed under it
//! or the event stream lagged. It only has to be close: every lease write is a create or an
//! If-Match replace, so a decision made on a stale copy fails its commit and is made again.

use std::collections::HashMap;
use std::sync::RwLock;

use serde_json::Value;
use tokio::sync::{broadcast, watch};

use crate::events::Event;
use crate::store::{ObjectStore, StoreError};

const COLLECTION: &str = "leases";

#[derive(Default)]
struct Table {
    items: Vec<Value>,
    /// Lease key (its `Addr`) → position in `items`.
    index: HashMap<String, usize>,
}

impl Table {
    fn put(&mut self, key: &str, lease: Value) {
        match self.index.get(key) {
            Some(&i) => self.items[i] = lease,
            None => {
                self.index.insert(key.to_string(), self.items.len());
                self.items.push(lease);
            }
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(i) = self.index.remove(key) {
            self.items.swap_remove(i);
            if let Some(moved) = self.items.get(i).and_then(lease_key) {
                self.index.insert(moved.to_string(), i);
            }
        }
    }
}

fn lease_key(lease: &Value) -> Option<&str> {
    lease.get("Addr").and_then(Value::as_str)
}

#[derive(Default)]
pub struct Leases {
    table: RwLock<Table>,
}

impl Leases {
    /// Everything the store holds now.
    pub fn reload(&self, store: &ObjectStore) -> Result<(), StoreError> {
        let mut table = Table::default();
        for lease in store.list(COLLECTION, 0, None)?.items {
            if let Some(key) = lease_key(&lease).map(str::to_string) {
                table.put(&key, lease);
            }
        }
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = table;
        Ok(())
    }

    /// One lease as the store holds it now (after a commit found it changed).
    pub fn refresh(&self, store: &ObjectStore, key: &str) -> Result<(), StoreError> {
        let current = store.get(COLLECTION, key)?;
        let mut table = self.table.write().unwrap_or_else(|p| p.into_inner());
        match current {
            Some(lease) => table.put(key, lease),
            None => table.remove(key),
        }
        Ok(())
    }

    /// A lease as a commit stored it.
    pub fn put(&self, lease: Value) {
        if let Some(key) = lease_key(&lease).map(str::to_string) {
            self.table
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .put(&key, lease);
        }
    }

    /// Runs `f` over every lease, under the read lock (no copy).
    pub fn with<R>(&self, f: impl FnOnce(&[Value]) -> R) -> R {
        f(&self.table.read().unwrap_or_else(|p| p.into_inner()).items)
    }

    fn apply(&self, event: &Event) {
        if event.kind != COLLECTION {
            return;
        }
        let mut table = self.table.write().unwrap_or_else(|p| p.into_inner());
        match event.action.as_str() {
            "delete" => table.remove(&event.key),
            _ => table.put(&event.key, event.object.clone()),
        }
    }

    /// Follows the event bus until `stop`; a lagged receiver reloads the whole table.
    pub async fn follow(
        &self,
        store: ObjectStore,
        mut events: broadcast::Receiver<Event>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let next = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                e = events.recv() => e,
            };
            match next {
                Ok(event) => self.apply(&event),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "lease events lagged; reloading the leases");
                    let store = store.clone();
                    let reloaded = tokio::task::spawn_blocking(move || {
                        let fresh = Leases::default();
                        fresh.reload(&store).map(|()| fresh)
                    })
                    .await;
                    match reloaded {
                        Ok(Ok(fresh)) => {
                            let table = std::mem::take(
                                &mut *fresh.table.write().unwrap_or_else(|p| p.into_inner()),
                            );
                            *self.table.write().unwrap_or_else(|p| p.into_inner()) = table;
                        }
                        Ok(Err(e)) => tracing::warn!(error = %e, "reloading the leases"),
                        Err(e) => tracing::warn!(error = %e, "reloading the leases"),
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn puts_replace_and_removes_keep_the_index_straight() {
        let mut t = Table::default();
        for a in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            t.put(a, json!({"Addr": a, "State": "OFFER"}));
        }
        t.put("10.0.0.2", json!({"Addr": "10.0.0.2", "State": "ACK"}));
        t.remove("10.0.0.1");
        assert_eq!(t.items.len(), 2);
        for (key, &i) in &t.index {
            assert_eq!(lease_key(&t.items[i]), Some(key.as_str()));
        }
        assert_eq!(t.items[t.index["10.0.0.2"]]["State"], "ACK");
        t.remove("10.0.0.9");
        t.remove("10.0.0.3");
        t.remove("10.0.0.2");
        assert!(t.items.is_empty() && t.index.is_empty());
    }
}
