//! Leader tracking for one cluster: members come from the consensus state of any member
//! reachable from the seeds (`manager/url`, `manager/urls`); the leader is followed by each
//! member's consensus watch stream ([`super::push`]), by polling every member's state (short
//! timeouts, see [`super::poll`]; the fallback, slower while a stream is open) and by the
//! `X-DRP-Leader` hint on every response. Each cluster has its own tracking task; nothing here
//! blocks another cluster.
//!
//! Every call verifies the members' certificates against the cluster's [`Anchor`] (see
//! [`super::trust`]). While nothing is pinned, each poll is a first use: it learns the
//! certificate each https member presents (unauthenticated), polls that member over a
//! connection verified against it, and pins the one of a member that answered as this cluster.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use proto::{headers, paths};
use reqwest::{RequestBuilder, Response};
use tokio::sync::{watch, Notify};
use versionsets::LeaderRef;

use super::connection::{Connection, PinError, PinSink};
use super::trust::{self, Anchor, ClientError, Pin};
use super::view::{Source, View, POLL_EVERY, POLL_ROUND_LIMIT, POLL_WHILE_PUSHED, UNAVAILABLE};

pub struct Cluster {
    pub id: String,
    /// The client for the anchor it was built for.
    pub(super) client: RwLock<(Anchor, reqwest::Client)>,
    pub(super) pin_sink: PinSink,
    pub(super) conn: RwLock<Connection>,
    pub(super) view: RwLock<View>,
    pub(super) poke: Notify,
    pub(super) changed: watch::Sender<u64>,
    /// Members' watch streams open now.
    pub(super) streams_open: AtomicUsize,
    /// The highest term a member's stream named a leader in.
    pub(super) pushed_term: AtomicU64,
    /// The endpoint answered as a manager ([`super::manager`]).
    pub(super) manager: AtomicBool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.id)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    pub fn new(id: &str, conn: Connection, pin_sink: PinSink) -> Result<Arc<Self>, ClientError> {
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
            streams_open: AtomicUsize::new(0),
            pushed_term: AtomicU64::new(0),
            manager: AtomicBool::new(false),
        }))
    }

    pub fn view(&self) -> View {
        read(&self.view).clone()
    }

    pub fn connection(&self) -> Connection {
        read(&self.conn).clone()
    }

    pub fn set_connection(&self, conn: Connection) {
        self.use_anchor(&conn.anchor);
        let mut c = write(&self.conn);
        if *c != conn {
            *c = conn;
            self.poke.notify_one();
        }
    }

    /// Rebuilds the client when the anchor changed (a fresh client: no connection verified
    /// under the old anchor is reused).
    fn use_anchor(&self, anchor: &Anchor) {
        if read(&self.client).0 == *anchor {
            return;
        }
        match trust::cluster_client(anchor) {
            Ok(client) => {
                *write(&self.client) = (anchor.clone(), client);
            }
            Err(e) => {
                tracing::error!(endpoint = %self.id, "building the cluster's HTTP client: {e:#}")
            }
        }
    }

    /// Takes a certificate learnt on first use: stored first (an earlier pin wins), then used.
    pub(super) fn adopt_pin(&self, pin: Pin) -> Result<(), PinError> {
        let pin = (self.pin_sink)(&self.id, pin)?;
        let anchor = pin.anchor();
        tracing::info!(endpoint = %self.id, sha256 = %pin.sha256, subject = %pin.subject, url = %pin.url, "pinned the cluster's certificate");
        self.use_anchor(&anchor);
        write(&self.conn).anchor = anchor;
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
                req.basic_auth(user.unwrap_or_else(|| paths::ADMIN_USER.into()), Some(pw))
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

    /// Runs the poller and the members' watch streams until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        tokio::join!(
            self.clone().poll_loop(shutdown.clone()),
            self.clone().run_push(shutdown)
        );
    }

    async fn poll_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            // Every call in a round has its own timeout; this bounds the round as a whole, so
            // nothing unforeseen can leave the view unpolled.
            if tokio::time::timeout(POLL_ROUND_LIMIT, self.poll_once())
                .await
                .is_err()
            {
                tracing::warn!(endpoint = %self.id, "a poll of the members took over {POLL_ROUND_LIMIT:?}; abandoned");
                self.update(Source::Poll, |view| {
                    view.polled = true;
                    view.leader_answered = false;
                    view.status = UNAVAILABLE.into();
                    view.error = Some(format!(
                        "no poll of the members finished within {POLL_ROUND_LIMIT:?}"
                    ));
                });
            }
            let every = if self.pushing() {
                POLL_WHILE_PUSHED
            } else {
                POLL_EVERY
            };
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.poke.notified() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// Whether a member's watch stream is open: then a new leader is pushed, and a failed
    /// request need not ask for a poll.
    pub fn pushing(&self) -> bool {
        self.streams_open.load(Ordering::Relaxed) > 0
    }

    /// Asks for a poll now unless the streams will tell.
    fn poke_unless_pushed(&self) {
        if !self.pushing() {
            self.poke.notify_one();
        }
    }

    /// Takes the `X-DRP-Leader` hint of a response.
    pub fn note_response(&self, resp: &Response) {
        // A manager passes on its leaves' hints, which name none of its members.
        if self.is_manager() {
            return;
        }
        let Some(hint) = resp
            .headers()
            .get(headers::LEADER)
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let mut poke = false;
        {
            let mut v = write(&self.view);
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
            self.poke_unless_pushed();
        }
    }

    pub(super) fn note_down(&self, url: &str) {
        {
            let mut v = write(&self.view);
            v.reachable.retain(|u| u != url);
            if v.leader.as_ref().is_some_and(|l| l.api_url == url) {
                v.leader_answered = false;
            }
        }
        self.poke_unless_pushed();
    }
    /// The client verifying this cluster's certificates (cheap to clone; rebuilt when the
    /// anchor changes).
    pub fn client(&self) -> reqwest::Client {
        read(&self.client).1.clone()
    }
}

/// The cluster's locks hold plain values, each replaced whole or field by field, so one that a
/// panicking task poisoned is still sound: it is used, not given up on (a tracker started
/// again after a panic would otherwise find its view and connection gone for good).
pub(super) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::view::CONNECTED;

    #[test]
    fn a_view_and_connection_poisoned_by_a_panic_are_still_used() {
        let conn = Connection {
            seeds: vec!["https://127.0.0.1:1".into()],
            ..Connection::default()
        };
        let sink: PinSink = Arc::new(|_, pin| Ok(pin));
        let cluster = Cluster::new("c", conn, sink).unwrap();
        let c = cluster.clone();
        let panicked = std::thread::spawn(move || {
            let _view = c.view.write().unwrap();
            let _conn = c.conn.write().unwrap();
            panic!("a task dies holding both locks");
        })
        .join();
        assert!(panicked.is_err() && cluster.view.is_poisoned() && cluster.conn.is_poisoned());

        assert_eq!(cluster.connection().seeds, ["https://127.0.0.1:1"]);
        cluster.update(Source::Poll, |v| {
            v.polled = true;
            v.status = CONNECTED.into();
        });
        let view = cluster.view();
        assert!(view.polled);
        assert_eq!(view.status, CONNECTED);
    }
}
