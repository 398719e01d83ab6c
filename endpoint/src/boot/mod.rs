//! Boot services under HA: the static HTTP file server, TFTP and DHCP, and the virtual
//! address. All of them follow the active member (the Raft leader with a quorum): they bind
//! when it becomes active and let go when it stops, so passive members never answer boot
//! traffic and members sharing a host never compete for the ports.

pub mod active;
pub mod cache;
pub mod dhcp;
mod error;
pub mod follow;
pub mod http;
pub mod tftp;
pub mod tree;
pub mod vip;
pub mod virtual_media;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::node::advertised::{Advertised, Running};
pub use error::ServiceError;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::node::Node;

#[derive(Debug, Clone, clap::Args)]
pub struct BootArgs {
    /// Static HTTP file server (unauthenticated, read-only): files, isos and rendered boot
    /// files. 0 disables it.
    #[arg(long, default_value_t = 8091)]
    pub static_port: u16,
    /// TFTP server over the same tree. 0 disables it.
    #[arg(long, default_value_t = 69)]
    pub tftp_port: u16,
    /// DHCP server, on the active member only. 0 disables it.
    #[arg(long, default_value_t = 67)]
    pub dhcp_port: u16,
    /// Interfaces DHCP answers on (default: all).
    #[arg(long, value_delimiter = ',')]
    pub dhcp_interfaces: Vec<String>,
    /// The address machines reach the boot services at (`.ProvisionerAddress`, DHCP's
    /// next-server). Default: the virtual address, else the host of `--api-url`.
    #[arg(long)]
    pub static_ip: Option<IpAddr>,
    /// The virtual address (`ADDR/PREFIX`) the active member holds.
    #[arg(long, requires = "virt_interface")]
    pub virt_addr: Option<ipnet::IpNet>,
    /// The interface the virtual address goes on.
    #[arg(long, requires = "virt_addr")]
    pub virt_interface: Option<String>,
    /// DRP's `VirtInterfaceScript`: run as `SCRIPT add|remove IF ADDR/PREFIX` instead of the
    /// built-in `ip addr` change.
    #[arg(long, requires = "virt_addr")]
    pub virt_interface_script: Option<PathBuf>,
}

/// Sets a running flag for as long as it lives.
pub struct RunningGuard<'a>(&'a AtomicBool);

impl<'a> RunningGuard<'a> {
    pub fn set(flag: &'a AtomicBool) -> Self {
        flag.store(true, Ordering::Relaxed);
        Self(flag)
    }
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl BootArgs {
    pub fn advertised(&self, api_url: &str) -> Advertised {
        let virt_addr = self.virt_addr.map(|n| n.addr());
        let address = self
            .static_ip
            .or(virt_addr)
            .map(|a| a.to_string())
            .unwrap_or_else(|| {
                url::Url::parse(api_url)
                    .ok()
                    .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
                    .unwrap_or_default()
            });
        let machine_api_url = match virt_addr {
            Some(virt) => url::Url::parse(api_url)
                .ok()
                .and_then(|mut u| {
                    u.set_ip_host(virt).ok()?;
                    Some(u.as_str().trim_end_matches('/').to_string())
                })
                .unwrap_or_else(|| api_url.to_string()),
            None => api_url.to_string(),
        };
        Advertised {
            api_url: machine_api_url,
            static_port: self.static_port,
            tftp_port: self.tftp_port,
            dhcp_port: self.dhcp_port,
            address,
            virt_addr,
            running: Arc::default(),
        }
    }
}

/// Starts the leadership watch, the virtual address holder and each enabled service.
pub async fn spawn(
    node: &Node,
    args: &BootArgs,
    data_dir: &std::path::Path,
    limits: netguard::ConnLimits,
    shutdown: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let (active, watcher) = active::watch(node, shutdown.clone());
    // On-disk copies of stored files, streamed to machines (see `cache`).
    let tree = tree::Tree::new(node.clone(), data_dir.join("boot-files"));
    let mut tasks = vec![watcher, tree.follow_changes(shutdown.clone())];
    if let (Some(addr), Some(interface)) = (args.virt_addr, &args.virt_interface) {
        let holder = vip::Holder::new(addr, interface.clone(), args.virt_interface_script.clone());
        tasks.push(tokio::spawn(holder.follow(
            node.settings.boot.running.clone(),
            active.clone(),
            shutdown.clone(),
        )));
    }
    if args.static_port != 0 {
        let (node, tree, port) = (node.clone(), tree.clone(), args.static_port);
        tasks.push(tokio::spawn(follow::while_active(
            "static HTTP",
            active.clone(),
            shutdown.clone(),
            move |stop| http::serve(node.clone(), tree.clone(), port, limits.clone(), stop),
        )));
    }
    if args.tftp_port != 0 {
        let (node, tree, port) = (node.clone(), tree.clone(), args.tftp_port);
        tasks.push(tokio::spawn(follow::while_active(
            "TFTP",
            active.clone(),
            shutdown.clone(),
            move |stop| tftp::serve(node.clone(), tree.clone(), port, stop),
        )));
    }
    if args.dhcp_port != 0 {
        let settings = dhcp::Settings {
            port: args.dhcp_port,
            interfaces: args.dhcp_interfaces.clone(),
        };
        let node = node.clone();
        tasks.push(tokio::spawn(follow::while_active(
            "DHCP",
            active.clone(),
            shutdown.clone(),
            move |stop| dhcp::serve(node.clone(), settings.clone(), stop),
        )));
    }
    tasks
}
