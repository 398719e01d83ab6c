//! Which of the replica's objects a federated list serves: its page and its counts (total,
//! matched). Two ways, same answer: a list that asks nothing but the owning endpoint is counted
//! from the replica's per-endpoint counts and walks only up to its page; any other list collects
//! the shared pointers, then filters and sorts them. Both are CPU work for the blocking pool.

use std::collections::BTreeSet;
use std::sync::Arc;

use proto::collections::Collection;
use proto::query::ListQuery;
use serde_json::Value;

use crate::replica::{Replica, ENDPOINT_FIELD};

/// The page (shared, not copied), the total and the matched count.
pub(super) type Listing = (Vec<Arc<Value>>, usize, usize);

/// A list whose only filter is on the owner ([`ListQuery::only_pins`]), in stored order, of
/// the endpoints `visible` to the caller (None: all). Without `page`, counts only.
pub(super) fn by_owner(
    replica: &Replica,
    name: &str,
    q: &ListQuery,
    visible: Option<&[String]>,
    page: bool,
) -> Listing {
    let visible: Option<BTreeSet<&str>> = visible.map(|v| v.iter().map(String::as_str).collect());
    let pinned: Option<BTreeSet<&str>> = q.pinned(ENDPOINT_FIELD).map(BTreeSet::from_iter);
    let wanted = match (&visible, pinned) {
        (Some(v), Some(p)) => Some(v.intersection(&p).copied().collect()),
        (Some(v), None) => Some(v.clone()),
        (None, p) => p,
    };
    // A limited caller's total counts only what it may see.
    let total = match &visible {
        None => replica.collection_len(name),
        Some(v) => replica.count_of(name, v),
    };
    let matched = match &wanted {
        None => total,
        Some(w) => replica.count_of(name, w),
    };
    let items = if page {
        let range = (q.offset, q.limit.unwrap_or(usize::MAX));
        replica.page_shared(name, wanted.as_ref(), q.reversed(), range)
    } else {
        Vec::new()
    };
    (items, total, matched)
}

/// Any list: the visible objects (an `Endpoint=<id>` / `In(..)` filter visits only those
/// endpoints'), with `own` (the manager's own users or roles) merged in the replica's order,
/// then filtered, sorted and paged.
pub(super) fn by_filter(
    replica: &Replica,
    c: &Collection,
    q: &ListQuery,
    visible: Option<&[String]>,
    own: Vec<Arc<Value>>,
    page: bool,
) -> Listing {
    let name = c.name;
    let (total, mut all) = match (visible, q.pinned(ENDPOINT_FIELD)) {
        (None, None) => {
            let all = replica.list_shared(name, None);
            (all.len(), all)
        }
        (None, Some(endpoints)) => (
            replica.collection_len(name),
            replica.list_shared(name, Some(&endpoints)),
        ),
        (Some(visible), _) => {
            let visible: Vec<&str> = visible.iter().map(String::as_str).collect();
            let all = replica.list_shared(name, Some(&visible));
            (all.len(), all)
        }
    };
    let total = total + own.len();
    if !own.is_empty() {
        // In the replica's order: by key, then endpoint.
        all.extend(own);
        let key = |o: &Value, f: &str| o.get(f).and_then(|v| v.as_str()).map(str::to_owned);
        all.sort_by_cached_key(|o| (key(o, c.key_field), key(o, ENDPOINT_FIELD)));
    }
    let selected = q.select(all);
    let matched = selected.len();
    let items = if page { q.page(selected) } else { Vec::new() };
    (items, total, matched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(q: &str) -> ListQuery {
        let pairs = q.split('&').filter(|p| !p.is_empty()).map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k, v)
        });
        proto::query::parse(pairs).expect("query")
    }

    fn names(l: &Listing) -> (Vec<String>, usize, usize) {
        let name = |o: &Arc<Value>| format!("{}@{}", o["Name"], o[ENDPOINT_FIELD]);
        (l.0.iter().map(name).collect(), l.1, l.2)
    }

    /// The shortcut serves exactly what filtering everything serves: same page, same counts,
    /// for every caller and every owner-only query (and it is taken for each of them).
    #[test]
    fn the_owner_shortcut_answers_as_filtering_does() {
        let machines = proto::collections::by_name("machines").expect("machines");
        let replica = Replica::default();
        for (endpoint, keys) in [("a", 0..7), ("b", 3..9), ("c", 5..6), ("d", 0..2)] {
            for k in keys {
                let name = format!("m{k}");
                replica.put(endpoint, "machines", &name, json!({ "Name": name }));
            }
        }
        replica.put("a", "profiles", "p", json!({ "Name": "p" }));
        let visible = [
            None,
            Some(vec!["a".to_owned(), "c".to_owned()]),
            Some(vec![]),
        ];
        let queries = [
            "",
            "limit=3",
            "offset=4&limit=5",
            "reverse=true&limit=4",
            "reverse=true&offset=3",
            "Endpoint=b",
            "Endpoint=b&offset=2&limit=2",
            "Endpoint=In(a,c,zz)&reverse=true&limit=3",
            "Endpoint=zz",
            "offset=100",
        ];
        for v in &visible {
            for text in queries {
                let q = query(text);
                assert!(q.only_pins(ENDPOINT_FIELD), "{text}");
                for page in [true, false] {
                    let fast = by_owner(&replica, "machines", &q, v.as_deref(), page);
                    let slow = by_filter(&replica, machines, &q, v.as_deref(), vec![], page);
                    assert_eq!(names(&fast), names(&slow), "{text} for {v:?}");
                }
            }
        }
        let all = by_owner(&replica, "machines", &query(""), None, true);
        assert_eq!((all.0.len(), all.1, all.2), (16, 16, 16));
    }
}
