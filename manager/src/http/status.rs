//! `GET /api/v3/status` and the git source's state (`/api/v3/git`, `/api/v3/git/refresh`).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::view::live_observed;
use crate::http::{ApiError, AppState};
use crate::state::Manager;
use crate::sync::reconcile::short_sha;

/// The followed repository as status shows it: a remote's URL (never with credentials: they
/// come from files), or the local path.
pub(super) fn shown_repo(mgr: &Manager) -> Option<String> {
    match &mgr.config.git_remote {
        Some(remote) => Some(remote.url.clone()),
        None => mgr
            .config
            .git_repo
            .as_ref()
            .map(|p| p.display().to_string()),
    }
}

pub fn git_view(mgr: &Manager) -> Value {
    let g = mgr.registry.git();
    json!({
        "Repo": shown_repo(mgr),
        "Remote": mgr.config.git_remote.is_some(),
        "Branch": mgr.config.git_branch,
        "LastFetch": g.last_fetch.as_ref().map(|f| json!({
            "At": f.at,
            "Ok": f.error.is_none(),
            "Commit": f.commit,
            "Error": f.error,
        })),
        "Head": g.head,
        "Commit": g.good.as_ref().map(|s| s.commit.clone()),
        "VersionSets": g.good.as_ref().map(|s| s.version_sets.iter().map(|v| v.id.clone()).collect::<Vec<_>>()),
        "Endpoints": g.good.as_ref().map(|s| s.endpoints.iter().map(|v| v.id.clone()).collect::<Vec<_>>()),
        "Rejected": g.rejected.as_ref().map(|r| json!({"Commit": r.commit, "Errors": r.errors})),
        "ReadError": g.read_error,
    })
}

pub(super) async fn git_status(State(st): State<AppState>) -> Json<Value> {
    Json(git_view(&st.mgr))
}

/// Polls the branch now (a remote is fetched first) and waits (up to 10 s) until the head
/// has been read; the git view, with `Saw`: the branch's commit this refresh saw.
pub(super) async fn refresh_now(mgr: &Manager) -> Result<Value, ApiError> {
    if mgr.config.git_repo.is_none() {
        return Err(ApiError::one(
            StatusCode::BAD_REQUEST,
            "git",
            "",
            "the manager follows no git repo (start it with --git-repo)",
        ));
    }
    let mut polled = mgr.git_polled.subscribe();
    let target = crate::sync::gitsource::current_head(mgr).await;
    mgr.git_poke.notify_one();
    let deadline = Instant::now() + Duration::from_secs(10);
    // No head (a failed fetch, an unreadable repo): nothing to wait for; status says why.
    while target.is_some() && Instant::now() < deadline {
        let g = mgr.registry.git();
        if target.is_some() && g.head == target {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, polled.changed()).await.is_err() {
            break;
        }
    }
    let mut view = git_view(mgr);
    if let Some(obj) = view.as_object_mut() {
        obj.insert("Saw".into(), json!(target));
    }
    Ok(view)
}

/// One row per endpoint: what `drp-manager status` prints.
pub fn status_rows(mgr: &Manager) -> Vec<Value> {
    mgr.effective_endpoints()
        .values()
        .map(|(ep, src)| {
            let o = live_observed(mgr, &ep.id);
            let up = o.members.iter().filter(|m| m.online).count();
            let pending: Vec<String> = o.actions.iter().map(ToString::to_string).collect();
            json!({
                "Endpoint": ep.id,
                "Source": src.as_str(),
                "Apply": ep.apply,
                "ConnectionStatus": o.status(),
                "Leader": o.leader.as_ref().map(|l| l.api_url.clone()),
                "MembersUp": up,
                "MembersTotal": o.members.len(),
                "DesiredCommit": o.desired_commit,
                "DesiredHash": o.desired_hash,
                "AppliedCommit": o.applied.as_ref().map(|a| a.git_commit.clone()),
                "AppliedHash": o.applied.as_ref().map(|a| a.hash.clone()),
                "AppliedIndex": o.applied.as_ref().map(|a| a.index),
                "InSync": o.in_sync(),
                "PendingActions": pending,
                "Errors": o.errors,
                "LastError": o.errors.last(),
            })
        })
        .collect()
}

pub(super) async fn status(State(st): State<AppState>) -> Json<Value> {
    let git = git_view(&st.mgr);
    let mut rejected = Vec::new();
    if let Some(r) = st.mgr.registry.git().rejected {
        rejected.push(format!("git commit {} rejected:", short_sha(&r.commit)));
        rejected.extend(r.errors);
    }
    Json(json!({
        "Git": git,
        "GitErrors": rejected,
        "Endpoints": status_rows(&st.mgr),
    }))
}
