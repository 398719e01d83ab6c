//! The project's wire contract: the gRPC contract between cluster members (see
//! `proto/raft.proto`, feature `grpc`) and the REST contract several crates share: JSON
//! shapes ([`cluster`], [`error`]), header names ([`headers`]), paths and the admin user
//! ([`paths`]), and DRP's list query ([`query`]).
#![warn(missing_docs)]

pub mod cluster;
pub mod collections;
pub mod error;
pub mod events;
pub mod headers;
pub mod paths;
pub mod query;

/// Generated tonic/prost code for package `drp.raft.v1`.
#[cfg(feature = "grpc")]
#[allow(missing_docs)] // generated code: the docs live in proto/raft.proto
pub mod raft {
    tonic::include_proto!("drp.raft.v1");
}
