//! Who a caller of the manager's API is.
//!
//! The manager's own admin (HTTP Basic, verified here) may use everything; through the gateway
//! its calls reach a cluster with the cluster's stored credentials. A cluster's own users go
//! through the gateway as themselves: on a gateway path, a credential the manager does not
//! verify as its own (a Bearer token, which the manager never issues, or Basic for a name and
//! password that are not the manager admin's) is the cluster's to judge. The gateway forwards
//! it untouched and adds none of its own, so the cluster's authentication and roles apply
//! exactly as on a member (401 for a bad token, 403 where the user's roles fall short).
//!
//! The order makes it unambiguous: the manager's check runs first, and a credential that
//! passes it is never forwarded. Identity is not asserted by a header the cluster would have
//! to trust; the cluster verifies the user's own credential. Credentials are never logged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::{ApiError, AppState, ADMIN_USER};
use crate::state::Manager;

/// What the authentication middleware found; the gateway reads it from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The manager's admin: stored credentials are used towards clusters.
    ManagerAdmin,
    /// A credential for the cluster named in a gateway path: forwarded as it came.
    ClusterCredential,
}

const TTL: Duration = Duration::from_secs(300);
const MAX_ENTRIES: usize = 256;

/// Recent verdicts on manager-admin Basic credentials, by a hash of the header (never the
/// header itself): the password hash is deliberately slow and a client sends the same header
/// on every call. A wrong password is remembered too, so a cluster user named like the
/// manager's admin does not pay for a manager hash on each call through the gateway.
#[derive(Default)]
pub struct AuthCache {
    entries: Mutex<Vec<(String, bool, Instant)>>,
}

impl AuthCache {
    fn get(&self, fingerprint: &str) -> Option<bool> {
        let entries = self.entries.lock().ok()?;
        entries
            .iter()
            .find(|(f, _, at)| f == fingerprint && at.elapsed() < TTL)
            .map(|(_, ok, _)| *ok)
    }

    fn put(&self, fingerprint: String, ok: bool) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|(f, _, at)| at.elapsed() < TTL && *f != fingerprint);
            if entries.len() >= MAX_ENTRIES {
                entries.remove(0);
            }
            entries.push((fingerprint, ok, Instant::now()));
        }
    }
}

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

/// Whether `header` is HTTP Basic for the manager's admin. The password check runs on a
/// blocking thread (a deliberately slow hash).
pub async fn is_manager_admin(mgr: &Arc<Manager>, cache: &AuthCache, header: &str) -> bool {
    let Some(("basic", encoded)) = split(header) else {
        return false;
    };
    let Some(password) = B64
        .decode(encoded)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| {
            let (user, password) = text.split_once(':')?;
            (user == ADMIN_USER).then(|| password.to_owned())
        })
    else {
        return false;
    };
    let Some(hash) = mgr.registry.admin() else {
        return false;
    };
    // Keyed on the stored hash's salt too: a new admin password takes effect at once.
    let mut digest = Sha256::new();
    digest.update(hash.salt.as_bytes());
    digest.update([0]);
    digest.update(header.as_bytes());
    let fingerprint = hex::encode(digest.finalize());
    if let Some(ok) = cache.get(&fingerprint) {
        return ok;
    }
    let ok = tokio::task::spawn_blocking(move || hash.verify(&password))
        .await
        .unwrap_or(false);
    cache.put(fingerprint, ok);
    ok
}

/// Who the caller is, or `None` (a 401): the manager's admin anywhere, or on a gateway path
/// any Basic or Bearer credential, which the cluster then judges.
pub async fn classify(
    mgr: &Arc<Manager>,
    cache: &AuthCache,
    path: &str,
    header: &str,
) -> Option<Caller> {
    if is_manager_admin(mgr, cache, header).await {
        return Some(Caller::ManagerAdmin);
    }
    (crate::http::gateway::is_gateway_path(path) && split(header).is_some())
        .then_some(Caller::ClusterCredential)
}

/// Admits the manager's admin everywhere and, on gateway paths, a cluster's own credentials
/// (see [`crate::http::auth`]); the verdict rides on the request for the gateway.
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
    if let Some(caller) = classify(&st.mgr, &st.auth_cache, &path, &header).await {
        req.extensions_mut().insert(caller);
        return next.run(req).await;
    }
    // A push webhook carries no credentials: its handler checks the signature.
    if path == proto::paths::GIT_REFRESH {
        return next.run(req).await;
    }
    let how = if crate::http::gateway::is_gateway_path(&path) {
        "authenticate with HTTP Basic as the manager's admin, or with this cluster's own \
         credentials (HTTP Basic for a cluster user, or a Bearer token the cluster issued)"
    } else {
        "authenticate with HTTP Basic as the manager's admin"
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

    #[test]
    fn cache_remembers_both_verdicts_by_fingerprint() {
        let c = AuthCache::default();
        assert_eq!(c.get("a"), None);
        c.put("a".into(), true);
        c.put("b".into(), false);
        assert_eq!(c.get("a"), Some(true));
        assert_eq!(c.get("b"), Some(false));
        c.put("a".into(), false);
        assert_eq!(c.get("a"), Some(false));
        for i in 0..MAX_ENTRIES + 10 {
            c.put(format!("k{i}"), true);
        }
        assert!(c.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
