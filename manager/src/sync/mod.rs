//! Desired state in, applied state out: the git source of VersionSets and Endpoints, and the
//! per-endpoint reconciler that plans and applies it.

pub mod gitsource;
pub mod reconcile;
pub mod remote;
pub mod rollout;
pub mod upgrade;
