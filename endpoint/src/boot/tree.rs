//! The boot tree the static HTTP and TFTP servers share (DRP's tftproot):
//! - the files each bootenv renders for each of its machines (`Templates[].Path`, rendered once
//!   per MAC in the machine's `HardwareAddrs`), and those of the `unknownBootEnv` pref's
//!   bootenv for machines the endpoint does not know (`default.ipxe`, `pxelinux.cfg/default`);
//! - `files/<p>`: the file uploaded as `/api/v3/files/<p>`;
//! - any other path: the uploaded file of that name (a bootenv's kernel and initrds under
//!   `<os>/...`, an ISO exploded next to itself);
//! - `dynamic_isos/<uuid>/<bootenv>/boot.iso`: a machine's virtual media image (see
//!   [`super::virtual_media`]).
//!
//! A machine's rendered files (which can hold its token) go only to that machine: a request
//! from an address that is not the machine's `Address`, nor leased to one of its MACs, gets
//! nothing, so guessing another machine's path reveals nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use template::drp::DrpContext;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cache::{CachedFile, FileCache};
use super::virtual_media::{self, Isos};
use crate::events::{self, Followed};
use crate::node::Node;
use crate::render;
use crate::runtime::workflow::str_field;
use crate::store::files::path_problem;

/// Where a rendered path comes from.
#[derive(Debug, Clone)]
struct Source {
    /// The machine's UUID; none for the unknown-machine bootenv.
    machine: Option<String>,
    mac: String,
    bootenv: String,
    template: usize,
}

/// Rendered paths of every machine, valid for one applied log index.
struct Index {
    applied: u64,
    rendered: HashMap<String, Source>,
}

/// Why a lookup gave nothing (logged at debug; the client sees only "not found").
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// A path that could name nothing in the tree: `..`, absolute, NUL, empty segments.
    BadPath(&'static str),
    NotFound,
    /// Another machine's rendered file.
    NotYours,
    /// Rendering failed (a template error); logged at warn.
    Render(String),
    /// The file should exist but cannot be made (a virtual media ISO whose kernel is not
    /// uploaded): the reason is for the client, as DRP's operators read it there.
    Unavailable(String),
}

/// What a path names: text rendered for the asker, or a stored file's on-disk copy.
#[derive(Debug)]
pub enum Found {
    Rendered(Vec<u8>),
    Stored(CachedFile),
}

/// The collections whose changes can move a rendered path (a VersionSet or a content pack
/// can change any of them).
const SHAPES_PATHS: &[&str] = &[
    "machines",
    "bootenvs",
    "prefs",
    "templates",
    "contents",
    "version_sets",
];
/// The least time between two rebuilds caused by misses: a client asking for paths that do
/// not exist must not make every request rebuild the index.
const MISS_REBUILD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

pub struct Tree {
    node: Node,
    index: Mutex<Option<Arc<Index>>>,
    /// Set by a change to [`SHAPES_PATHS`] (seen on the event bus): the index is rebuilt on
    /// the next request, not on every applied entry.
    dirty: AtomicBool,
    last_miss_rebuild: Mutex<Option<std::time::Instant>>,
    files: Arc<FileCache>,
    isos: Arc<Isos>,
}

impl Tree {
    /// The tree of `node`, copying stored files out to `cache_dir` for streaming.
    pub fn new(node: Node, cache_dir: std::path::PathBuf) -> Arc<Self> {
        let files = Arc::new(FileCache::new(cache_dir.clone()));
        // Images are named by a hash, copies by a sha256: one directory holds both apart.
        let isos = Isos::new(node.clone(), files.clone(), cache_dir.join("dynamic_isos"));
        Arc::new(Self {
            node,
            index: Mutex::new(None),
            dirty: AtomicBool::new(true),
            last_miss_rebuild: Mutex::new(None),
            files,
            isos,
        })
    }

    /// Marks the index stale on every change that can move a rendered path, and keeps the
    /// virtual media images up to date, until shutdown.
    pub fn follow_changes(self: &Arc<Self>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let tree = self.clone();
        let events = self.node.events.subscribe();
        let isos = self.isos.clone().follow(shutdown.clone());
        let index = events::follow(events, shutdown, move |seen| {
            match seen {
                Followed::Event(e) => {
                    tree.isos.changed(&e.kind, &e.key, false);
                    if SHAPES_PATHS.contains(&e.kind.as_str()) {
                        tree.dirty.store(true, Ordering::Release);
                    }
                }
                Followed::Lagged(_) => {
                    tree.isos.changed("", "", true);
                    tree.dirty.store(true, Ordering::Release);
                }
            }
            std::future::ready(())
        });
        tokio::spawn(async move {
            tokio::join!(index, isos);
        })
    }

    /// The bytes at `path` for a client at `from`. Store reads and rendering run off the async
    /// workers.
    pub async fn get(self: &Arc<Self>, path: &str, from: IpAddr) -> Result<Found, Miss> {
        let tree = self.clone();
        let path = path.to_string();
        tokio::task::spawn_blocking(move || tree.get_blocking(&path, from))
            .await
            .unwrap_or_else(|e| Err(Miss::Render(format!("lookup task failed: {e}"))))
    }

    fn get_blocking(&self, raw: &str, from: IpAddr) -> Result<Found, Miss> {
        let path = normalise(raw)?;
        if let Some((uuid, bootenv)) = virtual_media::request(path) {
            return self
                .isos
                .get(uuid, bootenv, from, |m| self.belongs(m, from))
                .map(Found::Stored);
        }
        let mut index = self.index(false);
        if !index.rendered.contains_key(path) && self.may_rebuild_on_miss(&index) {
            // The change event of a machine created a moment ago may not have arrived yet.
            index = self.index(true);
        }
        if let Some(source) = index.rendered.get(path) {
            return self.render(source, from).map(Found::Rendered);
        }
        let stored = path.strip_prefix("files/").unwrap_or(path);
        for candidate in [stored, path] {
            match self.files.get(&self.node.store, candidate) {
                Ok(Some(file)) => return Ok(Found::Stored(file)),
                Ok(None) => {}
                Err(e) => return Err(Miss::Render(format!("copying {candidate} out: {e}"))),
            }
        }
        Err(Miss::NotFound)
    }

    fn applied(&self) -> u64 {
        self.node.applied_index()
    }

    /// Whether a miss may rebuild: something was applied since the index was built, and no
    /// miss rebuilt it within the last [`MISS_REBUILD_EVERY`].
    fn may_rebuild_on_miss(&self, index: &Index) -> bool {
        if index.applied >= self.applied() {
            return false;
        }
        let mut last = self
            .last_miss_rebuild
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < MISS_REBUILD_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// The index, rebuilt when a relevant change was seen since (or when `force`d).
    fn index(&self, force: bool) -> Arc<Index> {
        let mut slot = self.index.lock().unwrap_or_else(|p| p.into_inner());
        // Cleared before the store is read: a change applied during the rebuild marks it
        // stale again.
        let stale = self.dirty.swap(false, Ordering::AcqRel);
        match &*slot {
            Some(index) if !stale && !force => index.clone(),
            _ => {
                let applied = self.applied();
                let index = Arc::new(Index {
                    applied,
                    rendered: self.build(),
                });
                *slot = Some(index.clone());
                index
            }
        }
    }

    fn build(&self) -> HashMap<String, Source> {
        let store = &self.node.store;
        let mut rendered = HashMap::new();
        let bootenv = |name: &str| store.get("bootenvs", name).ok().flatten();
        if let Some(env) = unknown_bootenv(store) {
            self.add_paths(&mut rendered, &env, None, "");
        }
        let machines = store
            .list("machines", 0, None)
            .map(|l| l.items)
            .unwrap_or_default();
        let mut envs: HashMap<String, Option<Value>> = HashMap::new();
        for machine in &machines {
            let name = str_field(machine, "BootEnv");
            if name.is_empty() {
                continue;
            }
            let env = envs
                .entry(name.to_string())
                .or_insert_with(|| bootenv(name));
            let Some(env) = env.clone() else { continue };
            for mac in crate::model::hardware_addrs(machine) {
                self.add_paths(&mut rendered, &env, Some(machine), &mac);
            }
        }
        rendered
    }

    /// Renders each template's `Path` for (machine, mac) into `out`. A path that does not
    /// render, or names nothing a file could be, is skipped (and logged).
    fn add_paths(
        &self,
        out: &mut HashMap<String, Source>,
        env: &Value,
        machine: Option<&Value>,
        mac: &str,
    ) {
        let data = DrpContext {
            machine: machine.cloned(),
            env: Some(env.clone()),
            mac: mac.to_string(),
            api_url: self.node.settings.boot.api_url.clone(),
            provisioner_url: self.node.settings.boot.provisioner_url(),
            provisioner_address: self.node.settings.boot.address.clone(),
            ..Default::default()
        };
        let bootenv = str_field(env, "Name");
        for (i, t) in templates(env).iter().enumerate() {
            let source = str_field(t, "Path");
            if source.is_empty() {
                continue;
            }
            let path = match render::render_text(&self.node, "Path", source, &data) {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(bootenv, error = %e, "a boot file path did not render");
                    continue;
                }
            };
            let Ok(path) = normalise(&path) else { continue };
            out.insert(
                path.to_string(),
                Source {
                    machine: machine.map(|m| str_field(m, "Uuid").to_string()),
                    mac: mac.to_string(),
                    bootenv: bootenv.to_string(),
                    template: i,
                },
            );
        }
    }

    fn render(&self, source: &Source, from: IpAddr) -> Result<Vec<u8>, Miss> {
        let store = &self.node.store;
        let env = store
            .get("bootenvs", &source.bootenv)
            .ok()
            .flatten()
            .ok_or(Miss::NotFound)?;
        let template = templates(&env)
            .get(source.template)
            .cloned()
            .ok_or(Miss::NotFound)?;
        let mut data = match &source.machine {
            Some(uuid) => {
                let machine = store
                    .get("machines", uuid)
                    .ok()
                    .flatten()
                    .ok_or(Miss::NotFound)?;
                if !self.belongs(&machine, from) {
                    return Err(Miss::NotYours);
                }
                render::context(&self.node, &machine, None)
                    .map_err(|e| Miss::Render(e.to_string()))?
            }
            None => DrpContext {
                env: Some(env.clone()),
                api_url: self.node.settings.boot.api_url.clone(),
                provisioner_url: self.node.settings.boot.provisioner_url(),
                provisioner_address: self.node.settings.boot.address.clone(),
                ..Default::default()
            },
        };
        data.mac = source.mac.clone();
        let contents = match str_field(&template, "Contents") {
            "" => {
                let id = str_field(&template, "ID");
                let stored = store.get("templates", id).ok().flatten().ok_or_else(|| {
                    Miss::Render(format!(
                        "bootenv {} names template {id:?}, which does not exist",
                        source.bootenv
                    ))
                })?;
                str_field(&stored, "Contents").to_string()
            }
            inline => inline.to_string(),
        };
        let name = match str_field(&template, "Name") {
            "" => "bootenv template",
            n => n,
        };
        render::render_text(&self.node, name, &contents, &data)
            .map(String::into_bytes)
            .map_err(|e| Miss::Render(e.to_string()))
    }

    /// Whether a request from `from` may read `machine`'s rendered files: it comes from the
    /// machine's address, or from an address leased to one of its MACs.
    fn belongs(&self, machine: &Value, from: IpAddr) -> bool {
        let from = match from {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        if str_field(machine, "Address") == from.to_string() {
            return true;
        }
        let Some(lease) = self
            .node
            .store
            .get("leases", &from.to_string())
            .ok()
            .flatten()
        else {
            return false;
        };
        let token = str_field(&lease, "Token");
        crate::model::hardware_addrs(machine)
            .iter()
            .any(|m| m.eq_ignore_ascii_case(token))
    }
}

/// A request path as a tree path: without its leading slashes, refused when it could name
/// something outside the tree.
pub fn normalise(raw: &str) -> Result<&str, Miss> {
    let path = raw.trim_start_matches('/');
    match path_problem(path) {
        Some(problem) => Err(Miss::BadPath(problem)),
        None => Ok(path),
    }
}

fn templates(env: &Value) -> Vec<Value> {
    env.get("Templates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The bootenv the `unknownBootEnv` pref names: what clients without a machine boot.
pub(super) fn unknown_bootenv(store: &crate::store::ObjectStore) -> Option<Value> {
    let prefs = store.prefs().ok()?;
    let name = prefs.get("unknownBootEnv").and_then(Value::as_str)?;
    store.get("bootenvs", name).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_tree_are_refused() {
        for bad in [
            "../etc/passwd",
            "files/../../x",
            "a//b",
            "a\0b",
            "a/./../b",
            "..",
            "/",
        ] {
            assert!(
                matches!(normalise(bad), Err(Miss::BadPath(_))),
                "{bad:?} should be refused"
            );
        }
        assert_eq!(normalise("/files/a/b.iso"), Ok("files/a/b.iso"));
        assert_eq!(normalise("//default.ipxe"), Ok("default.ipxe"));
    }
}
