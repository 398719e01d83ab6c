//! What a manager user may do, by DRP's claims (the shared [`access`] crate, as on every
//! endpoint): a user's `Roles` name the manager's roles, each with `Claims` `{Scope, Action,
//! Specific, Endpoint}`. A claim's `Endpoint` (`*` or a comma list of endpoint ids; absent:
//! every endpoint) says on which endpoints' objects it holds.
//!
//! - The manager's own API (`/api/v3/endpoints`, `version_sets`, `rollout`, `status`, `git`,
//!   `plugins/manager/...`, `/metrics`) is the manager's as an endpoint: its claims must
//!   hold on the manager's own id (`--id`).
//! - The event sockets, DRP's way: `/api/v3/ws` is open to any manager user and delivers an
//!   event only if the user could `get` its object on its endpoint
//!   ([`Identity::may_get_on`]); `/<id>/api/v3/ws` needs some claim on `<id>` before the
//!   upgrade and is filtered the same way.
//! - The gateway `/<id>/api/v3/...`: the claim DRP's method and path mapping asks for
//!   ([`access::route::need`]), on endpoint `<id>`; then the call goes on with the cluster's
//!   stored credentials.
//! - The federated collections are judged per object by its `Endpoint` in their handlers
//!   ([`Identity::visible`], [`Identity::require`]): a list shows only what `list` claims
//!   allow, a hidden object answers 404, a routed write needs its action on the owner.
//!
//! A cluster's own credentials on the gateway are not the manager's to judge: the cluster's
//! roles apply to them.

use std::sync::Arc;

use access::claims::Grant;
use access::{Need, RoleBook};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::http::auth::ManagerUser;
use crate::http::{ApiError, AppState};
use crate::registry::{Accounts, Registry};
use crate::state::Manager;

/// The manager's users and roles as the shared crate looks them up.
struct Book<'a>(&'a Registry);

impl RoleBook for Book<'_> {
    fn roles_of(&self, user: &str) -> Option<Vec<String>> {
        let account = self.0.account(Accounts::Users, user)?;
        Some(access::claims::roles_field(&account))
    }

    fn claims_of(&self, role: &str) -> Vec<Value> {
        let role = self.0.account(Accounts::Roles, role);
        role.map(|r| access::claims::claims_field(&r))
            .unwrap_or_default()
    }
}

/// The manager user a request serves and its claims, resolved once per request.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The user's name.
    pub user: String,
    grant: Grant,
}

impl Identity {
    /// `user`'s claims by the manager's roles (the admin and `superuser` holders: all).
    pub fn of(mgr: &Manager, user: &str) -> Identity {
        Identity {
            user: user.to_string(),
            grant: Grant::of(&Book(&mgr.registry), user),
        }
    }

    /// The manager's admin: every claim.
    pub fn admin() -> Identity {
        Identity {
            user: crate::http::ADMIN_USER.to_string(),
            grant: Grant::All,
        }
    }

    /// Whether a claim covers `need` on the objects of `endpoint`.
    pub fn allows(&self, need: &Need, endpoint: &str) -> bool {
        self.grant.allows_on(need, endpoint)
    }

    /// 403 naming the claim `need` on `endpoint` that the user lacks.
    pub fn require(&self, need: &Need, endpoint: &str) -> Result<(), ApiError> {
        if self.allows(need, endpoint) {
            return Ok(());
        }
        Err(ApiError::one(
            StatusCode::FORBIDDEN,
            "",
            &need.specific,
            format!(
                "{} has no claim for {need} on endpoint {endpoint} (a role with Claims \
                 {{Scope: {:?}, Action: {:?}, Endpoint: {endpoint:?}}} would allow it)",
                self.user, need.scope, need.action
            ),
        ))
    }

    /// Whether a claim allows a `get` of `copy` (an object of `scope` by `key`, on the
    /// endpoint its `Endpoint` names).
    pub fn may_get(&self, scope: &str, key: &str, copy: &Value) -> bool {
        let endpoint = copy
            .get(crate::replica::ENDPOINT_FIELD)
            .and_then(Value::as_str)
            .unwrap_or("");
        self.may_get_on(scope, key, endpoint)
    }

    /// Whether a claim allows a `get` of the object `key` of `scope` on `endpoint`: the
    /// federated `get`'s check, which the event sockets apply to each event as DRP does.
    pub fn may_get_on(&self, scope: &str, key: &str, endpoint: &str) -> bool {
        self.allows(&Need::new(scope, "get", key), endpoint)
    }

    /// Whether the user may `list` some federated collection on `endpoint` (who is told of
    /// the endpoint's replica turning stale or current).
    pub fn may_list_any_on(&self, endpoint: &str) -> bool {
        proto::collections::FEDERATED
            .iter()
            .any(|scope| self.allows(&Need::new(scope, "list", ""), endpoint))
    }

    /// Whether any of the user's claims holds on `endpoint` (what opening its proxied event
    /// socket needs; each event is then judged by [`Identity::may_get_on`]).
    pub fn holds_any_on(&self, endpoint: &str) -> bool {
        match &self.grant {
            Grant::All => true,
            Grant::Claims(claims) => claims
                .iter()
                .any(|c| access::claims::on_endpoint(c, endpoint)),
        }
    }

    /// Whether the user holds every claim (the admin, a `superuser`): nothing to filter.
    pub fn sees_all(&self) -> bool {
        self.grant == Grant::All
    }

    /// Of `endpoints`, those whose objects of `scope` this user may `list`; `None`: no limit.
    pub fn visible<'a>(
        &self,
        scope: &str,
        endpoints: impl IntoIterator<Item = &'a str>,
    ) -> Option<Vec<String>> {
        if self.grant == Grant::All {
            return None;
        }
        let need = Need::new(scope, "list", "");
        Some(
            endpoints
                .into_iter()
                .filter(|e| self.allows(&need, e))
                .map(str::to_string)
                .collect(),
        )
    }
}

/// The identity a federated handler judges by; without one (no manager user: the middleware
/// lets none through to these routes), nothing is allowed.
pub fn identity_or_none(found: Option<&Identity>) -> Identity {
    found.cloned().unwrap_or(Identity {
        user: String::new(),
        grant: Grant::Claims(Vec::new()),
    })
}

/// What a request to the manager needs of a manager user.
#[derive(Debug, PartialEq, Eq)]
enum Rule {
    /// Any manager user (`/api/v3/info`, one's own token).
    Anyone,
    /// Judged by the handler, object by object (the federated collections).
    PerObject,
    /// This claim, on this endpoint.
    Claim(Need, String),
    /// Some claim on this endpoint (its proxied event socket, filtered per event).
    AnyOn(String),
}

/// The rule for `method` on `path`; `manager` is the manager's own endpoint id.
fn rule(manager: &str, user: &str, method: &Method, path: &str) -> Rule {
    let m = method.as_str();
    if let Some((id, rest)) = crate::http::gateway::split_gateway_path(path) {
        let rest = rest.trim_start_matches("api/v3").trim_start_matches('/');
        if rest.trim_end_matches('/') == "ws" {
            return Rule::AnyOn(id.to_string());
        }
        let need = access::route::need(m, rest).unwrap_or_else(|| Need::new("info", "get", ""));
        return Rule::Claim(need, id.to_string());
    }
    let own = |need: Need| Rule::Claim(need, manager.to_string());
    let Some(rest) = path.strip_prefix("/api/v3") else {
        // `/metrics`, and anything unrouted: the widest claim for the latter.
        return match path {
            "/metrics" => own(Need::new("metrics", "get", "")),
            _ => own(Need::new("*", "action", "")),
        };
    };
    let rest = rest.trim_start_matches('/');
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        [] | ["info"] => Rule::Anyone,
        // Every event is judged as a `get` of its object (the socket's own filter).
        ["ws"] => Rule::PerObject,
        ["users", name, "token"] if *name == user => Rule::Anyone,
        ["users", name, "token"] => own(Need::new("users", "token", name)),
        ["users", name, "password"] if *name == user || access::is_literal_name(name) => {
            Rule::Anyone
        }
        ["users", name, "password"] => own(Need::new("users", "password", name)),
        // DRP's registration action creates an endpoint.
        ["plugins", "manager", ..] => own(Need::new("endpoints", "create", "")),
        [scope, ..] if proto::collections::FEDERATED.contains(scope) => Rule::PerObject,
        _ => match access::route::need(m, rest) {
            Some(need) => own(need),
            None => Rule::Anyone,
        },
    }
}

/// Checks a manager user's claims for what the request asks (see the module's rules) and
/// leaves its [`Identity`] on the request for the federated handlers. Requests of other
/// callers (a cluster's own credentials, a signed webhook) pass untouched.
pub(super) async fn authorize(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(ManagerUser(user)) = req.extensions().get::<ManagerUser>().cloned() else {
        return next.run(req).await;
    };
    let mgr: &Arc<Manager> = &st.mgr;
    let who = Identity::of(mgr, &user);
    match rule(&mgr.config.id, &user, req.method(), req.uri().path()) {
        Rule::Claim(need, endpoint) => {
            if let Err(refused) = who.require(&need, &endpoint) {
                return refused.into_response();
            }
        }
        Rule::AnyOn(endpoint) if !who.holds_any_on(&endpoint) => {
            let why = format!("{user} has no claim on endpoint {endpoint}");
            return ApiError::one(StatusCode::FORBIDDEN, "websocket", &endpoint, why)
                .into_response();
        }
        Rule::AnyOn(_) | Rule::Anyone | Rule::PerObject => {}
    }
    req.extensions_mut().insert(who);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(need: Need, on: &str) -> Rule {
        Rule::Claim(need, on.to_string())
    }

    #[test]
    fn requests_map_to_claims_on_the_right_endpoint() {
        let r = |m: Method, p: &str| rule("mgr", "ops", &m, p);
        assert_eq!(r(Method::GET, "/api/v3/info"), Rule::Anyone);
        assert_eq!(r(Method::GET, "/api/v3/users/ops/token"), Rule::Anyone);
        assert_eq!(
            r(Method::GET, "/api/v3/users/bob/token"),
            claim(Need::new("users", "token", "bob"), "mgr")
        );
        assert_eq!(r(Method::PUT, "/api/v3/users/ops/password"), Rule::Anyone);
        assert_eq!(
            r(Method::PUT, "/api/v3/users/{name}/password"),
            Rule::Anyone
        );
        assert_eq!(
            r(Method::PUT, "/api/v3/users/%7bname%7D/password"),
            Rule::Anyone
        );
        assert_eq!(
            r(Method::PUT, "/api/v3/users/bob/password"),
            claim(Need::new("users", "password", "bob"), "mgr")
        );
        assert_eq!(
            r(Method::GET, "/api/v3/endpoints"),
            claim(Need::new("endpoints", "list", ""), "mgr")
        );
        assert_eq!(
            r(Method::DELETE, "/api/v3/endpoints/ha1"),
            claim(Need::new("endpoints", "delete", "ha1"), "mgr")
        );
        assert_eq!(
            r(Method::POST, "/api/v3/rollout/pause"),
            claim(Need::new("rollout", "update", "pause"), "mgr")
        );
        assert_eq!(
            r(Method::POST, "/api/v3/plugins/manager/addEndpoint"),
            claim(Need::new("endpoints", "create", ""), "mgr")
        );
        assert_eq!(r(Method::GET, "/api/v3/machines"), Rule::PerObject);
        assert_eq!(r(Method::GET, "/api/v3/ws"), Rule::PerObject);
        assert_eq!(r(Method::GET, "/ha1/api/v3/ws"), Rule::AnyOn("ha1".into()));
        assert_eq!(r(Method::PATCH, "/api/v3/users/bob"), Rule::PerObject);
        assert_eq!(
            r(Method::PATCH, "/ha1/api/v3/machines/m1"),
            claim(Need::new("machines", "update", "m1"), "ha1")
        );
        assert_eq!(
            r(Method::GET, "/ha1/api/v3"),
            claim(Need::new("info", "get", ""), "ha1")
        );
        assert_eq!(
            r(Method::GET, "/metrics"),
            claim(Need::new("metrics", "get", ""), "mgr")
        );
    }

    #[test]
    fn visibility_follows_list_claims_per_endpoint() {
        let who = Identity {
            user: "ops".into(),
            grant: Grant::Claims(vec![serde_json::json!(
                {"Scope": "machines", "Action": "*", "Specific": "*", "Endpoint": "a"}
            )]),
        };
        assert_eq!(
            who.visible("machines", ["a", "b", "mgr"]),
            Some(vec!["a".to_string()])
        );
        assert_eq!(who.visible("profiles", ["a", "b"]), Some(Vec::new()));
        assert!(who
            .require(&Need::new("machines", "update", "m"), "a")
            .is_ok());
        let refused = who
            .require(&Need::new("machines", "update", "m"), "b")
            .unwrap_err();
        assert_eq!(refused.code, StatusCode::FORBIDDEN);
        assert!(refused.messages[0].contains("update on machines/m on endpoint b"));
        let all = Identity {
            user: "root".into(),
            grant: Grant::All,
        };
        assert_eq!(all.visible("machines", ["a"]), None);
        assert!(identity_or_none(None).visible("machines", ["a"]) == Some(Vec::new()));
        // The event sockets' checks: per object on its endpoint.
        assert!(who.may_get_on("machines", "m", "a") && !who.may_get_on("machines", "m", "b"));
        assert!(!who.may_get_on("profiles", "p", "a"));
        assert!(who.may_list_any_on("a") && !who.may_list_any_on("b"));
        assert!(who.holds_any_on("a") && !who.holds_any_on("b"));
        assert!(all.sees_all() && !who.sees_all());
    }
}
