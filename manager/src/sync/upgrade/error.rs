//! Why a rolling binary upgrade halted, and why one of its calls failed. The texts are the
//! rollout's detail in `drp-manager status` and the upgrade test's expectations.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::cluster::SendError;

/// A read from the cluster's leader that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LeaderError {
    /// The leader answered with a status other than 2xx.
    #[error("GET {path}: HTTP {status}: {body}")]
    Status {
        path: String,
        status: StatusCode,
        body: Value,
    },
    /// No member answered.
    #[error("GET {path}: {source}")]
    Send { path: String, source: SendError },
    /// The consensus state did not decode.
    #[error("consensus state: {0}")]
    State(serde_json::Error),
}

/// A call to one member (stage, run) that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MemberCallError {
    /// The request did not complete.
    #[error("{0}")]
    Send(reqwest::Error),
    /// The member answered with another status; `body` is the start of its reply.
    #[error("HTTP {status}: {body}")]
    Refused { status: StatusCode, body: String },
}

/// Why the cluster is not ready for the next member to go down.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotReady {
    #[error("{0} is offline")]
    Offline(String),
    #[error("not failOverSafe")]
    NotFailOverSafe,
    #[error(transparent)]
    Leader(#[from] LeaderError),
}

/// Why a member that ran the new binary is not back yet.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotBackYet {
    #[error("{member} not yet at {target}, caught up and failOverSafe")]
    Pending { member: String, target: String },
    #[error(transparent)]
    Leader(#[from] LeaderError),
}

/// Why a rollout halted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RolloutError {
    #[error("the manager is stopping")]
    Stopping,
    #[error("the cluster is not whole: {0}")]
    NotWhole(NotReady),
    #[error("reading {}: {source}", path.display())]
    ReadBinary {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("stage on {member} refused: {source}")]
    Stage {
        member: String,
        source: MemberCallError,
    },
    #[error("run on {member} failed: {source}")]
    Run {
        member: String,
        source: MemberCallError,
    },
    /// The member's own upgrade status says `rolled-back` or `failed`.
    #[error("{member} reports {state}: {error}")]
    MemberFailed {
        member: String,
        state: String,
        error: String,
    },
    #[error("{member} not back within {within:?}: {last}")]
    NotBack {
        member: String,
        within: Duration,
        last: NotBackYet,
    },
}
