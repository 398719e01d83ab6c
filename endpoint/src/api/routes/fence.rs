//! The read fence each row of `ROUTES` declares, applied before its handler runs: a
//! linearizable read waits until this member reflects every write acknowledged before it
//! (unless the client asked for a stale read), so no handler fences by hand.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::access::operation;
use super::Fence;
use crate::api::error::ApiError;
use crate::api::request::fence;
use crate::node::Node;

/// The fence of the operation the router matched; a call no operation serves has none.
pub async fn apply_fence(State(node): State<Node>, req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>();
    let declared = matched
        .and_then(|m| operation(m.as_str(), req.method()))
        .map_or(Fence::None, |op| op.fence);
    let fenced = match declared {
        Fence::None => Ok(()),
        Fence::Read => fence(&node, req.headers()).await,
        Fence::Strict => node.read_barrier().await.map_err(ApiError::from),
    };
    match fenced {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}
