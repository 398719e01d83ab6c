//! The gRPC contract between cluster members (see `proto/raft.proto`).

/// Generated tonic/prost code for package `drp.raft.v1`.
pub mod raft {
    tonic::include_proto!("drp.raft.v1");
}
