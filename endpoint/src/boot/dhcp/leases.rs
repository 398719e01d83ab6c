//! The DHCP server's copy of the `leases` collection. Reading (and decoding) every lease for
//! every packet made each packet cost O(leases) JSON decoding; this table is loaded once when
//! the server starts and kept current from the change events every member's apply emits, from
//! this server's own commits, and from the store when a commit finds a lease changed under it
//! or the event stream lagged. It only has to be close: every lease write is a create or an
//! If-Match replace, so a decision made on a stale copy fails its commit and is made again.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};

use serde_json::Value;
use tokio::sync::{broadcast, watch};

use super::decide::lease_expiry_ms;
use crate::events::{self, Event, Followed};
use crate::store::{ObjectStore, StoreError};

const COLLECTION: &str = "leases";

#[derive(Default)]
struct Table {
    items: Vec<Value>,
    /// What a decision needs of each item, read once when it is stored (same positions).
    facts: Vec<Facts>,
    /// Lease key (its `Addr`) → position in `items`.
    index: HashMap<String, usize>,
}

/// A lease's address, holder and expiry, parsed once.
struct Facts {
    addr: Option<u32>,
    token: String,
    /// `None`: an expiry that cannot be read (held for ever, as `decide` treats it).
    expire_ms: Option<u64>,
}

impl Facts {
    fn of(lease: &Value) -> Facts {
        Facts {
            addr: lease_key(lease)
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
                .map(u32::from),
            token: lease
                .get("Token")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase(),
            expire_ms: lease_expiry_ms(lease),
        }
    }
}

impl Table {
    fn put(&mut self, key: &str, lease: Value) {
        let facts = Facts::of(&lease);
        match self.index.get(key) {
            Some(&i) => {
                self.items[i] = lease;
                self.facts[i] = facts;
            }
            None => {
                self.index.insert(key.to_string(), self.items.len());
                self.items.push(lease);
                self.facts.push(facts);
            }
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(i) = self.index.remove(key) {
            self.items.swap_remove(i);
            self.facts.swap_remove(i);
            if let Some(moved) = self.items.get(i).and_then(lease_key) {
                self.index.insert(moved.to_string(), i);
            }
        }
    }
}

/// What one packet's decision needs of the leases: the objects that can matter to it (the
/// client's own, and those at the addresses it names or has reserved), and every address
/// another client holds now, so the free-address search skips them without the objects.
pub struct View {
    pub leases: Vec<Value>,
    pub held_by_others: HashSet<u32>,
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

    /// The view for a client `mac` (lower-case) naming `addrs`, at `now_ms`: one pass over
    /// parsed facts, copying only the few objects that matter.
    pub fn view(&self, mac: &str, addrs: &[Ipv4Addr], now_ms: u64) -> View {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        let named: HashSet<u32> = addrs.iter().map(|a| u32::from(*a)).collect();
        let mut view = View {
            leases: Vec::new(),
            held_by_others: HashSet::new(),
        };
        for (facts, item) in table.facts.iter().zip(&table.items) {
            let Some(addr) = facts.addr else { continue };
            let mine = facts.token == mac;
            if mine || named.contains(&addr) {
                view.leases.push(item.clone());
            }
            if !mine && facts.expire_ms.is_none_or(|e| e > now_ms) {
                view.held_by_others.insert(addr);
            }
        }
        view
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
        self: Arc<Self>,
        store: ObjectStore,
        events: broadcast::Receiver<Arc<Event>>,
        stop: watch::Receiver<bool>,
    ) {
        events::follow(events, stop, |seen| {
            let (leases, store) = (self.clone(), store.clone());
            async move {
                match seen {
                    Followed::Event(event) => leases.apply(&event),
                    Followed::Lagged(missed) => {
                        tracing::debug!(missed, "lease events lagged; reloading the leases");
                        match tokio::task::spawn_blocking(move || leases.reload(&store)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => tracing::warn!(error = %e, "reloading the leases"),
                            Err(e) => tracing::warn!(error = %e, "reloading the leases"),
                        }
                    }
                }
            }
        })
        .await
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
        assert!(t.items.is_empty() && t.index.is_empty() && t.facts.is_empty());
    }

    #[test]
    fn a_view_holds_the_clients_own_and_named_leases_and_marks_the_others_taken() {
        let leases = Leases::default();
        let now = 1_700_000_000_000u64;
        for (addr, mac, expire) in [
            ("10.0.0.10", "52:54:00:00:00:01", "2099-01-01T00:00:00Z"),
            ("10.0.0.11", "52:54:00:00:00:02", "2099-01-01T00:00:00Z"),
            ("10.0.0.12", "52:54:00:00:00:03", "2000-01-01T00:00:00Z"),
            ("10.0.0.13", "52:54:00:00:00:04", "2099-01-01T00:00:00Z"),
        ] {
            leases.put(json!({"Addr": addr, "Token": mac, "ExpireTime": expire}));
        }
        let named = [Ipv4Addr::new(10, 0, 0, 13)];
        let view = leases.view("52:54:00:00:00:01", &named, now);
        let mut addrs: Vec<&str> = view
            .leases
            .iter()
            .filter_map(|l| l["Addr"].as_str())
            .collect();
        addrs.sort();
        assert_eq!(addrs, ["10.0.0.10", "10.0.0.13"]);
        // Held by others: .11 and .13; not the client's own .10, not the expired .12.
        let mut held: Vec<Ipv4Addr> = view
            .held_by_others
            .into_iter()
            .map(Ipv4Addr::from)
            .collect();
        held.sort();
        assert_eq!(
            held,
            [Ipv4Addr::new(10, 0, 0, 11), Ipv4Addr::new(10, 0, 0, 13)]
        );
    }
}
