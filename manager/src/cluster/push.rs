//! Push: one long-lived consensus watch stream (`GET /api/v3/system/consensus/watch`, a line
//! of `ClusterState` JSON whenever the member's term, leader or membership changes) to every
//! known member, so a new leader is known as soon as any member sees it, not at the next poll.
//! A stream that stays silent past [`IDLE`] (members send a blank line every 2 s) is taken for
//! dead and reopened with a backoff; the poll remains the fallback.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::cluster::ClusterState;
use proto::paths;
use reqwest::StatusCode;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};

use super::poll::Best;
use super::trust;
use super::view::{Source, POLL_TIMEOUT};
use super::Cluster;

/// Longest silence on an open stream before it is taken for dead.
const IDLE: Duration = Duration::from_secs(6);
/// One request's longest life: a healthy stream is reopened after it.
const STREAM_FOR: Duration = Duration::from_secs(600);
/// Backoff between attempts to (re)open a member's stream.
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How often the members streamed from are checked against the view when nothing changes.
const RESCAN: Duration = Duration::from_secs(1);
/// Longest line taken (a ClusterState of a few members is a few KiB).
const MAX_LINE: usize = 1 << 20;

/// Why one stream ended.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("no answer within {0:?}")]
    NoAnswer(Duration),
    #[error("{0}")]
    Request(String),
    #[error("HTTP {0}")]
    Status(StatusCode),
    #[error("nothing received for {0:?}")]
    Idle(Duration),
    #[error("a line longer than {MAX_LINE} bytes")]
    TooLong,
}

/// Counts a stream as open while it lives.
struct Open<'a>(&'a AtomicUsize);

impl<'a> Open<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Cluster {
    /// Keeps one stream open to each member the view knows (and each seed) until `shutdown`.
    pub(super) async fn run_push(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut streams: HashMap<String, AbortHandle> = HashMap::new();
        // Dropped (aborting every stream) when this task is aborted.
        let mut tasks = JoinSet::new();
        let mut changed = self.subscribe();
        loop {
            // A manager has no consensus stream: polling its Info is all there is.
            let urls: BTreeSet<String> = if self.is_manager() {
                BTreeSet::new()
            } else {
                self.poll_urls(&self.connection())
            };
            streams.retain(|url, task| {
                let keep = urls.contains(url) && !task.is_finished();
                if !keep {
                    task.abort();
                }
                keep
            });
            for url in urls {
                if let std::collections::hash_map::Entry::Vacant(slot) = streams.entry(url) {
                    let follow = self.clone().follow(slot.key().clone(), shutdown.clone());
                    slot.insert(tasks.spawn(follow));
                }
            }
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                r = changed.changed() => if r.is_err() { break },
                _ = tokio::time::sleep(RESCAN) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
        tasks.shutdown().await;
    }

    /// One member's stream, reopened with a backoff until `shutdown`.
    async fn follow(self: Arc<Self>, url: String, mut shutdown: watch::Receiver<bool>) {
        let mut wait = RETRY_MIN;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let opened = Instant::now();
            let ended = tokio::select! {
                r = self.stream_once(&url) => r,
                _ = shutdown.changed() => return,
            };
            if let Err(e) = ended {
                tracing::debug!(endpoint = %self.id, %url, error = %e, "consensus watch ended");
            }
            // A stream that lived a while was healthy: start the backoff over.
            if opened.elapsed() > IDLE {
                wait = RETRY_MIN;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            wait = (wait * 2).min(RETRY_MAX);
        }
    }

    /// Opens the stream and takes its lines until it ends, fails or goes silent.
    async fn stream_once(&self, url: &str) -> Result<(), StreamError> {
        let req = self
            .client()
            .get(format!("{url}{}", paths::CONSENSUS_WATCH))
            .timeout(STREAM_FOR);
        let mut resp = tokio::time::timeout(POLL_TIMEOUT, self.authorize(req).send())
            .await
            .map_err(|_| StreamError::NoAnswer(POLL_TIMEOUT))?
            .map_err(|e| StreamError::Request(trust::describe(&e)))?;
        if !resp.status().is_success() {
            return Err(StreamError::Status(resp.status()));
        }
        let _open = Open::new(&self.streams_open);
        tracing::info!(endpoint = %self.id, %url, "consensus watch open");
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = tokio::time::timeout(IDLE, resp.chunk())
                .await
                .map_err(|_| StreamError::Idle(IDLE))?
                .map_err(|e| StreamError::Request(trust::describe(&e)))?;
            let Some(chunk) = chunk else {
                return Ok(());
            };
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                self.take_line(url, &line);
            }
            if buf.len() > MAX_LINE {
                return Err(StreamError::TooLong);
            }
        }
    }

    fn take_line(&self, from: &str, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return; // keep-alive
        }
        match serde_json::from_slice::<ClusterState>(line) {
            Ok(state) => self.pushed(from, state),
            Err(e) => {
                tracing::debug!(endpoint = %self.id, url = %from, error = %e, "unreadable consensus watch line")
            }
        }
    }

    /// A member's pushed state, believed when it names a leader in a term no older than the
    /// view's and tells something the view lacks. A state without a leader (an election) or
    /// of another cluster is left to the poll, which reports the mismatch.
    fn pushed(&self, from: &str, state: ClusterState) {
        let best = Best::of(state);
        if best.leader_id.is_empty() || best.ha_id.as_deref().is_some_and(|h| h != self.id) {
            return;
        }
        let (term, leader) = (best.term, best.leader_id.clone());
        let news = self.pushed_term.fetch_max(term, Ordering::Relaxed) < term;
        let mut first = false;
        self.update(Source::Push, |view| {
            let known = view
                .leader
                .as_ref()
                .is_some_and(|l| l.consensus_id == best.leader_id);
            if best.term < view.term || (best.term == view.term && known && view.leader_answered) {
                return;
            }
            if !view.reachable.iter().any(|u| u == from) {
                view.reachable.push(from.to_owned());
            }
            first = best.term > view.term || !known;
            view.pushed_at = Some(Instant::now());
            self.believe(view, best);
        });
        // Once per term: which stream told of it first, and whether it told the view first.
        if news {
            tracing::info!(endpoint = %self.id, term, %leader, url = %from, before_poll = first, "a member's stream named the leader");
        }
    }
}
