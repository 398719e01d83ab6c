//! Who a caller of the manager's API is.
//!
//! The manager's own users (its admin and the users in its registry, HTTP Basic or a Bearer
//! token from `GET /api/v3/users/<name>/token`) are verified here; what each may do is
//! [`crate::http::authz`]'s to say, and through the gateway their calls reach a cluster with
//! the cluster's stored credentials. A cluster's own users go through the gateway as
//! themselves: on a gateway path, a credential the manager does not verify as its own (a
//! Bearer token the manager did not sign, or Basic for a name and password that are not one
//! of the manager's users) is the cluster's to judge. The gateway forwards it untouched and
//! adds none of its own, so the cluster's authentication and roles apply exactly as on a
//! member (401 for a bad token, 403 where the user's roles fall short).
//!
//! The order makes it unambiguous: the manager's check runs first, and a credential that
//! passes it is never forwarded. Identity is not asserted by a header the cluster would have
//! to trust; the cluster verifies the user's own credential. Credentials are never logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::crypto::PasswordHash;
use crate::http::{ApiError, AppState, ADMIN_USER};
use crate::registry::Accounts;
use crate::state::Manager;

/// What the authentication middleware found; the gateway reads it from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A user the manager verified itself (its admin, or one of its own users, whose name
    /// rides on the request as [`ManagerUser`]): stored credentials are used towards
    /// clusters, and [`crate::http::authz`] decides what it may do. (Named for the only
    /// such user there was at first.)
    ManagerAdmin,
    /// A credential for the cluster named in a gateway path: forwarded as it came.
    ClusterCredential,
}

/// The name of the manager user a request authenticated as (with [`Caller::ManagerAdmin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerUser(pub String);

/// Verified manager credentials: the shared cache of the endpoint (a keyed digest of user,
/// password and stored hash, remembered for a minute; argon2 on the blocking pool, a few at
/// a time).
pub type AuthCache = access::CredentialCache;

/// `Authorization: <scheme> <credentials>` with a known scheme (case-insensitive, per
/// RFC 9110) and non-empty credentials.
fn split(header: &str) -> Option<(&'static str, &str)> {
    let (scheme, rest) = header.split_once(' ')?;
    let rest = rest.trim();
    if rest.is_empty() {
        return None;
    }
    if scheme.eq_ignore_ascii_case("basic") {
        Some(("basic", rest))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(("bearer", rest))
    } else {
        None
    }
}

/// The stored password hash of manager user `user`, as the credential cache keys it, and the
/// verifier for it: the admin's (which may still be the old SHA-256 format) or a registry
/// user's argon2 `PasswordHash`.
fn stored_hash(mgr: &Manager, user: &str) -> Option<(String, access::Verifier)> {
    if user == ADMIN_USER {
        let hash = mgr.registry.admin()?;
        return Some((hash.fingerprint(), PasswordHash::verify_fingerprint));
    }
    let account = mgr.registry.account(Accounts::Users, user)?;
    let phc = account.get("PasswordHash")?.as_str()?.to_owned();
    Some((phc, access::password::verify))
}

/// A legacy (SHA-256) admin hash that just verified `password` is replaced by an argon2 one:
/// the registry upgrades in place at the first successful login.
async fn upgrade_admin_hash(mgr: &Arc<Manager>, password: String) {
    if !mgr.registry.admin().is_some_and(|h| h.is_legacy()) {
        return;
    }
    let m = mgr.clone();
    // Hashing and the registry's fsync: both off the async workers.
    let done =
        tokio::task::spawn_blocking(move || m.registry.set_admin(PasswordHash::new(&password)));
    match done.await {
        Ok(Ok(())) => tracing::info!("the admin password hash was upgraded to argon2"),
        Ok(Err(e)) => tracing::warn!("upgrading the admin password hash: {e}"),
        Err(e) => tracing::warn!("upgrading the admin password hash: {e}"),
    }
}

/// Whether a manager user by this name exists (the admin always does).
pub fn user_exists(mgr: &Manager, user: &str) -> bool {
    user == ADMIN_USER || mgr.registry.account(Accounts::Users, user).is_some()
}

/// The manager user `header` authenticates, if it is one of the manager's: Basic with the
/// user's password, or Bearer with a token the manager signed for a user that still exists.
pub async fn manager_user(mgr: &Arc<Manager>, cache: &AuthCache, header: &str) -> Option<String> {
    match split(header)? {
        ("basic", encoded) => {
            let (user, password) = access::parse_basic(encoded).ok()?;
            let (stored, verify) = stored_hash(mgr, &user)?;
            if !cache.check_with(&user, &password, &stored, verify).await {
                return None;
            }
            if user == ADMIN_USER {
                upgrade_admin_hash(mgr, password).await;
            }
            Some(user)
        }
        (_, token) => {
            let secret = access::token::decode_secret(&mgr.registry.token_secret()).ok()?;
            let principal = access::token::verify(&secret, token, |p| {
                p.machine.is_none() && user_exists(mgr, &p.user)
            })
            .ok()?;
            Some(principal.user)
        }
    }
}

/// Who the caller is, or `None` (a 401): one of the manager's users anywhere, or on a gateway
/// path any Basic or Bearer credential, which the cluster then judges.
pub async fn classify(
    mgr: &Arc<Manager>,
    cache: &AuthCache,
    path: &str,
    header: &str,
) -> Option<(Caller, Option<ManagerUser>)> {
    if let Some(user) = manager_user(mgr, cache, header).await {
        return Some((Caller::ManagerAdmin, Some(ManagerUser(user))));
    }
    (crate::http::gateway::is_gateway_path(path) && split(header).is_some())
        .then_some((Caller::ClusterCredential, None))
}

/// Admits the manager's users everywhere and, on gateway paths, a cluster's own credentials
/// (see [`crate::http::auth`]); the verdict rides on the request for the gateway and
/// [`crate::http::authz`].
pub(super) async fn authenticate(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let path = req.uri().path().to_owned();
    if let Some((caller, user)) = classify(&st.mgr, &st.auth_cache, &path, &header).await {
        req.extensions_mut().insert(caller);
        if let Some(user) = user {
            req.extensions_mut().insert(user);
        }
        return next.run(req).await;
    }
    // A push webhook carries no credentials: its handler checks the signature.
    if path == proto::paths::GIT_REFRESH {
        return next.run(req).await;
    }
    let how = if crate::http::gateway::is_gateway_path(&path) {
        "authenticate as one of the manager's users (HTTP Basic, or a Bearer token from \
         /api/v3/users/<name>/token), or with this cluster's own credentials (HTTP Basic for \
         a cluster user, or a Bearer token the cluster issued)"
    } else {
        "authenticate as one of the manager's users (HTTP Basic, or a Bearer token from \
         /api/v3/users/<name>/token)"
    };
    ApiError::unauthorized(how).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_basic_and_bearer_with_credentials_count() {
        assert_eq!(split("Basic YTpi"), Some(("basic", "YTpi")));
        assert_eq!(split("bearer tok"), Some(("bearer", "tok")));
        assert_eq!(split("BEARER  tok "), Some(("bearer", "tok")));
        assert_eq!(split("Bearer "), None);
        assert_eq!(split("Bearer"), None);
        assert_eq!(split("Digest x"), None);
        assert_eq!(split(""), None);
    }

    /// Cluster credentials are considered on gateway paths only, never on the manager's own.
    #[test]
    fn gateway_paths() {
        use crate::http::gateway::is_gateway_path;
        assert!(is_gateway_path("/ha1/api/v3/machines"));
        assert!(is_gateway_path("/ha1/api/v3"));
        assert!(!is_gateway_path("/api/v3/endpoints"));
        assert!(!is_gateway_path("/api/v3"));
        assert!(!is_gateway_path("/metrics"));
        assert!(!is_gateway_path("/ha1/api/v3x"));
        assert!(!is_gateway_path("//api/v3/machines"));
        assert!(!is_gateway_path("/ui/index.html"));
    }
}
