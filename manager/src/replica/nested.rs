//! A followed endpoint that is itself a manager (one level of DRP's manager hierarchy): its
//! objects and events already carry `Endpoint: <leaf>`, and they stay the leaf's here, so the
//! union lists them under the leaf, `Endpoint=<leaf>` filters select them, and a write for one
//! is routed to the manager that serves the leaf ([`Replica::origin`]).
//!
//! On disk they are kept under the followed manager (its re-list replaces them all, its
//! removal drops them); in memory under the leaf, with the leaf → manager link in
//! `Replica::origins`. Each leaf's sync state follows the manager's follower: current while it
//! is, with the leaf's own commit index from the events' `Index` (so a routed write's
//! read-your-writes wait works one level down). A manager has no per-cluster event ring, so
//! every reconnection re-lists.
//!
//! A leaf's staleness one level down is pushed: a manager's federated socket sends a
//! [`SYNC_TYPE`] event whenever its replica of an endpoint turns stale or current (and the
//! current state of each at registration), so the manager above marks exactly that leaf.
//! Such an event also counts the lower manager's re-lists of the leaf: a re-list publishes no
//! events, so when it grows the manager above re-lists the lower one to see what changed.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};

use super::apply::{self, apply_event, index_of};
use super::{store, EndpointSync, Replica, ENDPOINT_FIELD};

/// The `Type` of the event a manager's federated socket sends about one of its endpoints'
/// replica (`Action` `current` or `stale`, `Key` the endpoint). DRP clients ignore types they
/// do not know; a manager above follows it.
pub const SYNC_TYPE: &str = "sync";

/// What a followed manager last said of one of its leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct LeafReport {
    /// Why its replica of the leaf is stale, as shown here (None: current).
    error: Option<String>,
    /// How often it has re-listed the leaf.
    lists: u64,
}

/// The [`SYNC_TYPE`] event for `endpoint`'s sync `state`, `lists` its re-lists so far.
pub fn sync_event(endpoint: &str, state: &EndpointSync, lists: u64) -> Value {
    let action = if state.current { "current" } else { "stale" };
    json!({
        "Type": SYNC_TYPE, "Action": action, "Key": endpoint, ENDPOINT_FIELD: endpoint,
        "Object": {
            ENDPOINT_FIELD: endpoint, "Current": state.current, "Error": state.error,
            "Index": state.index, "Lists": lists,
        },
    })
}

/// The leaf an object or event of a manager names (`Endpoint`).
pub(super) fn leaf_of(v: &Value) -> Option<&str> {
    v.get(ENDPOINT_FIELD)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl Replica {
    /// The manager serving `leaf`, when it is a leaf of a followed manager.
    pub fn origin(&self, leaf: &str) -> Option<String> {
        self.origins.lock().ok()?.get(leaf).cloned()
    }

    /// The leaves served through `manager`.
    pub fn leaves_of(&self, manager: &str) -> Vec<String> {
        self.origins.lock().map_or_else(
            |_| Vec::new(),
            |o| {
                o.iter()
                    .filter(|(_, m)| *m == manager)
                    .map(|(leaf, _)| leaf.clone())
                    .collect()
            },
        )
    }

    /// Under which endpoint `owner`'s objects are stored on disk.
    pub(super) fn stored_as(&self, owner: &str) -> String {
        self.origin(owner).unwrap_or_else(|| owner.to_owned())
    }

    /// Unlinks `manager`'s leaves; returns them.
    pub(super) fn forget_leaves(&self, manager: &str) -> Vec<String> {
        let leaves = self.leaves_of(manager);
        if let Ok(mut o) = self.origins.lock() {
            o.retain(|_, m| m != manager);
        }
        leaves
    }

    /// Links `leaf` to `manager`; a leaf seen for the first time is as current as the
    /// manager's follower (which is applying its event).
    fn adopt(&self, manager: &str, leaf: &str) {
        let new = self.origins.lock().is_ok_and(|mut o| {
            o.insert(leaf.to_owned(), manager.to_owned()).as_deref() != Some(manager)
        });
        if new {
            self.set_current(leaf, self.reported_error(leaf));
        }
    }

    /// Why the manager serving `leaf` said its replica of it is stale (None: current or never
    /// said).
    fn reported_error(&self, leaf: &str) -> Option<String> {
        self.reports
            .lock()
            .ok()
            .and_then(|r| r.get(leaf).and_then(|l| l.error.clone()))
    }

    /// Forgets what was reported of `leaves` (their manager was removed).
    pub(super) fn forget_reports(&self, leaves: &[String]) {
        if let Ok(mut r) = self.reports.lock() {
            for leaf in leaves {
                r.remove(leaf);
            }
        }
    }

    /// Whether `manager` is to be re-listed (one of its leaves was re-listed down there);
    /// clears the wish.
    pub(super) fn take_relist(&self, manager: &str) -> bool {
        self.relists.lock().is_ok_and(|mut r| r.remove(manager))
    }

    /// Makes `listed` (collection, key, object naming its leaf) exactly the objects served
    /// through `manager` (its re-list); leaves it no longer serves are forgotten.
    pub(super) fn replace_manager(&self, manager: &str, listed: Vec<(String, String, Value)>) {
        let before = self.forget_leaves(manager);
        let mut leaves = BTreeSet::new();
        {
            let Ok(mut objects) = self.objects.lock() else {
                return;
            };
            objects.remove_owner(manager);
            for leaf in &before {
                objects.remove_owner(leaf);
            }
            let mut stored = Vec::with_capacity(listed.len());
            for (collection, key, object) in listed {
                let Some(leaf) = leaf_of(&object).map(str::to_owned) else {
                    continue;
                };
                let object = Arc::new(object);
                objects.insert(collection.clone(), key.clone(), &leaf, object.clone());
                leaves.insert(leaf);
                stored.push((collection, key, object));
            }
            self.persist(store::Change::Replace {
                endpoint: manager.into(),
                objects: stored,
                index: 0,
            });
        }
        // A leaf holding no objects now is still the manager's while it reports on it.
        if let Ok(reports) = self.reports.lock() {
            leaves.extend(before.iter().filter(|l| reports.contains_key(*l)).cloned());
        }
        if let Ok(mut o) = self.origins.lock() {
            for leaf in &leaves {
                o.insert(leaf.clone(), manager.to_owned());
            }
        }
        self.sync.send_modify(|m| {
            for gone in before.iter().filter(|l| !leaves.contains(*l)) {
                m.remove(gone);
            }
        });
        for leaf in &leaves {
            self.set_current(leaf, self.reported_error(leaf));
        }
    }

    /// Marks `manager`'s leaves stale when its follower is (`error`), else as it reports them.
    pub(super) fn set_leaves_current(&self, manager: &str, error: Option<&str>) {
        for leaf in self.leaves_of(manager) {
            let error = match error {
                Some(e) => Some(format!("through manager `{manager}`: {e}")),
                None => self.reported_error(&leaf),
            };
            self.set_current(&leaf, error);
        }
    }
}

/// Applies one message of the followed `manager`: a [`SYNC_TYPE`] report on a leaf, else a
/// change of a leaf's object.
pub(super) fn apply(replica: &Replica, manager: &str, event: &Value) {
    if event.get("Type").and_then(Value::as_str) == Some(SYNC_TYPE) {
        apply_leaf_sync(replica, manager, event);
    } else {
        apply_leaf_event(replica, manager, event);
    }
}

/// Marks the leaf a [`SYNC_TYPE`] event names as `manager` says it is. When the manager has
/// re-listed the leaf since its last report, the manager is to be re-listed here
/// ([`Replica::take_relist`]): what that re-list found made no events.
fn apply_leaf_sync(replica: &Replica, manager: &str, event: &Value) {
    let Some(leaf) = event
        .get("Key")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty() && *l != manager)
    else {
        return;
    };
    let o = &event["Object"];
    let error = (o["Current"].as_bool() != Some(true)).then(|| {
        let why = o["Error"].as_str().unwrap_or("stale");
        format!("through manager `{manager}`: {why}")
    });
    let report = LeafReport {
        error: error.clone(),
        lists: o["Lists"].as_u64().unwrap_or(0),
    };
    let relisted = replica.reports.lock().is_ok_and(|mut r| {
        let lists = report.lists;
        r.insert(leaf.to_owned(), report)
            .is_some_and(|before| lists > before.lists)
    });
    replica.adopt(manager, leaf);
    replica.set_current(leaf, error);
    if relisted {
        if let Ok(mut r) = replica.relists.lock() {
            r.insert(manager.to_owned());
        }
    }
}

/// Applies one event of the followed `manager` as its leaf's: stored and published under
/// the leaf, the leaf's commit index raised to the event's. An event naming no leaf cannot be
/// placed and is skipped.
fn apply_leaf_event(replica: &Replica, manager: &str, event: &Value) {
    let Some(leaf) = leaf_of(event) else {
        tracing::debug!(%manager, "an event of a manager without Endpoint: skipped");
        return;
    };
    if !apply::federated(
        event
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    ) {
        return;
    }
    replica.adopt(manager, leaf);
    apply_event(replica, leaf, event);
    replica.count(manager, |c| c.events += 1);
    replica.set_index(leaf, index_of(event));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn machine(uuid: &str, leaf: &str, name: &str) -> Value {
        json!({"Uuid": uuid, "Name": name, "Endpoint": leaf})
    }

    fn ev(action: &str, object: Value, index: u64) -> Value {
        let leaf = object["Endpoint"].clone();
        let key = object["Uuid"].clone();
        json!({"Type": "machines", "Action": action, "Key": key, "Object": object,
               "Endpoint": leaf, "Index": index})
    }

    fn report(leaf: &str, current: bool, lists: u64) -> Value {
        let state = EndpointSync {
            index: 9,
            current,
            error: (!current).then(|| "socket closed".to_owned()),
        };
        sync_event(leaf, &state, lists)
    }

    /// A lower manager's sync report marks exactly its leaf: stale through a re-list and the
    /// follower's reconnection, current again when it says so; a report of a re-list down
    /// there asks for a re-list of the manager here, once.
    #[test]
    fn a_leaf_is_as_stale_as_its_manager_reports() {
        let r = Replica::default();
        let listed = vec![
            ("machines".into(), "u1".into(), machine("u1", "a", "m1")),
            ("machines".into(), "u2".into(), machine("u2", "b", "m2")),
        ];
        r.replace_manager("lower", listed.clone());
        r.set_current("lower", None);
        apply(&r, "lower", &report("a", true, 1));
        apply(&r, "lower", &report("b", true, 1));
        assert!(!r.take_relist("lower"), "first reports ask nothing");

        apply(&r, "lower", &report("a", false, 1));
        assert_eq!(r.stale(), ["a"]);
        let why = r.sync_states()["a"].error.clone().unwrap_or_default();
        assert!(
            why.contains("lower") && why.contains("socket closed"),
            "{why}"
        );
        // A re-list of the manager here or its reconnection does not hide it.
        r.replace_manager("lower", listed);
        r.set_leaves_current("lower", None);
        assert_eq!(r.stale(), ["a"]);
        assert_eq!(r.owners("machines", "u1"), ["a"], "its objects stay listed");

        apply(&r, "lower", &report("a", true, 2));
        assert!(r.stale().is_empty(), "{:?}", r.sync_states());
        assert!(r.take_relist("lower"), "re-listed down there: re-list here");
        assert!(!r.take_relist("lower"));
        apply(&r, "lower", &report("b", true, 1));
        assert!(!r.take_relist("lower"));

        // A report naming the manager itself or nothing changes nothing.
        apply(&r, "lower", &report("lower", false, 5));
        apply(
            &r,
            "lower",
            &json!({"Type": SYNC_TYPE, "Action": "stale", "Key": ""}),
        );
        assert!(r.stale().is_empty(), "{:?}", r.sync_states());
        r.drop_endpoint("lower");
        assert!(r.reports.lock().is_ok_and(|m| m.is_empty()));
    }

    /// A manager's re-list and events land under each object's leaf, routed back through the
    /// manager; a re-list without a leaf forgets it; dropping the manager drops its leaves.
    #[test]
    fn a_managers_objects_stay_their_leaves() {
        let r = Replica::default();
        let listed = vec![
            ("machines".into(), "u1".into(), machine("u1", "a", "m1")),
            ("machines".into(), "u2".into(), machine("u2", "b", "m2")),
        ];
        r.replace_manager("lower", listed);
        assert_eq!(r.owners("machines", "u1"), ["a"]);
        assert_eq!(r.list_shared("machines", Some(&["b"])).len(), 1);
        assert_eq!(r.origin("a").as_deref(), Some("lower"));
        assert_eq!(r.stored_as("b"), "lower");
        assert!(r.stale().is_empty(), "{:?}", r.sync_states());

        apply_leaf_event(&r, "lower", &ev("update", machine("u1", "a", "m1b"), 42));
        assert_eq!(r.get("machines", "u1")[0]["Name"], "m1b");
        assert_eq!(r.get("machines", "u1")[0]["Endpoint"], "a");
        assert_eq!(r.index("a"), 42);
        apply_leaf_event(&r, "lower", &ev("create", machine("u3", "c", "m3"), 7));
        assert_eq!(r.origin("c").as_deref(), Some("lower"));
        r.set_leaves_current("lower", Some("socket closed"));
        assert_eq!(r.stale(), ["a", "b", "c"]);

        r.replace_manager(
            "lower",
            vec![("machines".into(), "u1".into(), machine("u1", "a", "m1b"))],
        );
        assert_eq!(r.stale(), Vec::<String>::new());
        assert!(r.get("machines", "u2").is_empty());
        assert_eq!(r.origin("b"), None);
        assert_eq!(r.leaves_of("lower"), ["a"]);

        r.drop_endpoint("lower");
        assert!(r.get("machines", "u1").is_empty());
        assert!(r.sync_states().is_empty());
        assert_eq!(r.origin("a"), None);
    }

    /// On disk the leaves' objects live under the manager; reopened, they are the leaves'
    /// again, still routed through it.
    #[tokio::test]
    async fn reopened_the_leaves_objects_keep_their_manager() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let r = Replica::open(dir.path()).expect("open");
            r.replace_manager(
                "lower",
                vec![("machines".into(), "u1".into(), machine("u1", "a", "m1"))],
            );
            apply_leaf_event(&r, "lower", &ev("create", machine("u2", "b", "m2"), 3));
            assert!(r.flush(std::time::Duration::from_secs(30)).await);
        }
        // The writer thread closes the file once it sees the queue dropped.
        let mut reopened = Replica::open(dir.path());
        for _ in 0..600 {
            if reopened.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            reopened = Replica::open(dir.path());
        }
        let r = reopened.expect("reopen");
        assert_eq!(r.owners("machines", "u1"), ["a"]);
        assert_eq!(r.owners("machines", "u2"), ["b"]);
        assert_eq!(r.origin("b").as_deref(), Some("lower"));
    }
}
