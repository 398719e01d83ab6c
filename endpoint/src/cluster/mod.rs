//! Cluster lifecycle: state reporting, enrolment and removal of members, the
//! member-to-member gRPC service and the `--join` loop.

mod error;
pub mod join;
pub mod membership;
pub mod service;
pub mod state;

pub use error::ClusterError;
