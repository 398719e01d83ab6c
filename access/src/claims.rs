//! Authorization, DRP style: a user's `Roles` name role objects, each with `Claims`
//! `{Scope, Action, Specific}`; a call is allowed when one claim covers what it needs.
//! Scope, Action and Specific are each `*` or a comma-separated list. A `list` claim naming
//! specific objects lets the user list the collection, and the list then holds only those
//! objects. `superuser` (claims `*`/`*`/`*`) is built in; the admin user always holds it, so
//! nobody can be locked out by editing roles.
//!
//! A claim may also carry `Endpoint` (`*` or a comma list of endpoint ids): the manager
//! allows it only for objects of those endpoints. Absent, it holds on every endpoint, so
//! DRP's own claims keep their meaning; an endpoint judging its own calls ignores it.

use serde_json::Value;

use crate::ADMIN_USER;

/// The built-in role whose holders may do everything.
pub const SUPERUSER: &str = "superuser";

/// What a call needs: an action on a scope (a collection, or `prefs`, `contents`,
/// `files`, `system`, `events`), optionally on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The collection or named scope.
    pub scope: String,
    /// `list`, `get`, `create`, `update`, `delete`, `action`, ...
    pub action: &'static str,
    /// The object's key; empty for the whole scope.
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

impl Need {
    /// `action` on `scope`, on the object `specific` (empty: the whole scope).
    pub fn new(scope: &str, action: &'static str, specific: &str) -> Need {
        Need {
            scope: scope.to_string(),
            action,
            specific: specific.to_string(),
        }
    }
}

/// Where users and roles live: the endpoint's replicated store, the manager's registry.
pub trait RoleBook {
    /// The role names of `user`; `None`: no such user.
    fn roles_of(&self, user: &str) -> Option<Vec<String>>;
    /// The `Claims` of role `role` (none for an unknown role).
    fn claims_of(&self, role: &str) -> Vec<Value>;
}

/// A user object's `Roles` (role names), as DRP stores them.
pub fn roles_field(user: &Value) -> Vec<String> {
    let roles = user.get("Roles").and_then(Value::as_array);
    roles
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// A role object's `Claims`, as DRP stores them.
pub fn claims_field(role: &Value) -> Vec<Value> {
    match role.get("Claims") {
        Some(Value::Array(claims)) => claims.clone(),
        _ => Vec::new(),
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
pub fn specifics(claim: &Value) -> Option<Vec<&str>> {
    let specific = claim_field(claim, "Specific");
    if specific.is_empty() || listed(specific, "*") {
        return None;
    }
    Some(specific.split(',').map(str::trim).collect())
}

/// Whether `claim` covers `need`, wherever it is asked (its `Endpoint` not considered).
pub fn covers(claim: &Value, need: &Need) -> bool {
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

/// Whether `claim` holds on endpoint `endpoint`: no `Endpoint` (or an empty one) means
/// every endpoint.
pub fn on_endpoint(claim: &Value, endpoint: &str) -> bool {
    let endpoints = claim_field(claim, "Endpoint");
    endpoints.trim().is_empty() || listed(endpoints, endpoint)
}

/// Whether `claim` covers `need` on the objects of `endpoint`.
pub fn covers_on(claim: &Value, need: &Need, endpoint: &str) -> bool {
    on_endpoint(claim, endpoint) && covers(claim, need)
}

/// The user's claims by the roles in `book`; `None`: unlimited (the admin, or a holder of
/// the `superuser` role).
pub fn user_claims(book: &impl RoleBook, user: &str) -> Option<Vec<Value>> {
    if user == ADMIN_USER {
        return None;
    }
    let mut out = Vec::new();
    for role in book.roles_of(user).into_iter().flatten() {
        if role == SUPERUSER {
            return None;
        }
        out.extend(book.claims_of(&role));
    }
    Some(out)
}

/// Whether `user` holds a claim covering `need` (anywhere).
pub fn allowed(book: &impl RoleBook, user: &str, need: &Need) -> bool {
    match user_claims(book, user) {
        None => true,
        Some(claims) => claims.iter().any(|c| covers(c, need)),
    }
}

/// The keys of `scope` a user's `list` claims limit a listing to; `None`: no limit.
pub fn listable(book: &impl RoleBook, user: &str, scope: &str) -> Option<Vec<String>> {
    let claims = user_claims(book, user)?;
    let need = Need::new(scope, "list", "");
    let mut keys = Vec::new();
    for claim in claims.iter().filter(|c| covers(c, &need)) {
        keys.extend(specifics(claim)?.into_iter().map(str::to_string));
    }
    Some(keys)
}

/// A user's claims, resolved once per request: what the manager asks per endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Grant {
    /// The admin or a superuser.
    All,
    /// Exactly these claims.
    Claims(Vec<Value>),
}

impl Grant {
    /// `user`'s grant by the roles in `book`.
    pub fn of(book: &impl RoleBook, user: &str) -> Grant {
        user_claims(book, user).map_or(Grant::All, Grant::Claims)
    }

    /// Whether one claim covers `need` on `endpoint`.
    pub fn allows_on(&self, need: &Need, endpoint: &str) -> bool {
        match self {
            Grant::All => true,
            Grant::Claims(claims) => claims.iter().any(|c| covers_on(c, need, endpoint)),
        }
    }

    /// Whether one claim covers `need`, whatever endpoint it is scoped to (the manager's own
    /// API, which belongs to no cluster, asks this with the manager's id instead).
    pub fn allows(&self, need: &Need) -> bool {
        match self {
            Grant::All => true,
            Grant::Claims(claims) => claims.iter().any(|c| covers(c, need)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn need(scope: &str, action: &'static str, specific: &str) -> Need {
        Need::new(scope, action, specific)
    }

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

    #[test]
    fn a_claims_endpoint_limits_where_it_holds() {
        let n = need("machines", "update", "u1");
        let a = json!({"Scope": "machines", "Action": "*", "Specific": "*", "Endpoint": "ha-a"});
        assert!(covers_on(&a, &n, "ha-a"));
        assert!(!covers_on(&a, &n, "ha-b"));
        // Lowercase like DRP's wire names, lists with spaces, and `*`.
        let ab = json!({"scope": "machines", "action": "update", "endpoint": "ha-b, ha-a"});
        assert!(covers_on(&ab, &n, "ha-a") && covers_on(&ab, &n, "ha-b"));
        assert!(!covers_on(&ab, &n, "ha-c"));
        let any = json!({"Scope": "machines", "Action": "update", "Endpoint": "*"});
        assert!(covers_on(&any, &n, "ha-c"));
        // No Endpoint (or an empty one): every endpoint, as DRP's claims mean.
        let plain = json!({"Scope": "machines", "Action": "update"});
        assert!(covers_on(&plain, &n, "ha-c"));
        assert!(covers_on(
            &json!({"Scope": "machines", "Action": "update", "Endpoint": ""}),
            &n,
            "ha-c"
        ));
        // The endpoint does not widen what the rest of the claim allows.
        assert!(!covers_on(&a, &need("profiles", "get", "p"), "ha-a"));
    }

    struct Book {
        users: HashMap<&'static str, Vec<String>>,
        roles: HashMap<&'static str, Vec<Value>>,
    }

    impl RoleBook for Book {
        fn roles_of(&self, user: &str) -> Option<Vec<String>> {
            self.users.get(user).cloned()
        }
        fn claims_of(&self, role: &str) -> Vec<Value> {
            self.roles.get(role).cloned().unwrap_or_default()
        }
    }

    #[test]
    fn a_users_claims_come_from_its_roles() {
        let book = Book {
            users: HashMap::from([
                ("ops", vec!["a-machines".to_string(), "missing".to_string()]),
                ("root", vec![SUPERUSER.to_string()]),
            ]),
            roles: HashMap::from([(
                "a-machines",
                vec![json!({"Scope": "machines", "Action": "list,get", "Endpoint": "ha-a"})],
            )]),
        };
        let list = need("machines", "list", "");
        assert!(allowed(&book, "ops", &list));
        assert!(!allowed(&book, "ops", &need("machines", "delete", "m")));
        assert!(!allowed(&book, "nobody", &list));
        assert!(allowed(&book, "root", &need("x", "delete", "y")));
        assert!(allowed(&book, ADMIN_USER, &need("x", "delete", "y")));
        let grant = Grant::of(&book, "ops");
        assert!(grant.allows_on(&list, "ha-a") && !grant.allows_on(&list, "ha-b"));
        assert!(grant.allows(&list));
        assert_eq!(Grant::of(&book, "root"), Grant::All);
        assert_eq!(listable(&book, "ops", "machines"), None);
    }
}
