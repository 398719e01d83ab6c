//! `drp-manager serve`: the shared manager state, its background tasks and the HTTP server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use versionsets::{Endpoint, VersionSet};

use crate::crypto::{self, PasswordHash, Sealer, SEALED_PREFIX};
use crate::leader::{Cluster, Connection, PinSink};
use crate::registry::{CatalogData, Registry};
use crate::trust::{self, Anchor};

/// Flags of `drp-manager serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub api_listen: SocketAddr,
    pub git_repo: Option<PathBuf>,
    pub git_branch: String,
    pub git_poll: Duration,
    pub catalog: Option<PathBuf>,
    pub admin_password: Option<String>,
    pub max_parallel: usize,
    pub reconcile_every: Duration,
    /// Connection limits of the API listener.
    pub conn: netguard::ConnArgs,
    /// Request rate limits of the API.
    pub rate: netguard::RateArgs,
    /// `--metrics-listen`: also serve `/metrics` there, without credentials.
    pub metrics_listen: Option<SocketAddr>,
}

/// Where an effective endpoint's definition came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Api,
    Git,
    Both,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Git => "git",
            Self::Both => "api+git",
        }
    }
}

struct ClusterHandle {
    cluster: Arc<Cluster>,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

pub struct Manager {
    pub registry: Registry,
    pub sealer: Sealer,
    pub config: Config,
    pub catalog_dir: Mutex<CatalogData>,
    pub apply_slots: Semaphore,
    pub git_poke: Notify,
    /// Bumped after every git poll.
    pub git_polled: watch::Sender<u64>,
    clusters: Mutex<BTreeMap<String, ClusterHandle>>,
    shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Manager(..)")
    }
}

/// Git's fields of an endpoint over the API's (see [`Manager::effective_endpoints`]).
fn merge_git(ep: &mut Endpoint, g: &Endpoint) {
    ep.version_sets = g.version_sets.clone();
    ep.version_set = g.version_set.clone();
    ep.apply = g.apply;
    if g.description.is_some() {
        ep.description = g.description.clone();
    }
    if g.documentation.is_some() {
        ep.documentation = g.documentation.clone();
    }
    if !g.meta.is_empty() {
        ep.meta = g.meta.clone();
    }
    for (k, v) in &g.params {
        ep.params.insert(k.clone(), v.clone());
    }
}

impl Manager {
    pub fn open(config: Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<Arc<Self>> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let sealer = Sealer::load_or_create(&config.data_dir)?;
        let registry = Registry::open(&config.data_dir)?;
        if registry.admin().is_none() {
            let password = match &config.admin_password {
                Some(p) if !p.is_empty() => p.clone(),
                _ => {
                    let p = crypto::random_password();
                    let path = config.data_dir.join("admin-password");
                    crypto::write_private(&path, p.as_bytes())?;
                    tracing::warn!(
                        "no --admin-password or RS_ADMIN_PASSWORD: generated one in {}",
                        path.display()
                    );
                    p
                }
            };
            registry.set_admin(PasswordHash::new(&password))?;
        } else if let (Some(p), Some(h)) = (&config.admin_password, registry.admin()) {
            if !h.verify(p) {
                tracing::warn!(
                    "--admin-password differs from the stored one; the stored one stays in force"
                );
            }
        }
        let catalog = match &config.catalog {
            Some(dir) => crate::gitsource::read_catalog_dir(dir)
                .map_err(|e| anyhow::anyhow!("catalog {}:\n{}", dir.display(), e.join("\n")))?,
            None => CatalogData::default(),
        };
        let (git_polled, _) = watch::channel(0);
        Ok(Arc::new(Self {
            registry,
            sealer,
            apply_slots: Semaphore::new(config.max_parallel.max(1)),
            config,
            catalog_dir: Mutex::new(catalog),
            git_poke: Notify::new(),
            git_polled,
            clusters: Mutex::new(BTreeMap::new()),
            shutdown,
        }))
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Git endpoints override API ones field by field: `VersionSets`, `VersionSet`, `Apply`,
    /// `Description`, `Documentation` and `Meta` come from git when git defines the endpoint;
    /// `Params` merge key by key with git's value winning. So connection params (and the
    /// password) can be registered through the API while git holds the desired state.
    pub fn effective_endpoints(&self) -> BTreeMap<String, (Endpoint, Source)> {
        let mut out: BTreeMap<String, (Endpoint, Source)> = self
            .registry
            .api_endpoints()
            .into_iter()
            .map(|(k, v)| (k, (v, Source::Api)))
            .collect();
        if let Some(good) = self.registry.git().good {
            for g in good.endpoints {
                match out.get_mut(&g.id) {
                    Some((ep, source)) => {
                        *source = Source::Both;
                        merge_git(ep, &g);
                    }
                    None => {
                        out.insert(g.id.clone(), (g, Source::Git));
                    }
                }
            }
        }
        out
    }

    pub fn effective_endpoint(&self, id: &str) -> Option<(Endpoint, Source)> {
        self.effective_endpoints().remove(id)
    }

    /// `ep` (an API definition about to be stored) as it will be in force: git's fields over it.
    pub fn with_git(&self, ep: &Endpoint) -> Endpoint {
        let mut out = ep.clone();
        if let Some(good) = self.registry.git().good {
            if let Some(g) = good.endpoints.iter().find(|g| g.id == ep.id) {
                merge_git(&mut out, g);
            }
        }
        out
    }

    /// What the endpoint's cluster certificates must verify to: `manager/ca`, else the pinned
    /// certificate, else nothing yet.
    pub fn anchor(&self, ep: &Endpoint) -> Anchor {
        if let Some(ca) = ep.params.get(trust::CA_PARAM) {
            return trust::anchor_from_param(ca);
        }
        match self.registry.pin(&ep.id) {
            Some(pin) => pin.anchor(),
            None => Anchor::Unpinned,
        }
    }

    /// Git's VersionSets, then API ones whose Id git does not define.
    pub fn version_sets(&self) -> BTreeMap<String, (VersionSet, Source)> {
        let mut out: BTreeMap<String, (VersionSet, Source)> = self
            .registry
            .api_version_sets()
            .into_iter()
            .map(|(k, v)| (k, (v, Source::Api)))
            .collect();
        if let Some(good) = self.registry.git().good {
            for vs in good.version_sets {
                out.insert(vs.id.clone(), (vs, Source::Git));
            }
        }
        out
    }

    /// The catalog from git (winning) merged with `--catalog DIR`.
    pub fn catalog(&self) -> CatalogData {
        let dir = self
            .catalog_dir
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        match self.registry.git().good {
            Some(good) => crate::gitsource::merge_catalogs(&good.catalog, &dir),
            None => dir,
        }
    }

    /// Connection params of an endpoint, the password opened.
    pub fn connection(&self, ep: &Endpoint) -> Connection {
        let text = |k: &str| ep.params.get(k).and_then(Value::as_str).map(str::to_owned);
        let mut seeds = Vec::new();
        if let Some(u) = text("manager/url") {
            seeds.push(u);
        }
        match ep.params.get("manager/urls") {
            Some(Value::Array(list)) => {
                seeds.extend(list.iter().filter_map(Value::as_str).map(str::to_owned))
            }
            Some(Value::String(s)) => seeds.extend(
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            _ => {}
        }
        let password = text("manager/password").and_then(|p| match self.sealer.open(&p) {
            Ok(clear) => Some(clear),
            Err(e) => {
                tracing::warn!(endpoint = %ep.id, "cannot open the stored password: {e}");
                None
            }
        });
        Connection {
            seeds,
            username: text("manager/username"),
            password,
            anchor: self.anchor(ep),
        }
    }

    /// Seals a clear `manager/password`; keeps the stored one when the masked value comes back.
    pub fn seal_params(&self, ep: &mut Endpoint, previous: Option<&Endpoint>) {
        if let Some(Value::String(p)) = ep.params.get("manager/password").cloned() {
            if p == crypto::MASK {
                match previous.and_then(|prev| prev.params.get("manager/password")) {
                    Some(old) => {
                        ep.params.insert("manager/password".into(), old.clone());
                    }
                    None => {
                        ep.params.remove("manager/password");
                    }
                }
            } else if !p.starts_with(SEALED_PREFIX) {
                ep.params.insert(
                    "manager/password".into(),
                    Value::String(self.sealer.seal(&p)),
                );
            }
        }
    }

    pub fn cluster(&self, id: &str) -> Option<Arc<Cluster>> {
        self.clusters
            .lock()
            .ok()?
            .get(id)
            .map(|h| h.cluster.clone())
    }

    /// Wakes the reconciler of every endpoint (after a git change).
    pub fn wake_all(&self) {
        if let Ok(c) = self.clusters.lock() {
            for h in c.values() {
                h.wake.notify_one();
            }
        }
    }

    pub fn wake(&self, id: &str) {
        if let Ok(c) = self.clusters.lock() {
            if let Some(h) = c.get(id) {
                h.wake.notify_one();
            }
        }
    }

    /// Starts a tracker and a reconciler for each effective endpoint, updates connections,
    /// and stops those of endpoints that are gone.
    pub fn sync_clusters(self: &Arc<Self>) {
        if *self.shutdown.borrow() {
            return;
        }
        let wanted = self.effective_endpoints();
        let Ok(mut clusters) = self.clusters.lock() else {
            return;
        };
        let gone: Vec<String> = clusters
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for id in self.registry.pinned_ids() {
            if !wanted.contains_key(&id) {
                match self.registry.forget_pin(&id) {
                    Ok(_) => tracing::info!(endpoint = %id, "forgot the pinned certificate"),
                    Err(e) => tracing::error!(endpoint = %id, "forgetting the pin: {e}"),
                }
            }
        }
        for id in gone {
            if let Some(h) = clusters.remove(&id) {
                let _ = h.stop.send(true);
                for t in h.tasks {
                    t.abort();
                }
                tracing::info!(endpoint = %id, "stopped tracking");
            }
        }
        for (id, (ep, _)) in wanted {
            let conn = self.connection(&ep);
            if let Some(h) = clusters.get(&id) {
                h.cluster.set_connection(conn);
                h.wake.notify_one();
                continue;
            }
            let cluster = match Cluster::new(&id, conn, self.pin_sink()) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(endpoint = %id, "cannot track: {e:#}");
                    continue;
                }
            };
            let wake = Arc::new(Notify::new());
            let (stop, stop_rx) = watch::channel(false);
            let tracker = tokio::spawn(cluster.clone().run(stop_rx.clone()));
            let reconciler = tokio::spawn(crate::reconcile::run(
                self.clone(),
                id.clone(),
                cluster.clone(),
                wake.clone(),
                stop_rx,
            ));
            tracing::info!(endpoint = %id, "tracking");
            clusters.insert(
                id,
                ClusterHandle {
                    cluster,
                    wake,
                    stop,
                    tasks: vec![tracker, reconciler],
                },
            );
        }
    }

    /// Where trackers store a certificate pinned on first use.
    fn pin_sink(self: &Arc<Self>) -> PinSink {
        let weak = Arc::downgrade(self);
        Arc::new(move |id, pin| {
            let mgr = weak.upgrade().ok_or("the manager is stopping")?;
            mgr.registry
                .pin_if_absent(id, pin)
                .map_err(|e| format!("storing the pinned certificate: {e}"))
        })
    }

    /// Stops every cluster's tasks and waits for them to end.
    pub async fn stop_all(&self) {
        let handles: Vec<JoinHandle<()>> = match self.clusters.lock() {
            Ok(mut c) => std::mem::take(&mut *c)
                .into_values()
                .flat_map(|h| {
                    let _ = h.stop.send(true);
                    h.tasks
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        for h in handles {
            let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
        }
    }
}

/// Runs the manager until `shutdown` turns true; `ready` gets the bound address.
pub async fn run(
    config: Config,
    shutdown: watch::Receiver<bool>,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.api_listen)
        .await
        .with_context(|| format!("listening on {}", config.api_listen))?;
    let addr = listener.local_addr()?;
    let mgr = Manager::open(config, shutdown.clone())?;
    mgr.sync_clusters();
    let git_task = mgr
        .config
        .git_repo
        .clone()
        .map(|repo| tokio::spawn(crate::gitsource::run(mgr.clone(), repo)));
    tracing::info!(%addr, "drp-manager API listening");
    if let Some(tx) = ready {
        let _ = tx.send(addr);
    }
    let metrics = match mgr.config.metrics_listen {
        Some(a) => Some(crate::metrics::serve_plain(a, mgr.clone(), shutdown.clone()).await?),
        None => None,
    };
    // Per source before authentication: the manager's only user is its admin.
    let per_source = netguard::RequestLimit::new(
        "source address",
        mgr.config.rate.rate_limit_per_source,
        netguard::SourceIp::of_request,
    );
    let app = crate::api::router(mgr.clone()).layer(axum::middleware::from_fn_with_state(
        per_source,
        netguard::enforce::<netguard::SourceIp>,
    ));
    let limits = mgr.config.conn.limits();
    let served = netguard::serve(listener, None, app, limits, shutdown.clone(), "manager");
    let mut stop = shutdown.clone();
    let _ = stop.wait_for(|s| *s).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
    if let Some(t) = git_task {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    if let Some(t) = metrics {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    mgr.stop_all().await;
    tracing::info!("drp-manager stopped");
    Ok(())
}
