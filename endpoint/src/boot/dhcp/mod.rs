//! DHCP on the active member. DRP's subnets, reservations and leases are the replicated
//! objects; every OFFER and ACK is committed through Raft before the reply leaves, so a
//! new leader knows every lease handed out and never gives an address twice.
//!
//! Layout: `decide` (pure: packet + stored objects + now → reply and lease write),
//! `packet` (wire format), `options` (DRP option values), `socket` (IP_PKTINFO I/O).
//! This file is the thin shell: receive, read the store, decide, commit, send.

pub mod decide;
pub mod error;
pub mod leases;
pub mod loaders;
pub mod options;
pub mod packet;
pub mod socket;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use self::decide::{Boot, Decision, Inbound, Known, LeaseWrite};
pub use self::error::DhcpError;
use self::leases::Leases;
use self::loaders::LoaderTable;
use self::socket::{DhcpSocket, Interfaces, Received};
use super::{RunningGuard, ServiceError};
use crate::command::{Op, Request};
use crate::node::Node;

#[derive(Debug, Clone)]
pub struct Settings {
    pub port: u16,
    /// `--dhcp-interfaces`: answer only on these (all when empty).
    pub interfaces: Vec<String>,
}

/// Decisions made again when a lease changed under one (a precondition failed).
const ATTEMPTS: usize = 3;
/// A reply that cannot be sent within this is dropped (the client retransmits).
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Packets handled at once. Each waits on a Raft commit; handled together, their lease
/// writes share log batches (one fsync for many). Past this, the socket's receive buffer is
/// the (bounded) queue under a flood.
const CONCURRENT: usize = 64;

/// Serves DHCP until `stop` turns true.
pub async fn serve(
    node: Node,
    settings: Settings,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ServiceError> {
    let socket = Arc::new(
        DhcpSocket::bind(settings.port).map_err(ServiceError::io(format!(
            "binding DHCP on UDP port {}",
            settings.port
        )))?,
    );
    let running = node.settings.boot.running.clone();
    let _running = RunningGuard::set(&running.dhcp);
    tracing::info!(port = settings.port, interfaces = ?settings.interfaces, "DHCP serving");
    let loaders = Arc::new(LoaderTable::new(node.clone()));
    let shared = Arc::new(Shared {
        node,
        settings,
        socket: socket.clone(),
        interfaces: Mutex::new(Interfaces::default()),
        in_flight: Mutex::new(HashSet::new()),
        leases: Arc::new(Leases::default()),
        loaders,
    });
    // Subscribed before the load, so no change falls between the two.
    let events = shared.node.events.subscribe();
    {
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || shared.leases.reload(&shared.node.store))
            .await
            .map_err(ServiceError::task("loading the leases"))?
            .map_err(ServiceError::Leases)?;
    }
    let follower = tokio::spawn(shared.leases.clone().follow(
        shared.node.store.clone(),
        events,
        stop.clone(),
    ));
    let loader_follower = tokio::spawn(
        shared
            .loaders
            .clone()
            .follow(shared.node.events.subscribe(), stop.clone()),
    );
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
    let mut handlers = tokio::task::JoinSet::new();
    let mut buf = vec![0u8; packet::MAX_PACKET];
    loop {
        let received = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            r = socket.recv(&mut buf) => r.map_err(ServiceError::io("receiving DHCP".to_string()))?,
        };
        while handlers.try_join_next().is_some() {}
        let bytes = buf[..received.len].to_vec();
        let permit = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            p = permits.clone().acquire_owned() => p.map_err(|_| ServiceError::PermitsClosed)?,
        };
        let shared = shared.clone();
        handlers.spawn(async move {
            let _permit = permit;
            if let Err(why) = handle(&shared, bytes, received).await {
                tracing::debug!(source = %received.source, %why, "DHCP packet not answered");
            }
        });
    }
    handlers.shutdown().await;
    for task in [follower, loader_follower] {
        task.abort();
        let _ = task.await;
    }
    Ok(())
}

/// What every packet's handler shares.
struct Shared {
    node: Node,
    settings: Settings,
    socket: Arc<DhcpSocket>,
    interfaces: Mutex<Interfaces>,
    /// Addresses whose lease write is being committed (see `Known::in_flight`).
    in_flight: Mutex<HashSet<u32>>,
    leases: Arc<Leases>,
    /// Boot loaders per client (`loaders`), kept off the per-packet path.
    loaders: Arc<LoaderTable>,
}

/// Removes an address from the in-flight set when its commit is over, however it ends.
struct InFlight<'a>(&'a Mutex<HashSet<u32>>, u32);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.1);
    }
}

async fn handle(shared: &Arc<Shared>, bytes: Vec<u8>, received: Received) -> Result<(), DhcpError> {
    let node = &shared.node;
    let deadline = Instant::now() + node.settings.write_timeout;
    let boot = Boot {
        next_server: node.settings.boot.next_server(),
        provisioner_url: node.settings.boot.provisioner_url(),
        virt_addr: match node.settings.boot.virt_addr {
            Some(std::net::IpAddr::V4(v4)) => Some(v4),
            _ => None,
        },
    };
    let bytes = Arc::new(bytes);
    for _ in 0..ATTEMPTS {
        // Interface listing, store reads and template rendering are blocking work.
        let (shared2, bytes2, boot2) = (shared.clone(), bytes.clone(), boot.clone());
        let decision = tokio::task::spawn_blocking(move || {
            let in_flight = shared2
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            decide_now(&shared2, &in_flight, &bytes2, received, &boot2)
        })
        .await??;
        if let Some(write) = decision.write {
            // Claim the address; another packet that chose it meanwhile makes this one decide
            // again (it will see the claim).
            let addr = u32::from(write.addr);
            if !shared
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(addr)
            {
                continue;
            }
            let _claim = InFlight(&shared.in_flight, addr);
            let key = write.addr.to_string();
            match commit(node, write, deadline).await? {
                Committed::Yes(stored) => shared.leases.put(stored),
                Committed::Conflict => {
                    let (shared, key) = (shared.clone(), key.clone());
                    let _ = tokio::task::spawn_blocking(move || {
                        shared.leases.refresh(&shared.node.store, &key)
                    })
                    .await;
                    continue;
                }
            }
        }
        if let Some(reply) = decision.reply {
            let send = shared
                .socket
                .send(&reply.bytes, reply.to, received.ifindex, reply.from);
            match tokio::time::timeout(SEND_TIMEOUT, send).await {
                Ok(Ok(())) => {}
                Ok(Err(source)) => {
                    return Err(DhcpError::Send {
                        to: reply.to,
                        source,
                    })
                }
                Err(_) => return Err(DhcpError::SendTimeout(reply.to)),
            }
        }
        return Ok(());
    }
    Err(DhcpError::KeptChanging)
}

fn decide_now(
    shared: &Shared,
    in_flight: &HashSet<u32>,
    bytes: &[u8],
    received: Received,
    boot: &Boot,
) -> Result<Decision, DhcpError> {
    let (node, allowed) = (&shared.node, &shared.settings.interfaces);
    let interface = shared
        .interfaces
        .lock()
        .map_err(|_| DhcpError::InterfacesPoisoned)?
        .get(received.ifindex)
        .ok_or(DhcpError::UnknownInterface)?;
    if !allowed.is_empty() && !allowed.contains(&interface.name) {
        return Err(DhcpError::NotServed(interface.name));
    }
    let list = |collection: &str| -> Result<Vec<Value>, DhcpError> {
        Ok(node.store.list(collection, 0, None)?.items)
    };
    let (subnets, reservations) = (list("subnets")?, list("reservations")?);
    let local: Vec<Ipv4Addr> = interface.addrs;
    let inbound = Inbound {
        bytes,
        source: received.source,
        local: &local,
    };
    // Only the leases that can matter to this client are handed over; every address another
    // client holds is passed as taken, like an address being committed.
    let now = crate::clock::now_ms();
    let req = packet::parse(bytes).map_err(DhcpError::Dropped)?;
    let mut named = vec![req.header.ciaddr()];
    named.extend(req.ipv4_option(50));
    named.extend(
        reservations
            .iter()
            .filter(|r| {
                r.get("Token")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case(&req.mac))
            })
            .filter_map(|r| r.get("Addr")?.as_str()?.parse::<Ipv4Addr>().ok()),
    );
    let mac = req.mac.to_ascii_lowercase();
    let view = shared.leases.view(&mac, &named, now);
    let loaders = shared.loaders.for_mac(&mac);
    let mut taken = view.held_by_others;
    taken.extend(in_flight.iter().copied());
    let known = Known {
        subnets: &subnets,
        reservations: &reservations,
        leases: &view.leases,
        in_flight: &taken,
        now_ms: now,
        loaders: &loaders,
    };
    decide::decide_request(&req, &inbound, &known, boot).map_err(DhcpError::Dropped)
}

enum Committed {
    /// The lease as stored.
    Yes(Value),
    /// The lease is not what the decision read: decide again.
    Conflict,
}

/// Commits the lease through Raft (the leader applies it on a quorum) before any reply.
async fn commit(node: &Node, write: LeaseWrite, deadline: Instant) -> Result<Committed, DhcpError> {
    let (collection, key) = ("leases".to_string(), write.addr.to_string());
    let op = match write.etag {
        Some(_) => Op::Replace {
            collection,
            key,
            object: write.object,
        },
        None => Op::Create {
            collection,
            key,
            object: write.object,
        },
    };
    let request = Request {
        idempotency: None,
        at_ms: crate::clock::now_ms(),
        if_match: write.etag,
        principal: None,
        op,
    };
    let budget = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(budget, node.write(request)).await {
        Err(_) => Err(DhcpError::CommitTimeout),
        Ok(Err(e)) => Err(DhcpError::Commit(e)),
        Ok(Ok(r)) if r.status < 300 => Ok(Committed::Yes(r.body)),
        Ok(Ok(r)) if matches!(r.status, 409 | 412) => Ok(Committed::Conflict),
        Ok(Ok(r)) => Err(DhcpError::Refused {
            status: r.status,
            body: r.body,
        }),
    }
}
