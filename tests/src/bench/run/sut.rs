//! The system under test: what every workload needs from a 3-member cluster, implemented by
//! our endpoint ([`super::ours_sut::Ours`]) and by etcd ([`super::etcd_sut::EtcdSut`]), so each
//! workload is written once and run against both in the same way.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use futures::future::BoxFuture;

use super::config::Config;
use crate::bench::load::Op;
use crate::bench::proc::rss_bytes;

/// Makes the `i`th op of a counted load.
pub type MakeOp = Arc<dyn Fn(usize) -> Op + Send + Sync>;

/// Asks one member whom it follows: the leader's id, or `None` if it does not answer.
pub type LeaderProbe = Arc<dyn Fn() -> BoxFuture<'static, Option<String>> + Send + Sync>;

/// A replicated store driven by the bench. Members are numbered `0..members()`.
pub trait Sut {
    /// `ours` or `etcd`, for progress lines.
    fn name(&self) -> &'static str;
    /// How many members it has.
    fn members(&self) -> usize;
    /// Members running now.
    fn live(&self) -> Vec<usize>;
    /// Member `i`'s client URL.
    fn url(&self, i: usize) -> String;
    /// Member `i`'s stable id, as leader probes report it.
    fn member_id(&self, i: usize) -> String;
    /// Pids of the member processes (CPU and RSS accounting).
    fn pids(&self) -> Vec<u32>;
    /// Resident memory of each member process.
    fn rss(&self) -> Vec<u64> {
        self.pids().into_iter().filter_map(rss_bytes).collect()
    }

    /// Client `c`'s write of `value` to its own key, sent to `base`.
    fn write_op(&self, base: &str, c: usize, value: &str) -> Op;
    /// Client `c`'s linearizable read of its own key, sent to `base`.
    fn read_op(&self, base: &str, c: usize) -> Op;
    /// Makes the create of machine `i` at `base` (`sample` is a machine's JSON, for a system
    /// that stores the bytes as given).
    fn machine_ops(&self, base: &str, sample: Arc<Vec<u8>>) -> MakeOp;

    /// Waits for a stable leader (and, where it can tell, every member caught up with it).
    async fn settle(&self, http: &reqwest::Client, timeout: Duration) -> Result<usize>;
    /// `(leader, a follower)` once there is a stable leader.
    async fn targets(&self, http: &reqwest::Client) -> Result<(usize, usize)>;
    /// A probe of member `i`'s view of the leader, usable from a spawned task.
    fn leader_probe(&self, http: &reqwest::Client, i: usize) -> LeaderProbe;

    /// The failover writer's ops, tried in turn, and its per-attempt timeout.
    async fn failover_ops(
        &mut self,
        http: &reqwest::Client,
        cfg: &Config,
        value: &str,
    ) -> Result<(Vec<Op>, Duration)>;
    /// Recent log lines that explain a failure (empty if there are none).
    fn diagnostics(&self) -> String;

    /// `kill -9` member `i`.
    fn kill(&mut self, i: usize);
    /// Starts member `i` again on its data and returns at once.
    fn spawn(&mut self, i: usize) -> Result<()>;
    /// Starts member `i` again and waits until it serves.
    async fn restart(&mut self, http: &reqwest::Client, i: usize) -> Result<()>;
    /// Member `i` answers a status request (not necessarily serving data yet).
    async fn answers(&self, http: &reqwest::Client, i: usize) -> bool;
    /// Member `i` serves a linearizable read of the first loaded machine.
    async fn serves(&self, http: &reqwest::Client, i: usize) -> bool;
    /// After a cold restart of every member: waits until the whole cluster is back.
    async fn after_cold_restart(&mut self, http: &reqwest::Client) -> Result<()>;
}
