//! [`Sut`] for our endpoint: a harness [`Cluster`] driven with a bearer token; failover writes
//! go through a `drp-manager` gateway, as a real client's would.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use futures::FutureExt;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use super::config::Config;
use super::measure::{client_profile, PARAM, PROFILE};
use super::sut::{LeaderProbe, MakeOp, Sut};
use crate::bench::load::Op;
use crate::bench::ours::{self, Manager, ManagerOpts};
use crate::bench::proc::pid_with_arg;
use crate::cluster::{manager_bin, Cluster, Start};

/// Our 3-member cluster as the bench drives it.
pub struct Ours {
    /// The cluster.
    pub cluster: Cluster,
    /// `Authorization: Bearer` for the harness admin.
    pub auth: HeaderMap,
    /// The failover workload's gateway, kept running while it writes through it.
    gateway: Option<Manager>,
    /// The machine the scale workload reads to tell that the cluster serves.
    pub probe_machine: String,
}

impl Ours {
    /// Wraps a started cluster.
    pub fn new(cluster: Cluster, auth: HeaderMap) -> Ours {
        Ours {
            cluster,
            auth,
            gateway: None,
            probe_machine: String::new(),
        }
    }
}

impl Sut for Ours {
    fn name(&self) -> &'static str {
        "ours"
    }
    fn members(&self) -> usize {
        self.cluster.nodes.len()
    }
    fn live(&self) -> Vec<usize> {
        self.cluster.live()
    }
    fn url(&self, i: usize) -> String {
        self.cluster.node(i).url()
    }
    fn member_id(&self, i: usize) -> String {
        self.cluster.node(i).consensus_id().to_string()
    }
    fn pids(&self) -> Vec<u32> {
        // By command line: a node's child pid can be `ip netns exec`'s, not the endpoint's.
        self.cluster
            .nodes
            .iter()
            .filter_map(|n| pid_with_arg("--data-dir", &n.data_dir()))
            .collect()
    }

    fn write_op(&self, base: &str, c: usize, value: &str) -> Op {
        ours::param_write(base, &client_profile(c), PARAM, value, &self.auth)
    }
    fn read_op(&self, base: &str, c: usize) -> Op {
        ours::param_read(base, &client_profile(c), PARAM, &self.auth)
    }
    fn machine_ops(&self, base: &str, _sample: Arc<Vec<u8>>) -> MakeOp {
        let (b, a) = (base.to_string(), self.auth.clone());
        Arc::new(move |i| {
            Op::new(Method::POST, format!("{b}/api/v3/machines"))
                .headers(&a)
                .json_body(format!("{{\"Name\":\"m{i}\"}}").into_bytes())
        })
    }

    async fn settle(&self, _http: &reqwest::Client, timeout: Duration) -> Result<usize> {
        let l = self
            .cluster
            .wait_converged(3, Duration::from_secs(30))
            .await?;
        self.cluster.wait_caught_up(timeout).await?;
        Ok(l)
    }
    async fn targets(&self, _http: &reqwest::Client) -> Result<(usize, usize)> {
        let c = &self.cluster;
        let l = c.wait_converged(3, Duration::from_secs(30)).await?;
        let f = c
            .live()
            .into_iter()
            .find(|&i| i != l)
            .ok_or_else(|| anyhow!("no follower"))?;
        Ok((l, f))
    }
    fn leader_probe(&self, _http: &reqwest::Client, i: usize) -> LeaderProbe {
        let (h, url) = (
            self.cluster.http.clone(),
            self.cluster.node(i).api("/system/consensus/leader"),
        );
        Arc::new(move || {
            let (h, url) = (h.clone(), url.clone());
            async move {
                let r = h.get(url).timeout(Duration::from_millis(200)).send().await;
                r.ok()?.json::<String>().ok()
            }
            .boxed()
        })
    }

    async fn failover_ops(
        &mut self,
        http: &reqwest::Client,
        _cfg: &Config,
        value: &str,
    ) -> Result<(Vec<Op>, Duration)> {
        let mbin = manager_bin()?;
        let opts = ManagerOpts {
            git_repo: None,
            max_parallel: 1,
            reconcile_ms: 500,
        };
        let m = Manager::start(http, &mbin, opts).await?;
        let c = &self.cluster;
        m.register(http, c, &[], false).await?;
        m.wait_connected(http, &c.ha_id, Duration::from_secs(30))
            .await?;
        let path = format!(
            "/{}/api/v3/profiles/{PROFILE}/params/bench/failover",
            c.ha_id
        );
        let op = m
            .op(Method::POST, &path)
            .json_body(Value::String(value.into()).to_string().into_bytes());
        self.gateway = Some(m);
        Ok((vec![op], Duration::from_secs(10)))
    }
    fn diagnostics(&self) -> String {
        self.gateway
            .as_ref()
            .map(|m| m.log_tail(20))
            .unwrap_or_default()
    }

    fn kill(&mut self, i: usize) {
        self.cluster.node_mut(i).kill();
    }
    fn spawn(&mut self, i: usize) -> Result<()> {
        self.cluster.node_mut(i).spawn(Start::Restart)
    }
    async fn restart(&mut self, _http: &reqwest::Client, i: usize) -> Result<()> {
        self.cluster.node_mut(i).restart().await
    }
    async fn answers(&self, http: &reqwest::Client, i: usize) -> bool {
        Op::new(Method::GET, format!("{}/api/v3/info", self.url(i)))
            .send_ok(http, Duration::from_millis(500))
            .await
            .is_ok()
    }
    async fn serves(&self, http: &reqwest::Client, i: usize) -> bool {
        let url = format!("{}/api/v3/machines/{}", self.url(i), self.probe_machine);
        Op::new(Method::GET, url)
            .headers(&self.auth)
            .send_ok(http, Duration::from_millis(1000))
            .await
            .is_ok()
    }
    async fn after_cold_restart(&mut self, _http: &reqwest::Client) -> Result<()> {
        for i in 0..self.members() {
            self.cluster
                .node_mut(i)
                .wait_ready(Duration::from_secs(120))
                .await?;
        }
        self.cluster
            .wait_converged(3, Duration::from_secs(60))
            .await?;
        Ok(())
    }
}

/// Creates the profiles the load cells write to (`bench`, and one per client).
pub async fn create_profiles(ours: &Ours, http: &reqwest::Client, clients: usize) -> Result<()> {
    let l = ours.cluster.leader().await?;
    let mut names = vec![PROFILE.to_string()];
    names.extend((0..clients).map(client_profile));
    for name in names {
        Op::new(Method::POST, ours.cluster.node(l).api("/profiles"))
            .headers(&ours.auth)
            .json_body(
                json!({"Name": name, "Description": "drp-bench"})
                    .to_string()
                    .into_bytes(),
            )
            .send_ok(http, Duration::from_secs(10))
            .await?;
    }
    Ok(())
}
