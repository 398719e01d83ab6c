//! `GET /api/v3/info`: DRP's endpoint info, with the HA fields.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::node::Node;

pub async fn info(State(node): State<Node>) -> Json<Value> {
    let m = node.metrics();
    let leader = node.leader_consensus_id(&m).unwrap_or_default();
    Json(json!({
        "id": node.settings.ha_id,
        "version": env!("CARGO_PKG_VERSION"),
        "ha_id": node.settings.ha_id,
        "ha_enabled": true,
        "ha_is_active": m.current_leader == Some(node.node_id),
        "ha_active_id": leader,
        "ha_consensus_id": node.settings.consensus_id,
        "api_port": node.settings.api_port,
        "features": crate::packs::FEATURES,
    }))
}
