//! The git source's side of a remote: fetch into the mirror and record how it went.

use std::time::{SystemTime, UNIX_EPOCH};

use super::FetchError;
use crate::registry::FetchRecord;
use crate::state::Manager;

/// Fetches the followed branch when `--git-repo` is a remote (`None` for a local repo),
/// and records the outcome for status. A failure leaves the mirror, and so the commit in
/// force, as they were.
pub async fn fetch_and_record(mgr: &Manager) -> Option<Result<String, FetchError>> {
    let remote = mgr.config.git_remote.as_ref()?;
    let mirror = mgr.config.git_repo.as_ref()?;
    let mut shutdown = mgr.shutdown_signal();
    let result = super::fetch(remote, mirror, &mgr.config.git_branch, &mut shutdown).await;
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let record = match &result {
        Ok(commit) => {
            tracing::debug!(%commit, "git: fetched");
            FetchRecord {
                at,
                commit: Some(commit.clone()),
                error: None,
            }
        }
        // Cut short by shutdown: nothing to report.
        Err(FetchError::ShuttingDown) => return Some(Err(FetchError::ShuttingDown)),
        Err(e) => {
            tracing::warn!("git: fetch failed; the commit in force stays: {e}");
            FetchRecord {
                at,
                commit: None,
                error: Some(e.to_string()),
            }
        }
    };
    if let Err(e) = mgr.registry.update_git(|g| g.last_fetch = Some(record)) {
        tracing::error!("git: cannot record the fetch: {e}");
    }
    Some(result)
}
