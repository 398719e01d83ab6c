//! The dashboard's federated object lists: `GET /ui/api/<collection>` answers exactly what
//! `GET /api/v3/<collection>` answers (the replica's union over every cluster, DRP's filters,
//! sort and paging, the count and `X-DRP-Stale-Endpoints` headers), for a signed-in session
//! instead of the API's Basic auth. It calls the API's own handler, so the page can never
//! drift from what API clients see.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::session;
use crate::http::AppState;

/// One page of a federated collection; 401 without a session.
pub async fn list(
    State(st): State<AppState>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if !session::valid(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    crate::http::federated_list(State(st), Path(name), uri)
        .await
        .into_response()
}
