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
    /// The set's unique name, which endpoints list in `VersionSets`.
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// One-line summary shown in listings.
    pub description: Option<String>,
    #[serde(
        rename = "Documentation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// Longer free-form documentation (markdown in DRP).
    pub documentation: Option<String>,
    /// Free-form labels (icon, color, ...) DRP's UX reads; not acted on.
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
    /// The DRP server version the endpoint should run.
    pub drp_version: Option<String>,
    #[serde(
        rename = "DRPUXVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// The DRP web UX version the endpoint should serve.
    pub drp_ux_version: Option<String>,
    /// Content packs and plugin providers, each at a version or channel.
    #[serde(rename = "Components", default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
    /// Plugin instances to create or update.
    #[serde(rename = "Plugins", default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<Plugin>,
    /// Global preferences to set (`name: value`).
    #[serde(rename = "Prefs", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prefs: BTreeMap<String, String>,
    /// Params to set on the endpoint's `global` profile.
    #[serde(rename = "Global", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub global: ParamMap,
    /// Files to place in the endpoint's file server.
    #[serde(rename = "Files", default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<File>,
}

/// DRP's `Element`: one versioned component (a content pack or a plugin provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Whether this is a content pack or a plugin provider.
    #[serde(rename = "Type")]
    pub kind: ComponentType,
    /// The content pack's or plugin provider's name as the catalog lists it.
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
    /// A content pack (`CP`).
    #[serde(alias = "CP")]
    ContentPackage,
    /// A plugin provider binary (`PP`).
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

    /// DRP's long spelling, as written back into documents and plans.
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
    /// The plugin instance's name.
    #[serde(rename = "Name")]
    pub name: String,
    /// The plugin provider that runs the instance.
    #[serde(rename = "Provider")]
    pub provider: String,
    /// The instance's configuration params.
    #[serde(rename = "Params", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: ParamMap,
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// One-line summary shown in listings.
    pub description: Option<String>,
    #[serde(
        rename = "Documentation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// Longer free-form documentation (markdown in DRP).
    pub documentation: Option<String>,
    /// Free-form labels DRP's UX reads; not acted on.
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
    /// Expected sha256 (hex) of the file's content.
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
    /// The endpoint's name, usually its cluster's HA id.
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// One-line summary shown in listings.
    pub description: Option<String>,
    #[serde(
        rename = "Documentation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// Longer free-form documentation (markdown in DRP).
    pub documentation: Option<String>,
    /// Free-form labels DRP's UX reads; not acted on.
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
    /// Whether the plan is applied; when false the manager only computes it (a dry run).
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
    /// Observed: the cluster's HA id.
    #[serde(rename = "HaId", default, skip_serializing_if = "Option::is_none")]
    pub ha_id: Option<String>,
    /// Observed: the endpoint's CPU architecture (`amd64`, `arm64`).
    #[serde(rename = "Arch", default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Observed: the endpoint's operating system (`linux`).
    #[serde(rename = "Os", default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(
        rename = "DRPVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// Observed: the DRP server version it runs.
    pub drp_version: Option<String>,
    #[serde(
        rename = "DRPUXVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// Observed: the DRP web UX version it serves.
    pub drp_ux_version: Option<String>,
    /// Observed: the content packs and plugin providers installed.
    #[serde(rename = "Components", default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
    /// Observed: the plugin instances configured.
    #[serde(rename = "Plugins", default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<Plugin>,
    /// Observed: the preferences set.
    #[serde(rename = "Prefs", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prefs: BTreeMap<String, String>,
    /// Observed: the `global` profile's params.
    #[serde(rename = "Global", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub global: ParamMap,
    #[serde(
        rename = "ConnectionStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// Observed: whether the manager reaches it, and why not if it does not.
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
    /// The messages of the plan's failed actions (see `ActionErrorCount`).
    pub action_errors: Vec<String>,
    /// Observed: the member that led the cluster at the last poll.
    #[serde(rename = "Leader", default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderRef>,
    /// Observed: the cluster's members at the last poll.
    #[serde(rename = "Members", default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    #[serde(
        rename = "AppliedVersionSet",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// Observed: the last VersionSet state the endpoint committed.
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
    /// The leader's stable Raft identity.
    #[serde(rename = "ConsensusID", default)]
    pub consensus_id: String,
    /// The leader's API base URL.
    #[serde(rename = "ApiUrl", default)]
    pub api_url: String,
}

/// One cluster member as the manager last saw it: the subset of `ClusterState.Nodes`
/// (`proto::cluster::NodeInfo`, read by the manager) that an Endpoint stores and serves.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The member's stable Raft identity.
    #[serde(rename = "ConsensusID", default)]
    pub consensus_id: String,
    #[serde(
        rename = "ConsensusAddr",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    /// `host:port` of the member's consensus listener.
    pub consensus_addr: String,
    /// The member's API base URL.
    #[serde(rename = "ApiUrl", default, skip_serializing_if = "String::is_empty")]
    pub api_url: String,
    /// `leader`, `follower` or `learner`.
    #[serde(rename = "Role", default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// Whether the member votes.
    #[serde(rename = "Voter", default)]
    pub voter: bool,
    /// Whether the member is a non-voting observer.
    #[serde(rename = "Observer", default)]
    pub observer: bool,
    /// The leader's replication progress for this member (0 when unknown).
    #[serde(rename = "MatchIndex", default)]
    pub match_index: u64,
    /// Whether the leader reached the member at the last poll.
    #[serde(rename = "Online", default)]
    pub online: bool,
}

/// What the endpoint last committed: its state hash, the git commit it came from, the Raft
/// log index and when.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedVersionSet {
    /// The state hash ([`crate::state_hash`]) of what was applied.
    #[serde(rename = "Hash", default)]
    pub hash: String,
    #[serde(
        rename = "GitCommit",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    /// The git commit of the VersionSet repository it came from, if known.
    pub git_commit: String,
    /// The Raft log index of the commit that applied it.
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
    /// What the step does.
    #[serde(rename = "Action")]
    pub action: ActionKind,
    /// What kind of thing it touches.
    #[serde(rename = "Type")]
    pub kind: ElementType,
    /// The component, plugin, file, pref or param name.
    #[serde(rename = "Name")]
    pub name: String,
    /// The version to install; empty for prefs, params and plugins.
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
    /// Set a value (a pref, a global param, a file).
    Set,
    /// Install or upgrade to the given version, or create or update a plugin.
    AddOrUpdate,
    /// Part of DRP's vocabulary; [`crate::plan`] never emits it (DRP does not delete what a
    /// set does not mention).
    Delete,
}

/// What an action touches. The declaration order is the order a plan applies them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ElementType {
    /// The DRP server binary.
    #[serde(rename = "DRP")]
    Drp,
    /// The DRP web UX.
    #[serde(rename = "DRPUX")]
    DrpUx,
    /// A plugin provider binary.
    PluginProvider,
    /// A content pack.
    ContentPackage,
    /// A file in the file server.
    File,
    /// A plugin instance.
    Plugin,
    /// A global preference.
    Pref,
    /// A param on the `global` profile.
    Global,
}

impl ElementType {
    /// DRP's spelling, as in plans and `Display`.
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
    /// The item's catalog id, `<name>-<version>` (or `-stable`/`-tip`).
    #[serde(rename = "Id")]
    pub id: String,
    /// DRP always writes `catalog_items` here; the kind of artifact is `ContentType`.
    #[serde(rename = "Type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The artifact's name.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The version or channel this item stands for (`v4.12.0`, `stable`, `tip`).
    #[serde(rename = "Version", default)]
    pub version: String,
    /// The concrete version it resolves to.
    #[serde(rename = "ActualVersion", default)]
    pub actual_version: String,
    /// `ContentPackage`, `PluginProvider`, `DRP`, `DRPUX`, `DRPCLI`.
    #[serde(
        rename = "ContentType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub content_type: String,
    /// Where the artifact is downloaded from.
    #[serde(rename = "Source", default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Per `arch/os` (or `any/any`) sha256 of the artifact.
    #[serde(
        rename = "Shasum256",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub shasum256: BTreeMap<String, String>,
    /// Whether this is the `tip` (development) channel.
    #[serde(rename = "Tip", default, skip_serializing_if = "is_false")]
    pub tip: bool,
    /// Whether the version is a hot fix.
    #[serde(rename = "HotFix", default, skip_serializing_if = "is_false")]
    pub hot_fix: bool,
    /// Free-form labels from the catalog; not acted on.
    #[serde(rename = "Meta", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}
