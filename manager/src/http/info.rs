//! `GET /api/v3/info`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::http::AppState;

/// DRP's `Info`, every field of it, as a DRP manager answers it (`manager: true`): the
/// manager runs no boot services and is no HA member, so those ports are 0 and flags false.
pub(super) async fn info(State(st): State<AppState>) -> Json<Value> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let listen = st.mgr.config.api_listen;
    let id = &st.mgr.config.id;
    Json(json!({
        "id": id,
        "local_id": id,
        "uuid": id,
        "version": env!("CARGO_PKG_VERSION"),
        "os": std::env::consts::OS,
        "arch": arch,
        "address": listen.ip().to_string(),
        "server_hostname": std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default(),
        "manager": true,
        "features": [],
        "api_port": listen.port(),
        "extra_api_ports": [],
        "file_port": 0,
        "extra_file_ports": [],
        "secure_file_port": 0,
        "extra_secure_file_ports": [],
        "tftp_port": 0,
        "tftp_enabled": false,
        "dhcp_port": 0,
        "dhcp_enabled": false,
        "binl_port": 0,
        "binl_enabled": false,
        "dns_port": 0,
        "dns_enabled": false,
        "prov_enabled": false,
        "secure_prov_enabled": false,
        "ha_id": "",
        "ha_enabled": false,
        "ha_is_active": true,
        "ha_active_id": "",
        "ha_consensus_id": "",
        "ha_status": "Standalone",
        "ha_passive_state": [],
        "errors": [],
        "scopes": {},
        "stats": [],
        "endpoints": st.mgr.effective_endpoints().len(),
        "git_repo": super::status::shown_repo(&st.mgr),
        "git_branch": st.mgr.config.git_branch,
    }))
}
