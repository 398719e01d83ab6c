//! A small test network out of Linux network namespaces, for the boot-services suite
//! (`tests/tests/pxe_boot.rs`): hosts that each have their own `eth0` on one L2 segment, so
//! DHCP broadcasts, a virtual address moving between members and gratuitous ARP behave as on
//! real machines.
//!
//! ```text
//!   root namespace                bridge namespace <p>-br            member namespaces
//!   <p>-r 10.a.b.1/24  ───veth─── root ┐                              <p>-m1: eth0 10.a.b.11/24
//!                                      ├─ br0 ── m1 ───veth─────────  <p>-m2: eth0 10.a.b.12/24
//!   (the test process)                 │      ── m2, m3 ...           <p>-m3: eth0 10.a.b.13/24
//!                                 tap0 ┘  (QEMU opens it inside <p>-br)
//! ```
//!
//! [`World::create`] picks a random 10.a.b.0/24 that nothing on this host routes, and a random
//! prefix `<p>` (`dx` + 4 hex digits) for every name; dropping the [`World`] deletes it all
//! (also after a failed assertion). A world left by a process that died (SIGKILL, a crash) is
//! removed by the next [`World::create`]: each world records its creator's pid under
//! [`STATE_DIR`].

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::cluster::Placement;

/// Where each live world records the pid of the process that made it (`<prefix>` → pid).
pub const STATE_DIR: &str = "/run/drp-tests-netns";
/// Every name this module creates starts with this.
const NAME_PREFIX: &str = "dx";

/// Why this machine cannot build a namespace world (not root, no `ip`, `ip netns add` refused),
/// or `None` when it can.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN".into());
    }
    if which("ip").is_none() {
        return Some("no `ip` (iproute2) on PATH".into());
    }
    // Unique per call: tests of one process may probe at the same time.
    let probe = format!(
        "{NAME_PREFIX}probe{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    match ip(&["netns", "add", &probe]) {
        Ok(_) => {
            let _ = ip(&["netns", "del", &probe]);
            None
        }
        Err(e) => Some(format!("`ip netns add` fails here: {e:#}")),
    }
}

/// The first `name` on `$PATH` (or `/usr/sbin`, `/sbin`, which a non-login PATH may lack).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs `ip ARGS`; its stdout, or an error with its stderr.
pub fn ip(args: &[&str]) -> Result<String> {
    let out = Command::new(which("ip").unwrap_or_else(|| "ip".into()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running ip {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "ip {} -> {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip netns exec <ns> <program>`: a command that runs `program` inside the namespace
/// (`ip netns exec` execs it, so the child's pid is the program's).
pub fn exec_in(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(which("ip").unwrap_or_else(|| "ip".into()));
    cmd.args(["netns", "exec", ns]).arg(program);
    cmd
}

/// One member host: a namespace whose `eth0` is on the bridge.
#[derive(Debug, Clone)]
pub struct MemberNs {
    pub netns: String,
    pub ip: Ipv4Addr,
    /// The bridge-side end of its veth pair (in the bridge namespace).
    pub bridge_port: String,
}

/// The whole test network; deleted on drop.
#[derive(Debug)]
pub struct World {
    /// `dx` + 4 hex digits; every namespace and root-namespace link name starts with it.
    pub prefix: String,
    /// `(a, b)` of 10.a.b.0/24.
    pub net: (u8, u8),
    /// The namespace holding `br0` and the VM's tap.
    pub bridge_ns: String,
    /// The tap device in [`World::bridge_ns`] a VM attaches to.
    pub tap: String,
    /// The root namespace's end of its veth pair (10.a.b.1/24).
    pub root_if: String,
    pub members: Vec<MemberNs>,
    state_file: PathBuf,
}

impl World {
    /// A bridge namespace, `members` member namespaces (10.a.b.11, .12, ...), the root
    /// namespace's link at 10.a.b.1 and a tap for a VM, all up.
    pub fn create(members: usize) -> Result<World> {
        anyhow::ensure!((1..=9).contains(&members), "1 to 9 members, not {members}");
        remove_orphans();
        let prefix = format!("{NAME_PREFIX}{:04x}", rand::random::<u16>());
        let net = free_subnet()?;
        std::fs::create_dir_all(STATE_DIR).with_context(|| format!("creating {STATE_DIR}"))?;
        let state_file = Path::new(STATE_DIR).join(&prefix);
        std::fs::write(&state_file, std::process::id().to_string())
            .with_context(|| format!("writing {}", state_file.display()))?;
        let mut world = World {
            bridge_ns: format!("{prefix}-br"),
            tap: "tap0".into(),
            root_if: format!("{prefix}-r"),
            members: (1..=members)
                .map(|i| MemberNs {
                    netns: format!("{prefix}-m{i}"),
                    ip: Ipv4Addr::new(10, net.0, net.1, 10 + i as u8),
                    bridge_port: format!("m{i}"),
                })
                .collect(),
            prefix,
            net,
            state_file,
        };
        // From here on, Drop cleans up whatever part was made.
        world.build().with_context(|| {
            format!(
                "building the test network {} on {}",
                world.prefix,
                world.subnet()
            )
        })?;
        Ok(world)
    }

    fn build(&mut self) -> Result<()> {
        let br = self.bridge_ns.clone();
        ip(&["netns", "add", &br])?;
        ip(&["-n", &br, "link", "set", "lo", "up"])?;
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &br, "link", "set", "br0", "up"])?;
        for m in &self.members {
            ip(&["netns", "add", &m.netns])?;
            ip(&["-n", &m.netns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &br,
                "link",
                "add",
                &m.bridge_port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &m.netns,
            ])?;
            ip(&["-n", &br, "link", "set", &m.bridge_port, "master", "br0"])?;
            ip(&["-n", &br, "link", "set", &m.bridge_port, "up"])?;
            let cidr = format!("{}/24", m.ip);
            ip(&["-n", &m.netns, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &m.netns, "link", "set", "eth0", "up"])?;
        }
        ip(&[
            "link",
            "add",
            &self.root_if,
            "type",
            "veth",
            "peer",
            "name",
            "root",
            "netns",
            &br,
        ])?;
        ip(&["-n", &br, "link", "set", "root", "master", "br0"])?;
        ip(&["-n", &br, "link", "set", "root", "up"])?;
        let root_cidr = format!("{}/24", self.ip(1));
        ip(&["addr", "add", &root_cidr, "dev", &self.root_if])?;
        ip(&["link", "set", &self.root_if, "up"])?;
        ip(&["-n", &br, "tuntap", "add", "dev", &self.tap, "mode", "tap"])?;
        ip(&["-n", &br, "link", "set", &self.tap, "master", "br0"])?;
        ip(&["-n", &br, "link", "set", &self.tap, "up"])?;
        Ok(())
    }

    /// `10.a.b.<host>`.
    pub fn ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.net.0, self.net.1, host)
    }
    /// `10.a.b.0/24`.
    pub fn subnet(&self) -> String {
        format!("{}/24", self.ip(0))
    }
    /// The virtual address the tests give the cluster: 10.a.b.2.
    pub fn vip(&self) -> Ipv4Addr {
        self.ip(2)
    }
    /// The root namespace's address on the segment (the members' router, for DHCP option 3).
    pub fn root_ip(&self) -> Ipv4Addr {
        self.ip(1)
    }

    /// One [`Placement`] per member, for [`crate::cluster::Opts::placement`].
    pub fn placements(&self) -> Vec<Placement> {
        self.members
            .iter()
            .map(|m| Placement {
                netns: m.netns.clone(),
                ip: m.ip.into(),
            })
            .collect()
    }

    /// The member whose namespace is `netns`.
    pub fn member_index(&self, netns: &str) -> Option<usize> {
        self.members.iter().position(|m| m.netns == netns)
    }

    /// Takes member `i`'s `eth0` down: the host is gone from the network.
    pub fn link_down(&self, i: usize) -> Result<()> {
        ip(&["-n", &self.members[i].netns, "link", "set", "eth0", "down"]).map(drop)
    }

    /// Brings member `i`'s `eth0` back up.
    pub fn link_up(&self, i: usize) -> Result<()> {
        ip(&["-n", &self.members[i].netns, "link", "set", "eth0", "up"]).map(drop)
    }

    /// The IPv4 addresses on member `i`'s `eth0` (to see who holds the virtual address).
    pub fn addresses(&self, i: usize) -> Result<Vec<String>> {
        let out = ip(&[
            "-n",
            &self.members[i].netns,
            "-4",
            "-o",
            "addr",
            "show",
            "dev",
            "eth0",
        ])?;
        Ok(out
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0] == "inet")
            .map(|w| w[1].to_string())
            .collect())
    }

    /// Every namespace of this world.
    pub fn namespaces(&self) -> Vec<String> {
        std::iter::once(self.bridge_ns.clone())
            .chain(self.members.iter().map(|m| m.netns.clone()))
            .collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        remove_world(&self.prefix);
        let _ = std::fs::remove_file(&self.state_file);
    }
}

/// SIGKILLs whatever still runs in a namespace of the world `prefix` (only this suite's own
/// processes live there), then deletes the namespaces and the root namespace's link.
fn remove_world(prefix: &str) {
    let names: Vec<String> = ip(&["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .map(str::to_string)
        .collect();
    for ns in &names {
        for pid in ip(&["netns", "pids", ns])
            .unwrap_or_default()
            .split_whitespace()
        {
            if let Ok(pid) = pid.parse::<libc::pid_t>() {
                // SAFETY: plain kill(2); the pid runs inside this suite's namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    for ns in &names {
        // Deleting a namespace destroys its interfaces, and with them their veth peers.
        let _ = ip(&["netns", "del", ns]);
    }
    let root_if = format!("{prefix}-r");
    if ip(&["link", "show", "dev", &root_if]).is_ok() {
        let _ = ip(&["link", "del", &root_if]);
    }
}

/// Removes the worlds whose creating process is gone.
fn remove_orphans() {
    let Ok(entries) = std::fs::read_dir(STATE_DIR) else {
        return;
    };
    for e in entries.flatten() {
        let prefix = e.file_name().to_string_lossy().into_owned();
        if !prefix.starts_with(NAME_PREFIX) {
            continue;
        }
        let alive = std::fs::read_to_string(e.path())
            .ok()
            .and_then(|s| s.trim().parse::<libc::pid_t>().ok())
            // SAFETY: signal 0 only checks that the pid exists.
            .is_some_and(|pid| unsafe { libc::kill(pid, 0) } == 0);
        if !alive {
            eprintln!("netns: removing the test network {prefix} left by a process that died");
            remove_world(&prefix);
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A random `(a, b)` such that 10.a.b.0/24 overlaps no address or route of the root namespace.
fn free_subnet() -> Result<(u8, u8)> {
    let mut taken: Vec<(u32, u8)> = Vec::new();
    for args in [
        &["-4", "-o", "addr", "show"][..],
        &["-4", "route", "show", "table", "all"][..],
    ] {
        for word in ip(args)?.split_whitespace() {
            let (addr, len) = match word.split_once('/') {
                Some((a, l)) => (a, l.parse::<u8>().unwrap_or(32)),
                None => (word, 32),
            };
            // A default route or a host-wide /0 is not a network in use.
            if let (Ok(a), true) = (addr.parse::<Ipv4Addr>(), (1..=32).contains(&len)) {
                taken.push((u32::from(a), len));
            }
        }
    }
    for _ in 0..200 {
        let (a, b) = (rand::random_range(64..=250u8), rand::random::<u8>());
        let net = u32::from(Ipv4Addr::new(10, a, b, 0));
        let overlaps = taken.iter().any(|&(addr, len)| {
            let len = len.min(24);
            let mask = u32::MAX << (32 - u32::from(len));
            addr & mask == net & mask
        });
        if !overlaps {
            return Ok((a, b));
        }
    }
    bail!("no free 10.x.y.0/24 found (every candidate overlaps an address or route here)")
}
