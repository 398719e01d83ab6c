//! `GET /api/v3/rollout` (the progressive rollout per wave and per endpoint) and
//! `POST /api/v3/rollout/pause|resume`.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;

use crate::http::{ApiError, ApiResult, AppState};
use crate::sync::rollout::{ControlError, Status};

/// The rollout's status path; `/pause` and `/resume` under it.
pub const PATH: &str = "/api/v3/rollout";

pub(super) async fn status(State(st): State<AppState>) -> Json<Status> {
    Json(st.mgr.rollout.status())
}

pub(super) async fn pause(State(st): State<AppState>) -> ApiResult {
    answer(st.mgr.rollout.pause())
}

pub(super) async fn resume(State(st): State<AppState>) -> ApiResult {
    let status = answer(st.mgr.rollout.resume())?;
    // Endpoints held by the rollout re-plan at once rather than at their next round.
    st.mgr.wake_all();
    Ok(status)
}

fn answer(r: Result<Status, ControlError>) -> ApiResult {
    match r {
        Ok(s) => Ok(Json(s).into_response()),
        Err(e) => Err(ApiError::conflict("rollout", "", e.to_string())),
    }
}
