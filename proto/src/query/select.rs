//! Running a list query: filter, sort, reverse, page.

use std::borrow::Borrow;
use std::cmp::Ordering;

use serde_json::Value;

use super::{Filter, ListQuery, Test};

/// The value a filter or sort key reads from an object.
fn lookup<'a>(object: &'a Value, field: &str) -> Option<&'a Value> {
    if field.starts_with(|c: char| c.is_ascii_uppercase()) {
        object.get(field)
    } else {
        object.get("Params").and_then(|p| p.get(field))
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Numbers compare as numbers, everything else as text.
fn compare(value: &Value, arg: &str) -> Ordering {
    if let (Some(a), Ok(b)) = (value.as_f64(), arg.parse::<f64>()) {
        return a.partial_cmp(&b).unwrap_or(Ordering::Equal);
    }
    match value {
        // Borrowed: a filter over a whole fleet's replica compares without allocating.
        Value::String(s) => s.as_str().cmp(arg),
        other => other.to_string().as_str().cmp(arg),
    }
}

fn passes(object: &Value, f: &Filter) -> bool {
    let Some(v) = lookup(object, &f.field) else {
        return matches!(f.test, Test::Ne(_) | Test::Nin(_) | Test::Except(..));
    };
    match &f.test {
        Test::Eq(a) => compare(v, a).is_eq(),
        Test::Ne(a) => !compare(v, a).is_eq(),
        Test::Lt(a) => compare(v, a).is_lt(),
        Test::Lte(a) => compare(v, a).is_le(),
        Test::Gt(a) => compare(v, a).is_gt(),
        Test::Gte(a) => compare(v, a).is_ge(),
        Test::Between(lo, hi) => compare(v, lo).is_ge() && compare(v, hi).is_le(),
        Test::Except(lo, hi) => compare(v, lo).is_lt() || compare(v, hi).is_gt(),
        Test::In(set) => set.iter().any(|a| compare(v, a).is_eq()),
        Test::Nin(set) => !set.iter().any(|a| compare(v, a).is_eq()),
        Test::Re(p) => match v {
            Value::String(s) => p.is_match(s),
            other => p.is_match(&other.to_string()),
        },
    }
}

fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

fn order(a: &Value, b: &Value, fields: &[String]) -> Ordering {
    for field in fields {
        let ord = match (lookup(a, field), lookup(b, field)) {
            // A total order (sort_by may panic on anything less): values of different JSON
            // types order by type, numbers numerically, everything else by text. Mixing
            // numbers and strings used to compare 10 > 9 but "10" < "9" and 9 == "9" (found by
            // the `list_filter` fuzz target).
            (Some(x), Some(y)) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => type_rank(x)
                    .cmp(&type_rank(y))
                    .then_with(|| as_text(x).cmp(&as_text(y))),
            },
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

impl ListQuery {
    /// The values the object field `field` must equal for an object to pass (its first `Eq` or
    /// `In` filter), if the query pins it: a caller keeping an index on the field (the
    /// manager's replica, by `Endpoint`) visits only those; `select` still applies every filter.
    pub fn pinned(&self, field: &str) -> Option<Vec<&str>> {
        self.filters
            .iter()
            .filter(|f| f.field == field)
            .find_map(|f| match &f.test {
                Test::Eq(v) => Some(vec![v.as_str()]),
                Test::In(set) => Some(set.iter().map(String::as_str).collect()),
                _ => None,
            })
    }

    /// Whether the query asks nothing but, at most, that `field` equal one of some values (one
    /// `Eq` or `In` filter on it, no sort key): a caller that keeps its objects in key order
    /// and indexed by `field` can then count and page without evaluating any filter. A value
    /// that reads as a number is excluded: filters compare numbers numerically.
    pub fn only_pins(&self, field: &str) -> bool {
        let text = |v: &String| v.parse::<f64>().is_err();
        self.sort.is_empty()
            && self.filters.len() <= 1
            && self.filters.iter().all(|f| {
                f.field == field
                    && match &f.test {
                        Test::Eq(v) => text(v),
                        Test::In(set) => set.iter().all(text),
                        _ => false,
                    }
            })
    }

    /// Whether the list is served in reverse order.
    pub fn reversed(&self) -> bool {
        self.reverse
    }

    /// Whether `object` passes every filter.
    pub fn matches(&self, object: &Value) -> bool {
        self.filters.iter().all(|f| passes(object, f))
    }

    /// Filters, sorts (stable: key order breaks ties) and reverses; returns the matching items.
    /// Items may be owned, borrowed or shared (`Arc<Value>`): a manager filters its replica
    /// without copying every object.
    pub fn select<T: Borrow<Value>>(&self, items: Vec<T>) -> Vec<T> {
        let mut items: Vec<T> = items
            .into_iter()
            .filter(|o| self.matches(o.borrow()))
            .collect();
        if !self.sort.is_empty() {
            items.sort_by(|a, b| order(a.borrow(), b.borrow(), &self.sort));
        }
        if self.reverse {
            items.reverse();
        }
        items
    }

    /// The page after `offset` and `limit`.
    pub fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .skip(self.offset)
            .take(self.limit.unwrap_or(usize::MAX))
            .collect()
    }
}
