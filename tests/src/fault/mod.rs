//! The fault-tolerance suite (issue 6): real `drp-endpoint` processes, injected faults, a
//! concurrent register workload whose history is checked for linearizability by a published
//! checker (`todc-utils`'s Wing–Gong checker), plus durability and leader-uniqueness checks.
//!
//! | module | what |
//! |---|---|
//! | [`proxy`] | per-node consensus proxies with per-(caller, callee) rules: blackhole, delay |
//! | [`history`] | the recorded history (invoke/complete, outcomes ok / fail / unknown) |
//! | [`checker`] | `todc-utils`'s `WGLChecker` over a CAS register, per key, with a step budget |
//! | [`workload`] | concurrent clients doing reads, writes and CAS on params of a few profiles |
//! | [`monitor`] | polls every member's (Term, LeaderID) for "one leader per term" |
//! | [`power_cut`] | what the power-cut fault reverted at a member's start, from its log |
//! | [`scenarios`] | the fault scenarios, the final heal + restart-all + checks, and reports |

pub mod checker;
pub mod history;
pub mod monitor;
pub mod power_cut;
pub mod proxy;
pub mod scenarios;
pub mod workload;
