//! DRP's VersionSet, Endpoint and CatalogItem shapes, with DRP's PascalCase field names.
//!
//! Every struct rejects unknown fields so a typo such as `Componets` is an error, never a
//! silently dropped section. Collections default to empty and are left out when empty, so a
//! document round-trips to the same text the user wrote (modulo formatting).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Free-form `string: any` maps (Global, plugin and endpoint Params).
pub type ParamMap = BTreeMap<String, Value>;

/// Desired state for a DRP endpoint: content pack and plugin versions, plugin configuration,
/// prefs, global profile params and files.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSet {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    #[serde(
        rename = "Documentation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub documentation: Option<String>,
    #[serde(rename = "Meta", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    /// DRP's rule: a merged set applies only when every set in the list says `Apply: true`.
    #[serde(rename = "Apply", default, skip_serializing_if = "is_false")]
    pub apply: bool,
    #[serde(
        rename = "DRPVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub drp_version: Option<String>,
    #[serde(
        rename = "DRPUXVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub drp_ux_version: Option<String>,
    #[serde(rename = "Components", default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
    #[serde(rename = "Plugins", default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<Plugin>,
    #[serde(rename = "Prefs", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prefs: BTreeMap<String, String>,
    #[serde(rename = "Global", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub global: ParamMap,
    #[serde(rename = "Files", default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<File>,
}

/// DRP's `Element`: one versioned component (a content pack or a plugin provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    #[serde(rename = "Type")]
    pub kind: ComponentType,
    #[serde(rename = "Name")]
    pub name: String,
    /// `tip`, `stable`, `ignore` or `vX.Y.Z[-suffix]`.
    #[serde(rename = "Version")]
    pub version: String,
    /// The concrete version `Version` resolved to (filled by catalog resolution).
    #[serde(
        rename = "ActualVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_version: Option<String>,
    /// DRP's `Element.ReplaceWritable`: the pack may take over writable objects it defines.
    #[serde(rename = "ReplaceWritable", default, skip_serializing_if = "is_false")]
    pub replace_writable: bool,
}

/// DRP's name for a component.
pub type Element = Component;

/// What a component is. DRP's short forms `CP`/`PP` are accepted and normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ComponentType {
    #[serde(alias = "CP")]
    ContentPackage,
    #[serde(alias = "PP")]
    PluginProvider,
}

impl ComponentType {
    /// Accepts the long and the short (`CP`/`PP`) DRP spellings.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ContentPackage" | "CP" => Some(Self::ContentPackage),
            "PluginProvider" | "PP" => Some(Self::PluginProvider),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ContentPackage => "ContentPackage",
            Self::PluginProvider => "PluginProvider",
        }
    }
}

impl fmt::Display for ComponentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configured plugin instance: which provider runs it and with which params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plugin {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Provider")]
    pub provider: String,
    #[serde(rename = "Params", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: ParamMap,
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    #[serde(
        rename = "Documentation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub documentation: Option<String>,
    #[serde(rename = "Meta", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

/// DRP's `FileData`: a file to place in the endpoint's file server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Relative path including the name, e.g. `files/raid/tool.tgz`.
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Sha256Sum")]
    pub sha256sum: String,
    /// `http(s)://...`, or `self://<path>` for content pushed along with the set.
    #[serde(rename = "Source")]
    pub source: String,
    /// Unpack the archive after upload.
    #[serde(rename = "Explode", default, skip_serializing_if = "is_false")]
    pub explode: bool,
}

/// A managed endpoint: one DRP HA cluster. The desired part (`VersionSets`, `Apply`, `Params`)
/// is written by people; the observed part is written by the manager and is all optional.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    #[serde(
        rename = "Documentation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub documentation: Option<String>,
    #[serde(rename = "Meta", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    /// Connection params: `manager/url`, `manager/urls`, `manager/username`, `manager/password`.
    #[serde(rename = "Params", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: ParamMap,
    /// Ordered; the FIRST entry wins each conflict.
    #[serde(rename = "VersionSets", default, skip_serializing_if = "Vec::is_empty")]
    pub version_sets: Vec<String>,
    /// DRP's deprecated single-set field; see [`Endpoint::effective_version_sets`].
    #[serde(
        rename = "VersionSet",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub version_set: Option<String>,
    #[serde(rename = "Apply", default, skip_serializing_if = "is_false")]
    pub apply: bool,
    /// DRP's switch for this endpoint's place in the manager's single pane (kept, not acted on).
    #[serde(
        rename = "SinglePaneDisabled",
        default,
        skip_serializing_if = "is_false"
    )]
    pub single_pane_disabled: bool,
    /// DRP's switch that stops VersionSet processing for this endpoint (kept, not acted on).
    #[serde(
        rename = "VersionSetsDisabled",
        default,
        skip_serializing_if = "is_false"
    )]
    pub version_sets_disabled: bool,

    // Observed state, written by the manager.
    #[serde(rename = "HaId", default, skip_serializing_if = "Option::is_none")]
    pub ha_id: Option<String>,
    #[serde(rename = "Arch", default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(rename = "Os", default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(
        rename = "DRPVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub drp_version: Option<String>,
    #[serde(
        rename = "DRPUXVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub drp_ux_version: Option<String>,
    #[serde(rename = "Components", default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
    #[serde(rename = "Plugins", default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<Plugin>,
    #[serde(rename = "Prefs", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prefs: BTreeMap<String, String>,
    #[serde(rename = "Global", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub global: ParamMap,
    #[serde(
        rename = "ConnectionStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_status: Option<String>,
    /// The last plan (a dry run while `Apply` is false).
    #[serde(rename = "Actions", default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ElementAction>,
    /// DRP's count and messages of the plan's actions that failed.
    #[serde(rename = "ActionErrorCount", default, skip_serializing_if = "is_zero")]
    pub action_error_count: u64,
    #[serde(
        rename = "ActionErrors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub action_errors: Vec<String>,
    #[serde(rename = "Leader", default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderRef>,
    #[serde(rename = "Members", default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    #[serde(
        rename = "AppliedVersionSet",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub applied_version_set: Option<AppliedVersionSet>,
}

impl Endpoint {
    /// `VersionSets` in order, then DRP's deprecated `VersionSet` if it is not already listed
    /// (DRP processes both fields).
    pub fn effective_version_sets(&self) -> Vec<String> {
        let mut ids = self.version_sets.clone();
        if let Some(single) = &self.version_set {
            if !single.is_empty() && !ids.contains(single) {
                ids.push(single.clone());
            }
        }
        ids
    }
}

/// Which member currently leads the endpoint's cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderRef {
    #[serde(rename = "ConsensusID", default)]
    pub consensus_id: String,
    #[serde(rename = "ApiUrl", default)]
    pub api_url: String,
}

/// One cluster member as the manager last saw it: the subset of `ClusterState.Nodes`
/// (`proto::cluster::NodeInfo`, read by the manager) that an Endpoint stores and serves.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    #[serde(rename = "ConsensusID", default)]
    pub consensus_id: String,
    #[serde(
        rename = "ConsensusAddr",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub consensus_addr: String,
    #[serde(rename = "ApiUrl", default, skip_serializing_if = "String::is_empty")]
    pub api_url: String,
    #[serde(rename = "Role", default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    #[serde(rename = "Voter", default)]
    pub voter: bool,
    #[serde(rename = "Observer", default)]
    pub observer: bool,
    #[serde(rename = "MatchIndex", default)]
    pub match_index: u64,
    #[serde(rename = "Online", default)]
    pub online: bool,
}

/// What the endpoint last committed: its state hash, the git commit it came from, the Raft
/// log index and when.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedVersionSet {
    #[serde(rename = "Hash", default)]
    pub hash: String,
    #[serde(
        rename = "GitCommit",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub git_commit: String,
    #[serde(rename = "Index", default)]
    pub index: u64,
    /// RFC 3339 time.
    #[serde(rename = "At", default, skip_serializing_if = "String::is_empty")]
    pub at: String,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElementAction {
    #[serde(rename = "Action")]
    pub action: ActionKind,
    #[serde(rename = "Type")]
    pub kind: ElementType,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Version", default)]
    pub version: String,
    /// What to set: the pref or param value, the plugin or the file entry.
    #[serde(rename = "Value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl fmt::Display for ElementAction {
    /// DRP's format: `"<Action> <Type> <Name>:<Version>"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {} {}:{}",
            self.action,
            self.kind.as_str(),
            self.name,
            self.version
        )
    }
}

/// DRP's action verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ActionKind {
    Set,
    AddOrUpdate,
    /// Part of DRP's vocabulary; [`crate::plan`] never emits it (DRP does not delete what a
    /// set does not mention).
    Delete,
}

/// What an action touches. The declaration order is the order a plan applies them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ElementType {
    #[serde(rename = "DRP")]
    Drp,
    #[serde(rename = "DRPUX")]
    DrpUx,
    PluginProvider,
    ContentPackage,
    File,
    Plugin,
    Pref,
    Global,
}

impl ElementType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Drp => "DRP",
            Self::DrpUx => "DRPUX",
            Self::PluginProvider => "PluginProvider",
            Self::ContentPackage => "ContentPackage",
            Self::File => "File",
            Self::Plugin => "Plugin",
            Self::Pref => "Pref",
            Self::Global => "Global",
        }
    }
}

impl From<ComponentType> for ElementType {
    fn from(kind: ComponentType) -> Self {
        match kind {
            ComponentType::ContentPackage => Self::ContentPackage,
            ComponentType::PluginProvider => Self::PluginProvider,
        }
    }
}

/// DRP's catalog entry. `<name>-stable` and `<name>-tip` items map a channel to the concrete
/// `ActualVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogItem {
    #[serde(rename = "Id")]
    pub id: String,
    /// DRP always writes `catalog_items` here; the kind of artifact is `ContentType`.
    #[serde(rename = "Type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Version", default)]
    pub version: String,
    #[serde(rename = "ActualVersion", default)]
    pub actual_version: String,
    /// `ContentPackage`, `PluginProvider`, `DRP`, `DRPUX`, `DRPCLI`.
    #[serde(
        rename = "ContentType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub content_type: String,
    #[serde(rename = "Source", default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Per `arch/os` (or `any/any`) sha256 of the artifact.
    #[serde(
        rename = "Shasum256",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub shasum256: BTreeMap<String, String>,
    #[serde(rename = "Tip", default, skip_serializing_if = "is_false")]
    pub tip: bool,
    #[serde(rename = "HotFix", default, skip_serializing_if = "is_false")]
    pub hot_fix: bool,
    #[serde(rename = "Meta", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}
