//! The DRP manager: registry of clusters as logical endpoints, rollout of VersionSets.
//! So far: the offline `version-sets lint` command.

pub mod lint;
