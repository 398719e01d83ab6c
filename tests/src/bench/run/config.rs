//! Which workloads to run and how big: [`Workload`] and [`Config`] (`--quick` or full).

use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::{json, Value};

use super::transport::Transport;

/// One of the seven workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Writes,
    Reads,
    Failover,
    Fanout,
    Scale,
    /// Availability zones: writes with delayed member-to-member links.
    Az,
    /// Issue 14: N clusters under one manager's replica (ours only).
    Federation,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::Writes,
        Workload::Reads,
        Workload::Failover,
        Workload::Fanout,
        Workload::Scale,
        Workload::Az,
        Workload::Federation,
    ];

    pub fn parse(s: &str) -> Result<Workload> {
        Ok(match s {
            "writes" => Workload::Writes,
            "reads" => Workload::Reads,
            "failover" => Workload::Failover,
            "fanout" | "fan-out" => Workload::Fanout,
            "scale" => Workload::Scale,
            "az" => Workload::Az,
            "federation" | "fed" => Workload::Federation,
            o => bail!(
                "unknown workload {o:?} (writes, reads, failover, fanout, scale, az, federation)"
            ),
        })
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub mode: String,
    pub only: Vec<Workload>,
    pub warmup: Duration,
    pub measure: Duration,
    pub clients: Vec<usize>,
    pub value_bytes: usize,
    pub failover_reps: usize,
    /// etcd client: per-attempt timeout while the leader is gone (then the next member).
    pub etcd_attempt_timeout: Duration,
    pub fanout_clusters: usize,
    pub fanout_reps: usize,
    pub max_parallel: usize,
    pub machines: usize,
    pub load_clients: usize,
    /// Transports of the write and read cells; the first is the reference (its rows carry
    /// no tag, and every other workload uses it).
    pub transports: Vec<Transport>,
    /// One-way delays between members in the availability-zone workload (no delay is always
    /// measured first, as the baseline).
    pub az_delays: Vec<Duration>,
    /// Federation: single-node clusters under the manager, machines loaded into each, list
    /// requests timed per query, writes timed to the manager's websocket.
    pub fed_clusters: usize,
    pub fed_machines: usize,
    pub fed_list_requests: usize,
    /// At most this long per list query (fewer requests when the list is slow).
    pub fed_list_budget: Duration,
    pub fed_writes: usize,
}

impl Config {
    pub fn full() -> Config {
        Config {
            mode: "full".into(),
            only: Workload::ALL.to_vec(),
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(10),
            clients: vec![1, 64],
            value_bytes: 256,
            failover_reps: 20,
            etcd_attempt_timeout: Duration::from_millis(250),
            fanout_clusters: 20,
            fanout_reps: 5,
            max_parallel: 20,
            machines: 100_000,
            load_clients: 64,
            transports: vec![Transport::Tls, Transport::Plain],
            az_delays: [1, 5, 20].map(Duration::from_millis).to_vec(),
            fed_clusters: 20,
            fed_machines: 5_000,
            fed_list_requests: 500,
            fed_list_budget: Duration::from_secs(120),
            fed_writes: 100,
        }
    }

    pub fn quick() -> Config {
        Config {
            mode: "quick".into(),
            warmup: Duration::from_millis(300),
            measure: Duration::from_millis(2000),
            failover_reps: 3,
            fanout_clusters: 5,
            fanout_reps: 2,
            max_parallel: 5,
            machines: 5_000,
            fed_clusters: 4,
            fed_machines: 500,
            fed_list_requests: 200,
            fed_list_budget: Duration::from_secs(60),
            fed_writes: 50,
            ..Config::full()
        }
    }

    pub(super) fn wants(&self, w: Workload) -> bool {
        self.only.contains(&w)
    }

    /// The transport every workload uses, and the write and read cells measure first.
    pub fn reference_transport(&self) -> Transport {
        self.transports.first().copied().unwrap_or(Transport::Tls)
    }

    /// The availability-zone delays to measure: zero first, then the configured ones.
    pub fn az_steps(&self) -> Vec<Duration> {
        let mut v = vec![Duration::ZERO];
        v.extend(self.az_delays.iter().filter(|d| !d.is_zero()));
        v.dedup();
        v
    }

    pub fn settings(&self) -> Value {
        json!({
            "mode": self.mode,
            "workloads": self.only.iter().map(|w| format!("{w:?}").to_lowercase()).collect::<Vec<_>>(),
            "warmup_s": self.warmup.as_secs_f64(),
            "measure_s": self.measure.as_secs_f64(),
            "clients": self.clients,
            "value_bytes": self.value_bytes,
            "failover_reps": self.failover_reps,
            "etcd_attempt_timeout_ms": self.etcd_attempt_timeout.as_millis() as u64,
            "fanout_clusters": self.fanout_clusters,
            "fanout_reps": self.fanout_reps,
            "manager_max_parallel": self.max_parallel,
            "machines": self.machines,
            "load_clients": self.load_clients,
            "transports": self.transports.iter().map(|t| t.label()).collect::<Vec<_>>(),
            "az_delays_ms": self.az_delays.iter().map(|d| d.as_millis() as u64).collect::<Vec<_>>(),
            "fed_clusters": self.fed_clusters,
            "fed_machines": self.fed_machines,
            "fed_list_requests": self.fed_list_requests,
            "fed_list_budget_s": self.fed_list_budget.as_secs_f64(),
            "fed_writes": self.fed_writes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_workloads() {
        assert_eq!(Workload::parse("az").unwrap(), Workload::Az);
        assert_eq!(Workload::parse("fan-out").unwrap(), Workload::Fanout);
        assert!(Workload::parse("zones").is_err());
        assert!(Config::quick().wants(Workload::Az));
        assert_eq!(Workload::parse("federation").unwrap(), Workload::Federation);
    }

    #[test]
    fn az_steps_start_at_zero_once() {
        let mut c = Config::quick();
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&x| Duration::from_millis(x))
                .collect::<Vec<_>>()
        };
        assert_eq!(c.az_steps(), ms(&[0, 1, 5, 20]));
        c.az_delays = ms(&[0, 5]);
        assert_eq!(c.az_steps(), ms(&[0, 5]));
        c.az_delays.clear();
        assert_eq!(c.az_steps(), ms(&[0]));
    }

    #[test]
    fn tls_is_the_default_reference() {
        let c = Config::full();
        assert_eq!(c.reference_transport(), Transport::Tls);
        assert_eq!(c.transports, vec![Transport::Tls, Transport::Plain]);
        assert_eq!(c.settings()["transports"], json!(["TLS", "plain HTTP"]));
    }
}
