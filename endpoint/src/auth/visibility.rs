//! What a caller may see of a collection: DRP's tenants, then `list` claims naming objects.
//!
//! A user listed in a tenant's `Users` sees, of each collection the tenant's `Members`
//! names, only the objects listed there; collections the tenant does not name are not
//! limited (DRP's rule). Tenants are applied before roles, so a claim on an object outside
//! the tenant gives nothing. A hidden object answers 404 as an absent one does, so its key
//! does not leak. The admin user is never limited, like its roles, so the cluster cannot be
//! locked out by editing tenants. A user is in at most one tenant (`store::tenants` refuses a
//! second).

use std::collections::BTreeSet;

use serde_json::Value;

use super::{roles, ADMIN_USER};
use crate::store::ObjectStore;

/// The keys of one collection a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visible {
    /// `None`: every object.
    keys: Option<BTreeSet<String>>,
}

impl Visible {
    pub fn all() -> Self {
        Self { keys: None }
    }

    pub fn sees(&self, key: &str) -> bool {
        self.keys.as_ref().is_none_or(|k| k.contains(key))
    }

    pub fn is_limited(&self) -> bool {
        self.keys.is_some()
    }

    fn narrowed(self, keys: Option<Vec<String>>) -> Self {
        let Some(keys) = keys else { return self };
        let keys: BTreeSet<String> = keys.into_iter().collect();
        Self {
            keys: Some(match self.keys {
                None => keys,
                Some(mine) => mine.intersection(&keys).cloned().collect(),
            }),
        }
    }
}

/// The tenant whose `Users` lists `user`, if any.
pub fn tenant_of(store: &ObjectStore, user: &str) -> Option<Value> {
    if user == ADMIN_USER || store.count("tenants").unwrap_or(0) == 0 {
        return None;
    }
    let tenants = store.list("tenants", 0, None).ok()?;
    tenants.items.into_iter().find(|t| {
        t.get("Users")
            .and_then(Value::as_array)
            .is_some_and(|users| users.iter().any(|u| u.as_str() == Some(user)))
    })
}

/// What `user`'s tenant lets it see of `scope`.
pub fn in_tenant(store: &ObjectStore, user: &str, scope: &str) -> Visible {
    let members = tenant_of(store, user).and_then(|t| t.get("Members")?.get(scope).cloned());
    let keys = members.map(|m| {
        m.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    Visible::all().narrowed(keys)
}

/// What a listing of `scope` by `user` holds: its tenant's members, cut down to the objects
/// its `list` claims name.
pub fn listing(store: &ObjectStore, user: &str, scope: &str) -> Visible {
    in_tenant(store, user, scope).narrowed(roles::listable(store, user, scope))
}

/// [`in_tenant`] for the caller of the request this task serves (no caller: internal work,
/// not limited).
pub fn caller_sees(store: &ObjectStore, scope: &str, key: &str) -> bool {
    match super::current_user() {
        Some(user) => in_tenant(store, &user, scope).sees(key),
        None => true,
    }
}

/// [`listing`] for the caller of the request this task serves.
pub fn caller_listing(store: &ObjectStore, scope: &str) -> Visible {
    match super::current_user() {
        Some(user) => listing(store, &user, scope),
        None => Visible::all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_intersects() {
        let v = Visible::all().narrowed(Some(vec!["a".into(), "b".into()]));
        assert!(v.sees("a") && !v.sees("c") && v.is_limited());
        let v = v.narrowed(Some(vec!["b".into(), "c".into()]));
        assert!(v.sees("b") && !v.sees("a") && !v.sees("c"));
        assert!(!Visible::all().narrowed(None).is_limited());
    }
}
