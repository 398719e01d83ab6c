//! The preamble every routed federated handler shares: the request's parts extracted as axum
//! would for the handler, then the federated collection and the query's pairs, so a bad
//! collection or query is refused the same way by each of them (as the endpoint's
//! `ObjectWrite` does for its object writes).

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use proto::collections::Collection;
use serde::Deserialize;

use super::collection;
use super::read::query_pairs;
use super::target::asked_endpoint;
use crate::http::auth::Caller;
use crate::http::authz::{identity_or_none, Identity};
use crate::http::{ApiError, AppState};
use crate::registry::Accounts;

/// `{collection}[/{key}[/params[/{*param}]]]`: the segments the federated routes name.
#[derive(Deserialize)]
struct Segments {
    collection: String,
    key: Option<String>,
    param: Option<String>,
}

/// A routed federated request: which collection and object it is about, and what of the
/// request goes on to the cluster (the body stays with the handler).
pub struct FederatedTarget {
    /// The manager.
    pub(super) st: AppState,
    /// The caller as the authentication middleware found it; without it, only the caller's
    /// own credentials go to the cluster (as the gateway does).
    pub(super) caller: Caller,
    /// The manager user's claims, as `authz` resolved them (none without a manager user).
    pub(super) who: Identity,
    /// The path's collection (a federated one).
    pub(super) c: &'static Collection,
    /// The key in the URL (empty for a create).
    pub(super) key: String,
    /// The param a `.../params/<param>` request names.
    pub(super) param: Option<String>,
    /// The request's method.
    pub(super) method: Method,
    /// The request's path and query, as it came (still percent-encoded).
    pub(super) uri: Uri,
    /// The query's pairs, decoded.
    pub(super) pairs: Vec<(String, String)>,
    /// The request's headers.
    pub(super) headers: HeaderMap,
}

impl FederatedTarget {
    /// The endpoint named by `?Endpoint=<id>`, if the query names one.
    pub(super) fn asked(&self) -> Option<&str> {
        asked_endpoint(&self.pairs)
    }

    /// 403 unless the caller's claims allow this request (DRP's action for its method and
    /// path) on the objects of `endpoint`.
    pub(super) fn authorize(&self, endpoint: &str) -> Result<(), ApiError> {
        let rest = self.uri.path().trim_start_matches("/api/v3/");
        match access::route::need(self.method.as_str(), rest) {
            Some(need) => self.who.require(&need, endpoint),
            None => Ok(()),
        }
    }

    /// Whether the caller may `get` this copy of the object (claims on its `Endpoint`).
    pub(super) fn may_get(&self, copy: &serde_json::Value) -> bool {
        self.who.may_get(self.c.name, &self.key, copy)
    }

    /// Whether this request is about a user or role of the manager's own (`named`: the
    /// endpoint the request names): the manager's id named, or none named for a create or an
    /// object the manager holds (the manager is their natural owner).
    pub(super) fn own_account(&self, named: Option<&str>) -> Option<Accounts> {
        let kind = Accounts::of(self.c.name)?;
        let mgr = &self.st.mgr;
        let own = match named {
            Some(endpoint) => endpoint == mgr.config.id,
            None => {
                self.key.is_empty()
                    || crate::http::accounts::own_object(mgr, kind, &self.key).is_some()
            }
        };
        own.then_some(kind)
    }
}

impl FromRequestParts<AppState> for FederatedTarget {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let Path(seg) = Path::<Segments>::from_request_parts(parts, st)
            .await
            .map_err(IntoResponse::into_response)?;
        let c = collection(&seg.collection).map_err(IntoResponse::into_response)?;
        let pairs = query_pairs(&parts.uri).map_err(IntoResponse::into_response)?;
        let caller = parts
            .extensions
            .get::<Caller>()
            .copied()
            .unwrap_or(Caller::ClusterCredential);
        let who = identity_or_none(parts.extensions.get::<Identity>());
        Ok(FederatedTarget {
            st: st.clone(),
            caller,
            who,
            c,
            key: seg.key.unwrap_or_default(),
            param: seg.param,
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            pairs,
            headers: parts.headers.clone(),
        })
    }
}
