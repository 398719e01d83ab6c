//! The replica's objects in memory: per collection by key, then owning endpoint, with each
//! owner's count per collection kept beside them. Naming the endpoints (every limited caller's
//! list), counting a list and serving its first pages walk no more than the page.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// One key's copies: owning endpoint → object (normally one).
pub(super) type Owners = BTreeMap<String, Arc<Value>>;

#[derive(Default)]
pub(super) struct Held {
    /// collection → key → copies.
    collections: BTreeMap<String, BTreeMap<String, Owners>>,
    /// owner → collection → how many objects it holds there (never 0).
    counts: BTreeMap<String, BTreeMap<String, usize>>,
}

impl Held {
    /// Stores `owner`'s copy of `collection/key`, replacing the one it had.
    pub fn insert(&mut self, collection: String, key: String, owner: &str, object: Arc<Value>) {
        let keys = self.collections.entry(collection.clone()).or_default();
        if keys
            .entry(key)
            .or_default()
            .insert(owner.to_owned(), object)
            .is_none()
        {
            let per = self.counts.entry(owner.to_owned()).or_default();
            *per.entry(collection).or_default() += 1;
        }
    }

    /// Drops `owner`'s copy of `collection/key`; whether it had one.
    pub fn remove(&mut self, collection: &str, key: &str, owner: &str) -> bool {
        let Some(keys) = self.collections.get_mut(collection) else {
            return false;
        };
        let Some(owners) = keys.get_mut(key) else {
            return false;
        };
        let removed = owners.remove(owner).is_some();
        if owners.is_empty() {
            keys.remove(key);
            if keys.is_empty() {
                self.collections.remove(collection);
            }
        }
        if removed {
            self.uncount(owner, collection);
        }
        removed
    }

    /// Drops every copy `owner` holds.
    pub fn remove_owner(&mut self, owner: &str) {
        let Some(held) = self.counts.remove(owner) else {
            return;
        };
        for collection in held.keys() {
            if let Some(keys) = self.collections.get_mut(collection) {
                keys.retain(|_, owners| {
                    owners.remove(owner);
                    !owners.is_empty()
                });
                if keys.is_empty() {
                    self.collections.remove(collection);
                }
            }
        }
    }

    /// The copies of every key of `collection`, in key order (reversible).
    pub fn collection(&self, collection: &str) -> impl DoubleEndedIterator<Item = &Owners> {
        self.collections
            .get(collection)
            .into_iter()
            .flat_map(|keys| keys.values())
    }

    /// The copies of `collection/key`.
    pub fn get(&self, collection: &str, key: &str) -> Option<&Owners> {
        self.collections.get(collection)?.get(key)
    }

    /// Every endpoint holding at least one object.
    pub fn owners(&self) -> impl Iterator<Item = &String> {
        self.counts.keys()
    }

    /// How many objects `owner` holds.
    pub fn count(&self, owner: &str) -> usize {
        self.counts.get(owner).map_or(0, |per| per.values().sum())
    }

    /// How many objects of `collection` `owner` holds.
    pub fn count_in(&self, collection: &str, owner: &str) -> usize {
        self.counts
            .get(owner)
            .and_then(|per| per.get(collection))
            .copied()
            .unwrap_or(0)
    }

    /// How many objects of `collection` there are, over every owner.
    pub fn collection_len(&self, collection: &str) -> usize {
        self.counts
            .values()
            .filter_map(|per| per.get(collection))
            .sum()
    }

    fn uncount(&mut self, owner: &str, collection: &str) {
        let Some(per) = self.counts.get_mut(owner) else {
            return;
        };
        if let Some(c) = per.get_mut(collection) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                per.remove(collection);
            }
        }
        if per.is_empty() {
            self.counts.remove(owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(n: u64) -> Arc<Value> {
        Arc::new(serde_json::json!({ "N": n }))
    }

    #[test]
    fn the_owner_counts_follow_inserts_and_removals() {
        let mut h = Held::default();
        h.insert("machines".into(), "m1".into(), "a", obj(1));
        h.insert("machines".into(), "m1".into(), "a", obj(2));
        h.insert("machines".into(), "m1".into(), "b", obj(3));
        h.insert("machines".into(), "m2".into(), "b", obj(4));
        h.insert("params".into(), "p".into(), "a", obj(5));
        assert_eq!((h.count("a"), h.count("b")), (2, 2));
        assert_eq!(
            (h.count_in("machines", "a"), h.collection_len("machines")),
            (1, 3)
        );
        assert_eq!(h.owners().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(h.collection("machines").count(), 2);
        assert_eq!(h.get("machines", "m1").map(|o| o.len()), Some(2));

        assert!(h.remove("machines", "m1", "b"));
        assert!(!h.remove("machines", "m1", "b"));
        assert_eq!(h.count("b"), 1);
        h.remove_owner("a");
        assert_eq!((h.count("a"), h.collection_len("machines")), (0, 1));
        assert!(h.get("machines", "m1").is_none());
        assert_eq!(h.collection("params").count(), 0);
        assert!(h.remove("machines", "m2", "b"));
        assert_eq!(h.owners().count(), 0);
        assert!(h.collections.is_empty());
    }
}
