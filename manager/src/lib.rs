//! The DRP manager: a registry of DRP HA clusters as logical endpoints, leader tracking, a git
//! source of VersionSets, reconciliation and rollout, a gateway to each cluster's leader, and
//! the `drp-manager` client commands.

pub mod api;
pub mod caller;
pub mod cli;
pub mod crypto;
pub mod drp_env;
pub mod endpoint_params;
pub mod gateway;
pub mod gitsource;
pub mod leader;
pub mod lint;
pub mod metrics;
pub mod progress;
pub mod quickstart;
pub mod reconcile;
pub mod registry;
pub mod serve;
pub mod trust;
pub mod ui;
pub mod upload;
