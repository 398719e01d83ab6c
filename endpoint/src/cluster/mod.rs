//! Cluster lifecycle: state reporting, enrolment and removal of members, the
//! member-to-member gRPC service and the `--join` loop.

pub mod join;
pub mod membership;
pub mod messages;
pub mod service;
pub mod state;
