//! A registered endpoint that is itself a manager (DRP's managers chain: one registers another
//! and sees its subtree). It has no consensus state: its `/api/v3/info` says `manager: true`,
//! and it is tracked as a one-member cluster that always leads, named by its `id`. The
//! follower ([`crate::replica::follow`]) asks [`Cluster::is_manager`] to keep each object's own
//! `Endpoint` (the leaf it belongs to).

use std::sync::atomic::Ordering;

use proto::cluster::{ClusterState, NodeInfo, LEADER};
use proto::paths;
use reqwest::StatusCode;
use serde_json::Value;

use super::poll::Failure;
use super::view::POLL_TIMEOUT;
use super::Cluster;

impl Cluster {
    /// Whether this endpoint answered as a manager (learnt at a poll; false until then).
    pub fn is_manager(&self) -> bool {
        self.manager.load(Ordering::Relaxed)
    }

    /// A poll of a member that has no consensus state: a manager, by its `Info`, is a
    /// one-member cluster led by itself; anything else is a failure.
    pub(super) async fn poll_manager(
        &self,
        client: &reqwest::Client,
        url: &str,
    ) -> Result<ClusterState, Failure> {
        let req = client
            .get(format!("{url}{}", paths::INFO))
            .timeout(POLL_TIMEOUT);
        let resp = self
            .authorize(req)
            .send()
            .await
            .map_err(|e| Failure::Other(super::trust::describe(&e)))?;
        match resp.status() {
            StatusCode::UNAUTHORIZED => return Err(Failure::Unauthorized),
            s if !s.is_success() => return Err(Failure::Other(format!("HTTP {s}"))),
            _ => {}
        }
        let info: Value = resp
            .json()
            .await
            .map_err(|e| Failure::Other(e.to_string()))?;
        let state = manager_state(&info, url).ok_or_else(|| {
            Failure::Other(format!("{url} has no consensus state and is not a manager"))
        })?;
        if !self.manager.swap(true, Ordering::Relaxed) {
            tracing::info!(endpoint = %self.id, %url, "the endpoint is a manager: following its subtree");
        }
        Ok(state)
    }
}

/// A manager's `Info` as the consensus state of a one-member cluster; `None` for anything
/// that is not a manager's.
fn manager_state(info: &Value, url: &str) -> Option<ClusterState> {
    if info.get("manager").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let id = info
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?;
    Some(ClusterState {
        ha_id: id.to_owned(),
        leader_id: id.to_owned(),
        active_uri: url.to_owned(),
        nodes: vec![NodeInfo {
            consensus_id: id.to_owned(),
            api_url: url.to_owned(),
            role: LEADER.to_owned(),
            voter: true,
            online: true,
            ..NodeInfo::default()
        }],
        ..ClusterState::default()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_managers_info_is_a_one_member_cluster_led_by_itself() {
        let info = json!({"id": "lower", "manager": true, "ha_id": ""});
        let st = manager_state(&info, "http://127.0.0.1:1").expect("a manager");
        assert_eq!(st.ha_id, "lower");
        assert_eq!(st.leader_id, "lower");
        assert_eq!(st.nodes.len(), 1);
        assert_eq!(st.nodes[0].api_url, "http://127.0.0.1:1");
        assert_eq!(st.nodes[0].role, LEADER);
        assert!(manager_state(&json!({"id": "n1", "manager": false}), "u").is_none());
        assert!(manager_state(&json!({"manager": true}), "u").is_none());
    }
}
