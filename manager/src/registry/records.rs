//! The records the registry keeps: what the manager observed of each endpoint, the git
//! position, and the catalog.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use versionsets::{
    AppliedVersionSet, CatalogItem, Component, ElementAction, Endpoint, LeaderRef, Member, Plugin,
    VersionSet,
};

/// What the manager last saw of an endpoint's cluster and did to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub ha_id: Option<String>,
    pub drp_version: Option<String>,
    pub components: Vec<Component>,
    pub plugins: Vec<Plugin>,
    pub prefs: BTreeMap<String, String>,
    pub global: BTreeMap<String, Value>,
    pub connection_status: Option<String>,
    pub actions: Vec<ElementAction>,
    pub leader: Option<LeaderRef>,
    pub members: Vec<Member>,
    pub applied: Option<AppliedVersionSet>,
    /// The state hash and git commit the endpoint should have now.
    pub desired_hash: Option<String>,
    pub desired_commit: Option<String>,
    /// Why the endpoint is not in its desired state, if known.
    pub errors: Vec<String>,
}

impl Observed {
    /// `ConnectionStatus`: `unavailable` until a tracker has said otherwise.
    pub fn status(&self) -> String {
        self.connection_status
            .clone()
            .unwrap_or_else(|| crate::cluster::UNAVAILABLE.into())
    }

    /// Whether the applied state is the desired one.
    pub fn in_sync(&self) -> bool {
        self.applied.is_some()
            && self.applied.as_ref().map(|a| &a.hash) == self.desired_hash.as_ref()
    }
}

/// A content pack document plus its identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPack {
    pub name: String,
    pub version: String,
    pub doc: Value,
}

/// Catalog items and content packs available for resolution and apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogData {
    pub items: Vec<CatalogItem>,
    pub packs: Vec<ContentPack>,
}

/// Everything read from one good commit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitSnapshot {
    pub commit: String,
    pub version_sets: Vec<VersionSet>,
    pub endpoints: Vec<Endpoint>,
    pub catalog: CatalogData,
    /// `self://<path>` file contents (base64) by path in the repo.
    pub files: BTreeMap<String, String>,
    /// `rollouts/*.yaml`: how a commit reaches the endpoints (none: all at once).
    #[serde(default)]
    pub rollout: Option<versionsets::Rollout>,
}

/// A commit that was not taken, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub commit: String,
    pub errors: Vec<String>,
}

/// Where the git source stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitRecord {
    /// The branch head last looked at.
    pub head: Option<String>,
    /// The last good commit: what is in force.
    pub good: Option<GitSnapshot>,
    /// The head, when it was rejected.
    pub rejected: Option<Rejected>,
    /// The last error reading the repo itself.
    pub read_error: Option<String>,
    /// The last fetch from a remote repository (`None` for a local one).
    #[serde(default)]
    pub last_fetch: Option<FetchRecord>,
}

/// One fetch from the remote: when, and what came of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FetchRecord {
    /// When it ended (seconds since the Unix epoch).
    pub at: u64,
    /// The branch's commit on the remote, when the fetch worked.
    pub commit: Option<String>,
    /// Why it failed (no credentials in it).
    pub error: Option<String>,
}
