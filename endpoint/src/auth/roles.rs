//! Authorization, DRP style: a user's `Roles` name role objects, each with `Claims`
//! `{Scope, Action, Specific}`; a call is allowed when one claim covers what it needs.
//! Scope, Action and Specific are each `*` or a comma-separated list. A `list` claim naming
//! specific objects lets the user list the collection, and the list then holds only those
//! objects (`visibility`). `superuser` (claims `*`/`*`/`*`) is built in; the admin user
//! always holds it, so the cluster cannot be locked out by editing roles.

use serde_json::Value;

use super::ADMIN_USER;
use crate::store::ObjectStore;

pub use crate::model::SUPERUSER;

/// What a call needs: an action on a scope (a collection, or `prefs`, `contents`,
/// `files`, `system`, `events`), optionally on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub scope: String,
    pub action: &'static str,
    pub specific: String,
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.specific.is_empty() {
            write!(f, "{} on {}", self.action, self.scope)
        } else {
            write!(f, "{} on {}/{}", self.action, self.scope, self.specific)
        }
    }
}

fn need(scope: &str, action: &'static str, specific: &str) -> Need {
    Need {
        scope: scope.to_string(),
        action,
        specific: specific.to_string(),
    }
}

fn listed(list: &str, item: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|x| x == "*" || x == item)
}

/// A claim's field; DRP's wire names are lowercase (`scope`), and this API has always read
/// `Scope` too.
fn claim_field<'a>(claim: &'a Value, name: &str) -> &'a str {
    claim
        .get(name)
        .or_else(|| claim.get(name.to_ascii_lowercase()))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Which objects of a scope a claim names: `None` for all of them (`*`, or no Specific).
fn specifics(claim: &Value) -> Option<Vec<&str>> {
    let specific = claim_field(claim, "Specific");
    if specific.is_empty() || listed(specific, "*") {
        return None;
    }
    Some(specific.split(',').map(str::trim).collect())
}

fn covers(claim: &Value, need: &Need) -> bool {
    if !(listed(claim_field(claim, "Scope"), &need.scope)
        && listed(claim_field(claim, "Action"), need.action))
    {
        return false;
    }
    match specifics(claim) {
        None => true,
        // A list of some objects: the listing is then cut down to them.
        Some(_) if need.action == "list" && need.specific.is_empty() => true,
        Some(keys) => keys.contains(&need.specific.as_str()),
    }
}

/// The user's claims by the roles in this member's store; `None`: unlimited (the admin, or
/// the `superuser` role).
pub fn claims(store: &ObjectStore, user: &str) -> Option<Vec<Value>> {
    if user == ADMIN_USER {
        return None;
    }
    let Ok(Some(account)) = store.get("users", user) else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    let roles = account.get("Roles").and_then(Value::as_array);
    for role in roles.into_iter().flatten().filter_map(Value::as_str) {
        if role == SUPERUSER {
            return None;
        }
        if let Ok(Some(role)) = store.get("roles", role) {
            if let Some(Value::Array(claims)) = role.get("Claims") {
                out.extend(claims.iter().cloned());
            }
        }
    }
    Some(out)
}

/// Whether `user` holds a claim covering `need`, by the roles in this member's store.
pub fn allowed(store: &ObjectStore, user: &str, need: &Need) -> bool {
    match claims(store, user) {
        None => true,
        Some(claims) => claims.iter().any(|c| covers(c, need)),
    }
}

/// The keys of `scope` a user's `list` claims limit a listing to; `None`: no limit.
pub fn listable(store: &ObjectStore, user: &str, scope: &str) -> Option<Vec<String>> {
    let claims = claims(store, user)?;
    let need = need(scope, "list", "");
    let mut keys = Vec::new();
    for claim in claims.iter().filter(|c| covers(c, &need)) {
        keys.extend(specifics(claim)?.into_iter().map(str::to_string));
    }
    Some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_match_lists_and_wildcards() {
        let n = need("machines", "get", "u1");
        assert!(covers(
            &json!({"Scope": "*", "Action": "*", "Specific": "*"}),
            &n
        ));
        assert!(covers(
            &json!({"Scope": "profiles, machines", "Action": "list,get", "Specific": "*"}),
            &n
        ));
        assert!(covers(
            &json!({"Scope": "machines", "Action": "get", "Specific": "u1"}),
            &n
        ));
        assert!(!covers(
            &json!({"Scope": "machines", "Action": "get", "Specific": "u2"}),
            &n
        ));
        assert!(!covers(
            &json!({"Scope": "machines", "Action": "list", "Specific": "*"}),
            &n
        ));
        assert!(!covers(
            &json!({"Scope": "profiles", "Action": "*", "Specific": "*"}),
            &n
        ));
        assert!(!covers(&json!({}), &n));
        assert!(covers(
            &json!({"Scope": "machines", "Action": "get", "Specific": "u0, u1"}),
            &n
        ));
    }

    #[test]
    fn a_list_claim_on_some_objects_allows_the_listing() {
        let list = need("machines", "list", "");
        let some = json!({"Scope": "machines", "Action": "list", "Specific": "u1,u2"});
        assert!(covers(&some, &list));
        assert_eq!(specifics(&some), Some(vec!["u1", "u2"]));
        assert_eq!(
            specifics(&json!({"Scope": "machines", "Action": "list"})),
            None
        );
        // Creating needs the whole collection.
        assert!(!covers(&some, &need("machines", "create", "")));
    }
}
