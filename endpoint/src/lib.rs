//! `drp-endpoint`: one member of a Raft-replicated Digital Rebar Provision endpoint cluster.

pub mod agent;
pub mod api;
pub mod auth;
pub mod backup;
pub mod boot;
pub mod cluster;
pub mod command;
pub mod events;
pub mod fill;
pub mod flag;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod node;
pub mod packs;
pub mod raft;
pub mod runtime;
pub mod secure;
pub mod serve;
pub mod store;
pub mod tls;
