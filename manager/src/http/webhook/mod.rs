//! `POST /api/v3/git/refresh`: the admin's "poll now", and the push webhook of GitHub,
//! GitLab and Gitea. Without the admin's credentials a call must carry a valid signature
//! (or GitLab token) for `--webhook-secret-file`; anything else is a 401 that changes nothing.

mod push;
pub mod signature;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde_json::json;

use super::auth::Caller;
use super::status::refresh_now;
use crate::http::{ApiError, ApiResult, AppState};

/// The handler: who calls, which push, then the refresh (a reply naming the commit seen).
pub(super) async fn refresh(
    State(st): State<AppState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let forge = if caller.is_some_and(|Extension(c)| c == Caller::ManagerAdmin) {
        None
    } else {
        let Some(secret) = &st.mgr.config.webhook_secret else {
            return Err(ApiError::unauthorized(
                "authenticate with HTTP Basic as the manager's admin (webhooks are taken \
                 without it only when the manager runs with --webhook-secret-file)",
            ));
        };
        match signature::verify(&headers, &body, secret.expose().as_bytes()) {
            Ok(forge) => Some(forge),
            Err(refused) => {
                tracing::warn!("git: webhook refused: {refused}");
                return Err(ApiError::unauthorized(refused.to_string()));
            }
        }
    };
    let push =
        push::parse(&body).map_err(|e| ApiError::bad_request("webhook", "", e.to_string()))?;
    let event = forge.map_or("refresh", signature::Forge::name);
    if let Some(git_ref) = &push.git_ref {
        if !push::is_followed(git_ref, &st.mgr.config.git_branch) {
            return Ok((
                StatusCode::ACCEPTED,
                Json(json!({
                    "Event": event,
                    "Ignored": format!("a push to {git_ref}; the manager follows {}", st.mgr.config.git_branch),
                })),
            )
                .into_response());
        }
    }
    tracing::info!(event, pushed = ?push.after, "git: refresh requested");
    let mut reply = refresh_now(&st.mgr).await?;
    if let Some(obj) = reply.as_object_mut() {
        obj.insert("Event".into(), json!(event));
        obj.insert("Pushed".into(), json!(push.after));
    }
    Ok(Json(reply).into_response())
}
