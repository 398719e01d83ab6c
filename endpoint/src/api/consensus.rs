//! DRP's consensus namespace: `/api/v3/system/consensus/...`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use crate::cluster::membership::{self, EnrollRequest};
use crate::cluster::state::{self, cluster_state};
use crate::node::messages::AdminReply;
use crate::node::Node;

pub async fn id(State(node): State<Node>) -> Json<String> {
    Json(node.settings.consensus_id.clone())
}

pub async fn leader(State(node): State<Node>) -> Json<String> {
    Json(
        node.leader_consensus_id(&node.metrics())
            .unwrap_or_default(),
    )
}

pub async fn state(State(node): State<Node>) -> Response {
    Json(cluster_state(&node).await).into_response()
}

pub async fn peers(State(node): State<Node>) -> Response {
    Json(cluster_state(&node).await.nodes).into_response()
}

fn admin(reply: AdminReply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(reply.body)).into_response()
}

pub async fn enroll(State(node): State<Node>, body: Bytes) -> Result<Response, ApiError> {
    let req: EnrollRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid enroll request (want {{\"ConsensusAddr\",\"ApiUrl\",\"Observer\"}}): {e}"
        ))
    })?;
    Ok(admin(membership::enroll(&node, req).await?))
}

pub async fn remove(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(admin(membership::remove(&node, id).await?))
}

pub async fn fail_over_safe(State(node): State<Node>) -> Json<serde_json::Value> {
    Json(json!({ "Safe": state::fail_over_safe(&node).await }))
}
