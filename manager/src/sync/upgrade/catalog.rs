//! The catalog of drp binaries: which file (and sha256) upgrades a cluster to a `DRPVersion`.
//! Learned once at start from `--drp-binary VERSION=PATH`; hashed off the async workers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// One binary the manager can roll out.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub sha256: String,
}

static CATALOG: OnceLock<BTreeMap<String, Entry>> = OnceLock::new();

/// Why a `--drp-binary` flag was not taken.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("--drp-binary {0:?}: expected VERSION=PATH")]
    Syntax(String),
    #[error("--drp-binary {version}: reading {path}: {source}")]
    Read {
        version: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("hashing the drp binaries: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Parses and hashes every `VERSION=PATH`, then installs the catalog (once per process).
pub async fn install(specs: Vec<String>) -> Result<(), CatalogError> {
    let entries = tokio::task::spawn_blocking(move || load(&specs)).await??;
    for (v, e) in &entries {
        tracing::info!(version = %v, path = %e.path.display(), sha256 = %e.sha256, "drp binary in the catalog");
    }
    let _ = CATALOG.set(entries);
    Ok(())
}

fn load(specs: &[String]) -> Result<BTreeMap<String, Entry>, CatalogError> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let (version, path) = spec
            .split_once('=')
            .filter(|(v, p)| !v.trim().is_empty() && !p.is_empty())
            .ok_or_else(|| CatalogError::Syntax(spec.clone()))?;
        let version = version.trim().to_string();
        let path = PathBuf::from(path);
        let read = |source| CatalogError::Read {
            version: version.clone(),
            path: path.clone(),
            source,
        };
        let mut file = std::fs::File::open(&path).map_err(read)?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).map_err(read)?;
        let sha256 = hex::encode(hasher.finalize());
        out.insert(version, Entry { path, sha256 });
    }
    Ok(out)
}

/// The binary for `version` (a leading `v` is ignored on either side).
pub fn get(version: &str) -> Option<Entry> {
    let want = super::bare(version);
    CATALOG
        .get()?
        .iter()
        .find(|(v, _)| super::bare(v) == want)
        .map(|(_, e)| e.clone())
}
