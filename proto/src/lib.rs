//! The project's wire contract: the gRPC contract between cluster members (see
//! `proto/raft.proto`, feature `grpc`) and JSON shapes several crates read ([`cluster`]).
#![warn(missing_docs)]

pub mod cluster;

/// Generated tonic/prost code for package `drp.raft.v1`.
#[cfg(feature = "grpc")]
#[allow(missing_docs)] // generated code: the docs live in proto/raft.proto
pub mod raft {
    tonic::include_proto!("drp.raft.v1");
}
