//! [`Sut`] for etcd 3.4 through its JSON gateway: the peer every workload is measured against.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use futures::FutureExt;

use super::config::Config;
use super::measure::key;
use super::sut::{LeaderProbe, MakeOp, Sut};
use crate::bench::etcd::{self, Etcd};
use crate::bench::load::Op;

/// A 3-member etcd cluster as the bench drives it.
pub struct EtcdSut(pub Etcd);

impl Sut for EtcdSut {
    fn name(&self) -> &'static str {
        "etcd"
    }
    fn members(&self) -> usize {
        self.0.members.len()
    }
    fn live(&self) -> Vec<usize> {
        self.0.live()
    }
    fn url(&self, i: usize) -> String {
        self.0.url(i)
    }
    fn member_id(&self, i: usize) -> String {
        self.0.members[i].id.clone()
    }
    fn pids(&self) -> Vec<u32> {
        self.0.members.iter().filter_map(|m| m.pid()).collect()
    }

    fn write_op(&self, base: &str, c: usize, value: &str) -> Op {
        etcd::put_op(base, key(c).as_bytes(), value.as_bytes())
    }
    fn read_op(&self, base: &str, c: usize) -> Op {
        etcd::range_op(base, key(c).as_bytes())
    }
    fn machine_ops(&self, base: &str, sample: Arc<Vec<u8>>) -> MakeOp {
        let u = base.to_string();
        Arc::new(move |i| etcd::put_op(&u, format!("machines/m{i:08}").as_bytes(), &sample))
    }

    async fn settle(&self, http: &reqwest::Client, timeout: Duration) -> Result<usize> {
        self.0.wait_leader(http, timeout).await
    }
    async fn targets(&self, http: &reqwest::Client) -> Result<(usize, usize)> {
        let l = self.0.wait_leader(http, Duration::from_secs(30)).await?;
        let f = self
            .0
            .live()
            .into_iter()
            .find(|&i| i != l)
            .ok_or_else(|| anyhow!("no etcd follower"))?;
        Ok((l, f))
    }
    fn leader_probe(&self, http: &reqwest::Client, i: usize) -> LeaderProbe {
        let (h, url) = (http.clone(), self.0.url(i));
        Arc::new(move || {
            let (h, url) = (h.clone(), url.clone());
            async move {
                let (_, leader) = etcd::status_at(&h, &url, Duration::from_millis(200))
                    .await
                    .ok()?;
                Some(leader)
            }
            .boxed()
        })
    }

    async fn failover_ops(
        &mut self,
        _http: &reqwest::Client,
        cfg: &Config,
        value: &str,
    ) -> Result<(Vec<Op>, Duration)> {
        // etcd's client round-robins over every member with a short per-attempt timeout.
        let ops = (0..self.members())
            .map(|i| etcd::put_op(&self.0.url(i), b"bench/failover", value.as_bytes()))
            .collect();
        Ok((ops, cfg.etcd_attempt_timeout))
    }
    fn diagnostics(&self) -> String {
        String::new()
    }

    fn kill(&mut self, i: usize) {
        self.0.kill(i);
    }
    fn spawn(&mut self, i: usize) -> Result<()> {
        self.0.spawn(i)
    }
    async fn restart(&mut self, http: &reqwest::Client, i: usize) -> Result<()> {
        self.0.spawn(i)?;
        self.0
            .wait_member_serving(http, i, Duration::from_secs(30))
            .await
    }
    async fn answers(&self, http: &reqwest::Client, i: usize) -> bool {
        etcd::status_at(http, &self.0.url(i), Duration::from_millis(500))
            .await
            .is_ok()
    }
    async fn serves(&self, http: &reqwest::Client, i: usize) -> bool {
        etcd::range_op(&self.0.url(i), b"machines/m00000000")
            .send_ok(http, Duration::from_millis(1000))
            .await
            .is_ok_and(|b| etcd::range_count(&b) > 0)
    }
    async fn after_cold_restart(&mut self, http: &reqwest::Client) -> Result<()> {
        self.0.wait_leader(http, Duration::from_secs(60)).await?;
        Ok(())
    }
}
