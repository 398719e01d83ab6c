//! Who is calling on the consensus port. The TLS layer already proved the caller holds a
//! certificate from the cluster CA; this check adds that it is still a member, so a removed
//! node's certificate is refused from the moment this node learns of the removal.

use tonic::{Request, Status};

use super::authority::common_name;
use crate::raft::RaftHandle;

/// The caller's ConsensusID, from its member certificate.
pub fn consensus_id<T>(req: &Request<T>) -> Option<String> {
    let certs = req.peer_certs()?;
    certs.first().and_then(|c| common_name(c.as_ref()))
}

/// A tonic interceptor for both member services.
pub fn members_only(
    raft: RaftHandle,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |req: Request<()>| {
        let Some(caller) = consensus_id(&req) else {
            return Err(Status::unauthenticated("a member certificate is required"));
        };
        let members = raft.members();
        // A node that has not joined yet knows no members: the CA's word is all it has (this is
        // how the leader reaches a node it is enrolling).
        if members.is_empty() || members.values().any(|info| info.consensus_id == caller) {
            Ok(req)
        } else {
            Err(Status::permission_denied(format!(
                "{caller} is not a member of this cluster"
            )))
        }
    }
}
