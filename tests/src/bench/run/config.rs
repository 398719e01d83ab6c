//! Which workloads to run and how big: [`Workload`] and [`Config`] (`--quick` or full).

use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::{json, Value};

/// One of the five workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Writes,
    Reads,
    Failover,
    Fanout,
    Scale,
}

impl Workload {
    pub const ALL: [Workload; 5] = [
        Workload::Writes,
        Workload::Reads,
        Workload::Failover,
        Workload::Fanout,
        Workload::Scale,
    ];

    pub fn parse(s: &str) -> Result<Workload> {
        Ok(match s {
            "writes" => Workload::Writes,
            "reads" => Workload::Reads,
            "failover" => Workload::Failover,
            "fanout" | "fan-out" => Workload::Fanout,
            "scale" => Workload::Scale,
            o => bail!("unknown workload {o:?} (writes, reads, failover, fanout, scale)"),
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
            ..Config::full()
        }
    }

    pub(super) fn wants(&self, w: Workload) -> bool {
        self.only.contains(&w)
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
        })
    }
}
