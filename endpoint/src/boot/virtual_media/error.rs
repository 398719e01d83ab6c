//! Why a virtual media image (or the shared UEFI boot image) could not be built. The text is
//! what a BMC's request is answered with (503) and what the log says, so each variant names
//! the missing package or the failing step. Clone: a failure is remembered per input set.

use std::io;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::AuthError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum IsoError {
    /// A boot loader file from a Debian package is not installed.
    #[error("{file} is missing: install {install}")]
    Missing {
        file: &'static str,
        install: &'static str,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: Arc<io::Error>,
    },
    #[error("{tool} is not installed (install the {package} package)")]
    ToolNotInstalled {
        tool: &'static str,
        package: &'static str,
    },
    #[error("starting {tool}: {source}")]
    ToolStart {
        tool: &'static str,
        source: Arc<io::Error>,
    },
    #[error("{tool} ran over {limit:?} and was killed")]
    ToolTimeout { tool: &'static str, limit: Duration },
    #[error("waiting for {tool}: {source}")]
    ToolWait {
        tool: &'static str,
        source: Arc<io::Error>,
    },
    /// `stderr` is the tool's last lines of stderr, joined by ` / `.
    #[error("{tool} failed ({status}): {stderr}")]
    ToolFailed {
        tool: &'static str,
        status: ExitStatus,
        stderr: String,
    },
    #[error("minting the machine token for the image: {0}")]
    Token(AuthError),
}

impl IsoError {
    /// `map_err` for an I/O step: `what` names the step (and the path, when useful).
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let what = what.into();
        move |e| IsoError::Io {
            what,
            source: Arc::new(e),
        }
    }
}
