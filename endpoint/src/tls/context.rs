//! What certificate rotation needs from the member it runs on. TLS sits below the node in
//! the module layers (the node holds the live certificates), so rotation asks through this
//! trait, which the node implements, instead of naming `Node`.

use std::future::Future;

use super::rotation::Live;
use super::TlsError;
use crate::command::{Request, Response};
use crate::raft::network::Channels;
use crate::store::ObjectStore;

pub trait RotationHost: Send + Sync {
    /// The replicated state holding the cluster CA and API certificate.
    fn store(&self) -> &ObjectStore;
    /// The certificates this member serves.
    fn live(&self) -> &Live;
    /// This member's ConsensusID (the CN of its member certificate).
    fn consensus_id(&self) -> &str;
    /// Connections to the other members, re-keyed when the member certificate changes.
    fn channels(&self) -> &Channels;
    /// The API URL of every current member (the API certificate names all their hosts).
    fn member_api_urls(&self) -> Vec<String>;
    /// Commits a request through the leader; a failure carries the status the write path
    /// gives it.
    fn commit(&self, req: Request) -> impl Future<Output = Result<Response, TlsError>> + Send;
}
