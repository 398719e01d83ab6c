//! What this member offers machines (its boot services' addresses and which of them run).
//! Part of the node's settings, so it lives below the boot services that fill it in.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What this member offers machines, as `/api/v3/info` and rendered templates see it.
#[derive(Debug, Clone, Default)]
pub struct Advertised {
    pub static_port: u16,
    pub tftp_port: u16,
    pub dhcp_port: u16,
    /// `.ProvisionerAddress`.
    pub address: String,
    /// `.ApiURL` as machines see it: on the virtual address when there is one (it follows the
    /// active member), else this member's `--api-url`.
    pub api_url: String,
    /// The virtual address without its prefix, when one is configured.
    pub virt_addr: Option<IpAddr>,
    pub running: Arc<Running>,
}

impl Advertised {
    /// `.ProvisionerURL`: the static file server's base URL.
    pub fn provisioner_url(&self) -> String {
        let host = match self.address.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => self.address.clone(),
        };
        format!("http://{host}:{}", self.static_port)
    }

    /// The IPv4 next-server DHCP hands out, when the provisioner address is one.
    pub fn next_server(&self) -> Option<Ipv4Addr> {
        match self.address.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => Some(v4),
            _ => None,
        }
    }
}

/// Which services are bound right now (they run only while this member is active).
#[derive(Debug, Default)]
pub struct Running {
    pub static_http: AtomicBool,
    pub tftp: AtomicBool,
    pub dhcp: AtomicBool,
    pub virt_addr: AtomicBool,
}

impl Running {
    pub fn get(flag: &AtomicBool) -> bool {
        flag.load(Ordering::Relaxed)
    }
}
