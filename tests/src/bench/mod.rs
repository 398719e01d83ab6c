//! `drp-bench`: our Raft-replicated endpoint side by side with a 3-node etcd 3.4 cluster, run
//! on the same machine in the same run, driven by the same load generator.
//!
//! Nothing here asserts: every workload measures, and [`report`] prints each figure beside its
//! etcd peer as a ratio (this machine is noisy, so only same-run ratios mean much).
//!
//! | module | what |
//! |---|---|
//! | [`proc`] | child processes that die with the bench (`PR_SET_PDEATHSIG`), RSS, pid lookup |
//! | [`load`] | the closed-loop load generator (one request shape per client, latency samples) |
//! | [`etcd`] | a 3-node (or 1-node) etcd cluster on loopback, its JSON gateway requests |
//! | [`etcd_tls`] | the bench's CA and certificate for etcd over TLS |
//! | [`ours`] | bearer-token requests against our endpoint, and a `drp-manager` process |
//! | [`machine`] | cores, CPU, memory, disk and its fsync latency; the UTC date |
//! | [`footing`] | the report's equal-footing view: each load cell over TLS beside plain HTTP |
//! | [`report`] | the rows, goals, markdown table, JSON file, `docs/benchmarks.md` section |
//! | [`run`] | the six workloads (writes, reads, failover, fan-out, scale, availability zones) |
//! | [`ha_quick`] | the older `drp-bench ha-quick` (ours only) |
//! | [`job_cycle`] | `drp-bench job-cycle`: DRP's agent cycle (create, running, actions, log, finish) with N agents |

pub mod backup;
pub mod boot_files;
pub mod dhcp;
pub mod etcd;
pub mod etcd_tls;
pub mod footing;
pub mod ha_quick;
pub mod job_cycle;
pub mod load;
pub mod machine;
pub mod ours;
pub mod proc;
pub mod report;
pub mod run;

/// Poll interval of every "wait until" loop in the bench.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// Prints a progress line to stderr (stdout carries the report).
pub fn say(msg: impl AsRef<str>) {
    eprintln!("drp-bench: {}", msg.as_ref());
}
