//! The DRP REST API (`/api/v3/...`), served by every member.

pub mod consensus;
pub mod contents;
pub mod error;
mod files;
mod filter;
pub mod info;
pub mod objects;
mod request;
pub use request::now_ms;
mod system;
mod users;
mod versionset;
mod ws;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::node::Node;

pub fn router(node: Node) -> Router {
    Router::new()
        .route("/api/v3/info", get(info::info))
        .route("/api/v3/system/consensus/id", get(consensus::id))
        .route("/api/v3/system/consensus/leader", get(consensus::leader))
        .route("/api/v3/system/consensus/state", get(consensus::state))
        .route("/api/v3/system/consensus/peers", get(consensus::peers))
        .route("/api/v3/system/consensus/enroll", post(consensus::enroll))
        .route(
            "/api/v3/system/consensus/node/{id}",
            delete(consensus::remove),
        )
        .route(
            "/api/v3/system/consensus/failOverSafe",
            post(consensus::fail_over_safe).get(consensus::fail_over_safe),
        )
        .route(
            "/api/v3/system/versionset/apply",
            post(versionset::apply).layer(DefaultBodyLimit::max(
                versionset::MAX_APPLY_BYTES + (1 << 20),
            )),
        )
        .route("/api/v3/system/versionset", get(versionset::applied))
        .route(
            "/api/v3/prefs",
            get(system::get_prefs).post(system::set_prefs),
        )
        .route("/api/v3/contents", contents::collection())
        .route("/api/v3/contents/{name}", contents::item())
        .route("/api/v3/files", get(files::list))
        .route(
            "/api/v3/files/{*path}",
            get(files::download)
                .head(files::head)
                .post(files::upload)
                .put(files::upload)
                .delete(files::remove)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v3/{collection}",
            get(objects::list)
                .post(objects::create)
                .head(objects::count),
        )
        .route(
            "/api/v3/{collection}/{key}",
            get(objects::get_one)
                .put(objects::replace)
                .patch(objects::patch)
                .delete(objects::remove)
                .head(objects::exists),
        )
        .route("/api/v3/{collection}/{key}/params", get(objects::params))
        .route(
            "/api/v3/{collection}/{key}/params/{*param}",
            get(objects::get_param)
                .post(objects::set_param)
                .put(objects::set_param)
                .delete(objects::delete_param),
        )
        .route("/api/v3/ws", get(ws::upgrade))
        .route("/api/v3/users/{name}/token", get(users::token))
        .layer(middleware::from_fn_with_state(
            node.clone(),
            crate::auth::require_auth,
        ))
        .layer(middleware::from_fn_with_state(
            node.clone(),
            cluster_headers,
        ))
        .with_state(node)
}

/// Every response names the leader and the commit index this member knows.
async fn cluster_headers(State(node): State<Node>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let m = node.metrics();
    let headers = resp.headers_mut();
    if let Some(leader) = node.leader_consensus_id(&m) {
        if let Ok(v) = HeaderValue::from_str(&leader) {
            headers.insert("x-drp-leader", v);
        }
    }
    if let Some(committed) = m.local_committed.as_ref() {
        headers.insert("x-drp-commit-index", HeaderValue::from(committed.index));
    }
    resp
}
