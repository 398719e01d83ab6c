//! A real machine for the boot-services suite (`tests/tests/pxe_boot.rs`): a QEMU VM whose
//! virtio NIC boots Debian's iPXE ROM on a tap device of a [`crate::netns::World`], and the
//! initramfs it boots into.
//!
//! The initramfs is built here, in Rust (newc cpio + gzip): Debian's `busybox-static`, the
//! virtio modules of the host's Debian kernel (`/lib/modules/<ver>`, with their dependencies
//! from `modules.dep`, loaded with `insmod` in dependency order), `drp-agent` with the shared
//! libraries `ldd` names and the dynamic loader, a CA file, and an `/init` that brings up
//! `eth0` with `udhcpc`, reads `rs.api=`, `rs.uuid=`, `rs.token=` from the kernel command line,
//! runs `drp-agent --once` and powers off. Each step prints a `PXE-TEST:` marker line on the
//! serial console, which the VM writes to a file the test reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::bench::proc::Proc;
use crate::netns::which;

/// The console marker prefix the `/init` prints.
pub const MARKER: &str = "PXE-TEST:";

/// Modules the VM needs for its NIC (with their dependencies), unless built in.
const NEEDED_MODULES: &[&str] = &["virtio_pci", "virtio_net"];

/// Where Debian (and others) keep the iPXE ROM of QEMU's virtio NIC.
const ROM_CANDIDATES: &[&str] = &[
    "/usr/lib/ipxe/qemu/pxe-virtio.rom",
    "/usr/share/qemu/pxe-virtio.rom",
    "/usr/share/ipxe/1af41000.rom",
    "/usr/lib/ipxe/virtio-net.rom",
];

/// Why this machine cannot run the VM suite (see also [`crate::netns::skip_reason`]), or `None`.
pub fn skip_reason() -> Option<String> {
    if let Some(r) = crate::netns::skip_reason() {
        return Some(r);
    }
    HostFiles::find().err().map(|e| format!("{e:#}"))
}

/// What the VM is made of, found on this host.
#[derive(Debug, Clone)]
pub struct HostFiles {
    pub qemu: PathBuf,
    /// The iPXE ROM for `virtio-net-pci`.
    pub rom: PathBuf,
    /// `/boot/vmlinuz-<kver>`.
    pub kernel: PathBuf,
    pub kver: String,
    /// A statically linked busybox.
    pub busybox: PathBuf,
    /// Modules to `insmod`, in load order: (name, file).
    pub modules: Vec<(String, PathBuf)>,
}

impl HostFiles {
    pub fn find() -> Result<HostFiles> {
        let qemu = which("qemu-system-x86_64")
            .ok_or_else(|| anyhow!("no qemu-system-x86_64 (apt-get install qemu-system-x86)"))?;
        let rom = ROM_CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                anyhow!("no iPXE ROM for virtio-net (apt-get install ipxe-qemu): looked at {ROM_CANDIDATES:?}")
            })?;
        let (kernel, kver) = find_kernel()?;
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file() && shared_libs(p).is_ok_and(|l| l.is_empty()))
            .ok_or_else(|| {
                anyhow!("no statically linked busybox (apt-get install busybox-static)")
            })?;
        let modules = module_closure(&kver, NEEDED_MODULES)?;
        Ok(HostFiles {
            qemu,
            rom,
            kernel,
            kver,
            busybox,
            modules,
        })
    }
}

/// The newest `/boot/vmlinuz-<ver>` that has `/lib/modules/<ver>/modules.dep`.
fn find_kernel() -> Result<(PathBuf, String)> {
    let mut found: Vec<(PathBuf, String)> = std::fs::read_dir("/boot")
        .context("reading /boot")?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let ver = name.strip_prefix("vmlinuz-")?.to_string();
            Path::new("/lib/modules")
                .join(&ver)
                .join("modules.dep")
                .is_file()
                .then(|| (e.path(), ver))
        })
        .collect();
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found.pop().ok_or_else(|| {
        anyhow!("no kernel with modules: /boot/vmlinuz-<ver> and /lib/modules/<ver>/modules.dep (apt-get install linux-image-amd64)")
    })
}

fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

/// `wanted` and their dependencies, in load order, skipping modules built into the kernel.
fn module_closure(kver: &str, wanted: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    let dir = Path::new("/lib/modules").join(kver);
    let builtin: BTreeSet<String> = std::fs::read_to_string(dir.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .map(module_name)
        .collect();
    let dep_text = std::fs::read_to_string(dir.join("modules.dep"))
        .with_context(|| format!("reading {}/modules.dep", dir.display()))?;
    let mut deps: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for line in dep_text.lines() {
        let Some((file, rest)) = line.split_once(':') else {
            continue;
        };
        let ds = rest.split_whitespace().map(module_name).collect();
        deps.insert(module_name(file), (file.to_string(), ds));
    }
    fn visit(
        m: &str,
        deps: &HashMap<String, (String, Vec<String>)>,
        builtin: &BTreeSet<String>,
        dir: &Path,
        out: &mut Vec<(String, PathBuf)>,
        depth: usize,
    ) -> Result<()> {
        if out.iter().any(|(n, _)| n == m) || builtin.contains(m) {
            return Ok(());
        }
        anyhow::ensure!(depth < 32, "module dependency loop at {m}");
        let (file, ds) = deps.get(m).ok_or_else(|| {
            anyhow!(
                "kernel module {m} is neither built in nor in {}/modules.dep",
                dir.display()
            )
        })?;
        for d in ds {
            visit(d, deps, builtin, dir, out, depth + 1)?;
        }
        out.push((m.to_string(), dir.join(file)));
        Ok(())
    }
    let mut out = Vec::new();
    for m in wanted {
        visit(m, &deps, &builtin, &dir, &mut out, 0)?;
    }
    for (_, p) in &out {
        anyhow::ensure!(p.is_file(), "{} is missing", p.display());
    }
    Ok(out)
}

/// The shared libraries (and loader) `ldd` lists for `bin`; empty for a static binary.
pub fn shared_libs(bin: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(bin)
        .stdin(Stdio::null())
        .output()
        .context("running ldd")?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        bail!("ldd {}: {}", bin.display(), text.trim());
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        } else if line.contains("not found") {
            bail!("ldd {}: {line}", bin.display());
        }
    }
    Ok(libs)
}

// ---------------------------------------------------------------------------------------------
// newc cpio
// ---------------------------------------------------------------------------------------------

enum Entry {
    Dir,
    File { mode: u32, data: Vec<u8> },
    Symlink(String),
}

/// An in-memory initramfs: paths (without the leading `/`) to entries; parent directories are
/// added on the way.
#[derive(Default)]
pub struct Cpio {
    entries: BTreeMap<String, Entry>,
}

impl Cpio {
    pub fn new() -> Self {
        Self::default()
    }

    fn parents(&mut self, path: &str) {
        let mut at = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            self.entries.entry(at.clone()).or_insert(Entry::Dir);
        }
    }

    pub fn dir(&mut self, path: &str) -> &mut Self {
        let path = path.trim_start_matches('/').to_string();
        self.parents(&path);
        self.entries.entry(path).or_insert(Entry::Dir);
        self
    }

    pub fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) -> &mut Self {
        let path = path.trim_start_matches('/').to_string();
        self.parents(&path);
        self.entries.insert(path, Entry::File { mode, data });
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let path = path.trim_start_matches('/').to_string();
        self.parents(&path);
        self.entries
            .insert(path, Entry::Symlink(target.to_string()));
        self
    }

    /// The archive in the kernel's initramfs format (`newc`, "070701").
    pub fn to_newc(&self) -> Vec<u8> {
        fn pad(out: &mut Vec<u8>) {
            while !out.len().is_multiple_of(4) {
                out.push(0);
            }
        }
        fn record(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, nlink: u32, data: &[u8]) {
            let fields = [
                ino,
                mode,
                0, // uid
                0, // gid
                nlink,
                0, // mtime
                data.len() as u32,
                0, // devmajor
                0, // devminor
                0, // rdevmajor
                0, // rdevminor
                name.len() as u32 + 1,
                0, // check
            ];
            out.extend_from_slice(b"070701");
            for f in fields {
                out.extend_from_slice(format!("{f:08X}").as_bytes());
            }
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            pad(out);
            out.extend_from_slice(data);
            pad(out);
        }
        let mut out = Vec::new();
        for (i, (name, e)) in self.entries.iter().enumerate() {
            let ino = i as u32 + 1;
            match e {
                Entry::Dir => record(&mut out, ino, name, 0o040_755, 2, &[]),
                Entry::File { mode, data } => {
                    record(&mut out, ino, name, 0o100_000 | mode, 1, data)
                }
                Entry::Symlink(t) => record(&mut out, ino, name, 0o120_777, 1, t.as_bytes()),
            }
        }
        record(&mut out, 0, "TRAILER!!!", 0, 1, &[]);
        out
    }

    /// [`Cpio::to_newc`], gzipped (what a kernel takes as an initrd).
    pub fn to_gz(&self) -> Result<Vec<u8>> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&self.to_newc())?;
        Ok(gz.finish()?)
    }
}

// ---------------------------------------------------------------------------------------------
// The initramfs
// ---------------------------------------------------------------------------------------------

/// busybox udhcpc's event script: configures the lease on the interface.
const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface" 2>/dev/null; break; done
    echo "$ip" > /tmp/dhcp-ip
    ;;
esac
exit 0
"#;

/// `/init`: every step prints a marker; whatever happens, the VM powers off at the end.
const INIT: &str = r#"#!/bin/sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
echo "PXE-TEST: init started (kernel $(uname -r))" > /dev/console
fail() {
  echo "PXE-TEST: FAILED $*" > /dev/console
  poweroff -f
}
for m in $(cat /etc/modules.order); do
  insmod "/lib/modules/$m.ko" || echo "PXE-TEST: insmod $m failed" > /dev/console
done
n=0
while ! ip link show eth0 >/dev/null 2>&1; do
  n=$((n + 1)); [ "$n" -gt 100 ] && fail "no eth0"
  sleep 0.1
done
ip link set lo up
ip link set eth0 up || fail "ip link set eth0 up"
mac=$(cat /sys/class/net/eth0/address)
echo "PXE-TEST: eth0 up mac $mac" > /dev/console
udhcpc -i eth0 -s /etc/udhcpc.script -n -q -t 20 -T 1 -A 1 >/dev/console 2>&1 || fail "udhcpc got no lease"
ip=$(cat /tmp/dhcp-ip 2>/dev/null)
echo "PXE-TEST: dhcp ok $ip" > /dev/console
api=; uuid=; token=
for x in $(cat /proc/cmdline); do
  case "$x" in
    rs.api=*) api="${x#rs.api=}" ;;
    rs.uuid=*) uuid="${x#rs.uuid=}" ;;
    rs.token=*) token="${x#rs.token=}" ;;
  esac
done
[ -n "$api" ] && [ -n "$uuid" ] && [ -n "$token" ] || fail "rs.api/rs.uuid/rs.token missing from /proc/cmdline"
echo "PXE-TEST: agent start api=$api machine=$uuid" > /dev/console
/bin/drp-agent --endpoints "$api" --machine "$uuid" --token "$token" --ca /ca.pem --once --work-dir / > /dev/console 2>&1
rc=$?
echo "PXE-TEST: agent exit $rc" > /dev/console
sync
poweroff -f
"#;

/// `bash` for the agent's scripts: busybox's `sh` (Debian's busybox has no `bash` applet).
const BASH: &str = "#!/bin/sh\nexec /bin/sh \"$@\"\n";

/// What goes into the initramfs besides the host's files.
pub struct InitramfsSpec<'a> {
    pub host: &'a HostFiles,
    /// The `drp-agent` binary.
    pub agent: &'a Path,
    /// The CA the agent trusts for the API (`/ca.pem`).
    pub ca_pem: &'a str,
}

/// The gzipped newc initramfs described in the module docs.
pub fn build_initramfs(spec: &InitramfsSpec<'_>) -> Result<Vec<u8>> {
    let mut c = Cpio::new();
    for d in [
        "dev", "proc", "sys", "tmp", "run", "etc", "sbin", "usr/bin", "usr/sbin",
    ] {
        c.dir(d);
    }
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    c.file("bin/busybox", 0o755, read(&spec.host.busybox)?);
    c.symlink("bin/sh", "busybox");
    c.file("bin/bash", 0o755, BASH.as_bytes().to_vec());
    c.file("init", 0o755, INIT.as_bytes().to_vec());
    c.file(
        "etc/udhcpc.script",
        0o755,
        UDHCPC_SCRIPT.as_bytes().to_vec(),
    );
    c.file("ca.pem", 0o644, spec.ca_pem.as_bytes().to_vec());
    let mut order = String::new();
    for (name, path) in &spec.host.modules {
        c.file(
            &format!("lib/modules/{name}.ko"),
            0o644,
            module_bytes(path)?,
        );
        order.push_str(name);
        order.push('\n');
    }
    c.file("etc/modules.order", 0o644, order.into_bytes());
    c.file("bin/drp-agent", 0o755, stripped(spec.agent)?);
    for lib in shared_libs(spec.agent)? {
        let target = lib.to_string_lossy().into_owned();
        c.file(
            &target,
            0o755,
            read(&lib.canonicalize().unwrap_or(lib.clone()))?,
        );
    }
    c.to_gz()
}

/// A module file as `insmod` takes it (decompressed when the distribution compresses them).
fn module_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".ko.xz") {
        "xz"
    } else if name.ends_with(".ko.zst") {
        "zstd"
    } else if name.ends_with(".ko.gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out)?;
        return Ok(out);
    } else {
        return Ok(raw);
    };
    let out = Command::new(tool)
        .args(["-dc"])
        .arg(path)
        .output()
        .with_context(|| format!("{tool} -dc {}", path.display()))?;
    anyhow::ensure!(out.status.success(), "{tool} -dc {} failed", path.display());
    Ok(out.stdout)
}

/// `bin` without its debug info when `strip` is installed (a debug drp-agent is mostly that),
/// else as it is.
fn stripped(bin: &Path) -> Result<Vec<u8>> {
    if let Some(strip) = which("strip") {
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("stripped");
        let ok = Command::new(strip)
            .arg("-o")
            .arg(&out)
            .arg(bin)
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return std::fs::read(&out).context("reading the stripped binary");
        }
    }
    std::fs::read(bin).with_context(|| format!("reading {}", bin.display()))
}

/// The `/init` of [`build_cmdline_initramfs`]: prints the kernel command line it was booted
/// with as one marker line, then powers off.
const CMDLINE_INIT: &str = r#"#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
echo "PXE-TEST: cmdline $(cat /proc/cmdline)" > /dev/console
sync
poweroff -f
"#;

/// A gzipped newc initramfs of busybox alone whose `/init` prints `PXE-TEST: cmdline <the
/// kernel command line>` on the console and powers off: proof of what a boot loader passed.
pub fn build_cmdline_initramfs(host: &HostFiles) -> Result<Vec<u8>> {
    let mut c = Cpio::new();
    for d in ["dev", "proc", "sys", "tmp"] {
        c.dir(d);
    }
    let busybox = std::fs::read(&host.busybox)
        .with_context(|| format!("reading {}", host.busybox.display()))?;
    c.file("bin/busybox", 0o755, busybox);
    c.symlink("bin/sh", "busybox");
    c.file("init", 0o755, CMDLINE_INIT.as_bytes().to_vec());
    c.to_gz()
}

// ---------------------------------------------------------------------------------------------
// TLS for a namespace world
// ---------------------------------------------------------------------------------------------

/// A CA of its own and an API certificate (chain, key) for every address of a world: the
/// members' IPs, the virtual address, loopback. Members get it with `--tls-cert/--tls-key`, the
/// VM's agent and the test's client trust `ca_pem`.
pub struct WorldTls {
    pub ca_pem: String,
    pub chain_pem: String,
    pub key_pem: String,
}

impl WorldTls {
    pub fn generate(hosts: &[IpAddr]) -> Result<WorldTls> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::default();
        ca.distinguished_name
            .push(DnType::CommonName, "drp pxe test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca_cert = ca.self_signed(&ca_key)?;
        let key = KeyPair::generate()?;
        let mut leaf = CertificateParams::new(vec!["localhost".to_string()])?;
        leaf.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse()?));
        for h in hosts {
            leaf.subject_alt_names.push(SanType::IpAddress(*h));
        }
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf.signed_by(&key, &ca_cert, &ca_key)?;
        Ok(WorldTls {
            ca_pem: ca_cert.pem(),
            chain_pem: format!("{}{}", leaf.pem(), ca_cert.pem()),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes `api-cert.pem` and `api-key.pem` into `dir`; returns the `serve` arguments.
    pub fn write_args(&self, dir: &Path) -> Result<Vec<String>> {
        let (cert, key) = (dir.join("api-cert.pem"), dir.join("api-key.pem"));
        std::fs::write(&cert, &self.chain_pem)?;
        std::fs::write(&key, &self.key_pem)?;
        Ok(vec![
            "--tls-cert".into(),
            cert.to_string_lossy().into_owned(),
            "--tls-key".into(),
            key.to_string_lossy().into_owned(),
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// The VM
// ---------------------------------------------------------------------------------------------

/// Whether KVM can be used (`/dev/kvm` opens read-write).
pub fn kvm_usable() -> bool {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// Whether the VM runs under KVM, and why: `$DRP_PXE_ACCEL` (`kvm` or `tcg`) decides when set;
/// otherwise KVM when `/dev/kvm` opens read-write and is a hardware KVM. Under `kvm_pvm` (the
/// page-table-based KVM of some nested cloud VMs) the iPXE ROM resets the VM during start-up
/// (real-mode code), so TCG is used there.
pub fn use_kvm() -> (bool, String) {
    match std::env::var("DRP_PXE_ACCEL").as_deref() {
        Ok("kvm") => return (true, "DRP_PXE_ACCEL=kvm".into()),
        Ok("tcg") => return (false, "DRP_PXE_ACCEL=tcg".into()),
        _ => {}
    }
    if !kvm_usable() {
        return (false, "/dev/kvm does not open read-write".into());
    }
    if Path::new("/sys/module/kvm_pvm").exists() {
        return (
            false,
            "/dev/kvm is kvm_pvm, which cannot run the iPXE ROM (set DRP_PXE_ACCEL=kvm to try)"
                .into(),
        );
    }
    (true, "/dev/kvm opens read-write".into())
}

/// Debian's OVMF (package `ovmf`): UEFI firmware for QEMU's `-bios`, if installed.
pub fn ovmf() -> Option<PathBuf> {
    ["/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A locally administered unicast MAC in QEMU's 52:54:00 range.
pub fn random_mac() -> String {
    let b: [u8; 3] = rand::random();
    format!("52:54:00:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// How to start a VM.
pub struct VmSpec<'a> {
    pub host: &'a HostFiles,
    /// The namespace holding `tap` (QEMU runs under `ip netns exec` there).
    pub netns: &'a str,
    pub tap: &'a str,
    pub mac: &'a str,
    /// The serial console goes here; QEMU's own output to `<console>.qemu`.
    pub console: PathBuf,
    pub memory_mb: u32,
}

/// A running QEMU, SIGKILLed on drop.
pub struct Vm {
    qemu: Proc,
    console: PathBuf,
    qemu_log: PathBuf,
    pub kvm: bool,
    pub started: Instant,
    read: u64,
    partial: String,
    /// Marker lines seen so far, with when [`Vm::poll_markers`] first saw them.
    pub markers: Vec<(Instant, String)>,
}

impl Vm {
    pub fn start(spec: &VmSpec<'_>) -> Result<Vm> {
        let (kvm, _) = use_kvm();
        let qemu_log = spec.console.with_extension("qemu.log");
        File::create(&spec.console)
            .with_context(|| format!("creating {}", spec.console.display()))?;
        File::create(&qemu_log)?;
        let mut cmd = crate::netns::exec_in(spec.netns, &spec.host.qemu);
        if kvm {
            cmd.args(["-machine", "pc,accel=kvm", "-cpu", "host"]);
        } else {
            cmd.args(["-machine", "pc,accel=tcg"]);
        }
        cmd.args(["-m", &spec.memory_mb.to_string(), "-smp", "1"])
            // `-nographic` makes SeaBIOS (and so the iPXE ROM) write to the serial port too.
            .arg("-nographic")
            .arg("-serial")
            .arg(format!("file:{}", spec.console.display()))
            .args(["-monitor", "none"])
            .arg("-netdev")
            .arg(format!(
                "tap,id=n0,ifname={},script=no,downscript=no",
                spec.tap
            ))
            .arg("-device")
            .arg(format!(
                // Debian's ROM names the modern virtio-net id (1af4:1041) only: SeaBIOS runs
                // it for a modern-only device, not for QEMU's default transitional one.
                "virtio-net-pci,netdev=n0,mac={},romfile={},disable-legacy=on",
                spec.mac,
                spec.host.rom.display()
            ))
            .args(["-boot", "order=n", "-no-reboot"]);
        let qemu = Proc::spawn("qemu-system-x86_64", &mut cmd, &qemu_log)?;
        Ok(Vm {
            qemu,
            console: spec.console.clone(),
            qemu_log,
            kvm,
            started: Instant::now(),
            read: 0,
            partial: String::new(),
            markers: Vec::new(),
        })
    }

    /// A VM without a network that boots from the CD image `iso` (virtual media, as a BMC
    /// mounts it), on this host's network namespace: with SeaBIOS (legacy BIOS), or with the
    /// UEFI `firmware` image when given (OVMF).
    pub fn start_cdrom(
        host: &HostFiles,
        iso: &Path,
        firmware: Option<&Path>,
        console: PathBuf,
        memory_mb: u32,
    ) -> Result<Vm> {
        let (kvm, _) = use_kvm();
        let qemu_log = console.with_extension("qemu.log");
        File::create(&console).with_context(|| format!("creating {}", console.display()))?;
        File::create(&qemu_log)?;
        let mut cmd = Command::new(&host.qemu);
        if kvm {
            cmd.args(["-machine", "pc,accel=kvm", "-cpu", "host"]);
        } else {
            cmd.args(["-machine", "pc,accel=tcg"]);
        }
        cmd.args(["-m", &memory_mb.to_string(), "-smp", "1", "-nographic"])
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .args(["-monitor", "none", "-nic", "none"]);
        if let Some(firmware) = firmware {
            cmd.arg("-bios").arg(firmware);
        }
        cmd.arg("-cdrom")
            .arg(iso)
            .args(["-boot", "order=d", "-no-reboot"]);
        let qemu = Proc::spawn("qemu-system-x86_64", &mut cmd, &qemu_log)?;
        Ok(Vm {
            qemu,
            console,
            qemu_log,
            kvm,
            started: Instant::now(),
            read: 0,
            partial: String::new(),
            markers: Vec::new(),
        })
    }

    /// Reads what the console got since the last call; returns the new marker lines.
    pub fn poll_markers(&mut self) -> Vec<String> {
        let mut new = Vec::new();
        let Ok(mut f) = File::open(&self.console) else {
            return new;
        };
        if f.seek(SeekFrom::Start(self.read)).is_err() {
            return new;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return new;
        }
        self.read += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let now = Instant::now();
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(at) = line.find(MARKER) {
                let m = line[at..].to_string();
                self.markers.push((now, m.clone()));
                new.push(m);
            } else if let Some(at) = line.find("Configuring (") {
                // iPXE's DHCP, done when the line ends: recorded for the timings.
                let m = format!("{MARKER} (iPXE) {}", line[at..].trim_end());
                self.markers.push((now, m.clone()));
                new.push(m);
            }
        }
        new
    }

    /// The first marker line starting with `PXE-TEST: <what>`, and when it was seen.
    pub fn marker(&self, what: &str) -> Option<&(Instant, String)> {
        let want = format!("{MARKER} {what}");
        self.markers.iter().find(|(_, l)| l.starts_with(&want))
    }

    /// The whole console so far (lossy UTF-8).
    pub fn console(&self) -> String {
        std::fs::read(&self.console)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// QEMU's own stdout/stderr.
    pub fn qemu_output(&self) -> String {
        std::fs::read_to_string(&self.qemu_log).unwrap_or_default()
    }

    /// Has QEMU exited? (Reaps it if so.)
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.qemu.exited()
    }

    pub fn pid(&self) -> Option<u32> {
        self.qemu.pid()
    }

    /// SIGKILL QEMU and reap it (also done on drop).
    pub fn kill(&mut self) {
        self.qemu.kill();
    }
}
