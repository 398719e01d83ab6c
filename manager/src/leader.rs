//! Leader tracking for one cluster: members come from the consensus state of any member
//! reachable from the seeds (`manager/url`, `manager/urls`); the leader is followed by polling
//! every member's state (short timeouts) plus the `X-DRP-Leader` hint on every response.
//! Each cluster has its own polling task; nothing here blocks another cluster.
//!
//! Every call verifies the members' certificates against the cluster's [`Anchor`] (see
//! [`crate::trust`]). While nothing is pinned, each poll is a first use: it learns the
//! certificate each https member presents (unauthenticated), polls that member over a
//! connection verified against it, and pins the one of a member that answered as this cluster.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::future::join_all;
use proto::cluster::{ClusterState, NodeInfo};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::sync::{watch, Notify};
use versionsets::{LeaderRef, Member};

use crate::trust::{self, Anchor, Pin};

pub const POLL_EVERY: Duration = Duration::from_millis(250);
pub const POLL_TIMEOUT: Duration = Duration::from_millis(600);

/// ConnectionStatus values.
pub const CONNECTED: &str = "connected";
pub const UNAVAILABLE: &str = "unavailable";
pub const UNAUTHORIZED: &str = "unauthorized";
pub const MISMATCH: &str = "mismatch";
/// The cluster's certificate does not verify to `manager/ca` or to the pinned one.
pub const UNTRUSTED: &str = "untrusted";

/// Stores a certificate pinned on first use; returns the pin in force (an earlier one wins).
pub type PinSink = Arc<dyn Fn(&str, Pin) -> Result<Pin, String> + Send + Sync>;

/// How to reach a cluster (the password in clear, in memory only).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub seeds: Vec<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// What the members' certificates must verify to.
    pub anchor: Anchor,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("seeds", &self.seeds)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("anchor", &self.anchor)
            .finish()
    }
}

/// What the tracker currently believes.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub ha_id: Option<String>,
    pub leader: Option<LeaderRef>,
    /// The leader answered the last poll itself.
    pub leader_answered: bool,
    pub members: Vec<Member>,
    /// API URLs that answered the last poll.
    pub reachable: Vec<String>,
    pub status: String,
    pub error: Option<String>,
    pub term: u64,
    pub polled: bool,
}

pub struct Cluster {
    pub id: String,
    /// The client for the anchor it was built for.
    client: RwLock<(Anchor, reqwest::Client)>,
    pin_sink: PinSink,
    conn: RwLock<Connection>,
    view: RwLock<View>,
    poke: Notify,
    changed: watch::Sender<u64>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.id)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

/// How one member's poll went.
enum Failure {
    Unauthorized,
    Untrusted(String),
    Other(String),
}

/// Whether a request may be sent again after a failure that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Safe to repeat: reads, PUT/DELETE, or writes carrying an Idempotency-Key.
    Idempotent,
    /// Only when it surely never reached a server (connection refused).
    ConnectOnly,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cluster `{0}` has no reachable member")]
    Unavailable(String),
    #[error("request to {url} failed: {message}")]
    Failed { url: String, message: String },
}

/// The most advanced consensus state seen in one poll: (term, commit index, leader id,
/// members, HaID).
type Best = (u64, u64, String, Vec<Member>, Option<String>);

/// The parts of a member's `ClusterState` the manager keeps: (HaID if any, leader id, term,
/// commit index, members).
fn parse_state(st: ClusterState) -> (Option<String>, String, u64, u64, Vec<Member>) {
    let members = st.nodes.iter().map(member_of).collect();
    (
        (!st.ha_id.is_empty()).then_some(st.ha_id),
        st.leader_id,
        st.term,
        st.commit_index,
        members,
    )
}

/// The Endpoint's observed record of one member (`Endpoint.Members`): the subset of `NodeInfo`
/// the manager stores and serves, an unknown match index as 0.
fn member_of(n: &NodeInfo) -> Member {
    Member {
        consensus_id: n.consensus_id.clone(),
        consensus_addr: n.consensus_addr.clone(),
        api_url: n.api_url.trim_end_matches('/').to_owned(),
        role: n.role.clone(),
        voter: n.voter,
        observer: n.observer,
        match_index: n.match_index.unwrap_or(0),
        online: n.online,
    }
}

impl Cluster {
    pub fn new(id: &str, conn: Connection, pin_sink: PinSink) -> anyhow::Result<Arc<Self>> {
        let (changed, _) = watch::channel(0);
        let client = trust::cluster_client(&conn.anchor)?;
        Ok(Arc::new(Self {
            id: id.to_owned(),
            client: RwLock::new((conn.anchor.clone(), client)),
            pin_sink,
            conn: RwLock::new(conn),
            view: RwLock::new(View {
                status: UNAVAILABLE.into(),
                ..View::default()
            }),
            poke: Notify::new(),
            changed,
        }))
    }

    pub fn view(&self) -> View {
        self.view.read().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn connection(&self) -> Connection {
        self.conn.read().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn set_connection(&self, conn: Connection) {
        self.use_anchor(&conn.anchor);
        if let Ok(mut c) = self.conn.write() {
            if *c != conn {
                *c = conn;
                self.poke.notify_one();
            }
        }
    }

    /// Rebuilds the client when the anchor changed (a fresh client: no connection verified
    /// under the old anchor is reused).
    fn use_anchor(&self, anchor: &Anchor) {
        if self.client.read().is_ok_and(|c| c.0 == *anchor) {
            return;
        }
        match trust::cluster_client(anchor) {
            Ok(client) => {
                if let Ok(mut c) = self.client.write() {
                    *c = (anchor.clone(), client);
                }
            }
            Err(e) => {
                tracing::error!(endpoint = %self.id, "building the cluster's HTTP client: {e:#}")
            }
        }
    }

    /// Takes a certificate learnt on first use: stored first (an earlier pin wins), then used.
    fn adopt_pin(&self, pin: Pin) -> Result<(), String> {
        let pin = (self.pin_sink)(&self.id, pin)?;
        let anchor = pin.anchor();
        tracing::info!(endpoint = %self.id, sha256 = %pin.sha256, subject = %pin.subject, url = %pin.url, "pinned the cluster's certificate");
        self.use_anchor(&anchor);
        if let Ok(mut c) = self.conn.write() {
            c.anchor = anchor;
        }
        Ok(())
    }

    /// Changes whenever the leader or the status changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Asks the poller to look again now.
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// Attaches the cluster's stored credentials.
    pub fn authorize(&self, req: RequestBuilder) -> RequestBuilder {
        let conn = self.connection();
        match (conn.username, conn.password) {
            (user, Some(pw)) => {
                req.basic_auth(user.unwrap_or_else(|| "rocketskates".into()), Some(pw))
            }
            _ => req,
        }
    }

    pub fn has_credentials(&self) -> bool {
        self.connection().password.is_some()
    }

    /// Where to send a request, best first: the leader, other reachable members, the seeds.
    pub fn targets(&self) -> Vec<String> {
        let view = self.view();
        let conn = self.connection();
        let mut out: Vec<String> = Vec::new();
        let mut push = |u: &str| {
            let u = u.trim_end_matches('/').to_owned();
            if !u.is_empty() && !out.contains(&u) {
                out.push(u);
            }
        };
        if let Some(l) = &view.leader {
            push(&l.api_url);
        }
        for u in &view.reachable {
            push(u);
        }
        for m in &view.members {
            push(&m.api_url);
        }
        for s in &conn.seeds {
            push(s);
        }
        out
    }

    /// Runs the poller until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            self.poll_once().await;
            tokio::select! {
                _ = tokio::time::sleep(POLL_EVERY) => {}
                _ = self.poke.notified() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// One poll: every known member's consensus state, in parallel.
    pub async fn poll_once(&self) {
        let conn = self.connection();
        // Nothing pinned yet: this poll is the first use for https members.
        let first_use = conn.anchor == Anchor::Unpinned;
        let client = self.client();
        let mut urls: BTreeSet<String> = conn
            .seeds
            .iter()
            .map(|s| s.trim_end_matches('/').to_owned())
            .collect();
        for m in &self.view().members {
            if !m.api_url.is_empty() {
                urls.insert(m.api_url.clone());
            }
        }
        let calls = urls.iter().map(|url| {
            let client = client.clone();
            async move {
                // First use: learn the certificate unauthenticated, then poll (with the
                // credentials) over a connection verified against it.
                let mut candidate = None;
                let client = if first_use && trust::is_https(url) {
                    let pin = match trust::learn(url, POLL_TIMEOUT).await {
                        Ok(pin) => pin,
                        Err(trust::LearnError::Failed(e)) => {
                            return (url.clone(), Err(Failure::Other(e)), None)
                        }
                        Err(trust::LearnError::Untrusted(e)) => {
                            return (url.clone(), Err(Failure::Untrusted(e)), None)
                        }
                    };
                    match trust::cluster_client(&pin.anchor()) {
                        Ok(c) => {
                            candidate = Some(pin);
                            c
                        }
                        Err(e) => return (url.clone(), Err(Failure::Other(e.to_string())), None),
                    }
                } else {
                    client
                };
                let req = client
                    .get(format!("{url}/api/v3/system/consensus/state"))
                    .timeout(POLL_TIMEOUT);
                let res = match self.authorize(req).send().await {
                    Ok(r) if r.status() == StatusCode::UNAUTHORIZED => Err(Failure::Unauthorized),
                    Ok(r) if r.status().is_success() => r
                        .json::<ClusterState>()
                        .await
                        .map_err(|e| Failure::Other(e.to_string())),
                    Ok(r) => Err(Failure::Other(format!("HTTP {}", r.status()))),
                    Err(e) => match trust::untrusted(&e) {
                        Some(m) => Err(Failure::Untrusted(format!("{url}: {m}"))),
                        None => Err(Failure::Other(trust::describe(&e))),
                    },
                };
                (url.clone(), res, candidate)
            }
        });
        let results = join_all(calls).await;
        let mut best: Option<Best> = None;
        let mut reachable = Vec::new();
        let mut unauthorized = false;
        let mut untrusted = None;
        let mut last_err = None;
        let mut learnt: Option<Pin> = None;
        for (url, res, candidate) in results {
            match res {
                Ok(state) => {
                    let (ha, leader, term, commit, members) = parse_state(state);
                    // First use: only a member that answers as this cluster is believed.
                    if learnt.is_none() && ha.as_deref().is_none_or(|h| h == self.id) {
                        learnt = candidate;
                    }
                    reachable.push(url);
                    let key = (if leader.is_empty() { 0 } else { 1 }, term, commit);
                    let better = match &best {
                        None => true,
                        Some((t, c, l, _, _)) => key > (if l.is_empty() { 0 } else { 1 }, *t, *c),
                    };
                    if better {
                        best = Some((term, commit, leader, members, ha));
                    }
                }
                Err(Failure::Unauthorized) => unauthorized = true,
                Err(Failure::Untrusted(m)) => untrusted = Some(m),
                Err(Failure::Other(e)) => last_err = Some(e),
            }
        }
        if let Some(pin) = learnt {
            if let Err(e) = self.adopt_pin(pin) {
                tracing::warn!(endpoint = %self.id, "{e}");
                untrusted = Some(e);
                best = None;
                reachable.clear();
            }
        }
        let mut view = self.view();
        let before = (view.leader.clone(), view.status.clone());
        view.polled = true;
        view.reachable = reachable;
        match best {
            None => {
                view.leader = None;
                view.leader_answered = false;
                for m in &mut view.members {
                    m.online = false;
                }
                if let Some(m) = untrusted {
                    view.status = UNTRUSTED.into();
                    view.error = Some(m);
                } else if unauthorized {
                    view.status = UNAUTHORIZED.into();
                    view.error = Some("the cluster refused the stored credentials".into());
                } else {
                    view.status = UNAVAILABLE.into();
                    view.error = Some(format!(
                        "no member answered: {}",
                        last_err.unwrap_or_else(|| "no member URL known".into())
                    ));
                }
            }
            Some((term, _, leader_id, members, ha)) => {
                view.term = term;
                view.ha_id = ha.clone();
                view.members = members;
                let leader = view
                    .members
                    .iter()
                    .find(|m| !leader_id.is_empty() && m.consensus_id == leader_id)
                    .map(|m| LeaderRef {
                        consensus_id: m.consensus_id.clone(),
                        api_url: m.api_url.clone(),
                    });
                view.leader_answered = leader
                    .as_ref()
                    .is_some_and(|l| view.reachable.contains(&l.api_url));
                for m in &mut view.members {
                    m.online = view.reachable.contains(&m.api_url);
                }
                view.leader = leader;
                if ha.as_deref().is_some_and(|h| h != self.id) {
                    view.status = MISMATCH.into();
                    view.error = Some(format!(
                        "the cluster's HaID is `{}`, not `{}`",
                        ha.unwrap_or_default(),
                        self.id
                    ));
                } else if view.leader.is_none() || !view.leader_answered {
                    view.status = UNAVAILABLE.into();
                    view.error = Some("the cluster has no reachable leader".into());
                } else {
                    view.status = CONNECTED.into();
                    view.error = None;
                }
            }
        }
        let after = (view.leader.clone(), view.status.clone());
        if let Ok(mut v) = self.view.write() {
            *v = view;
        }
        if before != after {
            let leader = after.0.as_ref().map(|l| l.consensus_id.as_str());
            crate::metrics::leader_seen(&self.id, leader);
            tracing::info!(endpoint = %self.id, leader = ?after.0.as_ref().map(|l| &l.api_url), status = %after.1, "cluster view changed");
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Takes the `X-DRP-Leader` hint of a response.
    pub fn note_response(&self, resp: &Response) {
        let Some(hint) = resp
            .headers()
            .get("x-drp-leader")
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let mut poke = false;
        if let Ok(mut v) = self.view.write() {
            if v.leader.as_ref().map(|l| l.consensus_id.as_str()) != Some(hint) {
                if let Some(m) = v.members.iter().find(|m| m.consensus_id == hint) {
                    v.leader = Some(LeaderRef {
                        consensus_id: m.consensus_id.clone(),
                        api_url: m.api_url.clone(),
                    });
                }
                poke = true;
            }
        }
        if poke {
            self.poke.notify_one();
        }
    }

    fn note_down(&self, url: &str) {
        if let Ok(mut v) = self.view.write() {
            v.reachable.retain(|u| u != url);
            if v.leader.as_ref().is_some_and(|l| l.api_url == url) {
                v.leader_answered = false;
            }
        }
        self.poke.notify_one();
    }

    /// Sends a request built by `build(base_url)` to the leader, following failover until
    /// `deadline`: a connection refused always moves on to the next member; a timeout or a
    /// 502/503/504 moves on only for [`Retry::Idempotent`] requests.
    pub async fn send(
        &self,
        build: impl Fn(&str) -> RequestBuilder,
        retry: Retry,
        deadline: Duration,
    ) -> Result<Response, SendError> {
        self.send_with(build, retry, deadline, true).await
    }

    /// [`Self::send`] without the stored credentials: `build` carries the caller's own (a
    /// cluster user through the gateway), and the cluster alone decides what they may do.
    pub async fn send_as_caller(
        &self,
        build: impl Fn(&str) -> RequestBuilder,
        retry: Retry,
        deadline: Duration,
    ) -> Result<Response, SendError> {
        self.send_with(build, retry, deadline, false).await
    }

    async fn send_with(
        &self,
        build: impl Fn(&str) -> RequestBuilder,
        retry: Retry,
        deadline: Duration,
        stored_credentials: bool,
    ) -> Result<Response, SendError> {
        let end = Instant::now() + deadline;
        let mut last: Option<SendError> = None;
        let mut last_resp: Option<Response> = None;
        loop {
            let targets = self.targets();
            let mut all_refused = !targets.is_empty();
            let mut all_untrusted = !targets.is_empty();
            for url in &targets {
                let req = if stored_credentials {
                    self.authorize(build(url))
                } else {
                    build(url)
                };
                match req.send().await {
                    Ok(resp) => {
                        all_refused = false;
                        all_untrusted = false;
                        self.note_response(&resp);
                        let unavailable = matches!(
                            resp.status(),
                            StatusCode::BAD_GATEWAY
                                | StatusCode::SERVICE_UNAVAILABLE
                                | StatusCode::GATEWAY_TIMEOUT
                        );
                        if unavailable && retry == Retry::Idempotent && Instant::now() < end {
                            tracing::debug!(endpoint = %self.id, %url, status = %resp.status(), "member unavailable; trying another");
                            last_resp = Some(resp);
                            continue;
                        }
                        return Ok(resp);
                    }
                    Err(e) => {
                        // A refused certificate: the request never left (like a refused
                        // connection), and waiting will not change the certificate.
                        let untrusted = trust::untrusted(&e).is_some();
                        let refused = e.is_connect() || untrusted;
                        all_refused &= refused;
                        all_untrusted &= untrusted;
                        let message = trust::describe(&e);
                        tracing::debug!(endpoint = %self.id, %url, error = %message, "request failed");
                        self.note_down(url);
                        last = Some(SendError::Failed {
                            url: url.clone(),
                            message,
                        });
                        if !(refused || retry == Retry::Idempotent) {
                            return Err(
                                last.unwrap_or_else(|| SendError::Unavailable(self.id.clone()))
                            );
                        }
                    }
                }
            }
            if Instant::now() >= end || (all_untrusted && last_resp.is_none()) {
                break;
            }
            // Nothing answers at all (not a failover, where the others still do): give up
            // rather than hold the caller.
            let view = self.view();
            if all_refused && view.polled && view.reachable.is_empty() && last_resp.is_none() {
                break;
            }
            self.poke();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(resp) = last_resp {
            return Ok(resp);
        }
        Err(last.unwrap_or_else(|| SendError::Unavailable(self.id.clone())))
    }

    /// A JSON call with failover; non-2xx replies are errors carrying the body.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
        timeout: Duration,
        deadline: Duration,
    ) -> Result<(StatusCode, Value), SendError> {
        let retry = if method == Method::GET || !extra.is_empty() {
            Retry::Idempotent
        } else {
            Retry::ConnectOnly
        };
        let client = self.client();
        let resp = self
            .send(
                |base| {
                    let mut r = client
                        .request(method.clone(), format!("{base}{path}"))
                        .timeout(timeout);
                    for (k, v) in extra {
                        r = r.header(*k, *v);
                    }
                    if let Some(b) = body {
                        r = r.json(b);
                    }
                    r
                },
                retry,
                deadline,
            )
            .await?;
        let status = resp.status();
        let url = resp.url().to_string();
        let bytes = resp.bytes().await.map_err(|e| SendError::Failed {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok((status, value))
    }

    /// The client verifying this cluster's certificates (cheap to clone; rebuilt when the
    /// anchor changes).
    pub fn client(&self) -> reqwest::Client {
        self.client
            .read()
            .map(|c| c.1.clone())
            .unwrap_or_else(|p| p.into_inner().1.clone())
    }
}
