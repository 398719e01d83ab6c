//! Change events, DRP style: every member publishes one per applied change, in commit
//! order, so a websocket client on any member sees the whole cluster's changes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

use crate::command::{Op, Request, Response};
use crate::model;

/// Events buffered per subscriber before it counts as too slow and is told it lost some.
pub const BUS_CAPACITY: usize = 4096;

/// Recent events kept for a consumer that resumes after a break (`/api/v3/ws?since=N`), so a
/// manager catches up without re-listing everything when the gap is this short (the default
/// of the hidden `--event-ring` flag).
pub const RING_CAPACITY: usize = 10_000;

/// A subscription to the bus's live events.
pub type Receiver = tokio::sync::broadcast::Receiver<Arc<Event>>;

/// The event bus: a broadcast to live subscribers, and a ring of the most recent events with
/// the Raft index of the entry that produced each. Events travel as `Arc`s: the ring and
/// every subscriber share one copy of each object (a deep copy per event was ~4% of a
/// member's CPU under write load).
#[derive(Clone)]
pub struct Bus {
    tx: tokio::sync::broadcast::Sender<Arc<Event>>,
    ring: Arc<Mutex<Ring>>,
    /// The index the store last jumped to without events (0: never), so live subscribers
    /// learn that their stream is not continuous.
    skipped: Arc<tokio::sync::watch::Sender<u64>>,
    /// The highest index published or skipped to: the store reflects at least this much (an
    /// entry's events go out after its transaction commits), which openraft's applied-index
    /// metric may not show yet.
    reached: Arc<std::sync::atomic::AtomicU64>,
}

struct Ring {
    events: VecDeque<Arc<Event>>,
    /// How many events the ring keeps.
    capacity: usize,
    /// Every event of an entry after this index is in `events` (or still to come): the
    /// store's applied index when the bus was made, raised as events are evicted.
    floor: u64,
}

/// The ring no longer holds every event after the index asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the events after index {since} are not all kept any more (kept: after {floor})")]
pub struct NotCovered {
    pub since: u64,
    pub floor: u64,
}

impl Bus {
    /// A bus for a store that has applied up to `applied`: events after it all pass through.
    pub fn new(applied: u64) -> Bus {
        Bus::with_ring(applied, RING_CAPACITY)
    }

    /// [`Bus::new`] keeping the last `capacity` events (at least one) for resumes.
    pub fn with_ring(applied: u64, capacity: usize) -> Bus {
        Bus {
            tx: tokio::sync::broadcast::channel(BUS_CAPACITY).0,
            ring: Arc::new(Mutex::new(Ring {
                events: VecDeque::new(),
                capacity: capacity.max(1),
                floor: applied,
            })),
            skipped: Arc::new(tokio::sync::watch::channel(0).0),
            reached: Arc::new(std::sync::atomic::AtomicU64::new(applied)),
        }
    }

    /// The highest index whose changes the store holds by this bus's account (events sent,
    /// or a jump without events).
    pub fn reached(&self) -> u64 {
        self.reached.load(std::sync::atomic::Ordering::Acquire)
    }

    fn reach(&self, index: u64) {
        self.reached
            .fetch_max(index, std::sync::atomic::Ordering::AcqRel);
    }

    /// Publishes `event` to live subscribers and keeps it in the ring; no subscriber is fine.
    pub fn send(&self, event: Event) {
        self.reach(event.index);
        let event = Arc::new(event);
        // Under the ring's lock, so `subscribe_since` sees each event either in the ring or
        // on its new receiver, never both or neither.
        let Ok(mut ring) = self.ring.lock() else {
            let _ = self.tx.send(event);
            return;
        };
        ring.events.push_back(Arc::clone(&event));
        while ring.events.len() > ring.capacity {
            if let Some(old) = ring.events.pop_front() {
                ring.floor = ring.floor.max(old.index);
            }
        }
        let _ = self.tx.send(event);
    }

    /// The store jumped to `index` without events (a snapshot installed): a resume from
    /// before it is no longer covered, and live subscribers are told through
    /// [`Bus::skips`] (their stream missed whatever the snapshot changed).
    pub fn skipped_to(&self, index: u64) {
        self.reach(index);
        if let Ok(mut ring) = self.ring.lock() {
            ring.floor = ring.floor.max(index);
            ring.events.retain(|e| e.index > index);
        }
        self.skipped.send_replace(index);
    }

    /// Changes each time the store jumps without events; the value is the index it jumped
    /// to. A new receiver has seen the jumps before it.
    pub fn skips(&self) -> tokio::sync::watch::Receiver<u64> {
        self.skipped.subscribe()
    }

    /// Live events from now on.
    pub fn subscribe(&self) -> Receiver {
        self.tx.subscribe()
    }

    /// The kept events of entries after `since`, in order, and live events after them; or
    /// [`NotCovered`] when some of them are no longer kept.
    pub fn subscribe_since(&self, since: u64) -> Result<(Vec<Arc<Event>>, Receiver), NotCovered> {
        let Ok(ring) = self.ring.lock() else {
            return Err(NotCovered {
                since,
                floor: u64::MAX,
            });
        };
        if since < ring.floor {
            return Err(NotCovered {
                since,
                floor: ring.floor,
            });
        }
        let replay = ring
            .events
            .iter()
            .filter(|e| e.index > since)
            .cloned()
            .collect();
        Ok((replay, self.tx.subscribe()))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(rename = "Time")]
    pub time: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Principal")]
    pub principal: String,
    #[serde(rename = "Object")]
    pub object: Value,
    #[serde(rename = "Original")]
    pub original: Value,
    /// The Raft log index of the entry that produced the change (DRP clients ignore it; the
    /// manager's replica tracks how far it has applied a cluster with it).
    #[serde(rename = "Index")]
    pub index: u64,
}

/// The event for an applied command, if it changed something a client can watch.
/// `original` and `current` are the target object before and after (object ops only).
pub fn for_change(
    req: &Request,
    resp: &Response,
    original: Option<Value>,
    current: Option<Value>,
) -> Option<Event> {
    if !(200..300).contains(&resp.status) {
        return None;
    }
    let (kind, action, key) = match &req.op {
        Op::Create {
            collection, key, ..
        } => (collection.as_str(), "create", key.clone()),
        Op::Replace {
            collection, key, ..
        } => (collection.as_str(), "save", key.clone()),
        Op::Patch {
            collection, key, ..
        }
        | Op::SetParam {
            collection, key, ..
        }
        | Op::DeleteParam {
            collection, key, ..
        } => (collection.as_str(), "update", key.clone()),
        Op::Delete { collection, key } => (collection.as_str(), "delete", key.clone()),
        Op::SetPrefs { .. } => ("prefs", "update", "prefs".to_string()),
        Op::ApplyVersionSet(vs) => ("version_sets", "apply", vs.hash.clone()),
        Op::InstallContent { pack, .. } if resp.status == 200 => {
            ("contents", "update", pack.name().to_string())
        }
        Op::InstallContent { pack, .. } => ("contents", "create", pack.name().to_string()),
        Op::RemoveContent { name } => ("contents", "delete", name.clone()),
        Op::FinishUpload { path, .. } => ("files", "create", path.clone()),
        Op::DeleteFile { path } => ("files", "delete", path.clone()),
        Op::CreateJob { job, .. } if resp.status == 201 => ("jobs", "create", job.clone()),
        Op::CreateJob { .. } | Op::AppendJobLog { .. } => return None,
        Op::Seed { .. }
        | Op::MemberAttributes { .. }
        | Op::SetUpgradeTarget { .. }
        | Op::Unknown(_)
        | Op::PutSystem { .. }
        | Op::UploadChunk { .. }
        | Op::AbortUpload { .. } => return None,
    };
    let object = match (&req.op, current) {
        (Op::Delete { .. }, _) => resp.body.clone(),
        (_, Some(current)) => current,
        (_, None) => resp.body.clone(),
    };
    Some(event(req, kind, action, key, object, original))
}

/// The `machines.update` event of a machine that a job command changed on the side (its
/// `CurrentJob`, `CurrentTask`, `Stage`, `WorkflowComplete`, `Runnable`): clients watching
/// the machine see the runtime move it, as with DRP.
pub fn for_machine_side_change(
    req: &Request,
    key: &str,
    original: Option<Value>,
    current: Value,
) -> Event {
    event(
        req,
        "machines",
        "update",
        key.to_string(),
        current,
        original,
    )
}

fn event(
    req: &Request,
    kind: &str,
    action: &str,
    key: String,
    object: Value,
    original: Option<Value>,
) -> Event {
    let time = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(req.at_ms),
    );
    Event {
        time: time.to_string(),
        kind: kind.to_string(),
        action: action.to_string(),
        key,
        principal: req.principal.clone().unwrap_or_default(),
        object: model::redact(kind, object),
        original: original
            .map(|o| model::redact(kind, o))
            .unwrap_or(Value::Null),
        index: 0,
    }
}

/// One step of following the bus: an event, or word that `n` were missed (the follower
/// must then rebuild what it keeps from the store).
pub enum Followed {
    Event(Arc<Event>),
    Lagged(u64),
}

/// Hands each event of `events` to `on`, in order, until `stop` turns true (or its sender
/// is gone) or the bus closes: the one loop every follower of the bus runs.
pub async fn follow<F, Fut>(
    mut events: Receiver,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut on: F,
) where
    F: FnMut(Followed) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let next = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            e = events.recv() => e,
        };
        match next {
            Ok(e) => on(Followed::Event(e)).await,
            Err(RecvError::Lagged(n)) => on(Followed::Lagged(n)).await,
            Err(RecvError::Closed) => return,
        }
    }
}

pub use proto::events::{BadPattern, Pattern};

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, action: &str, key: &str) -> Event {
        Event {
            time: String::new(),
            kind: kind.into(),
            action: action.into(),
            key: key.into(),
            principal: String::new(),
            object: Value::Null,
            original: Value::Null,
            index: 0,
        }
    }

    /// A follower sees every event in order and a lag as one `Lagged`, and returns when told
    /// to stop, without another event.
    #[tokio::test]
    async fn follow_hands_on_events_and_lags_and_stops_when_told() {
        let (bus, rx) = tokio::sync::broadcast::channel(2);
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let follower = tokio::spawn(follow(rx, stop, move |f| {
            let _ = seen_tx.send(match f {
                Followed::Event(e) => e.key.clone(),
                Followed::Lagged(n) => format!("lagged {n}"),
            });
            std::future::ready(())
        }));
        // Three sends into a bus of two before the follower reads: the first is lost.
        for key in ["a", "b", "c"] {
            bus.send(Arc::new(event("machines", "update", key)))
                .expect("a receiver");
        }
        let mut got = Vec::new();
        while got.len() < 3 {
            got.push(seen.recv().await.expect("the follower runs"));
        }
        assert_eq!(got, ["lagged 1", "b", "c"]);
        stop_tx.send(true).expect("the follower listens");
        follower.await.expect("the follower returns");
        assert!(seen.recv().await.is_none(), "nothing after the stop");
    }

    fn at(index: u64, key: &str) -> Event {
        Event {
            index,
            ..event("machines", "update", key)
        }
    }

    /// A resume after a kept index replays exactly the later events and then goes live; one
    /// from before the floor (the store's start or an evicted event) is refused.
    #[test]
    fn resume_replays_what_the_ring_keeps_and_refuses_a_gap() {
        let bus = Bus::new(10);
        assert_eq!(
            bus.subscribe_since(9).unwrap_err(),
            NotCovered {
                since: 9,
                floor: 10
            }
        );
        for i in 11..=13 {
            bus.send(at(i, &i.to_string()));
        }
        let (replay, mut live) = bus.subscribe_since(11).expect("covered");
        let keys: Vec<_> = replay.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["12", "13"]);
        bus.send(at(14, "14"));
        assert_eq!(live.try_recv().expect("live").key, "14");
        assert!(live.try_recv().is_err(), "nothing twice");

        let bus = Bus::new(0);
        for i in 1..=(RING_CAPACITY as u64 + 2) {
            bus.send(at(i, "k"));
        }
        assert_eq!(bus.subscribe_since(1).unwrap_err().floor, 2);
        let (replay, _) = bus.subscribe_since(2).expect("covered from the floor");
        assert_eq!(replay.len(), RING_CAPACITY);
    }

    /// A smaller ring keeps only its last events: a resume from before them is refused.
    #[test]
    fn a_ring_of_n_keeps_the_last_n_events() {
        let bus = Bus::with_ring(0, 3);
        for i in 1..=5 {
            bus.send(at(i, &i.to_string()));
        }
        assert_eq!(bus.subscribe_since(1).unwrap_err().floor, 2);
        let (replay, _) = bus.subscribe_since(2).expect("covered");
        let keys: Vec<_> = replay.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["3", "4", "5"]);
    }

    /// What the bus has published (or jumped to) is what the store reflects at least, and it
    /// never goes back; a clone (the node's) sees the state machine's sends.
    #[test]
    fn reached_follows_sends_and_jumps() {
        let bus = Bus::new(7);
        let node_side = bus.clone();
        assert_eq!(node_side.reached(), 7);
        bus.send(at(9, "9"));
        assert_eq!(node_side.reached(), 9);
        bus.skipped_to(20);
        bus.send(at(3, "late"));
        assert_eq!(node_side.reached(), 20);
    }

    /// An installed snapshot tells every live subscriber of the jump (and a later one does
    /// not see it as news), and a resume from before it is refused.
    #[tokio::test]
    async fn a_snapshot_install_is_told_to_live_subscribers() {
        let bus = Bus::new(0);
        bus.send(at(1, "1"));
        let mut skips = bus.skips();
        assert!(!skips.has_changed().expect("open"));
        bus.skipped_to(40);
        skips.changed().await.expect("told");
        assert_eq!(*skips.borrow_and_update(), 40);
        assert!(!bus.skips().has_changed().expect("open"), "old news");
        assert_eq!(bus.subscribe_since(1).unwrap_err().floor, 40);
    }
}
