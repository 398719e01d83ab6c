//! DRP's overridable bootloaders (`overridable-bootloaders`): the PXE boot file (option 67)
//! for a client with no option 67 configured, by its machine type (option 93) and, in DRP's
//! order (`models/bootenv.go`, `BootEnv.Loaders`):
//! 1. its bootenv's `Loaders[type]`, under the bootenv's path for the arch (`PathForArch`);
//! 2. the bootenv's `OS.SupportedArchitectures[arch].Loader`, as is;
//! 3. the `bootloaders` param (machine type → file) through DRP's param order: the machine,
//!    its profiles, its stage, the `global` profile, then the param's default;
//! 4. the built-in loader.
//!
//! A known machine (one of its `HardwareAddrs` is the client's MAC) uses its own bootenv
//! and params; any other client the `unknownBootEnv` pref's bootenv and the global params.
//!
//! Resolving renders templates and reads several objects, so it never runs per packet:
//! [`LoaderTable`] maps MACs to machines once per change to the objects involved, and
//! resolves each machine once, on its first packet after that change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Value};
use template::drp::DrpContext;
use tokio::sync::{broadcast, watch};

use crate::events::{self, Event, Followed};
use crate::node::Node;
use crate::render;
use crate::runtime::workflow::str_field;

/// DRP's machine types (the keys of `Loaders` and of the `bootloaders` param).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineType {
    Bios386,
    Amd64Uefi,
    Arm64Uefi,
}

impl MachineType {
    pub const ALL: [MachineType; 3] = [Self::Bios386, Self::Amd64Uefi, Self::Arm64Uefi];

    /// From option 93 (RFC 4578 client system architecture): 0 x86 BIOS, 7 and 9 x86-64
    /// UEFI, 11 ARM64 UEFI. Others (6, 32-bit x86 UEFI, among them) DRP has no loader for.
    pub fn from_arch(arch: u16) -> Option<Self> {
        match arch {
            0 => Some(Self::Bios386),
            7 | 9 => Some(Self::Amd64Uefi),
            11 => Some(Self::Arm64Uefi),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Bios386 => "386-pcbios",
            Self::Amd64Uefi => "amd64-uefi",
            Self::Arm64Uefi => "arm64-uefi",
        }
    }

    /// The loader when nothing overrides it (DRP's own defaults).
    pub fn builtin(self) -> &'static str {
        match self {
            Self::Bios386 => "lpxelinux.0",
            Self::Amd64Uefi => "ipxe.efi",
            Self::Arm64Uefi => "ipxe-arm64.efi",
        }
    }

    /// The arch whose bootenv files a client of this type boots when its machine names none
    /// (legacy BIOS x86 boots the amd64 files, as DRP's bootenvs have no `386` entries).
    fn arch(self) -> &'static str {
        match self {
            Self::Bios386 | Self::Amd64Uefi => "amd64",
            Self::Arm64Uefi => "arm64",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One client's boot file per machine type, resolved (`None`: the built-in one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaders([Option<String>; 3]);

impl Loaders {
    /// The boot file for a client of type `t`.
    pub fn file(&self, t: MachineType) -> &str {
        self.0[t.index()].as_deref().unwrap_or(t.builtin())
    }

    /// DRP's order (module comment) over render data: a machine's (`render::context`), or
    /// for unknown clients one with the unknown bootenv and only the global params.
    pub fn resolve(data: &DrpContext) -> Loaders {
        let env = data.env.as_ref();
        let machine_arch = data
            .machine
            .as_ref()
            .map(|m| supported_arch(str_field(m, "Arch")).unwrap_or("amd64"));
        let param = data.compose_param("bootloaders").ok();
        let mut out = Loaders::default();
        for t in MachineType::ALL {
            let arch = machine_arch.unwrap_or(t.arch());
            let from_env = env.and_then(|e| env_loader(data, e, t, arch));
            let from_arch = env
                .and_then(|e| arch_entry(e, arch))
                .map(|a| str_field(a, "Loader"))
                .filter(|l| !l.is_empty())
                .map(str::to_string);
            let from_param = param
                .as_ref()
                .and_then(|p| p.get(t.name()))
                .and_then(Value::as_str)
                .filter(|l| !l.is_empty())
                .map(str::to_string);
            out.0[t.index()] = from_env.or(from_arch).or(from_param);
        }
        out
    }
}

/// `Loaders[t]` of `env`, as a path under the bootenv's tree for `arch` (DRP: "relative to
/// the path the BootEnv is expanded to"), rendered by the template engine's `PathForArch`.
fn env_loader(data: &DrpContext, env: &Value, t: MachineType, arch: &str) -> Option<String> {
    let file = env.get("Loaders")?.get(t.name())?.as_str()?;
    if file.is_empty() {
        return None;
    }
    // `t` and `arch` come from fixed tables, so they are safe inside the source.
    let source = format!(
        r#"{{{{.Env.PathForArch "tftp" (index .Env.Loaders "{}") "{arch}"}}}}"#,
        t.name()
    );
    let parsed = template::Template::parse("bootenv Loaders", &source).ok()?;
    match template::render(&parsed, data, &template::NoTemplates) {
        Ok(path) if !path.is_empty() => Some(path),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(bootenv = str_field(env, "Name"), error = %e.message, "a bootenv loader path did not render");
            None
        }
    }
}

/// The `SupportedArchitectures` entry of `env` for the canonical `arch`.
fn arch_entry<'a>(env: &'a Value, arch: &str) -> Option<&'a Value> {
    env.pointer("/OS/SupportedArchitectures")?
        .as_object()?
        .iter()
        .find(|(k, _)| supported_arch(k) == Some(arch))
        .map(|(_, v)| v)
}

/// DRP's `models.SupportedArch`: the canonical name of an architecture alias.
fn supported_arch(s: &str) -> Option<&'static str> {
    Some(match s.to_ascii_lowercase().as_str() {
        "rpi4" => "rpi4",
        "amd64" | "x86_64" => "amd64",
        "386" | "486" | "686" | "i386" | "i486" | "i686" => "386",
        "arm" | "armel" | "armhfp" => "arm",
        "arm64" | "aarch64" => "arm64",
        "ppc64" | "power9" => "ppc64",
        "ppc64le" => "ppc64le",
        "mips64" => "mips64",
        "mips64le" | "mips64el" => "mips64le",
        "s390x" => "s390x",
        "mips" => "mips",
        "mipsle" | "mipsel" => "mipsle",
        _ => return None,
    })
}

/// The collections whose changes can change a client's loaders.
const SHAPES_LOADERS: &[&str] = &[
    "machines",
    "bootenvs",
    "profiles",
    "params",
    "prefs",
    "stages",
    "contents",
    "version_sets",
];

/// MACs → machines as of the last relevant change, and what each resolved to.
struct Snapshot {
    /// Lower-case MAC → machine UUID.
    by_mac: HashMap<String, String>,
    /// Per machine UUID, resolved on its first packet.
    resolved: Mutex<HashMap<String, Arc<Loaders>>>,
    unknown: OnceLock<Arc<Loaders>>,
}

/// The DHCP server's loader lookups (module comment).
pub struct LoaderTable {
    node: Node,
    snapshot: Mutex<Option<Arc<Snapshot>>>,
    /// Set by a change to [`SHAPES_LOADERS`]; the snapshot is rebuilt on the next packet.
    dirty: AtomicBool,
}

impl LoaderTable {
    pub fn new(node: Node) -> Self {
        Self {
            node,
            snapshot: Mutex::new(None),
            dirty: AtomicBool::new(true),
        }
    }

    /// Marks the table stale on every change that can move a loader, until `stop`.
    pub async fn follow(
        self: Arc<Self>,
        events: broadcast::Receiver<Arc<Event>>,
        stop: watch::Receiver<bool>,
    ) {
        events::follow(events, stop, |seen| {
            match seen {
                Followed::Event(e) if !SHAPES_LOADERS.contains(&e.kind.as_str()) => {}
                Followed::Event(_) | Followed::Lagged(_) => {
                    self.dirty.store(true, Ordering::Release);
                }
            }
            std::future::ready(())
        })
        .await
    }

    /// The loaders for the client `mac` (lower-case). Blocking: it may read the store.
    pub fn for_mac(&self, mac: &str) -> Arc<Loaders> {
        let snapshot = self.snapshot();
        let Some(uuid) = snapshot.by_mac.get(mac) else {
            return snapshot
                .unknown
                .get_or_init(|| Arc::new(self.resolve_unknown()))
                .clone();
        };
        if let Some(done) = snapshot
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uuid)
        {
            return done.clone();
        }
        let loaders = Arc::new(self.resolve_machine(uuid));
        snapshot
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uuid.clone(), loaders.clone());
        loaders
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        let mut slot = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        // Cleared before the store is read: a change applied meanwhile marks it stale again.
        let stale = self.dirty.swap(false, Ordering::AcqRel);
        match &*slot {
            Some(s) if !stale => s.clone(),
            _ => {
                let s = Arc::new(Snapshot {
                    by_mac: self.machines_by_mac(),
                    resolved: Mutex::default(),
                    unknown: OnceLock::new(),
                });
                *slot = Some(s.clone());
                s
            }
        }
    }

    fn machines_by_mac(&self) -> HashMap<String, String> {
        let machines = match self.node.store.list("machines", 0, None) {
            Ok(page) => page.items,
            Err(e) => {
                tracing::warn!(error = %e, "listing machines for DHCP boot loaders");
                Vec::new()
            }
        };
        let mut by_mac = HashMap::new();
        for m in &machines {
            for mac in crate::model::hardware_addrs(m) {
                by_mac.insert(mac, str_field(m, "Uuid").to_string());
            }
        }
        by_mac
    }

    fn resolve_machine(&self, uuid: &str) -> Loaders {
        let machine = self.node.store.get("machines", uuid).ok().flatten();
        match machine.map(|m| render::context(&self.node, &m, None)) {
            Some(Ok(data)) => Loaders::resolve(&data),
            Some(Err(e)) => {
                tracing::debug!(uuid, error = %e, "no render data for a machine's boot loader");
                Loaders::default()
            }
            // Deleted since the snapshot: its event will rebuild it.
            None => self.resolve_unknown(),
        }
    }

    /// An unknown client: the `unknownBootEnv` pref's bootenv and only the global params (a
    /// machine with nothing of its own sees exactly those).
    fn resolve_unknown(&self) -> Loaders {
        let store = &self.node.store;
        let nobody = json!({});
        let mut data = match render::context(&self.node, &nobody, None) {
            Ok(data) => data,
            Err(e) => {
                tracing::debug!(error = %e, "no render data for unknown clients' boot loader");
                return Loaders::default();
            }
        };
        // A machine with no arch would be amd64: unknown clients go by their machine type.
        data.machine = None;
        data.env = crate::boot::tree::unknown_bootenv(store);
        Loaders::resolve(&data)
    }
}
