//! Who may make each call: the claim a row of `ROUTES` declares, resolved against the
//! request's path into an [`Access`] that the authentication middleware (`auth_layer`)
//! enforces. Nothing re-derives it from the path alone.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::http::Method;

use super::{Kind, Operation, Route, Verb, ROUTES};
use crate::auth::roles::Need;

/// What a request demands of its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Served without credentials.
    Open,
    /// Any authenticated user (the event websocket: each event is then filtered per object).
    Authenticated,
    /// A claim covering this need.
    Claim(Need),
    /// Nothing for the user the need names (their own token or password); a claim covering
    /// it for anyone else.
    OwnOr(Need),
}

impl Access {
    /// A request no operation of the table serves (404, 405): the widest claim, so nothing is
    /// reachable by an oversight.
    pub fn unrouted() -> Access {
        Access::Claim(Need {
            scope: "*".to_string(),
            action: "action",
            specific: String::new(),
        })
    }

    /// The claim `user` needs for this call; `None`: being authenticated is enough.
    pub fn need_for(&self, user: &str) -> Option<&Need> {
        match self {
            Access::Open | Access::Authenticated => None,
            Access::Claim(need) => Some(need),
            Access::OwnOr(need) => (need.specific != user).then_some(need),
        }
    }
}

/// The scope of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Named(&'static str),
    /// The collection the path names (`{collection}`, its first segment after `/api/v3/`).
    Collection,
}

/// The one object a claim is about, taken from the request's path as sent (not decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Specific {
    /// The whole scope.
    All,
    /// The key: the path's second segment after `/api/v3/`.
    Key,
    /// Every segment after the first, joined with `/` (a file path).
    Rest,
}

/// The claim an operation needs, DRP style: an action on a scope, maybe on one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Not declared: treated as [`Access::unrouted`] (a table test insists on a claim).
    Unset,
    /// Any authenticated user.
    Anyone,
    Need {
        scope: Scope,
        action: &'static str,
        specific: Specific,
    },
    /// `users/{name}/...`: nothing for the user themself, else this action on the user.
    OwnUser(&'static str),
}

/// `action` on a fixed scope (`system`, `prefs`, ...).
pub const fn named(scope: &'static str, action: &'static str) -> Claim {
    Claim::Need {
        scope: Scope::Named(scope),
        action,
        specific: Specific::All,
    }
}

/// `action` on the object of a fixed scope that the path's key names.
pub const fn keyed(scope: &'static str, action: &'static str) -> Claim {
    Claim::Need {
        scope: Scope::Named(scope),
        action,
        specific: Specific::Key,
    }
}

/// `action` on the collection the path names.
pub const fn collection(action: &'static str) -> Claim {
    Claim::Need {
        scope: Scope::Collection,
        action,
        specific: Specific::All,
    }
}

/// `action` on the object of the path's collection that its key names.
pub const fn object(action: &'static str) -> Claim {
    Claim::Need {
        scope: Scope::Collection,
        action,
        specific: Specific::Key,
    }
}

/// `action` on the file the rest of the path names.
pub const fn file(action: &'static str) -> Claim {
    Claim::Need {
        scope: Scope::Named("files"),
        action,
        specific: Specific::Rest,
    }
}

/// The path's segments after `/api/v3/`, as sent; empty ones (`//`) skipped.
pub(super) fn segments(path: &str) -> Vec<&str> {
    let rest = path.strip_prefix("/api/v3/").unwrap_or(path);
    rest.split('/').filter(|s| !s.is_empty()).collect()
}

/// DRP's swagger makes its clients send the literal `{name}` with the user in the query; the
/// handler then allows only the caller's own token or the admin.
fn is_name_placeholder(segment: &str) -> bool {
    matches!(segment, "{name}" | "%7Bname%7D" | "%7bname%7d")
}

impl Claim {
    /// What this claim demands of a request for `path` (a path of the claim's route).
    pub fn access(self, path: &str) -> Access {
        let parts = segments(path);
        let segment = |i: usize| parts.get(i).copied().unwrap_or("").to_string();
        match self {
            Claim::Unset => Access::unrouted(),
            Claim::Anyone => Access::Authenticated,
            Claim::OwnUser(_) if is_name_placeholder(&segment(1)) => Access::Authenticated,
            Claim::OwnUser(action) => Access::OwnOr(Need {
                scope: "users".to_string(),
                action,
                specific: segment(1),
            }),
            Claim::Need {
                scope,
                action,
                specific,
            } => Access::Claim(Need {
                scope: match scope {
                    Scope::Named(name) => name.to_string(),
                    Scope::Collection => segment(0),
                },
                action,
                specific: match specific {
                    Specific::All => String::new(),
                    Specific::Key => segment(1),
                    Specific::Rest => parts.get(1..).unwrap_or_default().join("/"),
                },
            }),
        }
    }
}

impl Operation {
    pub fn access(&self, path: &str) -> Access {
        if self.kind == Kind::Open {
            return Access::Open;
        }
        self.claim.access(path)
    }
}

impl Verb {
    fn of(method: &Method) -> Option<Verb> {
        Some(match *method {
            Method::GET => Verb::Get,
            Method::HEAD => Verb::Head,
            Method::POST => Verb::Post,
            Method::PUT => Verb::Put,
            Method::PATCH => Verb::Patch,
            Method::DELETE => Verb::Delete,
            _ => return None,
        })
    }
}

/// Routes `api::router` serves outside the table (and the OpenAPI document), with their
/// claims: Prometheus's conventional path needs a `metrics` claim on the API port.
const OUTSIDE: &[(&str, Claim)] = &[("/metrics", named("metrics", "list"))];

static BY_PATH: LazyLock<HashMap<&'static str, &'static Route>> =
    LazyLock::new(|| ROUTES.iter().map(|r| (r.path, r)).collect());

/// The operation serving `method` on the route matched as `matched`: HEAD falls back to GET
/// as axum's router does.
pub fn operation(matched: &str, method: &Method) -> Option<&'static Operation> {
    let route = BY_PATH.get(matched)?;
    let verb = Verb::of(method)?;
    let find = |v: Verb| route.ops.iter().find(|op| op.verb == v);
    find(verb).or_else(|| (verb == Verb::Head).then(|| find(Verb::Get)).flatten())
}

/// What a request demands: its operation's claim; for a method the route does not serve
/// (405), no credentials on a route that needs none, else [`Access::unrouted`]. `matched` is
/// the route axum matched (`MatchedPath`), `path` the request's path as sent.
pub fn access_of(matched: Option<&str>, method: &Method, path: &str) -> Access {
    let Some(matched) = matched else {
        return Access::unrouted();
    };
    if let Some((_, claim)) = OUTSIDE.iter().find(|(p, _)| *p == matched) {
        return claim.access(path);
    }
    if let Some(op) = operation(matched, method) {
        return op.access(path);
    }
    match BY_PATH.get(matched) {
        Some(route) if route.ops.iter().all(|op| op.kind == Kind::Open) => Access::Open,
        _ => Access::unrouted(),
    }
}
