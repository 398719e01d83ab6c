//! The client side of the Raft transport: one cached gRPC channel per peer address, a
//! timeout on every RPC, `Unreachable` for a peer that refuses or drops connections (so
//! openraft backs off instead of hammering it), pipelined append over one bidi stream and
//! snapshots sent as a stream of bounded chunks.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use openraft::base::{BoxFuture, BoxStream};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{Backoff, RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult,
    TransferLeaderRequest, TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::OptionalSend;
use proto::raft::raft_service_client::RaftServiceClient;
use proto::raft::{Payload, SnapshotChunk};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::{MemberInfo, NodeId, Snapshot, TypeConfig, Vote};

/// Largest slice of a snapshot sent in one message.
pub const SNAPSHOT_CHUNK: usize = 1 << 20;
/// A snapshot transfer may take this long per chunk before the peer counts as stuck.
const SNAPSHOT_CHUNK_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// openraft's soft TTLs derive from the heartbeat interval (tens of ms); a follower's fsync
/// on a busy machine can take longer, so these floors keep a slow peer from being declared
/// unreachable while a dead or paused one is still detected within about a second.
const UNARY_FLOOR: Duration = Duration::from_millis(150);
const STREAM_SETUP_FLOOR: Duration = Duration::from_millis(500);
const STREAM_REPLY_FLOOR: Duration = Duration::from_millis(1000);

/// Why a channel to a peer could not be made, or a message between members could not be
/// encoded or decoded. The cause is part of the text (no `#[source]`): every caller turns it
/// into one line, a gRPC status, a 503 message or openraft's network error.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the {0} is poisoned")]
    Poisoned(&'static str),
    #[error("this node holds no member certificate yet")]
    NoMemberCertificate,
    #[error("bad consensus address {addr:?}: {why}")]
    BadAddress {
        addr: String,
        why: tonic::transport::Error,
    },
    #[error("member TLS for {addr}: {why}")]
    Tls {
        addr: String,
        why: tonic::transport::Error,
    },
    #[error("encode: {0}")]
    Encode(serde_json::Error),
    #[error("decode: {0}")]
    Decode(serde_json::Error),
}

/// Channels to peers, shared by Raft replication and the member-to-member cluster calls.
#[derive(Clone, Default)]
pub struct Channels {
    by_addr: Arc<Mutex<HashMap<String, Channel>>>,
    /// Source IP for outbound member connections (`--consensus-source-ip`).
    source_ip: Option<std::net::IpAddr>,
    /// Member TLS; until this node holds a member certificate it cannot dial anyone.
    tls: Arc<Mutex<Option<ClientTlsConfig>>>,
    /// The consensus runtime: channels are made there, so their connections run on its
    /// threads even when an API request is the first to dial a peer.
    runtime: Option<tokio::runtime::Handle>,
}

impl Channels {
    pub fn with_source_ip(source_ip: Option<std::net::IpAddr>) -> Self {
        Channels {
            source_ip,
            ..Channels::default()
        }
    }

    /// Makes channels on `runtime` from now on.
    pub fn on_runtime(self, runtime: Option<tokio::runtime::Handle>) -> Self {
        Channels { runtime, ..self }
    }

    /// Dial members with this TLS identity from now on (drops channels made before).
    pub fn set_tls(&self, tls: ClientTlsConfig) {
        if let Ok(mut slot) = self.tls.lock() {
            *slot = Some(tls);
        }
        if let Ok(mut map) = self.by_addr.lock() {
            map.clear();
        }
    }

    /// The cached channel to `addr` (host:port), created lazily: it connects on first use and
    /// reconnects by itself after the peer restarts.
    pub fn get(&self, addr: &str) -> Result<Channel, WireError> {
        let mut map = self
            .by_addr
            .lock()
            .map_err(|_| WireError::Poisoned("channel cache"))?;
        if let Some(ch) = map.get(addr) {
            return Ok(ch.clone());
        }
        let tls = self
            .tls
            .lock()
            .map_err(|_| WireError::Poisoned("TLS config"))?
            .clone()
            .ok_or(WireError::NoMemberCertificate)?;
        let endpoint = Endpoint::from_shared(format!("https://{addr}"))
            .map_err(|why| WireError::BadAddress {
                addr: addr.to_string(),
                why,
            })?
            .tls_config(tls)
            .map_err(|why| WireError::Tls {
                addr: addr.to_string(),
                why,
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .local_address(self.source_ip)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5));
        let _on_consensus_runtime = self.runtime.as_ref().map(|rt| rt.enter());
        let ch = endpoint.connect_lazy();
        map.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}

pub struct NetworkFactory {
    pub channels: Channels,
    pub ha_id: String,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &MemberInfo) -> Self::Network {
        PeerClient {
            target,
            ha_id: self.ha_id.clone(),
            channels: self.channels.clone(),
            addr: node.consensus_addr.clone(),
        }
    }
}

/// openraft keeps one client per peer for as long as a replication stream lives, so the
/// channel is looked up at every call: a client made before this node held its member
/// certificate, or before a certificate rotation, must not stay broken or stale.
pub struct PeerClient {
    target: NodeId,
    ha_id: String,
    channels: Channels,
    addr: String,
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Payload, WireError> {
    serde_json::to_vec(value)
        .map(|data| Payload { data })
        .map_err(WireError::Encode)
}

pub(crate) fn decode<T: DeserializeOwned>(payload: &Payload) -> Result<T, WireError> {
    serde_json::from_slice(&payload.data).map_err(WireError::Decode)
}

fn unreachable(msg: impl ToString) -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::from_string(msg))
}

fn network(msg: impl ToString) -> RPCError<TypeConfig> {
    RPCError::Network(NetworkError::from_string(msg))
}

/// Connection-level failures mean the peer is down or partitioned: `Unreachable`.
fn from_status(target: NodeId, status: tonic::Status) -> RPCError<TypeConfig> {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown => {
            unreachable(format!("peer {target:016x}: {}", status.message()))
        }
        _ => network(format!(
            "peer {target:016x}: {}: {}",
            status.code(),
            status.message()
        )),
    }
}

impl PeerClient {
    /// Names the member this message is for, so that whatever now listens at that address
    /// (a wiped and restarted node, a node of another cluster) refuses it instead of voting
    /// or appending with the wrong identity.
    fn addressed<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        let headers = req.metadata_mut();
        if let Ok(v) = format!("{:016x}", self.target).parse() {
            headers.insert(super::TARGET_HEADER, v);
        }
        if let Ok(v) = self.ha_id.parse() {
            headers.insert(super::HA_ID_HEADER, v);
        }
        req
    }

    fn client(&self) -> Result<RaftServiceClient<Channel>, RPCError<TypeConfig>> {
        let ch = self.channels.get(&self.addr).map_err(unreachable)?;
        Ok(RaftServiceClient::new(ch).max_decoding_message_size(64 << 20))
    }

    async fn unary<Req, Resp, F, Fut>(
        &self,
        req: &Req,
        ttl: Duration,
        call: F,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        F: FnOnce(RaftServiceClient<Channel>, tonic::Request<Payload>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Payload>, tonic::Status>>,
    {
        let payload = encode(req).map_err(network)?;
        let ttl = ttl.max(UNARY_FLOOR);
        let fut = call(self.client()?, self.addressed(payload));
        match tokio::time::timeout(ttl, fut).await {
            Err(_) => Err(unreachable(format!(
                "peer {:016x}: no answer within {ttl:?}",
                self.target
            ))),
            Ok(Err(status)) => Err(from_status(self.target, status)),
            Ok(Ok(resp)) => decode(resp.get_ref()).map_err(network),
        }
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.unary(&rpc, option.soft_ttl(), |mut c, p| async move {
            c.append_entries(p).await
        })
        .await
    }

    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<
        's,
        Result<
            BoxStream<'s, Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>>,
            RPCError<TypeConfig>,
        >,
    >
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + OptionalSend + Unpin + 'static,
    {
        let target = self.target;
        let setup_ttl = option.soft_ttl().max(STREAM_SETUP_FLOOR);
        let reply_ttl = option.soft_ttl().max(STREAM_REPLY_FLOOR);
        // Requests sent minus replies received: only an outstanding request can time out,
        // so an idle stream (nothing to replicate) never counts as stalled.
        let outstanding = Arc::new(AtomicI64::new(0));
        Box::pin(async move {
            let mut client = self.client()?;
            let sent = outstanding.clone();
            // An unencodable request cannot happen for our own types; sent empty, the peer ends the stream.
            let requests = input.map(move |req| {
                sent.fetch_add(1, Ordering::SeqCst);
                encode(&req).unwrap_or_default()
            });
            let response = match tokio::time::timeout(
                setup_ttl,
                client.stream_append(self.addressed(requests)),
            )
            .await
            {
                Err(_) => {
                    return Err(unreachable(format!(
                        "peer {target:016x}: stream not accepted within {setup_ttl:?}"
                    )))
                }
                Ok(Err(status)) => return Err(from_status(target, status)),
                Ok(Ok(r)) => r.into_inner(),
            };
            let replies = futures::stream::unfold(Some(response), move |state| {
                let outstanding = outstanding.clone();
                async move {
                    let mut inbound = state?;
                    let next = loop {
                        match tokio::time::timeout(reply_ttl, inbound.next()).await {
                            Ok(next) => break Ok(next),
                            Err(_) if outstanding.load(Ordering::SeqCst) > 0 => break Err(()),
                            Err(_) => continue,
                        }
                    };
                    let item = match next {
                        Err(()) => Err(unreachable(format!(
                            "peer {target:016x}: no append reply within {reply_ttl:?}"
                        ))),
                        Ok(None) => return None,
                        Ok(Some(Err(status))) => Err(from_status(target, status)),
                        Ok(Some(Ok(payload))) => {
                            outstanding.fetch_sub(1, Ordering::SeqCst);
                            decode::<StreamAppendResult<TypeConfig>>(&payload).map_err(network)
                        }
                    };
                    let rest = if item.is_ok() { Some(inbound) } else { None };
                    Some((item, rest))
                }
            });
            let boxed: BoxStream<'s, _> = Box::pin(replies);
            Ok(boxed)
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.unary(&rpc, option.soft_ttl(), |mut c, p| async move {
            c.vote(p).await
        })
        .await
    }

    /// Pre-vote goes to the peer for real: the trait's default would grant it locally.
    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.unary(&rpc, option.soft_ttl(), |mut c, p| async move {
            c.pre_vote(p).await
        })
        .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let target = self.target;
        let mut client = self
            .client()
            .map_err(|e| StreamingError::Unreachable(Unreachable::from_string(e)))?;
        let header = serde_json::to_vec(&(&vote, &snapshot.meta))
            .map_err(|e| StreamingError::Network(NetworkError::from_string(e)))?;
        let body = snapshot.snapshot;
        let chunk_count = body.len().div_ceil(SNAPSHOT_CHUNK).max(1);
        let mut chunks = Vec::with_capacity(chunk_count);
        for (i, slice) in body.chunks(SNAPSHOT_CHUNK).enumerate() {
            let header = if i == 0 { header.clone() } else { Vec::new() };
            chunks.push(SnapshotChunk {
                header,
                data: slice.to_vec(),
            });
        }
        if chunks.is_empty() {
            chunks.push(SnapshotChunk {
                header,
                data: Vec::new(),
            });
        }
        let budget = SNAPSHOT_CHUNK_TIMEOUT * chunk_count as u32;
        let send = tokio::time::timeout(
            budget,
            client.install_snapshot(self.addressed(futures::stream::iter(chunks))),
        );
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            result = send => match result {
                Err(_) => Err(StreamingError::Unreachable(Unreachable::from_string(format!(
                    "peer {target:016x}: snapshot not installed within {budget:?}"
                )))),
                Ok(Err(status)) => Err(match from_status(target, status) {
                    RPCError::Unreachable(u) => StreamingError::Unreachable(u),
                    other => StreamingError::Network(NetworkError::from_string(other)),
                }),
                Ok(Ok(resp)) => decode(resp.get_ref()).map_err(|e| StreamingError::Network(NetworkError::from_string(e))),
            },
        }
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.unary(&req, option.soft_ttl(), |mut c, p| async move {
            c.transfer_leader(p).await
        })
        .await
    }

    /// Retries an unreachable peer at 25 ms, doubling to at most 500 ms: a restarted peer is
    /// caught up within half a second while a dead one costs little.
    fn backoff(&self) -> Option<Backoff> {
        Some(Backoff::new(std::iter::successors(
            Some(Duration::from_millis(25)),
            |d| Some((*d * 2).min(Duration::from_millis(500))),
        )))
    }
}
