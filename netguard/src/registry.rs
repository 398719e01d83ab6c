//! Every open connection of one listener, counted per source and in total, with what the
//! deadlines and the shedding need to know about each: when it was last active, whether a
//! request is in flight. Admission happens at accept, before any TLS work.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::limits::ConnLimits;
use crate::rate::RateLimiter;

/// What connections are grouped by for the per-source cap: the address, or for IPv6 its /64
/// (one host usually owns a whole /64, so counting single addresses would be no cap at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceKey(u128);

impl SourceKey {
    /// The key `ip` is counted under (IPv4-mapped IPv6 as its IPv4 address).
    pub fn of(ip: IpAddr) -> SourceKey {
        match ip {
            IpAddr::V4(v4) => SourceKey(u32::from(v4) as u128),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => SourceKey(u32::from(v4) as u128),
                None => SourceKey((u128::from(v6) >> 64 << 64) | 1 << 32),
            },
        }
    }
}

/// Why a connection was turned away at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its source already holds `max_per_source` connections.
    PerSource,
    /// Its source opens connections faster than `new_per_source_per_sec`.
    SourceRate,
    /// The listener is at `max_total` and no connection is idle.
    Full,
}

/// Counts kept for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Connections open now.
    pub open: usize,
    /// Connections refused because their source held too many.
    pub refused_per_source: u64,
    /// Connections refused because their source opened them too fast.
    pub refused_rate: u64,
    /// Connections refused because the listener was full with none idle.
    pub refused_full: u64,
    /// Idle connections closed to make room for new ones.
    pub shed: u64,
}

/// Every open connection of one listener, with its caps and counters.
pub struct Registry {
    limits: ConnLimits,
    epoch: Instant,
    new_conns: Option<RateLimiter<SourceKey>>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    conns: HashMap<u64, Arc<ConnState>>,
    per_source: HashMap<SourceKey, usize>,
    shedding: usize,
    counters: Counters,
}

/// One open connection's live state, shared by its task, its requests and the registry.
pub struct ConnState {
    id: u64,
    source: SourceKey,
    epoch: Instant,
    /// ms since the registry's epoch when the connection was last active (accepted, finished
    /// its handshake, finished a request).
    last_active_ms: AtomicU64,
    in_flight: AtomicU32,
    served: AtomicU64,
    /// Established for good (a member's consensus connection, a websocket): never shed.
    pinned: AtomicBool,
    shedding: AtomicBool,
    shed: Notify,
}

impl ConnState {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Marks the connection active now (idle time restarts).
    pub fn touch(&self) {
        self.last_active_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The instant the connection was last active.
    pub fn last_active(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed))
    }

    /// Requests currently running on this connection.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Requests begun on this connection.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Exempts the connection from shedding (a member's consensus link, a websocket).
    pub fn pin(&self) {
        self.pinned.store(true, Ordering::Relaxed);
    }

    fn idle(&self) -> bool {
        self.in_flight() == 0 && !self.pinned.load(Ordering::Relaxed)
    }

    /// A request started; it counts as in flight until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.served.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }

    /// Resolves when the registry asks this connection to close to make room.
    pub async fn shed_requested(&self) {
        self.shed.notified().await
    }
}

/// One request in flight on a connection.
pub struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A connection's place in the registry; dropping the last clone frees it.
#[derive(Clone)]
pub struct Slot(Arc<SlotInner>);

struct SlotInner {
    registry: Arc<Registry>,
    state: Arc<ConnState>,
    peer: SocketAddr,
}

impl Slot {
    /// The connection's live state.
    pub fn state(&self) -> &Arc<ConnState> {
        &self.0.state
    }
    /// The connection's remote address.
    pub fn peer(&self) -> SocketAddr {
        self.0.peer
    }
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        self.registry.release(&self.state);
    }
}

impl Registry {
    /// An empty registry enforcing `limits`.
    pub fn new(limits: ConnLimits) -> Arc<Registry> {
        let new_conns = (limits.new_per_source_per_sec > 0).then(|| {
            let rate = f64::from(limits.new_per_source_per_sec);
            RateLimiter::new(rate, rate * 2.0)
        });
        Arc::new(Registry {
            limits,
            epoch: Instant::now(),
            new_conns,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// The limits this registry enforces.
    pub fn limits(&self) -> &ConnLimits {
        &self.limits
    }

    /// A snapshot of the counters, with the connections open now.
    pub fn counters(&self) -> Counters {
        match self.inner.lock() {
            Ok(inner) => Counters {
                open: inner.conns.len(),
                ..inner.counters
            },
            Err(_) => Counters::default(),
        }
    }

    /// Admits a connection from `peer`, or says why not. At the total cap, the oldest idle
    /// connection is asked to close (it stops counting at once) to make room.
    pub fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Slot, Refusal> {
        let source = SourceKey::of(peer.ip());
        let Ok(mut inner) = self.inner.lock() else {
            return Err(Refusal::Full);
        };
        if inner.per_source.get(&source).copied().unwrap_or(0) >= self.limits.max_per_source {
            inner.counters.refused_per_source += 1;
            return Err(Refusal::PerSource);
        }
        if let Some(rate) = &self.new_conns {
            if rate.check(&source).is_err() {
                inner.counters.refused_rate += 1;
                return Err(Refusal::SourceRate);
            }
        }
        if inner.conns.len() - inner.shedding >= self.limits.max_total {
            let victim = inner
                .conns
                .values()
                .filter(|c| c.idle() && !c.shedding.load(Ordering::Relaxed))
                .min_by_key(|c| c.last_active_ms.load(Ordering::Relaxed))
                .cloned();
            let Some(victim) = victim else {
                inner.counters.refused_full += 1;
                return Err(Refusal::Full);
            };
            victim.shedding.store(true, Ordering::Relaxed);
            victim.shed.notify_one();
            inner.shedding += 1;
            inner.counters.shed += 1;
        }
        inner.next_id += 1;
        let state = Arc::new(ConnState {
            id: inner.next_id,
            source,
            epoch: self.epoch,
            last_active_ms: AtomicU64::new(self.epoch.elapsed().as_millis() as u64),
            in_flight: AtomicU32::new(0),
            served: AtomicU64::new(0),
            pinned: AtomicBool::new(false),
            shedding: AtomicBool::new(false),
            shed: Notify::new(),
        });
        inner.conns.insert(state.id, state.clone());
        *inner.per_source.entry(source).or_insert(0) += 1;
        Ok(Slot(Arc::new(SlotInner {
            registry: self.clone(),
            state,
            peer,
        })))
    }

    fn release(&self, state: &ConnState) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.conns.remove(&state.id).is_none() {
            return;
        }
        if state.shedding.load(Ordering::Relaxed) {
            inner.shedding = inner.shedding.saturating_sub(1);
        }
        if let Some(n) = inner.per_source.get_mut(&state.source) {
            *n -= 1;
            if *n == 0 {
                inner.per_source.remove(&state.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::ConnArgs;

    fn limits(per_source: usize, total: usize) -> ConnLimits {
        ConnLimits {
            max_per_source: per_source,
            max_total: total,
            new_per_source_per_sec: 0,
            ..ConnArgs::default().limits()
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_source_cap_refuses_the_next_and_frees_on_drop() {
        let r = Registry::new(limits(2, 100));
        let a = r.admit(addr("10.0.0.1:1")).unwrap();
        let _b = r.admit(addr("10.0.0.1:2")).unwrap();
        assert_eq!(r.admit(addr("10.0.0.1:3")).err(), Some(Refusal::PerSource));
        assert!(r.admit(addr("10.0.0.2:1")).is_ok(), "another source");
        drop(a);
        assert!(r.admit(addr("10.0.0.1:4")).is_ok(), "a slot was freed");
    }

    #[test]
    fn ipv6_sources_count_per_64() {
        let r = Registry::new(limits(1, 100));
        let _a = r.admit(addr("[2001:db8::1]:1")).unwrap();
        assert_eq!(
            r.admit(addr("[2001:db8::2]:1")).err(),
            Some(Refusal::PerSource)
        );
        assert!(r.admit(addr("[2001:db8:0:1::1]:1")).is_ok());
    }

    #[test]
    fn at_the_total_cap_the_oldest_idle_is_shed_and_busy_ones_are_kept() {
        let r = Registry::new(limits(10, 2));
        let old = r.admit(addr("10.0.0.1:1")).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let busy = r.admit(addr("10.0.0.2:1")).unwrap();
        let _req = busy.state().begin();
        let _new = r.admit(addr("10.0.0.3:1")).unwrap();
        assert!(
            old.state().shedding.load(Ordering::Relaxed),
            "oldest idle shed"
        );
        assert!(!busy.state().shedding.load(Ordering::Relaxed));
        // Now: one shedding, one busy, one new idle; the new one is next.
        let _newer = r.admit(addr("10.0.0.4:1")).unwrap();
        assert_eq!(r.counters().shed, 2);
        assert!(!busy.state().shedding.load(Ordering::Relaxed));
    }

    #[test]
    fn full_of_busy_connections_refuses() {
        let r = Registry::new(limits(10, 1));
        let busy = r.admit(addr("10.0.0.1:1")).unwrap();
        let _req = busy.state().begin();
        assert_eq!(r.admit(addr("10.0.0.2:1")).err(), Some(Refusal::Full));
    }
}
