//! `/<manager-id>/api/v3/...`: the manager's own API addressed like an endpoint's through the
//! gateway, as a client of a manager hierarchy names the endpoint it means. The request is
//! rewritten to `/api/v3/...` before routing (a federated collection gains `?Endpoint=<id>`,
//! so e.g. a user created there is the manager's own), so it meets the same handlers,
//! authentication and claims as the plain path.

use axum::extract::Request;
use axum::http::Uri;

use crate::http::gateway::split_gateway_path;

/// An id that needs no percent-encoding in a query.
fn plain(id: &str) -> bool {
    id.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The path and query `path_and_query` means when `manager` is the manager's own id; `None`
/// for anything else (a cluster's gateway path, the manager's plain API).
fn rewritten(manager: &str, path: &str, query: Option<&str>) -> Option<String> {
    let (id, rest) = split_gateway_path(path)?;
    if id != manager {
        return None;
    }
    let collection = rest
        .trim_start_matches("api/v3")
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    let mut query = query.map(str::to_owned);
    if proto::collections::FEDERATED.contains(&collection) && plain(id) {
        let pinned = format!("Endpoint={id}");
        query = Some(match query {
            Some(q) if !q.is_empty() => format!("{q}&{pinned}"),
            _ => pinned,
        });
    }
    Some(match query {
        Some(q) => format!("/{rest}?{q}"),
        None => format!("/{rest}"),
    })
}

/// Rewrites a request for `/<manager>/api/v3/...` to the manager's own `/api/v3/...`.
pub fn rewrite(manager: &str, mut req: Request) -> Request {
    let uri = req.uri();
    if let Some(to) = rewritten(manager, uri.path(), uri.query()) {
        if let Ok(to) = to.parse::<Uri>() {
            *req.uri_mut() = to;
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_managers_own_id_means_its_own_api() {
        let r = |p: &str, q: Option<&str>| rewritten("mgr", p, q);
        assert_eq!(
            r("/mgr/api/v3/users", None).as_deref(),
            Some("/api/v3/users?Endpoint=mgr")
        );
        assert_eq!(
            r("/mgr/api/v3/roles/a", Some("x=1")).as_deref(),
            Some("/api/v3/roles/a?x=1&Endpoint=mgr")
        );
        assert_eq!(
            r("/mgr/api/v3/endpoints", Some("a=b")).as_deref(),
            Some("/api/v3/endpoints?a=b")
        );
        assert_eq!(r("/mgr/api/v3", None).as_deref(), Some("/api/v3"));
        assert_eq!(r("/ha1/api/v3/users", None), None);
        assert_eq!(r("/api/v3/users", None), None);
    }
}
