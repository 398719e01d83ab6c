//! Virtual media boot (DRP's `boot-virtual-iso`): a machine whose params resolve
//! `boot-virtual-iso` to true gets a bootable ISO of its bootenv at
//! `dynamic_isos/<uuid>/<bootenv>/boot.iso` (also `dynamic_iso/...`, the spelling DRP's doc
//! uses once), for its BMC to mount as virtual media.
//!
//! The active member builds the image when the machine (or anything it is built from)
//! changes, and on a request for it if it is not built yet; an image is named by the hash of
//! its inputs, so it is rebuilt only when they change. A failure is logged once per input set
//! and answered with 503 naming it.
//!
//! Who may fetch it: the image's command line can hold the machine's token (a `BootParams`
//! with `.GenerateToken`), so unlike DRP it is not served to everyone: only to the addresses
//! that may read the machine's rendered boot files (its `Address`, an address leased to one of
//! its MACs) and to its BMC, the address in its `ipmi/address` param (the IPMI plugin's), which
//! is where a BMC fetches virtual media from.

pub mod build;
pub mod efi;
pub mod error;
pub mod plan;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{watch, Notify};

use super::cache::{CachedFile, FileCache};
use super::tree::Miss;
use super::Running;
use crate::node::Node;
use crate::render;
use crate::runtime::workflow::str_field;
use error::IsoError;
use plan::Plan;

/// The collections (besides machines, handled one by one) whose changes can change any
/// machine's image.
const INPUTS: &[&str] = &[
    "bootenvs",
    "profiles",
    "params",
    "stages",
    "templates",
    "files",
    "isos",
    "contents",
    "version_sets",
    "prefs",
];
/// A failed build is not retried for the same inputs sooner than this.
const RETRY_FAILED: Duration = Duration::from_secs(30);
/// How long a burst of changes may settle before the images are brought up to date.
const SETTLE: Duration = Duration::from_millis(200);
/// The most failure messages remembered as logged (then forgotten, and logged again).
const LOGGED_MAX: usize = 10_000;
/// The BMC's address param (DRP's IPMI plugin).
const BMC_PARAM: &str = "ipmi/address";

/// The machine and bootenv of an ISO request path (`dynamic_isos/<uuid>/<bootenv>/boot.iso`).
pub fn request(path: &str) -> Option<(&str, &str)> {
    let rest = path
        .strip_prefix("dynamic_isos/")
        .or_else(|| path.strip_prefix("dynamic_iso/"))?;
    let (uuid, rest) = rest.split_once('/')?;
    let bootenv = rest.strip_suffix("/boot.iso")?;
    (!uuid.is_empty() && !bootenv.is_empty()).then_some((uuid, bootenv))
}

type Key = (String, String);

struct Built {
    hash: String,
    result: Result<CachedFile, IsoError>,
    at: Instant,
}

/// Machines changed since the last catch-up.
#[derive(Default)]
struct Pending {
    all: bool,
    machines: HashSet<String>,
}

pub struct Isos {
    node: Node,
    files: Arc<FileCache>,
    dir: PathBuf,
    built: Mutex<HashMap<Key, Built>>,
    /// One build at a time: each is a burst of disk and CPU on a machine serving boots.
    building: Mutex<()>,
    logged: Mutex<HashSet<String>>,
    /// The UEFI boot image every ISO shares, made on the first build (an error: BIOS only).
    efi_image: Mutex<Option<Result<PathBuf, IsoError>>>,
    pending: Mutex<Pending>,
    wake: Notify,
}

impl Isos {
    /// Images go to `dir`, emptied: their inputs may have changed while we were down.
    pub fn new(node: Node, files: Arc<FileCache>, dir: PathBuf) -> Arc<Self> {
        let _ = std::fs::remove_dir_all(&dir);
        Arc::new(Self {
            node,
            files,
            dir,
            built: Mutex::default(),
            building: Mutex::default(),
            logged: Mutex::default(),
            efi_image: Mutex::default(),
            pending: Mutex::new(Pending {
                all: true,
                machines: HashSet::new(),
            }),
            wake: Notify::new(),
        })
    }

    /// Notes a change event (`lagged`: some were lost, so anything may have changed).
    pub fn changed(&self, kind: &str, key: &str, lagged: bool) {
        {
            let mut p = lock(&self.pending);
            if lagged || INPUTS.contains(&kind) {
                p.all = true;
            } else if kind == "machines" {
                p.machines.insert(key.to_string());
            } else {
                return;
            }
        }
        self.wake.notify_one();
    }

    /// Brings the images up to date after changes, while this member serves boot files,
    /// until `shutdown`.
    pub async fn follow(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = self.wake.notified() => {}
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(SETTLE) => {}
            }
            let running = &self.node.settings.boot.running;
            if !Running::get(&running.static_http) && !Running::get(&running.tftp) {
                // A passive member builds nothing; the pending changes wait for it to serve.
                continue;
            }
            let pending = std::mem::take(&mut *lock(&self.pending));
            let isos = self.clone();
            let stop = shutdown.clone();
            let _ = tokio::task::spawn_blocking(move || isos.catch_up(pending, &stop)).await;
        }
    }

    /// `uuid`'s image in `bootenv` for a client at `from`; `belongs` says whether `from` may
    /// read the machine's rendered files. Blocking: may build the image.
    pub fn get(
        &self,
        uuid: &str,
        bootenv: &str,
        from: IpAddr,
        belongs: impl Fn(&Value) -> bool,
    ) -> Result<CachedFile, Miss> {
        let store = &self.node.store;
        let machine = store
            .get("machines", uuid)
            .ok()
            .flatten()
            .ok_or(Miss::NotFound)?;
        let ctx =
            render::context(&self.node, &machine, None).map_err(|e| Miss::Render(e.to_string()))?;
        let bmc = ctx
            .param(BMC_PARAM)
            .ok()
            .and_then(|v| v.as_str().and_then(|s| s.parse::<IpAddr>().ok()));
        if bmc != Some(canonical(from)) && !belongs(&machine) {
            return Err(Miss::NotYours);
        }
        if str_field(&machine, "BootEnv") != bootenv {
            return Err(Miss::NotFound);
        }
        match plan::plan(&self.node, &self.files, &machine, ctx) {
            Ok(None) => Err(Miss::NotFound),
            Ok(Some(plan)) => self
                .ensure(plan)
                .map_err(|e| Miss::Unavailable(e.to_string())),
            Err(reason) => {
                let reason = reason.to_string();
                self.log_once(format!("{uuid}\0{bootenv}\0{reason}"), &reason);
                Err(Miss::Unavailable(reason))
            }
        }
    }

    /// Builds or drops the images of the machines in `pending` (all of them when `all`).
    fn catch_up(&self, pending: Pending, stop: &watch::Receiver<bool>) {
        let store = &self.node.store;
        let machines: Vec<(String, Option<Value>)> = if pending.all {
            let listed = store
                .list("machines", 0, None)
                .map(|l| l.items)
                .unwrap_or_default();
            let present: HashSet<String> = listed
                .iter()
                .map(|m| str_field(m, "Uuid").to_string())
                .collect();
            // Images of deleted machines.
            let gone: Vec<String> = lock(&self.built)
                .keys()
                .filter(|(u, _)| !present.contains(u))
                .map(|(u, _)| u.clone())
                .collect();
            let mut all: Vec<(String, Option<Value>)> =
                gone.into_iter().map(|u| (u, None)).collect();
            all.extend(
                listed
                    .into_iter()
                    .map(|m| (str_field(&m, "Uuid").to_string(), Some(m))),
            );
            all
        } else {
            pending
                .machines
                .into_iter()
                .map(|u| {
                    let m = store.get("machines", &u).ok().flatten();
                    (u, m)
                })
                .collect()
        };
        for (uuid, machine) in machines {
            if *stop.borrow() {
                return;
            }
            let keep = machine.and_then(|m| self.refresh(&m));
            self.forget(&uuid, keep.as_deref());
        }
    }

    /// Builds `machine`'s image if it wants one; returns the bootenv whose image it keeps.
    fn refresh(&self, machine: &Value) -> Option<String> {
        let uuid = str_field(machine, "Uuid");
        let ctx = render::context(&self.node, machine, None).ok()?;
        match plan::plan(&self.node, &self.files, machine, ctx) {
            Ok(None) => None,
            Ok(Some(plan)) => {
                let bootenv = plan.bootenv.clone();
                let _ = self.ensure(plan);
                Some(bootenv)
            }
            Err(reason) => {
                let bootenv = str_field(machine, "BootEnv");
                let reason = reason.to_string();
                self.log_once(format!("{uuid}\0{bootenv}\0{reason}"), &reason);
                None
            }
        }
    }

    /// Drops `uuid`'s images but the one for `keep`.
    fn forget(&self, uuid: &str, keep: Option<&str>) {
        let mut built = lock(&self.built);
        let drop: Vec<Key> = built
            .keys()
            .filter(|(u, b)| u == uuid && Some(b.as_str()) != keep)
            .cloned()
            .collect();
        for key in drop {
            if let Some(Built { result: Ok(f), .. }) = built.remove(&key) {
                let _ = std::fs::remove_file(&f.path);
                tracing::info!(
                    machine = uuid,
                    bootenv = key.1,
                    "removed a virtual media ISO"
                );
            }
        }
    }

    /// The image `plan` describes: the one built for it, else built now. Blocking.
    fn ensure(&self, plan: Plan) -> Result<CachedFile, IsoError> {
        let key = (plan.uuid.clone(), plan.bootenv.clone());
        if let Some(done) = self.current(&key, &plan.hash) {
            return done;
        }
        let _one = lock(&self.building);
        if let Some(done) = self.current(&key, &plan.hash) {
            return done;
        }
        let started = Instant::now();
        let result = self.build(&plan);
        match &result {
            Ok(f) => tracing::info!(
                machine = plan.uuid,
                bootenv = plan.bootenv,
                bytes = f.len,
                ms = started.elapsed().as_millis() as u64,
                "built a virtual media ISO"
            ),
            Err(e) => self.log_once(format!("{}\0{e}", plan.hash), &e.to_string()),
        }
        let old = lock(&self.built).insert(
            key,
            Built {
                hash: plan.hash.clone(),
                result: result.clone(),
                at: Instant::now(),
            },
        );
        if let Some(Built { result: Ok(f), .. }) = old {
            if result.as_ref().map_or(true, |new| new.path != f.path) {
                let _ = std::fs::remove_file(&f.path);
            }
        }
        result
    }

    fn build(&self, plan: &Plan) -> Result<CachedFile, IsoError> {
        let token = if plan.uses_token() {
            crate::auth::token::issue_machine(&self.node, &plan.uuid, plan::TOKEN_TTL_SECS)
                .map(|(t, _)| t)
                .map_err(IsoError::Token)?
        } else {
            String::new()
        };
        std::fs::create_dir_all(&self.dir)
            .map_err(IsoError::io(format!("creating {}", self.dir.display())))?;
        let efi = self.efi_image();
        build::build(&self.dir, plan, &token, efi.as_deref())
    }

    /// The shared UEFI boot image, made the first time (under the build lock); `None`, said
    /// once in the log, when it cannot be: the images then boot legacy BIOS only.
    fn efi_image(&self) -> Option<PathBuf> {
        let mut slot = lock(&self.efi_image);
        let made = slot.get_or_insert_with(|| {
            let made = efi::build_boot_image(&self.dir);
            if let Err(e) = &made {
                tracing::warn!(error = %e, "no UEFI boot image: virtual media ISOs boot legacy BIOS only");
            }
            made
        });
        made.as_ref().ok().cloned()
    }

    /// What is already known for `key` at `hash`: its image if still on disk, or its failure
    /// if recent.
    fn current(&self, key: &Key, hash: &str) -> Option<Result<CachedFile, IsoError>> {
        let built = lock(&self.built);
        let b = built.get(key).filter(|b| b.hash == hash)?;
        match &b.result {
            Ok(f) if std::fs::metadata(&f.path).is_ok_and(|m| m.len() == f.len) => {
                Some(Ok(f.clone()))
            }
            Err(e) if b.at.elapsed() < RETRY_FAILED => Some(Err(e.clone())),
            _ => None,
        }
    }

    /// Logs a failure the first time it is seen for its inputs (`id`).
    fn log_once(&self, id: String, reason: &str) {
        let mut logged = lock(&self.logged);
        if logged.len() >= LOGGED_MAX {
            logged.clear();
        }
        if logged.insert(id) {
            tracing::warn!(reason, "a virtual media ISO cannot be built");
        }
    }
}

fn canonical(from: IpAddr) -> IpAddr {
    match from {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_paths_name_a_machine_and_a_bootenv() {
        assert_eq!(
            request("dynamic_isos/u-1/sledgehammer/boot.iso"),
            Some(("u-1", "sledgehammer"))
        );
        assert_eq!(request("dynamic_iso/u/e/boot.iso"), Some(("u", "e")));
        for not in [
            "dynamic_isos/u/boot.iso",
            "dynamic_isos//e/boot.iso",
            "dynamic_isos/u/e/other.iso",
            "isos/u/e/boot.iso",
        ] {
            assert_eq!(request(not), None, "{not}");
        }
    }
}
