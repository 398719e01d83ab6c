//! Staging a new binary: the request body streamed to `upgrade/staged.partial` (bounded),
//! hashed as it arrives, checked against the sha256 the client names, then asked for its
//! version with `--version` under a timeout. Only a binary that passes all of it is renamed
//! to `upgrade/staged`; anything refused leaves no file behind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::UpgradeError;
use super::status::{self, Status};

/// The largest binary `stage` accepts (413 beyond).
pub const MAX_BINARY_BYTES: u64 = 512 << 20;
/// How long the staged binary may take to print its version.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// What is staged: `upgrade/staged.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Staged {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Sha256")]
    pub sha256: String,
    #[serde(rename = "Size")]
    pub size: u64,
}

pub fn binary_path(data_dir: &Path) -> PathBuf {
    status::dir(data_dir).join("staged")
}

fn record_path(data_dir: &Path) -> PathBuf {
    status::dir(data_dir).join("staged.json")
}

/// The staged binary's record, if a binary is staged.
pub fn staged(data_dir: &Path) -> Option<Staged> {
    if !binary_path(data_dir).is_file() {
        return None;
    }
    let raw = std::fs::read(record_path(data_dir)).ok()?;
    serde_json::from_slice(&raw).ok()
}

/// Streams `body` into the staging area and keeps it when it passes every check.
pub async fn stage(
    data_dir: &Path,
    body: Body,
    want_sha: Option<&str>,
) -> Result<Staged, UpgradeError> {
    // One stage at a time: both would write the same partial file.
    static BUSY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let Ok(_one) = BUSY.try_lock() else {
        return Err(UpgradeError::conflict(
            "another binary is being staged on this member",
        ));
    };
    let dir = status::dir(data_dir);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| UpgradeError::internal(format!("creating {}: {e}", dir.display())))?;
    let partial = dir.join("staged.partial");
    let result = receive(&partial, body, want_sha).await;
    let result = match result {
        Ok((sha256, size)) => match version_of(&partial).await {
            Ok(version) => Ok(Staged {
                version,
                sha256,
                size,
            }),
            Err(why) => Err(UpgradeError::refused(format!(
                "the staged binary is refused: {why}"
            ))),
        },
        Err(e) => Err(e),
    };
    let staged = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    let raw = serde_json::to_vec(&staged).map_err(|e| UpgradeError::internal(e.to_string()))?;
    let (dir2, record) = (data_dir.to_path_buf(), staged.clone());
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::write(record_path(&dir2), raw)?;
        std::fs::rename(
            status::dir(&dir2).join("staged.partial"),
            binary_path(&dir2),
        )?;
        status::write(&dir2, &Status::new("staged", &record.version, ""))
    })
    .await
    .map_err(|e| UpgradeError::internal(e.to_string()))?
    .map_err(|e| UpgradeError::internal(format!("keeping the staged binary: {e}")))?;
    Ok(staged)
}

/// Writes the body to `path` (executable), returning its sha256 and size. Hashing and
/// writing run on one blocking thread fed through a bounded channel, so no async worker
/// hashes hundreds of megabytes or waits on the disk.
async fn receive(
    path: &Path,
    body: Body,
    want_sha: Option<&str>,
) -> Result<(String, u64), UpgradeError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let writer = tokio::task::spawn_blocking({
        let path = path.to_path_buf();
        move || write_hashed(&path, rx)
    });
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    let mut refused = None;
    while let Some(piece) = stream.next().await {
        let piece = match piece {
            Ok(p) => p,
            Err(e) => {
                refused = Some(UpgradeError::bad_request(format!("reading the body: {e}")));
                break;
            }
        };
        size += piece.len() as u64;
        if size > MAX_BINARY_BYTES {
            refused = Some(UpgradeError::TooLarge(MAX_BINARY_BYTES));
            break;
        }
        if tx.send(piece).await.is_err() {
            break; // the writer failed: its error is reported below
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| UpgradeError::internal(e.to_string()))?
        .map_err(|e| UpgradeError::internal(format!("writing {}: {e}", path.display())));
    if let Some(e) = refused {
        return Err(e);
    }
    let sha = written?;
    if size == 0 {
        return Err(UpgradeError::bad_request(
            "the body is empty: send the binary",
        ));
    }
    if let Some(want) = want_sha {
        if !want.eq_ignore_ascii_case(&sha) {
            return Err(UpgradeError::refused(format!(
                "sha256 mismatch: the body's is {sha}, the request named {want}"
            )));
        }
    }
    Ok((sha, size))
}

/// The blocking half of [`receive`]: every piece hashed and written, then fsynced and made
/// executable.
fn write_hashed(
    path: &Path,
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> std::io::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let mut file = std::fs::File::create(path)?;
    let mut hash = Sha256::new();
    while let Some(piece) = rx.blocking_recv() {
        hash.update(&piece);
        file.write_all(&piece)?;
    }
    file.sync_all()?;
    file.set_permissions(std::fs::Permissions::from_mode(0o755))?;
    Ok(hex::encode(hash.finalize()))
}

/// Why a bounded run of a binary (`--version`, the preflight) gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("`{0}` did not finish within {VERSION_TIMEOUT:?}")]
    TimedOut(String),
    #[error("`{0}` could not run: {1}")]
    Spawn(String, std::io::Error),
    #[error("`{0}` failed ({1}): {2}")]
    Failed(String, std::process::ExitStatus, String),
    #[error("`--version` printed {0:?}, not `drp-endpoint <version>`")]
    NotAVersion(String),
}

/// Runs `binary --version` and returns the version it prints (`drp-endpoint X` → `X`).
pub async fn version_of(binary: &Path) -> Result<String, ChildError> {
    let out = run_bounded(binary, &["--version".to_string()]).await?;
    let text = out.trim();
    match text.strip_prefix("drp-endpoint ") {
        Some(v) if !v.is_empty() && !v.contains(char::is_whitespace) => Ok(v.to_string()),
        _ => Err(ChildError::NotAVersion(text.to_string())),
    }
}

/// Runs `binary args` with a timeout; its stdout when it exits 0, else why not.
pub async fn run_bounded(binary: &Path, args: &[String]) -> Result<String, ChildError> {
    let child = tokio::process::Command::new(binary)
        .args(args)
        .stdin(std::process::Stdio::null())
        // An upgraded member's own rollback variables must not make the child exec anything.
        .env_remove(super::exec::ENV_OLD_BINARY)
        .env_remove(super::exec::ENV_OLD_ARGS)
        .env_remove(super::exec::ENV_ROLLBACK_REASON)
        .kill_on_drop(true)
        .output();
    let shown = format!("{} {}", binary.display(), args.join(" "));
    let out = match tokio::time::timeout(VERSION_TIMEOUT, child).await {
        Err(_) => return Err(ChildError::TimedOut(shown)),
        Ok(Err(e)) => return Err(ChildError::Spawn(shown, e)),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr
            .trim()
            .chars()
            .rev()
            .take(400)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(ChildError::Failed(shown, out.status, tail));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
