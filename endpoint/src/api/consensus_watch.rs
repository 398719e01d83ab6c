//! `GET /api/v3/system/consensus/watch`: this member's `ClusterState` as newline-delimited
//! JSON, one line at once and another whenever its term or leader changes, or its membership
//! (checked every [`KEEPALIVE`]). The manager keeps one open to every member, so it learns of a
//! new leader as the election ends instead of at its next poll.
//!
//! The stream wakes on every change of this member's Raft state (one subscription for its
//! life, so no change between two lines is missed) and compares term and leader with what it
//! sent last: a new leader is announced as soon as this member knows it. A quiet stream sends
//! a blank line every [`KEEPALIVE`], so a reader can tell it from a dead peer. The stream ends
//! when the member starts to stop (`Node::shutdown`): the API server waits for open responses
//! before it stops, so a stream that outlived shutdown would hold it up.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cluster::state::{cluster_state, ClusterState};
use crate::node::Node;
use crate::raft::Changes;

/// How often a quiet stream sends a blank line (and membership is looked at).
pub const KEEPALIVE: Duration = Duration::from_secs(2);

/// The membership a state lists: each member and whether it votes.
fn membership(st: &ClusterState) -> Vec<(String, bool)> {
    st.nodes
        .iter()
        .map(|n| (n.consensus_id.clone(), n.voter))
        .collect()
}

/// One open stream's position: what the last line said.
struct Watch {
    node: Node,
    changes: Changes,
    stop: watch::Receiver<bool>,
    sent: Option<(u64, Option<crate::raft::NodeId>)>,
    members: Vec<(String, bool)>,
    quiet_since: Instant,
}

impl Watch {
    /// The next line: the state when term, leader or membership changed, or a blank line
    /// after [`KEEPALIVE`]; `None` ends the stream.
    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if *self.stop.borrow() {
                return None;
            }
            let m = self.node.metrics();
            let now = (m.current_term, m.current_leader);
            if self.sent != Some(now) {
                return self.line(now).await;
            }
            let quiet = self.quiet_since.elapsed();
            if quiet >= KEEPALIVE {
                let st = cluster_state(&self.node).await;
                if membership(&st) != self.members {
                    return self.line(now).await;
                }
                self.quiet_since = Instant::now();
                return Some(Bytes::from_static(b"\n"));
            }
            tokio::select! {
                _ = self.changes.changed_within(KEEPALIVE - quiet) => {}
                _ = self.stop.changed() => return None,
            }
        }
    }

    /// The current state as one line, remembered as sent.
    async fn line(&mut self, now: (u64, Option<crate::raft::NodeId>)) -> Option<Bytes> {
        let st = cluster_state(&self.node).await;
        self.sent = Some(now);
        self.members = membership(&st);
        self.quiet_since = Instant::now();
        let mut line = serde_json::to_vec(&st).ok()?;
        line.push(b'\n');
        Some(Bytes::from(line))
    }
}

/// Streams this member's `ClusterState` until it stops (see the module's notes).
pub async fn watch(State(node): State<Node>) -> Response {
    let state = Watch {
        changes: node.changes(),
        stop: node.shutdown.clone(),
        node,
        sent: None,
        members: Vec::new(),
        quiet_since: Instant::now(),
    };
    let lines = futures::stream::unfold(state, |mut w| async move {
        let line = w.next_line().await?;
        Some((Ok::<_, std::convert::Infallible>(line), w))
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response()
}
