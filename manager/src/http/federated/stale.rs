//! Which endpoints a federated read serves from a replica that is not current.

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use proto::headers;

use crate::state::Manager;

/// The registered endpoints whose replica is not current: the replica says so, or it has
/// never synced them (just registered, or nothing follows them yet).
pub(super) fn stale_endpoints(mgr: &Manager) -> Vec<String> {
    let states = mgr.replica.sync_states();
    let mut stale = mgr.replica.stale();
    for id in mgr.effective_endpoints().into_keys() {
        if !states.contains_key(&id) && !stale.contains(&id) {
            stale.push(id);
        }
    }
    stale.sort();
    stale
}

/// Names the stale endpoints on a reply, when there are any.
pub(super) fn mark(resp: &mut Response, stale: &[String]) {
    if stale.is_empty() {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(&stale.join(",")) {
        resp.headers_mut()
            .insert(HeaderName::from_static(headers::STALE_ENDPOINTS), v);
    }
}
