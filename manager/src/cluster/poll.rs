//! One poll of a cluster: every known member's consensus state in parallel, the most advanced
//! answer believed, and the tracker's [`View`] updated from it.

use std::collections::BTreeSet;

use futures::future::join_all;
use proto::cluster::{ClusterState, NodeInfo};
use proto::paths;
use reqwest::StatusCode;
use versionsets::{LeaderRef, Member};

use super::connection::Connection;
use super::trust::{self, Anchor, Pin};
use super::view::{
    Source, View, CONNECTED, MISMATCH, POLL_TIMEOUT, UNAUTHORIZED, UNAVAILABLE, UNTRUSTED,
};
use super::Cluster;

/// How one member's poll went.
pub(super) enum Failure {
    Unauthorized,
    Untrusted(String),
    Other(String),
}

/// One member's answer, and on first use the certificate it presented.
struct Answer {
    url: String,
    state: Result<ClusterState, Failure>,
    candidate: Option<Pin>,
}

/// The most advanced consensus state seen in one poll.
pub(super) struct Best {
    pub(super) term: u64,
    commit: u64,
    pub(super) leader_id: String,
    members: Vec<Member>,
    pub(super) ha_id: Option<String>,
}

impl Best {
    /// A state naming a leader beats one without; then the higher term, then the higher
    /// commit index.
    fn rank(&self) -> (u8, u64, u64) {
        (u8::from(!self.leader_id.is_empty()), self.term, self.commit)
    }

    pub(super) fn of(st: ClusterState) -> Self {
        Self {
            term: st.term,
            commit: st.commit_index,
            members: st.nodes.iter().map(member_of).collect(),
            leader_id: st.leader_id,
            ha_id: (!st.ha_id.is_empty()).then_some(st.ha_id),
        }
    }
}

/// What a whole poll found.
#[derive(Default)]
struct Round {
    best: Option<Best>,
    reachable: Vec<String>,
    unauthorized: bool,
    untrusted: Option<String>,
    last_err: Option<String>,
    learnt: Option<Pin>,
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
    /// One poll: every known member's consensus state, in parallel.
    pub async fn poll_once(&self) {
        let started = std::time::Instant::now();
        let conn = self.connection();
        // Nothing pinned yet: this poll is the first use for https members.
        let first_use = conn.anchor == Anchor::Unpinned;
        let client = self.client();
        let urls = self.poll_urls(&conn);
        let calls = urls
            .iter()
            .map(|url| self.poll_member(&client, url, first_use));
        let mut round = self.tally(join_all(calls).await);
        if let Some(pin) = round.learnt.take() {
            if let Err(e) = self.adopt_pin(pin) {
                tracing::warn!(endpoint = %self.id, "{e}");
                round.untrusted = Some(e.to_string());
                round.best = None;
                round.reachable.clear();
            }
        }
        self.update(Source::Poll, |view| {
            view.polled = true;
            view.reachable = std::mem::take(&mut round.reachable);
            match round.best.take() {
                None => no_answer(view, round),
                // A member's stream told of a newer term while this poll ran: keep its leader
                // (only then: a cluster rebuilt with lower terms is believed at the next poll).
                Some(best)
                    if best.term < view.term && view.pushed_at.is_some_and(|t| t >= started) => {}
                Some(best) => self.believe(view, best),
            }
        });
    }

    /// The seeds and every member known from the last poll.
    pub(super) fn poll_urls(&self, conn: &Connection) -> BTreeSet<String> {
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
        urls
    }

    /// One member's consensus state. First use: learn the certificate unauthenticated, then
    /// poll (with the credentials) over a connection verified against it.
    async fn poll_member(&self, client: &reqwest::Client, url: &str, first_use: bool) -> Answer {
        let answer = |state, candidate| Answer {
            url: url.to_owned(),
            state,
            candidate,
        };
        let (client, candidate) = if first_use && trust::is_https(url) {
            match trust::first_use(url, POLL_TIMEOUT).await {
                Ok((client, pin)) => (client, Some(pin)),
                Err(trust::LearnError::Failed(e)) => return answer(Err(Failure::Other(e)), None),
                Err(trust::LearnError::Untrusted(e)) => {
                    return answer(Err(Failure::Untrusted(e)), None)
                }
            }
        } else {
            (client.clone(), None)
        };
        if self.is_manager() {
            return answer(self.poll_manager(&client, url).await, candidate);
        }
        let req = client
            .get(format!("{url}{}", paths::CONSENSUS_STATE))
            .timeout(POLL_TIMEOUT);
        let state = match self.authorize(req).send().await {
            Ok(r) if r.status() == StatusCode::UNAUTHORIZED => Err(Failure::Unauthorized),
            // No consensus state: a manager registered as an endpoint, perhaps.
            Ok(r) if r.status() == StatusCode::NOT_FOUND => self.poll_manager(&client, url).await,
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
        answer(state, candidate)
    }

    /// Folds the answers: the most advanced state, who answered, and why the others did not.
    fn tally(&self, answers: Vec<Answer>) -> Round {
        let mut round = Round::default();
        for a in answers {
            match a.state {
                Ok(state) => {
                    let best = Best::of(state);
                    // First use: only a member that answers as this cluster is believed.
                    let ours = best.ha_id.as_deref().is_none_or(|h| h == self.id);
                    if round.learnt.is_none() && ours {
                        round.learnt = a.candidate;
                    }
                    round.reachable.push(a.url);
                    if round.best.as_ref().is_none_or(|b| best.rank() > b.rank()) {
                        round.best = Some(best);
                    }
                }
                Err(Failure::Unauthorized) => round.unauthorized = true,
                Err(Failure::Untrusted(m)) => round.untrusted = Some(m),
                Err(Failure::Other(e)) => round.last_err = Some(e),
            }
        }
        round
    }

    /// The view from the best answer: members, the leader and whether it answered itself.
    pub(super) fn believe(&self, view: &mut View, best: Best) {
        view.term = best.term;
        view.ha_id = best.ha_id.clone();
        view.members = best.members;
        let leader = view
            .members
            .iter()
            .find(|m| !best.leader_id.is_empty() && m.consensus_id == best.leader_id)
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
        if let Some(ha) = best.ha_id.filter(|h| *h != self.id) {
            view.status = MISMATCH.into();
            view.error = Some(format!("the cluster's HaID is `{ha}`, not `{}`", self.id));
        } else if view.leader.is_none() || !view.leader_answered {
            view.status = UNAVAILABLE.into();
            view.error = Some("the cluster has no reachable leader".into());
        } else {
            view.status = CONNECTED.into();
            view.error = None;
        }
    }

    /// Changes the view under its lock (a poll and a member's stream may both be at it); a
    /// change of leader or status is logged with what learnt it, counted and announced.
    pub(super) fn update(&self, source: Source, change: impl FnOnce(&mut View)) {
        let (before, after) = {
            let mut view = super::tracker::write(&self.view);
            let before = (view.leader.clone(), view.status.clone(), view.term);
            change(&mut view);
            (
                before,
                (view.leader.clone(), view.status.clone(), view.term),
            )
        };
        if before.0 != after.0 || before.1 != after.1 {
            let leader = after.0.as_ref().map(|l| l.consensus_id.as_str());
            crate::metrics::leader_seen(&self.id, leader);
            tracing::info!(endpoint = %self.id, leader = ?after.0.as_ref().map(|l| &l.api_url), status = %after.1, term = after.2, via = source.as_str(), "cluster view changed");
            self.changed.send_modify(|n| *n += 1);
        }
    }
}

/// No member answered: nobody leads, nobody is online, and the most telling reason.
fn no_answer(view: &mut View, round: Round) {
    view.leader = None;
    view.leader_answered = false;
    for m in &mut view.members {
        m.online = false;
    }
    if let Some(m) = round.untrusted {
        view.status = UNTRUSTED.into();
        view.error = Some(m);
    } else if round.unauthorized {
        view.status = UNAUTHORIZED.into();
        view.error = Some("the cluster refused the stored credentials".into());
    } else {
        view.status = UNAVAILABLE.into();
        view.error = Some(format!(
            "no member answered: {}",
            round
                .last_err
                .unwrap_or_else(|| "no member URL known".into())
        ));
    }
}
