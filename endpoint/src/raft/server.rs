//! The server side of the Raft transport: thin adapters from gRPC into the Raft handle.
//! A malformed message is answered with `InvalidArgument`; nothing a peer sends can panic.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use proto::raft::raft_service_server::RaftService;
use proto::raft::{Payload, SnapshotChunk};
use tokio::sync::watch;
use tonic::{Request, Response, Status, Streaming};

use super::network::{decode, encode};
use super::{Raft, Snapshot, SnapshotMeta, Vote};

/// Refuse snapshots larger than this rather than buffer without bound.
const MAX_SNAPSHOT_BYTES: usize = 4 << 30;

pub struct RaftGrpc {
    raft: Raft,
    me: String,
    ha_id: String,
    /// Ends open StreamAppend streams: the leader keeps one open to each follower for as long
    /// as it leads, so without this the server's graceful drain waits out its whole grace.
    shutdown: watch::Receiver<bool>,
}

impl RaftGrpc {
    pub fn new(
        raft: &super::RaftHandle,
        node_id: super::NodeId,
        ha_id: String,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        RaftGrpc {
            raft: raft.raft.clone(),
            me: format!("{node_id:016x}"),
            ha_id,
            shutdown,
        }
    }

    /// Refuses a message meant for another member or cluster: answering it would let this
    /// node vote or append under an identity that is not its own.
    fn check<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let header = |name| req.metadata().get(name).and_then(|v| v.to_str().ok());
        match (header(super::TARGET_HEADER), header(super::HA_ID_HEADER)) {
            (Some(target), Some(ha)) if target == self.me && ha == self.ha_id => Ok(()),
            (target, ha) => Err(Status::unavailable(format!(
                "this is member {} of {:?}; the message is for {} of {:?}",
                self.me,
                self.ha_id,
                target.unwrap_or("?"),
                ha.unwrap_or("?")
            ))),
        }
    }
}

fn bad(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(e.to_string())
}

fn stopped(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("raft is not running: {e}"))
}

fn reply<T: serde::Serialize>(value: &T) -> Result<Response<Payload>, Status> {
    encode(value)
        .map(Response::new)
        .map_err(|e| Status::internal(e.to_string()))
}

type PayloadStream = Pin<Box<dyn Stream<Item = Result<Payload, Status>> + Send>>;

#[tonic::async_trait]
impl RaftService for RaftGrpc {
    async fn vote(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        self.check(&req)?;
        let rpc = decode(req.get_ref()).map_err(bad)?;
        reply(&self.raft.vote(rpc).await.map_err(stopped)?)
    }

    async fn pre_vote(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        self.check(&req)?;
        let rpc = decode(req.get_ref()).map_err(bad)?;
        reply(&self.raft.pre_vote(rpc).await.map_err(stopped)?)
    }

    async fn append_entries(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        self.check(&req)?;
        let rpc = decode(req.get_ref()).map_err(bad)?;
        reply(&self.raft.append_entries(rpc).await.map_err(stopped)?)
    }

    type StreamAppendStream = PayloadStream;

    async fn stream_append(
        &self,
        req: Request<Streaming<Payload>>,
    ) -> Result<Response<Self::StreamAppendStream>, Status> {
        self.check(&req)?;
        // A request that does not decode ends the inbound stream; openraft then sees the
        // stream close and the leader retries from its last acknowledged position.
        let inbound = tokio_stream::StreamExt::map_while(req.into_inner(), |item| {
            item.ok().and_then(|p| decode(&p).ok())
        });
        let mut stop = self.shutdown.clone();
        let stopping = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        // Ending the stream on shutdown lets the connection drain; the leader sees it close
        // and retries, like any lost connection.
        let outbound = self
            .raft
            .stream_append(inbound)
            .map(|item| match item {
                Ok(result) => encode(&result).map_err(|e| Status::internal(e.to_string())),
                Err(fatal) => Err(stopped(fatal)),
            })
            .take_until(stopping);
        Ok(Response::new(Box::pin(outbound)))
    }

    async fn install_snapshot(
        &self,
        req: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<Payload>, Status> {
        self.check(&req)?;
        let mut chunks = req.into_inner();
        let mut header: Option<(Vote, SnapshotMeta)> = None;
        let mut body = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            if header.is_none() {
                let parsed = serde_json::from_slice(&chunk.header)
                    .map_err(|e| bad(format!("snapshot header: {e}")))?;
                header = Some(parsed);
            }
            if body.len() + chunk.data.len() > MAX_SNAPSHOT_BYTES {
                return Err(Status::resource_exhausted(
                    "snapshot exceeds the size limit",
                ));
            }
            body.extend_from_slice(&chunk.data);
        }
        let (vote, meta) = header.ok_or_else(|| bad("empty snapshot stream"))?;
        let snapshot = Snapshot {
            meta,
            snapshot: body,
        };
        reply(
            &self
                .raft
                .install_full_snapshot(vote, snapshot)
                .await
                .map_err(stopped)?,
        )
    }

    async fn transfer_leader(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        self.check(&req)?;
        let rpc = decode(req.get_ref()).map_err(bad)?;
        reply(
            &self
                .raft
                .handle_transfer_leader(rpc)
                .await
                .map_err(stopped)?,
        )
    }
}
