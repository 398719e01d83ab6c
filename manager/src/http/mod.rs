//! The manager's REST API (DRP Manager shapes), its gateway to each cluster, and who may call.
//!
//! One file per resource; [`router`] is the route table.

mod accounts;
pub mod auth;
pub mod authz;
mod body;
pub mod endpoint_params;
mod endpoints;
mod error;
mod federated;
pub mod gateway;
mod info;
mod plugins;
mod probe;
pub mod rollout;
mod self_path;
mod status;
mod version_sets;
mod view;
pub mod webhook;
mod ws;
mod ws_proxy;

use std::sync::Arc;

use axum::middleware;
use axum::routing::{get, post, put};
use axum::Router;
use proto::paths;

pub use error::{ApiError, ApiResult};
pub use federated::list as federated_list;
pub use status::{git_view, status_rows};
pub use view::{endpoint_view, live_observed};

use crate::http::auth::{authenticate, AuthCache};
use crate::state::Manager;

/// The manager's admin user (DRP's).
pub const ADMIN_USER: &str = paths::ADMIN_USER;

/// What every handler gets: the manager and the cache of admin-password verdicts.
#[derive(Clone)]
pub struct AppState {
    pub mgr: Arc<Manager>,
    pub(crate) auth_cache: Arc<AuthCache>,
}

pub fn router(mgr: Arc<Manager>) -> Router {
    let id = mgr.config.id.clone();
    let state = AppState {
        mgr,
        auth_cache: Arc::new(AuthCache::default()),
    };
    let app = Router::new()
        .route(paths::INFO, get(info::info))
        .route(paths::STATUS, get(status::status))
        .route(paths::GIT, get(status::git_status))
        .route(paths::GIT_REFRESH, post(webhook::refresh))
        .route(
            paths::ENDPOINTS,
            get(endpoints::list)
                .head(endpoints::count)
                .post(endpoints::create),
        )
        .route(
            "/api/v3/endpoints/{id}",
            get(endpoints::get)
                .put(endpoints::put)
                .patch(endpoints::patch)
                .delete(endpoints::delete),
        )
        .route("/api/v3/endpoints/{id}/plan", get(endpoints::plan))
        .merge(plugins::routes())
        .route(
            "/api/v3/endpoints/{id}/params",
            get(endpoint_params::get_params)
                .post(endpoint_params::replace_params)
                .patch(endpoint_params::patch_params),
        )
        .route(
            "/api/v3/endpoints/{id}/params/{*key}",
            get(endpoint_params::get_param)
                .post(endpoint_params::set_param)
                .put(endpoint_params::set_param)
                .delete(endpoint_params::delete_param),
        )
        .route(
            paths::VERSION_SETS,
            get(version_sets::list)
                .head(version_sets::count)
                .post(version_sets::create),
        )
        .route(
            "/api/v3/version_sets/{id}",
            get(version_sets::get)
                .put(version_sets::put)
                .patch(version_sets::patch)
                .delete(version_sets::delete),
        )
        .route(rollout::PATH, get(rollout::status))
        .route("/api/v3/rollout/pause", post(rollout::pause))
        .route("/api/v3/rollout/resume", post(rollout::resume))
        .route("/api/v3/users/{name}/token", get(accounts::token))
        .route("/api/v3/users/{name}/password", put(accounts::set_password))
        .route(
            "/api/v3/{collection}",
            get(federated::list_for)
                .head(federated::count)
                .post(federated::create),
        )
        .route(
            "/api/v3/{collection}/{key}",
            get(federated::get)
                .put(federated::write)
                .patch(federated::write)
                .delete(federated::write),
        )
        .route(
            "/api/v3/{collection}/{key}/params",
            get(federated::get_params)
                .post(federated::write_params)
                .put(federated::write_params)
                .patch(federated::write_params),
        )
        .route(
            "/api/v3/{collection}/{key}/params/{*param}",
            get(federated::get_params)
                .post(federated::write_params)
                .put(federated::write_params)
                .delete(federated::write_params),
        )
        .route("/metrics", get(crate::metrics::scrape))
        .route("/api/v3/ws", get(ws::upgrade))
        .route("/{id}/api/v3/ws", get(ws_proxy::proxy))
        .fallback(crate::metrics::timed_gateway)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            authz::authorize,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .merge(crate::ui::routes())
        .with_state(state);
    // Before routing: `/<manager-id>/api/v3/...` is the manager's own API.
    let app = tower::ServiceExt::map_request(app, move |req| self_path::rewrite(&id, req));
    Router::new().fallback_service(app)
}
