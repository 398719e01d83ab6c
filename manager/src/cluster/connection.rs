//! How to reach a cluster: its seed URLs, the stored credentials and the trust anchor.

use std::sync::Arc;

use super::trust::{Anchor, Pin};
use crate::registry::RegistryError;

/// Why a certificate learnt on first use could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("the manager is stopping")]
    Stopping,
    #[error("storing the pinned certificate: {0}")]
    Store(#[from] RegistryError),
}

/// Stores a certificate pinned on first use; returns the pin in force (an earlier one wins).
pub type PinSink = Arc<dyn Fn(&str, Pin) -> Result<Pin, PinError> + Send + Sync>;

/// How to reach a cluster (the password in clear, in memory only).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub seeds: Vec<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// What the members' certificates must verify to.
    pub anchor: Anchor,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("seeds", &self.seeds)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("anchor", &self.anchor)
            .finish()
    }
}
