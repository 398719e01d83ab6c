//! Linearizability checking with a published checker: `todc-utils`'s [`WGLChecker`] (the
//! Wing–Gong algorithm with Lowe's memoisation, as described by Horn and Kroening; the same
//! algorithm as Porcupine, which etcd's robustness tests use) over a compare-and-set register
//! ([`CasRegister`]).
//!
//! * Each key is checked on its own (linearizability is compositional), from initial value `0`.
//! * The history is replayed in recorded real-time order (see [`super::history`]).
//! * Completed operations keep their invocation and completion. A CAS that answered 409 is a
//!   completed operation asserting that the value differed from the expected one.
//! * An operation with an unknown outcome (timeout, 5xx) that could change the value (write,
//!   CAS) is given a completion at the very end of the history (an infinite end time, the
//!   Porcupine/Jepsen approach): it may take effect at any point after its invocation, and
//!   taking effect at the very end is indistinguishable from never. An unknown CAS is valid
//!   whether or not its test matches.
//! * Unknown or failed reads are dropped (a read changes nothing); operations that definitely
//!   did not happen (refused before being sent, 4xx) are dropped.
//!
//! The search is exponential in the worst case, so every check has a step budget; running out
//! is reported as [`Verdict::Inconclusive`], which the suite counts as a failure (never as a
//! pass). On a failure the shortest non-linearizable prefix is located (a prefix of a
//! linearizable history is linearizable when its unfinished operations are treated as
//! unknown), and the operations around its end are printed as evidence.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use todc_utils::linearizability::history::{Action, History};
use todc_utils::linearizability::WGLChecker;
use todc_utils::specifications::Specification;

use super::history::{Event, Op, OpRecord, Outcome, Val};

/// How a CAS ended, as seen by the checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CasStatus {
    Ok,
    Mismatch,
    Unknown,
}

/// An operation as the checker sees it (calls and responses carry the same shape; the
/// response's is the one applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegOp {
    /// A read and the value it returned (`None` in the call).
    Read(Option<Val>),
    /// A write, acknowledged or unknown.
    Write(Val),
    Cas(Val, Val, CasStatus),
}

/// The sequential specification: one register with read, write and compare-and-set.
pub struct CasRegister;

thread_local! {
    static BUDGET: Cell<u64> = const { Cell::new(u64::MAX) };
}

const BUDGET_PANIC: &str = "linearizability check: step budget exhausted";

impl Specification for CasRegister {
    type State = Val;
    type Operation = RegOp;

    fn init() -> Val {
        0
    }

    fn apply(op: &RegOp, state: &Val) -> (bool, Val) {
        BUDGET.with(|b| {
            let left = b.get();
            if left == 0 {
                // Unwinds out of the search; caught in `run_checker`.
                std::panic::panic_any(BUDGET_PANIC);
            }
            b.set(left - 1);
        });
        match *op {
            RegOp::Read(Some(v)) => (v == *state, *state),
            RegOp::Read(None) => (false, *state),
            RegOp::Write(v) => (true, v),
            RegOp::Cas(old, new, status) => {
                let hit = *state == old;
                match status {
                    CasStatus::Ok => (hit, if hit { new } else { *state }),
                    CasStatus::Mismatch => (!hit, *state),
                    CasStatus::Unknown => (true, if hit { new } else { *state }),
                }
            }
        }
    }
}

/// The verdict for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// Not linearizable; the id of the operation whose event ends the shortest failing prefix.
    Violation {
        at_op: Option<usize>,
    },
    /// The search ran out of its step budget (counted as a failure).
    Inconclusive,
    /// The history itself was malformed (a harness bug).
    Invalid(String),
}

/// Result of checking one key.
#[derive(Debug, Clone)]
pub struct KeyReport {
    pub key: usize,
    /// Operations replayed into the tester (completed + unknown writes/CAS).
    pub replayed: usize,
    /// Of which unknown (left in flight).
    pub in_flight: usize,
    pub verdict: Verdict,
    /// Printed evidence for a non-linearizable verdict.
    pub evidence: String,
}

/// Default step budget per key (each step is one `invoke` of the reference register).
pub const DEFAULT_BUDGET: u64 = 20_000_000;

#[derive(Clone, Copy)]
enum Replay {
    Skip,
    Completed(RegOp),
    Unknown(RegOp),
}

fn call_of(op: Op) -> RegOp {
    match op {
        Op::Read => RegOp::Read(None),
        Op::Write(v) => RegOp::Write(v),
        Op::Cas(o, n) => RegOp::Cas(o, n, CasStatus::Unknown),
    }
}

fn replay_kind(o: &OpRecord) -> Replay {
    match (&o.outcome, o.op) {
        (Outcome::Ok(Some(v)), Op::Read) => Replay::Completed(RegOp::Read(Some(*v))),
        (Outcome::Ok(_), Op::Write(v)) => Replay::Completed(RegOp::Write(v)),
        (Outcome::Ok(_), Op::Cas(a, b)) => Replay::Completed(RegOp::Cas(a, b, CasStatus::Ok)),
        (Outcome::CasMismatch, Op::Cas(a, b)) => {
            Replay::Completed(RegOp::Cas(a, b, CasStatus::Mismatch))
        }
        (Outcome::Unknown(_) | Outcome::Pending, Op::Write(v)) => Replay::Unknown(RegOp::Write(v)),
        (Outcome::Unknown(_) | Outcome::Pending, Op::Cas(a, b)) => {
            Replay::Unknown(RegOp::Cas(a, b, CasStatus::Unknown))
        }
        _ => Replay::Skip,
    }
}

/// The checker's history of `key` over the first `upto` events. Operations that have not
/// returned by `upto` are unknown (reads among them dropped).
fn actions(
    ops: &[OpRecord],
    events: &[Event],
    key: usize,
    upto: usize,
) -> Vec<(usize, Action<RegOp>)> {
    let returned: HashSet<usize> = events[..upto]
        .iter()
        .filter_map(|e| match e {
            Event::Return(id) => Some(*id),
            Event::Invoke(_) => None,
        })
        .collect();
    // Dense process ids, as the checker wants; every unknown operation gets its own.
    let mut procs: HashMap<u64, usize> = HashMap::new();
    let mut next_proc = 0usize;
    let mut out = Vec::new();
    let mut tail = Vec::new();
    for ev in &events[..upto] {
        let (id, is_return) = match *ev {
            Event::Invoke(id) => (id, false),
            Event::Return(id) => (id, true),
        };
        let o = &ops[id];
        if o.key != key {
            continue;
        }
        let kind = if returned.contains(&id) {
            replay_kind(o)
        } else if matches!(o.op, Op::Read) || matches!(o.outcome, Outcome::Fail(_)) {
            Replay::Skip
        } else {
            Replay::Unknown(match o.op {
                Op::Cas(a, b) => RegOp::Cas(a, b, CasStatus::Unknown),
                other => call_of(other),
            })
        };
        match (kind, is_return) {
            (Replay::Skip, _) | (Replay::Unknown(_), true) => {}
            (Replay::Completed(_), false) => {
                let p = *procs.entry(o.process).or_insert_with(|| {
                    next_proc += 1;
                    next_proc - 1
                });
                out.push((p, Action::Call(call_of(o.op))));
            }
            (Replay::Completed(r), true) => {
                let p = procs[&o.process];
                out.push((p, Action::Response(r)));
            }
            (Replay::Unknown(r), false) => {
                let p = next_proc;
                next_proc += 1;
                out.push((p, Action::Call(call_of(o.op))));
                tail.push((p, Action::Response(r)));
            }
        }
    }
    out.extend(tail);
    out
}

/// Run the checker on one key's first `upto` events. `None` = the budget ran out.
fn run_checker(
    ops: &[OpRecord],
    events: &[Event],
    key: usize,
    upto: usize,
    budget: u64,
) -> Option<bool> {
    let acts = actions(ops, events, key, upto);
    if acts.is_empty() {
        return Some(true);
    }
    BUDGET.with(|b| b.set(budget));
    let result = std::panic::catch_unwind(|| {
        WGLChecker::<CasRegister>::is_linearizable(History::from_actions(acts))
    });
    BUDGET.with(|b| b.set(u64::MAX));
    match result {
        Ok(ok) => Some(ok),
        Err(p) if p.downcast_ref::<&str>() == Some(&BUDGET_PANIC) => None,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// Check one key's history.
pub fn check_key(ops: &[OpRecord], events: &[Event], key: usize, budget: u64) -> KeyReport {
    let mut replayed = 0;
    let mut in_flight = 0;
    for o in ops.iter().filter(|o| o.key == key) {
        match replay_kind(o) {
            Replay::Skip => {}
            Replay::Completed(_) => replayed += 1,
            Replay::Unknown(_) => {
                replayed += 1;
                in_flight += 1;
            }
        }
    }
    let mut report = KeyReport {
        key,
        replayed,
        in_flight,
        verdict: Verdict::Linearizable,
        evidence: String::new(),
    };
    let verdict = match run_checker(ops, events, key, events.len(), budget) {
        Some(true) => Verdict::Linearizable,
        Some(false) => Verdict::Violation { at_op: None },
        None => Verdict::Inconclusive,
    };
    if verdict == Verdict::Linearizable || matches!(verdict, Verdict::Invalid(_)) {
        report.verdict = verdict;
        return report;
    }
    // Shortest failing prefix (by events of this key), for the evidence.
    let key_event_ends: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            let id = match e {
                Event::Invoke(id) | Event::Return(id) => *id,
            };
            ops[id].key == key
        })
        .map(|(i, _)| i + 1)
        .collect();
    let (mut lo, mut hi) = (0usize, key_event_ends.len());
    // Invariant: prefix key_event_ends[hi-1] fails (or is the whole history); lo passes.
    let mut found = false;
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        match run_checker(ops, events, key, key_event_ends[mid - 1], budget / 4) {
            Some(true) => lo = mid,
            Some(false) => {
                hi = mid;
                found = true;
            }
            _ => break,
        }
    }
    let definite = found || matches!(verdict, Verdict::Violation { .. });
    let at_op = definite
        .then(|| key_event_ends.get(hi.saturating_sub(1)).copied())
        .flatten()
        .map(|end| match events[end - 1] {
            Event::Invoke(id) | Event::Return(id) => id,
        });
    // A budget-exhausted full check with a definitely failing prefix is a violation.
    report.verdict = if definite {
        Verdict::Violation { at_op }
    } else {
        verdict
    };
    report.evidence = evidence(ops, key, at_op);
    report
}

/// The operations of `key` around `at_op` (all of them, up to 80 lines, when unknown).
fn evidence(ops: &[OpRecord], key: usize, at_op: Option<usize>) -> String {
    let key_ops: Vec<&OpRecord> = ops.iter().filter(|o| o.key == key).collect();
    let pos = at_op
        .and_then(|id| key_ops.iter().position(|o| o.id == id))
        .unwrap_or(key_ops.len().saturating_sub(1));
    let from = pos.saturating_sub(60);
    let to = (pos + 20).min(key_ops.len());
    let mut s = format!(
        "key{key}: operations {}..{} of {} (the shortest non-linearizable prefix ends at op #{}):\n",
        from,
        to,
        key_ops.len(),
        at_op.map(|i| i.to_string()).unwrap_or_else(|| "?".into())
    );
    for o in &key_ops[from..to] {
        s.push_str(&format!("  {o}\n"));
    }
    s
}

/// Check every key, each in a thread with a large stack (the search recurses once per
/// operation). Keys are checked in parallel up to `parallelism` at a time.
pub fn check_all(ops: &[OpRecord], events: &[Event], keys: usize, budget: u64) -> Vec<KeyReport> {
    let ops = Arc::new(ops.to_vec());
    let events = Arc::new(events.to_vec());
    let mut out = BTreeMap::new();
    for chunk in (0..keys).collect::<Vec<_>>().chunks(2) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|&k| {
                let (ops, events) = (ops.clone(), events.clone());
                std::thread::Builder::new()
                    .name(format!("lin-check-{k}"))
                    .stack_size(512 << 20)
                    .spawn(move || check_key(&ops, &events, k, budget))
                    .expect("spawning a checker thread")
            })
            .collect();
        for (h, &k) in handles.into_iter().zip(chunk) {
            let r = h.join().unwrap_or_else(|_| KeyReport {
                key: k,
                replayed: 0,
                in_flight: 0,
                verdict: Verdict::Invalid("the checker thread panicked".into()),
                evidence: String::new(),
            });
            out.insert(k, r);
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::history::History;

    /// (process, key, op, outcome) invoked and completed in sequence unless noted.
    fn seq(h: &History, p: u64, op: Op, out: Outcome) -> usize {
        let id = h.invoke(p, 0, op, "n1");
        h.complete(id, out);
        id
    }

    fn verdict(h: &History) -> Verdict {
        let (ops, events) = h.snapshot();
        check_key(&ops, &events, 0, DEFAULT_BUDGET).verdict
    }

    #[test]
    fn sequential_ok() {
        let h = History::new();
        seq(&h, 1, Op::Write(5), Outcome::Ok(None));
        seq(&h, 2, Op::Read, Outcome::Ok(Some(5)));
        seq(&h, 1, Op::Cas(5, 6), Outcome::Ok(None));
        seq(&h, 2, Op::Cas(5, 7), Outcome::CasMismatch);
        seq(&h, 3, Op::Read, Outcome::Ok(Some(6)));
        assert_eq!(verdict(&h), Verdict::Linearizable);
    }

    #[test]
    fn stale_read_is_rejected() {
        // write 1 completes, then a later read returns the initial 0: not linearizable.
        let h = History::new();
        seq(&h, 1, Op::Write(1), Outcome::Ok(None));
        seq(&h, 2, Op::Read, Outcome::Ok(Some(0)));
        assert!(matches!(verdict(&h), Verdict::Violation { .. }));
    }

    #[test]
    fn lost_acknowledged_write_is_rejected() {
        let h = History::new();
        seq(&h, 1, Op::Write(1), Outcome::Ok(None));
        seq(&h, 1, Op::Write(2), Outcome::Ok(None));
        seq(&h, 2, Op::Read, Outcome::Ok(Some(1)));
        assert!(matches!(verdict(&h), Verdict::Violation { .. }));
    }

    #[test]
    fn impossible_value_is_rejected() {
        let h = History::new();
        seq(&h, 1, Op::Write(1), Outcome::Ok(None));
        seq(&h, 2, Op::Read, Outcome::Ok(Some(42)));
        assert!(matches!(verdict(&h), Verdict::Violation { .. }));
    }

    #[test]
    fn cas_double_success_is_rejected() {
        // Two CAS 0->x both succeed: only one may.
        let h = History::new();
        let a = h.invoke(1, 0, Op::Cas(0, 1), "n1");
        let b = h.invoke(2, 0, Op::Cas(0, 2), "n2");
        h.complete(a, Outcome::Ok(None));
        h.complete(b, Outcome::Ok(None));
        assert!(matches!(verdict(&h), Verdict::Violation { .. }));
    }

    #[test]
    fn cas_mismatch_needs_a_different_value() {
        // The value is 0 throughout; a CAS 0->1 answering 409 is impossible.
        let h = History::new();
        seq(&h, 1, Op::Cas(0, 1), Outcome::CasMismatch);
        assert!(matches!(verdict(&h), Verdict::Violation { .. }));
    }

    #[test]
    fn concurrent_ops_may_reorder() {
        // A read concurrent with a write may see either value.
        let h = History::new();
        let w = h.invoke(1, 0, Op::Write(1), "n1");
        let r1 = h.invoke(2, 0, Op::Read, "n2");
        h.complete(r1, Outcome::Ok(Some(1)));
        let r2 = h.invoke(2, 0, Op::Read, "n2");
        h.complete(r2, Outcome::Ok(Some(1)));
        h.complete(w, Outcome::Ok(None));
        assert_eq!(verdict(&h), Verdict::Linearizable);
    }

    #[test]
    fn unknown_write_may_or_may_not_apply() {
        // An unknown write may show up later...
        let h = History::new();
        seq(&h, 1, Op::Write(7), Outcome::Unknown("timeout".into()));
        seq(&h, 2, Op::Read, Outcome::Ok(Some(0)));
        seq(&h, 2, Op::Read, Outcome::Ok(Some(7)));
        assert_eq!(verdict(&h), Verdict::Linearizable);
        // ...or never.
        let h = History::new();
        seq(&h, 1, Op::Write(7), Outcome::Unknown("timeout".into()));
        seq(&h, 2, Op::Read, Outcome::Ok(Some(0)));
        assert_eq!(verdict(&h), Verdict::Linearizable);
        // But not before it was invoked.
        let h = History::new();
        seq(&h, 2, Op::Read, Outcome::Ok(Some(7)));
        seq(&h, 1, Op::Write(7), Outcome::Unknown("timeout".into()));
        assert!(matches!(verdict(&h), Verdict::Violation { .. }));
        // And once it is visible, it cannot vanish.
        let h = History::new();
        seq(&h, 1, Op::Write(7), Outcome::Unknown("timeout".into()));
        seq(&h, 2, Op::Read, Outcome::Ok(Some(7)));
        seq(&h, 2, Op::Read, Outcome::Ok(Some(0)));
        assert!(matches!(verdict(&h), Verdict::Violation { .. }));
    }

    #[test]
    fn failed_writes_never_apply() {
        let h = History::new();
        seq(&h, 1, Op::Write(7), Outcome::Fail("refused".into()));
        seq(&h, 2, Op::Read, Outcome::Ok(Some(7)));
        assert!(matches!(verdict(&h), Verdict::Violation { .. }));
    }

    #[test]
    fn violation_evidence_points_at_the_bad_read() {
        let h = History::new();
        for i in 1..=20 {
            seq(&h, 1, Op::Write(i), Outcome::Ok(None));
            seq(&h, 2, Op::Read, Outcome::Ok(Some(i)));
        }
        let bad = seq(&h, 3, Op::Read, Outcome::Ok(Some(3)));
        for i in 21..=30 {
            seq(&h, 1, Op::Write(i), Outcome::Ok(None));
        }
        let (ops, events) = h.snapshot();
        let r = check_key(&ops, &events, 0, DEFAULT_BUDGET);
        assert_eq!(r.verdict, Verdict::Violation { at_op: Some(bad) });
        assert!(r.evidence.contains(&format!("#{bad}")), "{}", r.evidence);
    }

    #[test]
    fn larger_concurrent_history_is_checked_quickly() {
        // 8 processes, 600 overlapping ops, a few unknown writes: linearizable by
        // construction (a simulated atomic register with random linearization points).
        use rand::{Rng, SeedableRng};
        let n: usize = std::env::var("LIN_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1200);
        let unk: f64 = std::env::var("LIN_UNK")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.02);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let h = History::new();
        let mut value = 0u64;
        let mut next = 1u64;
        let mut pending: Vec<(usize, Op)> = Vec::new();
        let mut proc_busy = [false; 8];
        let mut proc_id = [0u64; 8];
        for (i, p) in proc_id.iter_mut().enumerate() {
            *p = i as u64;
        }
        let mut procs_next = 8u64;
        let mut owner: Vec<usize> = Vec::new();
        for _ in 0..n {
            let free: Vec<usize> = (0..8).filter(|&p| !proc_busy[p]).collect();
            if !free.is_empty() && (pending.is_empty() || rng.random_bool(0.5)) {
                let p = free[rng.random_range(0..free.len())];
                let op = match rng.random_range(0..3) {
                    0 => Op::Read,
                    1 => {
                        next += 1;
                        Op::Write(next)
                    }
                    _ => {
                        next += 1;
                        Op::Cas(if rng.random_bool(0.5) { value } else { 999 }, next)
                    }
                };
                let id = h.invoke(proc_id[p], 0, op, "n1");
                if owner.len() <= id {
                    owner.resize(id + 1, 0);
                }
                owner[id] = p;
                proc_busy[p] = true;
                pending.push((id, op));
            } else if !pending.is_empty() {
                // Linearize and complete one pending op now.
                let (id, op) = pending.swap_remove(rng.random_range(0..pending.len()));
                let p = owner[id];
                let out = match op {
                    Op::Read => Outcome::Ok(Some(value)),
                    Op::Write(v) => {
                        value = v;
                        Outcome::Ok(None)
                    }
                    Op::Cas(o, n) => {
                        if value == o {
                            value = n;
                            Outcome::Ok(None)
                        } else {
                            Outcome::CasMismatch
                        }
                    }
                };
                let out = if !matches!(op, Op::Read) && rng.random_bool(unk) {
                    proc_id[p] = procs_next;
                    procs_next += 1;
                    Outcome::Unknown("timeout".into())
                } else {
                    out
                };
                h.complete(id, out);
                proc_busy[p] = false;
            }
        }
        let (ops, events) = h.snapshot();
        let t0 = std::time::Instant::now();
        let r = check_all(&ops, &events, 1, DEFAULT_BUDGET);
        assert_eq!(r[0].verdict, Verdict::Linearizable, "{}", r[0].evidence);
        eprintln!("checked {} ops in {:?}", ops.len(), t0.elapsed());
        assert!(t0.elapsed() < std::time::Duration::from_secs(20));
    }
}
