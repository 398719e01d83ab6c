//! Progressive rollouts across clusters: the repository's `rollouts/*.yaml` splits the
//! endpoints into waves (by the labels in their `Meta`); a new commit reaches one wave at a
//! time, at most `MaxParallel` endpoints of it at once, and the next wave starts only once
//! the health gate has held on the previous one for the settle time. The first refused apply
//! (or a job failed since the apply) halts the rollout and leaves the later waves alone.
//!
//! The reconcilers still do the applying: they ask [`Rollouts::admits`] before a push, and
//! report a refusal with [`Rollouts::refused`]. [`run`] moves the rollout along.

mod drive;
mod gate;
pub mod spec;
pub mod status;

use std::sync::Mutex;

pub use drive::run;
pub use status::Status;

use status::{now_ms, Halt, HALTED, PAUSED, RUNNING};

/// The rollout state the API, the reconcilers and the driver share.
#[derive(Debug, Default)]
pub struct Rollouts {
    status: Mutex<Status>,
    /// Set by `resume` while halted: the driver starts over with the newest commit.
    restart: Mutex<bool>,
    /// Asks the driver to look now (a new commit), rather than at its next tick.
    poke: tokio::sync::Notify,
}

/// Why `pause`/`resume` changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the repository declares no rollout (rollouts/*.yaml)")]
    NoRollout,
}

/// Why an endpoint's push of a commit waits (shown among the endpoint's errors).
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// The driver has not looked at the repository yet.
    #[error("rollout: starting")]
    Starting,
    /// The commit is newer than the one the driver follows, and may declare a rollout.
    #[error("rollout: waiting for the rollout to take this commit")]
    CommitPending,
    /// The rollout halted; only `rollout resume` moves it again.
    #[error(
        "rollout halted at endpoint `{endpoint}` (wave `{wave}`): {reason}; waiting for `drp-manager rollout resume`"
    )]
    Halted {
        endpoint: String,
        wave: String,
        reason: String,
    },
    /// The endpoint's wave is not released yet.
    #[error("rollout: waiting for wave `{0}`")]
    Wave(String),
}

impl Rollouts {
    fn with<T>(&self, f: impl FnOnce(&mut Status) -> T) -> T {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }

    /// Has the driver look at the repository now: a new commit waits for its look before
    /// any reconciler may push it ([`AdmitError::CommitPending`]).
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// A copy of the status.
    pub fn status(&self) -> Status {
        self.with(|s| s.clone())
    }

    /// Whether endpoint `id` may push the desired state of `commit` now; `Err` says why it
    /// waits. Endpoints no wave selects, and desired states not from git, are not governed.
    pub fn admits(&self, id: &str, commit: Option<&str>) -> Result<(), AdmitError> {
        if commit.is_none() {
            return Ok(());
        }
        self.with(|s| {
            // Until the driver's first look, nothing from git goes out ungated.
            if s.state.is_empty() {
                return Err(AdmitError::Starting);
            }
            // A commit the driver has not looked at yet may declare a rollout.
            if s.commit.as_deref() != commit && s.halt.is_none() {
                return Err(AdmitError::CommitPending);
            }
            if s.rollout.is_none() {
                return Ok(());
            }
            if let (Some(h), Some(_)) = (&s.halt, s.endpoint(id)) {
                return Err(AdmitError::Halted {
                    endpoint: h.endpoint.clone(),
                    wave: h.wave.clone(),
                    reason: h.reason.clone(),
                });
            }
            match s.endpoint(id) {
                Some(ep) if !ep.released => Err(AdmitError::Wave(ep.wave.clone())),
                _ => Ok(()),
            }
        })
    }

    /// An apply of the rollout's commit the cluster refused: the rollout halts.
    pub fn refused(&self, id: &str, commit: Option<&str>, reason: &str) {
        self.with(|s| {
            let governed = s.rollout.is_some()
                && s.commit.as_deref() == commit
                && s.endpoint(id).is_some_and(|e| e.released);
            if !governed || s.halt.is_some() {
                return;
            }
            let wave = s.endpoint(id).map(|e| e.wave.clone()).unwrap_or_default();
            if let Some(e) = s.endpoint_mut(id) {
                e.error = Some(reason.to_owned());
            }
            halt(s, id, &wave, reason.to_owned());
        })
    }

    /// `rollout pause`: endpoints already released finish; no other starts.
    pub fn pause(&self) -> Result<Status, ControlError> {
        self.with(|s| {
            if s.rollout.is_none() {
                return Err(ControlError::NoRollout);
            }
            s.paused = true;
            if s.state == RUNNING {
                s.state = PAUSED.into();
            }
            tracing::info!(rollout = ?s.rollout, "rollout paused");
            Ok(s.clone())
        })
    }

    /// `rollout resume`: clears a pause; after a halt, starts over from the first wave with
    /// the newest commit.
    pub fn resume(&self) -> Result<Status, ControlError> {
        let status = self.with(|s| {
            if s.rollout.is_none() {
                return Err(ControlError::NoRollout);
            }
            s.paused = false;
            if s.state == PAUSED {
                s.state = RUNNING.into();
            }
            tracing::info!(rollout = ?s.rollout, halted = s.halt.is_some(), "rollout resumed");
            Ok(s.clone())
        })?;
        if status.halt.is_some() {
            *self.restart.lock().unwrap_or_else(|p| p.into_inner()) = true;
        }
        Ok(status)
    }

    /// Takes the restart request `resume` left.
    fn take_restart(&self) -> bool {
        std::mem::take(&mut *self.restart.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Stops the rollout at `endpoint` for `reason`.
fn halt(s: &mut Status, endpoint: &str, wave: &str, reason: String) {
    tracing::error!(endpoint, wave, commit = ?s.commit, "rollout halted: {reason}");
    s.state = HALTED.into();
    s.halt = Some(Halt {
        endpoint: endpoint.to_owned(),
        wave: wave.to_owned(),
        commit: s.commit.clone().unwrap_or_default(),
        reason,
        at_ms: now_ms(),
    });
    for w in &mut s.waves {
        if w.name == wave {
            w.state = HALTED.into();
        }
    }
}
