//! The flags of `drp-manager serve`, and where an endpoint's definition came from.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The Id of a manager started without `--id`.
pub const DEFAULT_ID: &str = "drp-manager";

/// Flags of `drp-manager serve`.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--id`: this manager's endpoint Id.
    pub id: String,
    pub data_dir: PathBuf,
    pub api_listen: SocketAddr,
    /// The repository the git source reads: `--git-repo` itself, or the mirror of a remote.
    pub git_repo: Option<PathBuf>,
    /// `--git-repo` when it is a URL: fetched into the mirror at `git_repo`.
    pub git_remote: Option<crate::sync::remote::Remote>,
    /// `--webhook-secret-file`: what signs (or is) a push webhook's token.
    pub webhook_secret: Option<crate::sync::remote::Secret>,
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
