//! `GET /api/v3/info`: DRP's `Info` model, every field of it, with the HA fields.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::node::Node;

/// DRP's name for this machine's architecture (`amd64`, `arm64`, as Go spells them).
pub fn drp_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The host part of a URL (`https://10.0.0.1:8092` gives `10.0.0.1`).
fn url_host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
        .unwrap_or_default()
}

pub async fn info(State(node): State<Node>) -> Json<Value> {
    Json(info_value(&node))
}

/// DRP's `Info` for this member (also in every `UserToken`).
pub fn info_value(node: &Node) -> Value {
    let m = node.metrics();
    let leader = node.leader_consensus_id(&m).unwrap_or_default();
    let active = m.current_leader == Some(node.node_id);
    let ha_status = if active {
        "Active"
    } else if m.current_leader.is_some() {
        "Passive"
    } else {
        "Electing"
    };
    // Every other member, as DRP lists its passive nodes: electable when a voter.
    let passive: Vec<Value> = m
        .members
        .iter()
        .filter(|(id, _)| Some(**id) != m.current_leader)
        .map(|(id, member)| {
            json!({
                "id": member.consensus_id,
                "address": url_host(&member.api_url),
                "state": if m.is_voter(*id) { "Passive" } else { "Joining" },
                "electable": m.is_voter(*id) && !member.observer,
            })
        })
        .collect();
    // DRP reports a service's port with whether it runs: boot services run on the active
    // member only, so a passive member reports them configured but not enabled.
    let boot = &node.settings.boot;
    let running = |flag: &std::sync::atomic::AtomicBool| crate::boot::Running::get(flag);
    let static_on = running(&boot.running.static_http);
    json!({
        "id": node.settings.ha_id,
        "local_id": node.settings.consensus_id,
        "uuid": node.settings.consensus_id,
        "version": env!("CARGO_PKG_VERSION"),
        "os": std::env::consts::OS,
        "arch": drp_arch(),
        "address": url_host(&node.settings.api_url),
        "server_hostname": crate::host::hostname(),
        "manager": false,
        "features": crate::upgrade::cluster_version::cluster_features(node),
        "api_port": node.settings.api_port,
        "extra_api_ports": [],
        "file_port": boot.static_port,
        "extra_file_ports": [],
        "secure_file_port": 0,
        "extra_secure_file_ports": [],
        "tftp_port": boot.tftp_port,
        "tftp_enabled": running(&boot.running.tftp),
        "dhcp_port": boot.dhcp_port,
        "dhcp_enabled": running(&boot.running.dhcp),
        "binl_port": 0,
        "binl_enabled": false,
        "dns_port": 0,
        "dns_enabled": false,
        "prov_enabled": static_on,
        "secure_prov_enabled": false,
        "ha_id": node.settings.ha_id,
        "ha_enabled": true,
        "ha_is_active": active,
        "ha_active_id": leader,
        "ha_consensus_id": node.settings.consensus_id,
        "ha_status": ha_status,
        "ha_virtual_address": boot.virt_addr.map(|a| a.to_string()).unwrap_or_default(),
        "ha_passive_state": passive,
        "errors": [],
        "scopes": {},
        "stats": [],
    })
}
