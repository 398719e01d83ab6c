//! What the API shows of an endpoint: desired fields, live observations, trust, the
//! password masked.

use axum::response::Response;
use serde_json::{json, Value};
use versionsets::Endpoint;

use proto::headers;

use crate::cluster::trust::{self, Anchor};
use crate::crypto::MASK;
use crate::state::{Manager, Source};

/// The API's view of an endpoint: desired fields, the manager's observations, the
/// password masked.
pub fn endpoint_view(mgr: &Manager, ep: &Endpoint, source: Source) -> Value {
    let o = live_observed(mgr, &ep.id);
    let mut full = ep.clone();
    if full.params.contains_key("manager/password") {
        full.params
            .insert("manager/password".into(), Value::String(MASK.into()));
    }
    full.ha_id = o.ha_id.clone();
    full.drp_version = o.drp_version.clone();
    full.components = o.components.clone();
    full.plugins = o.plugins.clone();
    full.prefs = o.prefs.clone();
    full.global = o.global.clone();
    full.connection_status = Some(o.status());
    full.actions = o.actions.clone();
    full.leader = o.leader.clone();
    full.members = o.members.clone();
    full.applied_version_set = o.applied.clone();
    let mut v = serde_json::to_value(&full).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("Source".into(), json!(source.as_str()));
        obj.insert(
            "Desired".into(),
            json!({"Hash": o.desired_hash, "GitCommit": o.desired_commit}),
        );
        obj.insert("Errors".into(), json!(o.errors));
        obj.insert(
            "Upgrade".into(),
            crate::sync::upgrade::progress::view(&ep.id),
        );
        obj.insert("Available".into(), json!(true));
        obj.insert("Validated".into(), json!(true));
        obj.insert("Trust".into(), trust_view(mgr, ep));
        obj.insert("Replica".into(), replica_view(mgr, &ep.id));
    }
    v
}

/// How current the manager's replica of the endpoint is, and how it got there since the
/// manager started (re-lists against resumes from the endpoint's event ring).
fn replica_view(mgr: &Manager, id: &str) -> Value {
    let sync = mgr.replica.sync_states().remove(id).unwrap_or_default();
    let counts = mgr.replica.counts(id);
    json!({
        "Index": sync.index,
        "Current": sync.current,
        "Error": sync.error,
        "Objects": mgr.replica.object_count(id),
        "Lists": counts.lists,
        "Resumes": counts.resumes,
        "Events": counts.events,
    })
}

/// How the cluster's certificates are verified (read-only; the pinned PEM is kept in the
/// registry, not in `Params`).
fn trust_view(mgr: &Manager, ep: &Endpoint) -> Value {
    let cert = |c: &[u8]| json!({"Subject": trust::subject(c), "Sha256": trust::fingerprint(c)});
    match mgr.anchor(ep) {
        Anchor::Given(certs) => json!({
            "Mode": "ca",
            "Certificates": certs.iter().map(|c| cert(c)).collect::<Vec<_>>(),
        }),
        Anchor::Invalid(m) => json!({"Mode": "invalid", "Error": m}),
        Anchor::Pinned(_) => {
            let pin = mgr.registry.pin(&ep.id);
            json!({
                "Mode": "pinned",
                "Subject": pin.as_ref().map(|p| p.subject.clone()),
                "Sha256": pin.as_ref().map(|p| p.sha256.clone()),
                "PinnedFrom": pin.as_ref().map(|p| p.url.clone()),
                "PinnedAt": pin.as_ref().map(|p| p.pinned_at),
                "Pem": pin.as_ref().map(|p| p.pem.clone()),
            })
        }
        Anchor::Unpinned => {
            let https = mgr.connection(ep).seeds.iter().any(|u| trust::is_https(u));
            json!({"Mode": if https { "unpinned" } else { "none" }})
        }
    }
}

/// The recorded observations, with the connection fields taken live from the tracker (a
/// reconciler busy with a slow cluster never makes them stale).
pub fn live_observed(mgr: &Manager, id: &str) -> crate::registry::Observed {
    let mut o = mgr.registry.observed(id);
    if let Some(cluster) = mgr.cluster(id) {
        let view = cluster.view();
        if view.polled {
            o.connection_status = Some(view.status.clone());
            o.leader = view.leader.clone();
            if !view.members.is_empty() {
                o.members = view.members.clone();
            }
            if view.ha_id.is_some() {
                o.ha_id = view.ha_id.clone();
            }
            if let Some(e) = view.error {
                if !o.errors.contains(&e) {
                    o.errors.push(e);
                }
            }
        }
    }
    o
}

pub(super) fn api_part_view(ep: &Endpoint) -> Value {
    let mut e = ep.clone();
    if e.params.contains_key("manager/password") {
        e.params
            .insert("manager/password".into(), Value::String(MASK.into()));
    }
    serde_json::to_value(&e).unwrap_or(Value::Null)
}

/// DRP's list counts: every collection list and `HEAD` carries them.
pub(super) fn with_counts(mut resp: Response, count: usize) -> Response {
    for name in [
        headers::LIST_COUNT,
        headers::LIST_TOTAL_COUNT,
        headers::LIST_FILTER_COUNT,
    ] {
        resp.headers_mut()
            .insert(name, axum::http::HeaderValue::from(count));
    }
    resp
}
