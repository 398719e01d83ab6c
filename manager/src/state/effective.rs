//! What is in force: API definitions with git's over them, and the catalog.

use std::collections::BTreeMap;

use versionsets::{Endpoint, VersionSet};

use super::{Manager, Source};
use crate::registry::CatalogData;

/// API definitions, each marked as such, for git's to be laid over.
fn from_api<T>(api: BTreeMap<String, T>) -> BTreeMap<String, (T, Source)> {
    api.into_iter()
        .map(|(k, v)| (k, (v, Source::Api)))
        .collect()
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
    /// Git endpoints override API ones field by field: `VersionSets`, `VersionSet`, `Apply`,
    /// `Description`, `Documentation` and `Meta` come from git when git defines the endpoint;
    /// `Params` merge key by key with git's value winning. So connection params (and the
    /// password) can be registered through the API while git holds the desired state.
    pub fn effective_endpoints(&self) -> BTreeMap<String, (Endpoint, Source)> {
        let mut out = from_api(self.registry.api_endpoints());
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

    /// Git's VersionSets, then API ones whose Id git does not define.
    pub fn version_sets(&self) -> BTreeMap<String, (VersionSet, Source)> {
        let mut out = from_api(self.registry.api_version_sets());
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
            Some(good) => crate::sync::gitsource::merge_catalogs(&good.catalog, &dir),
            None => dir,
        }
    }
}
