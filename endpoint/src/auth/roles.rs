//! Authorization, DRP style (the shared crate's [`access::claims`]): a user's `Roles` name
//! role objects in this member's store, each with `Claims` `{Scope, Action, Specific}`; a
//! call is allowed when one claim covers what it needs. `superuser` is built in and the
//! admin user always holds it. A claim's `Endpoint` is the manager's business: a member
//! judging its own calls ignores it.

use serde_json::Value;

use crate::store::ObjectStore;

pub use crate::model::SUPERUSER;
pub use access::Need;

/// The replicated `users` and `roles` as the shared crate looks them up.
struct Store<'a>(&'a ObjectStore);

impl access::RoleBook for Store<'_> {
    fn roles_of(&self, user: &str) -> Option<Vec<String>> {
        let account = self.0.get("users", user).ok().flatten()?;
        Some(access::claims::roles_field(&account))
    }

    fn claims_of(&self, role: &str) -> Vec<Value> {
        match self.0.get("roles", role) {
            Ok(Some(role)) => access::claims::claims_field(&role),
            _ => Vec::new(),
        }
    }
}

/// The user's claims by the roles in this member's store; `None`: unlimited (the admin, or
/// the `superuser` role).
pub fn claims(store: &ObjectStore, user: &str) -> Option<Vec<Value>> {
    access::claims::user_claims(&Store(store), user)
}

/// Whether `user` holds a claim covering `need`, by the roles in this member's store.
pub fn allowed(store: &ObjectStore, user: &str, need: &Need) -> bool {
    access::claims::allowed(&Store(store), user, need)
}

/// The keys of `scope` a user's `list` claims limit a listing to; `None`: no limit.
pub fn listable(store: &ObjectStore, user: &str, scope: &str) -> Option<Vec<String>> {
    access::claims::listable(&Store(store), user, scope)
}
