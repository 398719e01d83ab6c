//! The DRP manager: a registry of DRP HA clusters as logical endpoints, leader tracking, a git
//! source of VersionSets, reconciliation and rollout, a gateway to each cluster's leader, and
//! the `drp-manager` client commands.
//!
//! Folders by role: [`http`] (the API, the gateway, who calls), [`cluster`] (following each
//! cluster's leader, trusting its certificates), [`sync`] (git source and reconciliation),
//! [`registry`] (what survives a restart), [`state`] (what the running manager shares),
//! [`cli`] (the client commands), [`ui`] and [`metrics`].

pub mod cli;
pub mod cluster;
pub mod crypto;
pub mod http;
pub mod metrics;
pub mod registry;
pub mod replica;
pub mod serve;
pub mod state;
pub mod sync;
pub mod ui;
