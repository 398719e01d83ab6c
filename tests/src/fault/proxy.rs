//! A fault-injecting TCP proxy in front of every node's consensus port.
//!
//! # Design
//!
//! Peers dial the address a member *advertises* (`--consensus-addr`), so node `nK` is started
//! with
//!
//! ```text
//! --consensus-listen 127.0.0.1:<real port>      (the harness's port, unchanged)
//! --consensus-addr   127.0.0.1:<proxy port K>   (what the others dial: this proxy)
//! --consensus-source-ip 127.0.0.<10+K>          (source IP of its outbound member connections)
//! ```
//!
//! Linux routes all of 127.0.0.0/8 to `lo`, so every node can use its own loopback source IP
//! without any setup, and the proxy in front of callee `B` learns the caller `A` from the
//! connection's peer IP. Rules are therefore kept per ordered pair `(caller, callee)`:
//!
//! * [`Rule::Blackhole`]: connections `A → B` carry nothing: bytes are neither read nor
//!   forwarded (like dropped packets: the caller's RPCs time out, nothing is refused). Existing
//!   connections freeze at once; when the rule is lifted every frozen connection is closed (its
//!   byte stream is no longer usable) and the caller's gRPC client reconnects by itself.
//! * [`Rule::Delay`]: every chunk, both ways, of an `A → B` connection arrives that much later
//!   (latency: chunks keep their order and do not queue behind each other's delay).
//! * [`Rule::DelayReplies`]: the same for `B`'s answers only, while `A`'s requests pass at once:
//!   `B` has acted on a request well before `A` learns of it.
//!
//! A rule on `A → B` affects RPCs that `A` *initiates* towards `B` (requests and their
//! replies); RPCs that `B` initiates towards `A` travel on `B`'s own connections to `A`'s proxy
//! and follow the rule `B → A`. So [`FaultNet::cut`] of one ordered pair is an asymmetric
//! partition at the RPC level ("A cannot reach B, B can reach A") and [`FaultNet::isolate`]
//! cuts both directions between a node and every other one.
//!
//! Connections from an address that is not a known node's source IP pass, unless
//! [`FaultNet::set_unknown_callers`] gives them a rule (a process that cannot choose its source
//! IP, such as etcd in `drp-bench`'s availability-zone workload, behind [`FaultNet::set_upstream`]).
//!
//! The source IP flag (`--consensus-source-ip`) is test-only plumbing in the endpoint; when the
//! binary lacks it ([`FaultNet::supported`]) the partition scenarios are skipped, loudly.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::cluster::{NodeArgs, Opts};

/// What happens to connections from one node to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rule {
    #[default]
    Pass,
    Blackhole,
    Delay(Duration),
    DelayReplies(Duration),
}

/// Which way a chunk travels on a proxied `caller → callee` connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Request,
    Reply,
}

#[derive(Default)]
struct NetState {
    /// Real consensus port of each slot (node `nK` is slot `K-1`).
    upstream: HashMap<usize, u16>,
    /// Rules by (caller slot, callee slot); absent = pass.
    rules: HashMap<(usize, usize), Rule>,
    /// The rule for callers that are no known slot (default: pass).
    unknown: Rule,
}

/// One proxy per node slot plus the rule table. Dropping it stops every proxy task (and so
/// closes every proxied connection).
pub struct FaultNet {
    state: Arc<Mutex<NetState>>,
    changed: watch::Sender<u64>,
    proxy_ports: Vec<u16>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

/// Source IP of slot `i`'s outbound consensus connections.
pub fn source_ip(slot: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 10 + u8::try_from(slot).unwrap_or(200))
}

fn slot_of_ip(ip: IpAddr) -> Option<usize> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            (o[0] == 127 && o[1] == 0 && o[2] == 0 && o[3] >= 10).then(|| usize::from(o[3] - 10))
        }
        IpAddr::V6(_) => None,
    }
}

/// Slot of a harness node name (`n1` → 0).
pub fn slot_of_name(name: &str) -> Option<usize> {
    name.strip_prefix('n')?
        .parse::<usize>()
        .ok()?
        .checked_sub(1)
}

impl FaultNet {
    /// Does this `drp-endpoint` binary have `--consensus-source-ip`?
    pub fn supported(bin: &std::path::Path) -> bool {
        std::process::Command::new(bin)
            .args(["serve", "--help"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("--consensus-source-ip"))
            .unwrap_or(false)
    }

    /// Start proxies for `slots` node slots (nodes `n1..=n<slots>`).
    pub async fn start(slots: usize) -> Result<FaultNet> {
        let state = Arc::new(Mutex::new(NetState::default()));
        let (changed, _) = watch::channel(0u64);
        let conns = Arc::new(Mutex::new(Vec::new()));
        let mut proxy_ports = Vec::new();
        let mut tasks = Vec::new();
        for slot in 0..slots {
            let port = crate::cluster::free_port()?;
            let listener = TcpListener::bind(("127.0.0.1", port))
                .await
                .with_context(|| format!("binding the fault proxy on 127.0.0.1:{port}"))?;
            proxy_ports.push(port);
            let (state, rx, conns) = (state.clone(), changed.subscribe(), conns.clone());
            tasks.push(tokio::spawn(accept_loop(listener, slot, state, rx, conns)));
        }
        Ok(FaultNet {
            state,
            changed,
            proxy_ports,
            tasks,
            conns,
        })
    }

    /// Cluster options whose nodes advertise this net's proxies and dial from their own
    /// source IPs.
    pub fn opts(&self, mut base: Opts) -> Opts {
        let state = self.state.clone();
        let ports = self.proxy_ports.clone();
        base.node_args = Some(NodeArgs(Arc::new(move |node| {
            let Some(slot) = slot_of_name(&node.name).filter(|s| *s < ports.len()) else {
                return Vec::new();
            };
            let real: u16 = node
                .consensus_addr()
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            lock(&state).upstream.insert(slot, real);
            vec![
                "--consensus-addr".into(),
                format!("127.0.0.1:{}", ports[slot]),
                "--consensus-source-ip".into(),
                source_ip(slot).to_string(),
            ]
        })));
        base
    }

    pub fn slots(&self) -> usize {
        self.proxy_ports.len()
    }

    /// The port of `slot`'s proxy (what callers dial instead of the real port).
    pub fn proxy_port(&self, slot: usize) -> Option<u16> {
        self.proxy_ports.get(slot).copied()
    }

    /// Forward `slot`'s proxy to `port` (for a process not started through [`FaultNet::opts`]).
    pub fn set_upstream(&self, slot: usize, port: u16) {
        lock(&self.state).upstream.insert(slot, port);
    }

    /// The rule for connections from callers that are no known slot, to every slot.
    pub fn set_unknown_callers(&self, rule: Rule) {
        lock(&self.state).unknown = rule;
        self.changed.send_modify(|v| *v += 1);
    }

    /// Set the rule for connections `from → to` (slots).
    pub fn set(&self, from: usize, to: usize, rule: Rule) {
        {
            let mut st = lock(&self.state);
            if rule == Rule::Pass {
                st.rules.remove(&(from, to));
            } else {
                st.rules.insert((from, to), rule);
            }
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// Blackhole RPCs `from → to` only.
    pub fn cut(&self, from: usize, to: usize) {
        self.set(from, to, Rule::Blackhole);
    }

    /// Blackhole both directions between `a` and `b`.
    pub fn cut_both(&self, a: usize, b: usize) {
        self.cut(a, b);
        self.cut(b, a);
    }

    /// Cut `slot` off from every other slot, both directions.
    pub fn isolate(&self, slot: usize) {
        for other in (0..self.slots()).filter(|&o| o != slot) {
            self.cut_both(slot, other);
        }
    }

    /// Delay every connection between `a` and `b`, both directions.
    pub fn delay_both(&self, a: usize, b: usize, d: Duration) {
        self.set(a, b, Rule::Delay(d));
        self.set(b, a, Rule::Delay(d));
    }

    /// Lift every rule (frozen connections are closed; callers reconnect).
    pub fn heal(&self) {
        {
            let mut st = lock(&self.state);
            st.rules.clear();
            st.unknown = Rule::Pass;
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// The rules in force, for messages.
    pub fn describe(&self) -> String {
        let st = lock(&self.state);
        let mut v: Vec<String> = st
            .rules
            .iter()
            .map(|((a, b), r)| format!("n{}->n{}:{r:?}", a + 1, b + 1))
            .collect();
        v.sort();
        if v.is_empty() {
            "none".into()
        } else {
            v.join(", ")
        }
    }
}

impl Drop for FaultNet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for c in lock(&self.conns).drain(..) {
            c.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn rule(state: &Mutex<NetState>, from: Option<usize>, to: usize) -> Rule {
    let st = lock(state);
    match from {
        Some(f) => st.rules.get(&(f, to)).copied().unwrap_or_default(),
        None => st.unknown,
    }
}

async fn accept_loop(
    listener: TcpListener,
    slot: usize,
    state: Arc<Mutex<NetState>>,
    rx: watch::Receiver<u64>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
) {
    loop {
        let Ok((sock, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let task = tokio::spawn(proxy_conn(sock, peer, slot, state.clone(), rx.clone()));
        let mut c = lock(&conns);
        c.retain(|h| !h.is_finished());
        c.push(task.abort_handle());
    }
}

/// Wait until the rule `from → to` is no longer a blackhole.
async fn wait_unblocked(
    state: &Mutex<NetState>,
    rx: &mut watch::Receiver<u64>,
    from: Option<usize>,
    to: usize,
) {
    while rule(state, from, to) == Rule::Blackhole {
        if rx.changed().await.is_err() {
            // The net is gone: hold forever (the task is aborted on drop).
            std::future::pending::<()>().await;
        }
    }
}

async fn proxy_conn(
    client: TcpStream,
    peer: SocketAddr,
    to: usize,
    state: Arc<Mutex<NetState>>,
    mut rx: watch::Receiver<u64>,
) {
    let from = slot_of_ip(peer.ip());
    let _ = client.set_nodelay(true);
    if rule(&state, from, to) == Rule::Blackhole {
        // Accepted but never answered; closed once the cut is lifted.
        wait_unblocked(&state, &mut rx, from, to).await;
        return;
    }
    let Some(port) = lock(&state).upstream.get(&to).copied() else {
        return;
    };
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let link = Link {
        state,
        rx,
        from,
        to,
    };
    // Either way ending (EOF, error, or a blackhole lifted) closes the whole connection.
    tokio::select! {
        _ = pump(cr, uw, Way::Request, link.clone()) => {}
        _ = pump(ur, cw, Way::Reply, link) => {}
    }
}

/// What a pump needs to look up the rule of its connection.
#[derive(Clone)]
struct Link {
    state: Arc<Mutex<NetState>>,
    rx: watch::Receiver<u64>,
    from: Option<usize>,
    to: usize,
}

impl Link {
    /// How long a chunk travelling `way` is held now; `None` = blackholed.
    fn hold(&self, way: Way) -> Option<Duration> {
        match rule(&self.state, self.from, self.to) {
            Rule::Pass => Some(Duration::ZERO),
            Rule::Blackhole => None,
            Rule::Delay(d) => Some(d),
            Rule::DelayReplies(d) if way == Way::Reply => Some(d),
            Rule::DelayReplies(_) => Some(Duration::ZERO),
        }
    }
}

/// Copies one direction of a connection. Each chunk is due `hold` after it was read, and a
/// separate writer delivers chunks in order when due, so a delay is latency rather than a
/// queue. At EOF what is due is still delivered (like packets already on the wire). Under a
/// blackhole nothing more is read or delivered, and the connection is closed once the cut is
/// lifted (its byte stream is no longer usable).
async fn pump(mut r: OwnedReadHalf, mut w: OwnedWriteHalf, way: Way, mut link: Link) {
    let (tx, mut due) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    // Frozen, the writer keeps its half open but silent: closing it would tell the peer.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writer = AbortOnDrop(tokio::spawn({
        let stop = stop.clone();
        async move {
            while let Some((at, chunk)) = due.recv().await {
                tokio::time::sleep_until(at).await;
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
                if w.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }
    }));
    let mut buf = vec![0u8; 64 * 1024];
    let frozen = loop {
        tokio::select! {
            r = r.read(&mut buf) => {
                let n = match r { Ok(0) | Err(_) => break false, Ok(n) => n };
                let Some(hold) = link.hold(way) else { break true };
                if tx.send((tokio::time::Instant::now() + hold, buf[..n].to_vec())).is_err() {
                    break false;
                }
            }
            c = link.rx.changed() => {
                if c.is_err() { break true; }
                if link.hold(way).is_none() { break true; }
            }
        }
    };
    if frozen {
        // The undelivered chunks are lost with the connection, closed once the cut is lifted
        // (`tx` lives until then, so the writer keeps its half open).
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        wait_unblocked(&link.state, &mut link.rx, link.from, link.to).await;
    } else {
        drop(tx);
        let _ = (&mut writer.0).await;
    }
}

/// Aborts the task when dropped: a pump cancelled with its connection takes its writer along.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_ips() {
        assert_eq!(slot_of_name("n1"), Some(0));
        assert_eq!(slot_of_name("n12"), Some(11));
        assert_eq!(slot_of_name("x"), None);
        assert_eq!(slot_of_ip(IpAddr::V4(source_ip(3))), Some(3));
        assert_eq!(slot_of_ip("127.0.0.1".parse().unwrap()), None);
    }

    /// A tiny echo server on loopback: its port.
    async fn spawn_echo() -> Result<u16> {
        let echo = TcpListener::bind("127.0.0.1:0").await?;
        let port = echo.local_addr()?.port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 1024];
                    while let Ok(n) = s.read(&mut b).await {
                        if n == 0 || s.write_all(&b[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Ok(port)
    }

    /// A tiny echo server behind the proxy: pass, blackhole (frozen, then closed), heal.
    #[tokio::test]
    async fn blackhole_and_heal() -> Result<()> {
        let echo_port = spawn_echo().await?;
        let net = FaultNet::start(2).await?;
        lock(&net.state).upstream.insert(1, echo_port);
        let dial = |slot: usize| {
            let port = net.proxy_ports[1];
            async move {
                let sock = tokio::net::TcpSocket::new_v4()?;
                sock.bind(SocketAddr::new(IpAddr::V4(source_ip(slot)), 0))?;
                Ok::<_, anyhow::Error>(
                    sock.connect(SocketAddr::from(([127, 0, 0, 1], port)))
                        .await?,
                )
            }
        };
        let mut s = dial(0).await?;
        s.write_all(b"ping").await?;
        let mut b = [0u8; 4];
        s.read_exact(&mut b).await?;
        assert_eq!(&b, b"ping");

        net.cut(0, 1);
        s.write_all(b"lost").await?;
        let r = tokio::time::timeout(Duration::from_millis(300), s.read(&mut b)).await;
        assert!(r.is_err(), "a blackholed connection must not answer: {r:?}");
        // Another caller (slot 1 -> slot 1 is not cut) still passes.
        let mut other = dial(1).await?;
        other.write_all(b"pong").await?;
        other.read_exact(&mut b).await?;
        assert_eq!(&b, b"pong");

        net.heal();
        // The frozen connection is closed; a new one works.
        // Closed: EOF, or a reset since the proxy drops the unread bytes.
        let r = tokio::time::timeout(Duration::from_secs(2), s.read(&mut b)).await?;
        assert!(
            matches!(r, Ok(0) | Err(_)),
            "the frozen connection must be closed on heal: {r:?}"
        );
        let mut s = dial(0).await?;
        s.write_all(b"back").await?;
        s.read_exact(&mut b).await?;
        assert_eq!(&b, b"back");
        Ok(())
    }

    /// A caller that is no known slot (127.0.0.1, as etcd's members dial) follows
    /// `set_unknown_callers`, through an upstream given with `set_upstream`; known slots do not.
    #[tokio::test]
    async fn unknown_callers_follow_their_own_rule() -> Result<()> {
        let echo_port = spawn_echo().await?;
        let net = FaultNet::start(1).await?;
        net.set_upstream(0, echo_port);
        let port = net.proxy_port(0).context("slot 0 has a proxy")?;
        assert_eq!(net.proxy_port(1), None);
        let mut anon = TcpStream::connect(("127.0.0.1", port)).await?;
        anon.write_all(b"ping").await?;
        let mut b = [0u8; 4];
        anon.read_exact(&mut b).await?;
        assert_eq!(&b, b"ping", "unknown callers pass by default");

        net.set_unknown_callers(Rule::Blackhole);
        anon.write_all(b"lost").await?;
        let r = tokio::time::timeout(Duration::from_millis(300), anon.read(&mut b)).await;
        assert!(
            r.is_err(),
            "a blackholed unknown caller must not answer: {r:?}"
        );
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.bind(SocketAddr::new(IpAddr::V4(source_ip(0)), 0))?;
        let mut known = sock
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await?;
        known.write_all(b"pong").await?;
        known.read_exact(&mut b).await?;
        assert_eq!(&b, b"pong", "a known slot keeps its own (pass) rule");

        net.heal();
        let mut anon = TcpStream::connect(("127.0.0.1", port)).await?;
        anon.write_all(b"back").await?;
        anon.read_exact(&mut b).await?;
        assert_eq!(&b, b"back", "heal lifts the unknown callers' rule too");
        Ok(())
    }

    /// `DelayReplies`: the request reaches the server at once, the answer comes late.
    #[tokio::test]
    async fn delayed_replies_only() -> Result<()> {
        let server = TcpListener::bind("127.0.0.1:0").await?;
        let server_port = server.local_addr()?.port();
        let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = server.accept().await {
                let mut b = [0u8; 4];
                if s.read_exact(&mut b).await.is_ok() {
                    let _ = arrived_tx.send(());
                    let _ = s.write_all(&b).await;
                }
                let _ = s.read(&mut b).await;
            }
        });
        let net = FaultNet::start(2).await?;
        lock(&net.state).upstream.insert(1, server_port);
        net.set(0, 1, Rule::DelayReplies(Duration::from_secs(1)));
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.bind(SocketAddr::new(IpAddr::V4(source_ip(0)), 0))?;
        let mut s = sock
            .connect(SocketAddr::from(([127, 0, 0, 1], net.proxy_ports[1])))
            .await?;
        let t0 = tokio::time::Instant::now();
        s.write_all(b"ping").await?;
        tokio::time::timeout(Duration::from_millis(900), arrived.recv())
            .await
            .context("the request was held, not only the reply")?;
        let mut b = [0u8; 4];
        s.read_exact(&mut b).await?;
        assert_eq!(&b, b"ping");
        assert!(
            t0.elapsed() >= Duration::from_secs(1),
            "the reply came early"
        );
        Ok(())
    }
}
