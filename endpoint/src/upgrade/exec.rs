//! Replacing this process with another binary: the new one after a clean shutdown, or the
//! old one back when the new one fails before it serves.
//!
//! The old binary's path and argv travel in environment variables, so the new binary needs
//! nothing else to find its way back; the reason for a rollback travels the same way and the
//! old binary records it in the status file once it serves again.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// The binary to exec back into if this one fails before it serves.
pub const ENV_OLD_BINARY: &str = "DRP_UPGRADE_OLD_BINARY";
/// Its argv (after argv[0]), as a JSON array.
pub const ENV_OLD_ARGS: &str = "DRP_UPGRADE_OLD_ARGS";
/// Set on the old binary when the new one failed: why.
pub const ENV_ROLLBACK_REASON: &str = "DRP_UPGRADE_ROLLBACK_REASON";

/// What to exec once serving has stopped.
#[derive(Debug, Clone)]
pub struct Plan {
    pub binary: PathBuf,
    pub args: Vec<String>,
}

static PLAN: Mutex<Option<Plan>> = Mutex::new(None);
/// Set once this process serves: from then on a failure is not a failed start.
static SERVED: AtomicBool = AtomicBool::new(false);

fn wake() -> &'static tokio::sync::Notify {
    static WAKE: OnceLock<tokio::sync::Notify> = OnceLock::new();
    WAKE.get_or_init(tokio::sync::Notify::new)
}

/// Asks the serve loop to shut down and exec `plan` afterwards.
pub fn request(plan: Plan) {
    *PLAN.lock().unwrap_or_else(|e| e.into_inner()) = Some(plan);
    // notify_one keeps a permit, so a request made before the serve loop waits is not lost.
    wake().notify_one();
}

/// Resolves when an exec was requested (the serve loop then shuts down as on a signal).
pub async fn requested() {
    wake().notified().await
}

pub fn mark_served() {
    SERVED.store(true, Ordering::SeqCst);
}

/// This process's argv after argv[0].
pub fn own_args() -> Vec<String> {
    std::env::args().skip(1).collect()
}

/// Why this process is still running after it meant to exec another binary.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// This binary's own path or argv could not be handed to the new one.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Args(#[from] serde_json::Error),
    #[error("{reason}; exec back into {} failed too: {err}", .binary.display())]
    BackFailed {
        reason: String,
        binary: PathBuf,
        err: std::io::Error,
    },
}

/// Execs the requested binary, if any (call after serving stopped cleanly). Returns only when
/// there was nothing to exec; when the exec itself fails, execs this binary again with its
/// own argv and the reason, so the member comes back as it was.
pub fn exec_if_planned() -> Result<(), ExecError> {
    let Some(plan) = PLAN.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return Ok(());
    };
    let me = std::env::current_exe()?;
    tracing::info!(binary = %plan.binary.display(), args = ?plan.args, "exec into the new binary");
    let err = Command::new(&plan.binary)
        .args(&plan.args)
        .env(ENV_OLD_BINARY, &me)
        .env(ENV_OLD_ARGS, serde_json::to_string(&own_args())?)
        .env_remove(ENV_ROLLBACK_REASON)
        .exec();
    let reason = format!("exec of {} failed: {err}", plan.binary.display());
    tracing::error!("{reason}");
    back_into(me, own_args(), &reason)
}

/// When this process was exec'd by an upgrade and has not served yet, execs the old binary
/// back with `reason`. Returns if this is not such a start (or the exec back failed).
pub fn roll_back_if_upgrading(reason: &str) -> Result<(), ExecError> {
    if SERVED.load(Ordering::SeqCst) {
        return Ok(());
    }
    let Some(old) = std::env::var_os(ENV_OLD_BINARY) else {
        return Ok(());
    };
    let args: Vec<String> = std::env::var(ENV_OLD_ARGS)
        .ok()
        .and_then(|a| serde_json::from_str(&a).ok())
        .unwrap_or_default();
    tracing::error!(%reason, "the new binary failed before it served: rolling back");
    back_into(PathBuf::from(old), args, reason)
}

fn back_into(binary: PathBuf, args: Vec<String>, reason: &str) -> Result<(), ExecError> {
    let err = Command::new(&binary)
        .args(&args)
        .env(ENV_ROLLBACK_REASON, reason)
        .env_remove(ENV_OLD_BINARY)
        .env_remove(ENV_OLD_ARGS)
        .exec();
    Err(ExecError::BackFailed {
        reason: reason.to_string(),
        binary,
        err,
    })
}
