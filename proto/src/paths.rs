//! API paths that more than one crate calls or serves, and the admin user every DRP install
//! starts with.

/// DRP's admin user name (`RS_KEY=rocketskates:...`).
pub const ADMIN_USER: &str = "rocketskates";

/// The REST API's prefix.
pub const API: &str = "/api/v3";
/// `Info`: version, ports, HA identity.
pub const INFO: &str = "/api/v3/info";
/// A member's view of the cluster ([`crate::cluster::ClusterState`]).
pub const CONSENSUS_STATE: &str = "/api/v3/system/consensus/state";
/// The same, streamed as newline-delimited JSON whenever term, leader or membership change.
pub const CONSENSUS_WATCH: &str = "/api/v3/system/consensus/watch";
/// The VersionSet a cluster has applied.
pub const VERSIONSET: &str = "/api/v3/system/versionset";
/// Applies a whole VersionSet in one commit.
pub const VERSIONSET_APPLY: &str = "/api/v3/system/versionset/apply";
/// The manager's registered endpoints (clusters).
pub const ENDPOINTS: &str = "/api/v3/endpoints";
/// The manager's VersionSets.
pub const VERSION_SETS: &str = "/api/v3/version_sets";
/// The manager's fleet status.
pub const STATUS: &str = "/api/v3/status";
/// The manager's git source; `POST` [`GIT_REFRESH`] polls it now.
pub const GIT: &str = "/api/v3/git";
/// Polls the manager's git branch now.
pub const GIT_REFRESH: &str = "/api/v3/git/refresh";
