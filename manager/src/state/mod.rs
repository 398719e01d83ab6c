//! What the running manager shares between its API, its trackers and its reconcilers: the
//! registry, the sealer, the configuration, and one handle per followed cluster.

mod clusters;
mod config;
mod connection;
mod effective;
mod supervise;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Notify, Semaphore};

pub use config::{Config, Source, DEFAULT_ID};

use crate::crypto::{self, CryptoError, PasswordHash, Sealer};
use crate::registry::{CatalogData, Registry, RegistryError};
use clusters::ClusterHandle;

/// Why the manager could not open its data directory.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("creating {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Replica(#[from] crate::replica::StoreError),
    #[error("writing the generated admin password: {0}")]
    AdminPassword(std::io::Error),
    #[error("catalog {dir}:\n{problems}")]
    Catalog { dir: String, problems: String },
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
    /// The progressive rollout of the commit in force.
    pub rollout: crate::sync::rollout::Rollouts,
    /// Every cluster's writable objects, served federated.
    pub replica: crate::replica::Replica,
    clusters: Mutex<BTreeMap<String, ClusterHandle>>,
    shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Manager(..)")
    }
}

impl Manager {
    /// Opens (or creates) the data directory: the sealing key, the registry, the admin
    /// password on first start, and the `--catalog` directory.
    pub fn open(config: Config, shutdown: watch::Receiver<bool>) -> Result<Arc<Self>, OpenError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| OpenError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let sealer = Sealer::load_or_create(&config.data_dir)?;
        let registry = Registry::open(&config.data_dir)?;
        ensure_admin(&registry, &config)?;
        let catalog = match &config.catalog {
            Some(dir) => {
                crate::sync::gitsource::read_catalog_dir(dir).map_err(|e| OpenError::Catalog {
                    dir: dir.display().to_string(),
                    problems: e.join("\n"),
                })?
            }
            None => CatalogData::default(),
        };
        let (git_polled, _) = watch::channel(0);
        let replica = crate::replica::Replica::open(&config.data_dir)?;
        Ok(Arc::new(Self {
            registry,
            sealer,
            apply_slots: Semaphore::new(config.max_parallel.max(1)),
            config,
            catalog_dir: Mutex::new(catalog),
            git_poke: Notify::new(),
            git_polled,
            rollout: Default::default(),
            replica,
            clusters: Mutex::new(BTreeMap::new()),
            shutdown,
        }))
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }
}

/// The admin password: taken from the flag at first start (or generated into
/// `<data-dir>/admin-password`); afterwards the stored hash stays in force.
fn ensure_admin(registry: &Registry, config: &Config) -> Result<(), OpenError> {
    let Some(stored) = registry.admin() else {
        let password = match &config.admin_password {
            Some(p) if !p.is_empty() => p.clone(),
            _ => {
                let p = crypto::random_password();
                let path = config.data_dir.join("admin-password");
                crypto::write_private(&path, p.as_bytes()).map_err(OpenError::AdminPassword)?;
                tracing::warn!(
                    "no --admin-password or RS_ADMIN_PASSWORD: generated one in {}",
                    path.display()
                );
                p
            }
        };
        registry.set_admin(PasswordHash::new(&password))?;
        return Ok(());
    };
    if config
        .admin_password
        .as_ref()
        .is_some_and(|p| !stored.verify(p))
    {
        tracing::warn!(
            "--admin-password differs from the stored one; the stored one stays in force"
        );
    }
    Ok(())
}
