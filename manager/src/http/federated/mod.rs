//! The manager as DRP's "single pane of glass" (issue 14): `/api/v3/<collection>` for every
//! collection in [`proto::collections::FEDERATED`].
//!
//! - Reads ([`read`]) are served from the replica of every cluster, each object with
//!   `Endpoint: <id>`, filtered, sorted and paged by the endpoint's own query engine
//!   ([`proto::query`]). They never wait on a cluster: a cluster whose replica is not current
//!   keeps its objects listed and is named in `X-DRP-Stale-Endpoints` ([`stale`]).
//! - Writes ([`write`]) go to the owning cluster's leader through the gateway's
//!   leader-following forwarding, and the reply comes back with `Endpoint` set. After a 2xx,
//!   the reply waits until the replica reached the write's commit index, or writes the reply's
//!   object through into the replica, so the next read through the manager sees it
//!   ([`settle`]).
//! - Which endpoint a request means is decided in [`target`]: `?Endpoint=<id>` always wins;
//!   otherwise the endpoint holding the key (a `GET` with several holders serves the first by
//!   id and names them all in `X-DRP-Endpoint-Owners`, a write is refused with 409 asking
//!   for `?Endpoint=`); a create names its endpoint with `Endpoint` in its body.
//! - An object's params ([`params`]) are read from the replica's copy and written on the
//!   owner, as the object is.

mod extract;
mod listing;
mod params;
mod read;
mod settle;
mod stale;
mod target;
mod write;

use axum::http::StatusCode;
use proto::collections::{self, Collection};

pub use params::{get as get_params, write as write_params};
pub use read::{count, get, list, list_for};
pub use write::{create, write};

use crate::http::ApiError;

/// The federated collection named `name`; 404 in DRP's shape for any other.
fn collection(name: &str) -> Result<&'static Collection, ApiError> {
    collections::FEDERATED
        .contains(&name)
        .then(|| collections::by_name(name))
        .flatten()
        .ok_or_else(|| {
            ApiError::one(
                StatusCode::NOT_FOUND,
                "",
                name,
                format!(
                    "no collection {name:?} on the manager (federated: {})",
                    collections::FEDERATED.join(", ")
                ),
            )
        })
}
