//! "No two leaders in one term": every 100 ms, every member's `GET
//! /api/v3/system/consensus/state` is polled and its `(Term, LeaderID)` pair recorded (both
//! come from one openraft metrics snapshot; `LeaderID` is only set once that term's vote is
//! committed, i.e. a leader was granted a quorum). Two different LeaderIDs reported for the
//! same Term — by one member or by two — is a violation. Members that are down, paused or cut
//! off simply do not answer; a member that lags reports an older term, which is fine.
//!
//! Also checked per member (same ConsensusID): the reported `(Term, LeaderID)` never moves
//! back to a lower term.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cluster::ClusterState;
use crate::http::Http;

use super::workload::Targets;

#[derive(Default, Debug, Clone)]
pub struct LeaderLog {
    /// Term → (leader ConsensusID → who reported it, first few).
    pub by_term: BTreeMap<u64, BTreeMap<String, BTreeSet<String>>>,
    /// Highest term each member (ConsensusID) reported.
    pub last_term: BTreeMap<String, u64>,
    /// Members seen reporting a lower term than before.
    pub regressions: Vec<String>,
    pub polls: u64,
}

impl LeaderLog {
    /// Terms with more than one leader, as messages.
    pub fn violations(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_term
            .iter()
            .filter(|(_, leaders)| leaders.len() > 1)
            .map(|(term, leaders)| format!("term {term}: two leaders reported: {leaders:?}"))
            .collect();
        v.extend(self.regressions.iter().cloned());
        v
    }
    pub fn terms(&self) -> usize {
        self.by_term.len()
    }
}

/// A background poller; [`LeaderMonitor::stop`] returns what it saw.
pub struct LeaderMonitor {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<LeaderLog>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LeaderMonitor {
    pub fn start(http: &Http, targets: Targets) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(LeaderLog::default()));
        let (s, l, http) = (stop.clone(), log.clone(), http.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                let t: Vec<(String, String)> =
                    targets.read().unwrap_or_else(|p| p.into_inner()).clone();
                let answers = futures::future::join_all(t.iter().map(|(name, base)| {
                    let http = http.clone();
                    async move {
                        let r = http
                            .get(format!("{base}/api/v3/system/consensus/state"))
                            .timeout(Duration::from_millis(700))
                            .send()
                            .await
                            .ok()?;
                        let st: ClusterState = r.json().ok()?;
                        Some((name.clone(), st))
                    }
                }))
                .await;
                {
                    let mut g = l.lock().unwrap_or_else(|p| p.into_inner());
                    g.polls += 1;
                    for (name, st) in answers.into_iter().flatten() {
                        // The member's own ConsensusID (by its API URL), for the per-member
                        // "term never goes back" check.
                        let me = st
                            .nodes
                            .iter()
                            .find(|n| n.api_url.trim_end_matches('/') == base_of(&t, &name))
                            .map(|n| n.consensus_id.clone());
                        if let Some(me) = me {
                            if let Some(&prev) = g.last_term.get(&me) {
                                if st.term < prev && g.regressions.len() < 10 {
                                    g.regressions.push(format!(
                                        "{name} ({me}) reported term {} after term {prev}",
                                        st.term
                                    ));
                                }
                            }
                            let e = g.last_term.entry(me).or_insert(0);
                            *e = (*e).max(st.term);
                        }
                        if !st.leader_id.is_empty() {
                            let who = g
                                .by_term
                                .entry(st.term)
                                .or_default()
                                .entry(st.leader_id.clone())
                                .or_default();
                            if who.len() < 8 {
                                who.insert(name.clone());
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        LeaderMonitor {
            stop,
            log,
            task: Some(task),
        }
    }

    pub async fn stop(mut self) -> LeaderLog {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn base_of<'a>(t: &'a [(String, String)], name: &str) -> &'a str {
    t.iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b.trim_end_matches('/'))
        .unwrap_or("")
}

impl Drop for LeaderMonitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}
