//! The operation history of a fault run: every client operation with its invocation and
//! completion, in real-time order.
//!
//! Both events are appended under one mutex, so the order of [`History::events`] is consistent
//! with real time: an event recorded after another really happened after it. Timestamps (since
//! the history's start) are kept for the printed evidence only.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Register values. Every write in a run writes a value no other write uses; `0` is the
/// initial value of every key.
pub type Val = u64;

/// One operation on one register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Read,
    Write(Val),
    /// Compare-and-set: `PATCH` with a `test` op on the old value and a `replace` with the new.
    Cas(Val, Val),
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not completed yet (at the end of a run: treated as [`Outcome::Unknown`]).
    Pending,
    /// Acknowledged: a read's value, or `None` for a write or a successful CAS.
    Ok(Option<Val>),
    /// The CAS's `test` failed (409): it took effect as "the value was not the old one".
    CasMismatch,
    /// Definitely did not happen (refused before it was sent, or a 4xx that changes nothing).
    Fail(String),
    /// Timed out or a 5xx: it may or may not have taken effect, at any time after invocation.
    Unknown(String),
}

impl Outcome {
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Ok(_) => "ok",
            Outcome::CasMismatch => "cas-mismatch",
            Outcome::Fail(_) => "fail",
            Outcome::Unknown(_) => "unknown",
        }
    }
}

/// One operation as recorded.
#[derive(Debug, Clone)]
pub struct OpRecord {
    pub id: usize,
    /// The client "process": a client takes a new process id after an unknown outcome (it
    /// cannot know whether that operation is still in flight).
    pub process: u64,
    /// Index into the run's keys.
    pub key: usize,
    pub op: Op,
    /// Name of the member the request was sent to.
    pub node: String,
    pub invoked: Duration,
    pub completed: Option<Duration>,
    pub outcome: Outcome,
}

impl fmt::Display for OpRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let done = self
            .completed
            .map(|c| format!("{:.3}s", c.as_secs_f64()))
            .unwrap_or_else(|| "-".into());
        let outcome = match &self.outcome {
            Outcome::Ok(Some(v)) => format!("ok -> {v}"),
            Outcome::Ok(None) => "ok".into(),
            Outcome::Fail(why) | Outcome::Unknown(why) => {
                format!(
                    "{} ({})",
                    self.outcome.kind(),
                    crate::http::truncate(why, 120)
                )
            }
            o => o.kind().into(),
        };
        write!(
            f,
            "#{:<5} p{:<4} key{} {:<16} via {:<3} [{:.3}s .. {done}] {outcome}",
            self.id,
            self.process,
            self.key,
            format!("{:?}", self.op),
            self.node,
            self.invoked.as_secs_f64(),
        )
    }
}

/// An invocation or a completion, in real-time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Invoke(usize),
    Return(usize),
}

#[derive(Default)]
struct Inner {
    ops: Vec<OpRecord>,
    events: Vec<Event>,
}

/// A shared, append-only history.
pub struct History {
    start: Instant,
    inner: Mutex<Inner>,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    pub fn new() -> Self {
        History {
            start: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record an invocation; returns the operation's id.
    pub fn invoke(&self, process: u64, key: usize, op: Op, node: &str) -> usize {
        let mut g = self.lock();
        let id = g.ops.len();
        g.ops.push(OpRecord {
            id,
            process,
            key,
            op,
            node: node.to_string(),
            invoked: self.start.elapsed(),
            completed: None,
            outcome: Outcome::Pending,
        });
        g.events.push(Event::Invoke(id));
        id
    }

    /// Record the completion of `id`.
    pub fn complete(&self, id: usize, outcome: Outcome) {
        let mut g = self.lock();
        let now = self.start.elapsed();
        let rec = &mut g.ops[id];
        rec.completed = Some(now);
        rec.outcome = outcome;
        g.events.push(Event::Return(id));
    }

    /// Seconds since the history started (for fault annotations).
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// A copy of the operations and the event order.
    pub fn snapshot(&self) -> (Vec<OpRecord>, Vec<Event>) {
        let g = self.lock();
        (g.ops.clone(), g.events.clone())
    }
}

/// Counts of a history's outcomes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpCounts {
    pub ok: usize,
    pub cas_mismatch: usize,
    pub fail: usize,
    pub unknown: usize,
    pub reads: usize,
    pub writes: usize,
    pub cas: usize,
}

impl OpCounts {
    pub fn of(ops: &[OpRecord]) -> Self {
        let mut c = OpCounts::default();
        for o in ops {
            match o.op {
                Op::Read => c.reads += 1,
                Op::Write(_) => c.writes += 1,
                Op::Cas(..) => c.cas += 1,
            }
            match o.outcome {
                Outcome::Ok(_) => c.ok += 1,
                Outcome::CasMismatch => c.cas_mismatch += 1,
                Outcome::Fail(_) => c.fail += 1,
                Outcome::Unknown(_) | Outcome::Pending => c.unknown += 1,
            }
        }
        c
    }
    pub fn total(&self) -> usize {
        self.reads + self.writes + self.cas
    }
    pub fn add(&mut self, o: &OpCounts) {
        self.ok += o.ok;
        self.cas_mismatch += o.cas_mismatch;
        self.fail += o.fail;
        self.unknown += o.unknown;
        self.reads += o.reads;
        self.writes += o.writes;
        self.cas += o.cas;
    }
}

impl fmt::Display for OpCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ops ({} reads, {} writes, {} cas): {} ok, {} cas-mismatch, {} fail, {} unknown",
            self.total(),
            self.reads,
            self.writes,
            self.cas,
            self.ok,
            self.cas_mismatch,
            self.fail,
            self.unknown
        )
    }
}
