//! What can go wrong on the node's write and read paths, without saying how a client hears
//! it: `api::error` maps each variant to its HTTP status.

/// A failure of a replicated write, a linearizable read or a call to a peer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeError {
    /// No leader committed or confirmed in time, or a peer could not be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The command nests too deeply to be decoded back from the log.
    #[error("the request nests {depth} levels deep once stored; the limit is {limit} levels")]
    TooDeep { depth: usize, limit: usize },
    /// A bug or a local fault (the request did not serialize).
    #[error("{0}")]
    Internal(String),
}

impl NodeError {
    /// The HTTP status a client hears: the API maps through this, and so does the leader's
    /// reply to a forwarded write (which answers in the replicated store's status terms).
    pub fn status(&self) -> u16 {
        match self {
            NodeError::Unavailable(_) => 503,
            NodeError::TooDeep { .. } => 413,
            NodeError::Internal(_) => 500,
        }
    }
}
