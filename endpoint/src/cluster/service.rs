//! The member-to-member gRPC service (consensus port): thin adapters into `Node`.

use std::time::Instant;

use proto::raft::cluster_service_server::ClusterService;
use proto::raft::{IdentifyRequest, Identity, Payload};
use tonic::{Request, Response, Status};

use super::membership::{enroll_on_leader, remove_on_leader, reply_of, EnrollRequest};
use super::state::local_leader_view;
use crate::command;
use crate::node::messages::{AdminReply, ForwardOutcome, ReadIndexOutcome};
use crate::node::{LeaderHint, Node};
use crate::raft::network::{decode, encode};

pub struct ClusterGrpc {
    node: Node,
}

impl ClusterGrpc {
    pub fn new(node: Node) -> Self {
        ClusterGrpc { node }
    }
}

fn reply<T: serde::Serialize>(value: &T) -> Result<Response<Payload>, Status> {
    encode(value)
        .map(Response::new)
        .map_err(|e| Status::internal(e.to_string()))
}

fn not_leader_reply() -> AdminReply {
    let body = command::error_body(
        503,
        "",
        "",
        vec!["this member is no longer the leader; retry".into()],
    );
    AdminReply { status: 503, body }
}

#[tonic::async_trait]
impl ClusterService for ClusterGrpc {
    async fn identify(&self, _req: Request<IdentifyRequest>) -> Result<Response<Identity>, Status> {
        let initialized = self
            .node
            .raft
            .is_initialized()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(Identity {
            consensus_id: self.node.settings.consensus_id.clone(),
            ha_id: self.node.settings.ha_id.clone(),
            initialized,
        }))
    }

    async fn forward_write(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let request: command::Request =
            decode(req.get_ref()).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let outcome = match self.node.leader_hint() {
            LeaderHint::Me => match crate::node::check_depth(&request) {
                Ok(()) => {
                    let deadline = Instant::now() + self.node.settings.write_timeout;
                    self.node.write_as_leader(request, deadline).await
                }
                Err(e) => ForwardOutcome::Applied(command::Response::error(
                    e.status(),
                    "",
                    "",
                    e.to_string(),
                )),
            },
            _ => ForwardOutcome::NotLeader(self.node.leader_id()),
        };
        reply(&outcome)
    }

    async fn read_index(&self, _req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let outcome = match self.node.leader_hint() {
            LeaderHint::Me => self.node.leader_read_index().await,
            _ => ReadIndexOutcome::NotLeader(self.node.leader_id()),
        };
        reply(&outcome)
    }

    async fn leader_view(&self, _req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let m = self.node.metrics();
        reply(&local_leader_view(&self.node, &m))
    }

    async fn enroll(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let request: EnrollRequest =
            decode(req.get_ref()).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if !matches!(self.node.leader_hint(), LeaderHint::Me) {
            return reply(&not_leader_reply());
        }
        reply(&reply_of(enroll_on_leader(&self.node, request).await))
    }

    async fn remove_node(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let consensus_id: String =
            decode(req.get_ref()).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if !matches!(self.node.leader_hint(), LeaderHint::Me) {
            return reply(&not_leader_reply());
        }
        reply(&reply_of(remove_on_leader(&self.node, &consensus_id).await))
    }
}
