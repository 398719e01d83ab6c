//! The DRP REST API (`/api/v3/...`), served by every member.

mod auth_layer;
pub mod consensus;
pub(crate) mod consensus_watch;
pub mod contents;
pub mod error;
mod files;
mod filter;
mod indexes;
pub mod info;
mod jobs;
mod object_params;
pub mod objects;
mod request;
pub use files::{DEFAULT_MAX_FILE_BYTES, MAX_FILE_BYTES};
mod certificate;
mod commit;
pub(crate) mod render;
mod routes;
mod snapshot;
mod swagger;
mod system;
mod upgrade;
mod users;
mod versionset;
mod whoami;
mod ws;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

use crate::limits::RateLimits;
use crate::node::Node;

/// The API: every route of `routes::ROUTES` (the table the OpenAPI document describes too;
/// add a route there, never here), behind the rate limits (per source before authentication,
/// per user after it), authentication and the cluster headers.
pub fn router(node: Node, limits: RateLimits) -> Router {
    routes::routes()
        // Prometheus's conventional path, outside the API's base: not in the OpenAPI document.
        .route("/metrics", axum::routing::get(crate::metrics::http::scrape))
        .layer(middleware::from_fn_with_state(
            node.clone(),
            routes::apply_fence,
        ))
        .layer(middleware::from_fn_with_state(
            limits.per_user,
            netguard::enforce::<String>,
        ))
        .layer(middleware::from_fn_with_state(
            node.clone(),
            auth_layer::require_auth,
        ))
        .layer(middleware::from_fn_with_state(
            limits.per_source,
            netguard::enforce::<netguard::SourceIp>,
        ))
        .layer(middleware::from_fn(routes::mark_job_reports))
        .layer(middleware::from_fn_with_state(
            node.clone(),
            cluster_headers,
        ))
        .layer(axum::Extension(ws::WsQuota::default()))
        .layer(middleware::from_fn(crate::metrics::http::track_requests))
        .with_state(node)
}

/// Every response names the leader, the commit index this member knows (or the write's own,
/// when larger), and the index it had applied when the request came in.
async fn cluster_headers(State(node): State<Node>, req: Request, next: Next) -> Response {
    // Before the handler: what a read reflects at least (the manager's replica resyncs with it).
    let applied = node.applied_index();
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    headers.insert(proto::headers::APPLIED_INDEX, HeaderValue::from(applied));
    if let Some(leader) = node.leader_info().map(|l| l.consensus_id) {
        if let Ok(v) = HeaderValue::from_str(&leader) {
            headers.insert(proto::headers::LEADER, v);
        }
    }
    // A write's answer already names its own index, which a member that forwarded it may not
    // know committed yet: the header is the larger of the two.
    let written = headers
        .get(proto::headers::COMMIT_INDEX)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(committed) = node.commit_index().max(written) {
        headers.insert(proto::headers::COMMIT_INDEX, HeaderValue::from(committed));
    }
    resp
}
