//! The one table of the REST API (`ROUTES`): every route, the handler of each method, the
//! claim a caller needs, its read fence and body limit, and what the OpenAPI document says
//! about it. The router, `swagger::document`, authentication (`auth_layer`) and the body
//! limits all read this table, so what is served, checked and documented cannot drift apart.

mod access;
mod body_limit;
mod fence;
mod metering;
mod operation;
mod table;

pub use access::{access_of, Access};
pub use fence::apply_fence;
pub use metering::mark_job_reports;
pub use operation::{Body, Fence, Kind, Metering, Operation, Param, Reply, Route, Verb};
pub use table::ROUTES;

use axum::routing::{MethodRouter, Router};

use crate::node::Node;

impl Route {
    /// Every method of the route, behind the route's body limit.
    pub fn method_router(&self) -> MethodRouter<Node> {
        let methods = self.ops.iter().fold(MethodRouter::new(), |methods, op| {
            methods.merge((op.handler)(op.verb.filter()))
        });
        body_limit::bounded(methods, self.body_limit)
    }
}

/// Every route of the table, without middleware or state.
pub fn routes() -> Router<Node> {
    ROUTES.iter().fold(Router::new(), |router, r| {
        router.route(r.path, r.method_router())
    })
}

#[cfg(test)]
mod tests;
