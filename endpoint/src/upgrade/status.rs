//! `<data-dir>/upgrade/status.json`: where this member's upgrade is, as
//! `GET /api/v3/system/upgrade/status` reports it. Kept in the data dir so it survives the
//! exec into the new binary (or back into the old one).

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// idle | staged | running | done | failed | rolled-back
    #[serde(rename = "State")]
    pub state: String,
    /// The staged (or, once done, the running) binary's version.
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Error")]
    pub error: String,
}

impl Status {
    pub fn new(state: &str, version: &str, error: &str) -> Status {
        Status {
            state: state.to_string(),
            version: version.to_string(),
            error: error.to_string(),
        }
    }
}

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("upgrade")
}

fn path(data_dir: &Path) -> PathBuf {
    dir(data_dir).join("status.json")
}

/// The recorded status; `idle` when none was recorded (or it cannot be read).
pub fn read(data_dir: &Path) -> Status {
    std::fs::read(path(data_dir))
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .unwrap_or_else(|| Status::new("idle", "", ""))
}

/// Replaces the status atomically (write beside, fsync, rename). Blocking: call from a
/// blocking thread or before the runtime serves.
pub fn write(data_dir: &Path, status: &Status) -> io::Result<()> {
    use std::io::Write;
    let dir = dir(data_dir);
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join("status.json.partial");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(status).map_err(io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path(data_dir))
}

/// [`write`] on a blocking thread, logging a failure (the status is a report, not state).
pub async fn record(data_dir: &Path, status: Status) {
    let dir = data_dir.to_path_buf();
    let result = tokio::task::spawn_blocking(move || write(&dir, &status)).await;
    if let Err(e) = result.map_err(io::Error::other).and_then(|r| r) {
        tracing::warn!(error = %e, "recording the upgrade status");
    }
}
