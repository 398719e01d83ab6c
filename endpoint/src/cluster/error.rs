//! What can go wrong enrolling or removing a member. Each variant carries the status the
//! caller hears: the API maps it (`api::error`), and so does the leader's reply to a
//! forwarded admin call (`AdminReply`), so the two answer alike.

use crate::node::NodeError;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The request itself is wrong, one sentence per problem.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with the current membership or with a change in progress.
    #[error("{0}")]
    Conflict(String),
    /// The node to enrol cannot be reached or identified at the address given.
    #[error("{0}")]
    Unreachable(String),
    /// No leader, or a Raft change that did not commit in time.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl ClusterError {
    pub fn status(&self) -> u16 {
        match self {
            ClusterError::Invalid(_) => 400,
            ClusterError::NotFound(_) => 404,
            ClusterError::Conflict(_) => 409,
            ClusterError::Unreachable(_) => 422,
            ClusterError::Unavailable(_) => 503,
            ClusterError::Internal(_) => 500,
            ClusterError::Node(e) => e.status(),
        }
    }

    /// The messages of DRP's error body.
    pub fn messages(self) -> Vec<String> {
        match self {
            ClusterError::Invalid(problems) => problems,
            other => vec![other.to_string()],
        }
    }
}
