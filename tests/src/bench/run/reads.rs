//! Workload 2, linearizable reads: the writes' shape, each client reading its own key.

use std::time::Duration;

use anyhow::Result;

use super::measure::{cell_name, push_load, summary, sut_cell};
use super::sut::Sut;
use super::{Config, Pair};
use crate::bench::report::Report;
use crate::bench::say;

/// Writes every key once, then measures every (target, clients) cell on both systems.
pub async fn reads(
    cfg: &Config,
    http: &reqwest::Client,
    p: &Pair,
    value: &str,
    tag: &str,
    report: &mut Report,
) -> Result<()> {
    let max = cfg.clients.iter().copied().max().unwrap_or(1);
    seed(&p.ours, http, max, value).await?;
    seed(&p.etcd, http, max, value).await?;
    for target in ["leader", "follower"] {
        for &n in &cfg.clients {
            let cell = ("linearizable reads ←", target, n);
            let (o, ocpu) = sut_cell(&p.ours, http, cfg, cell, |s, b, c| s.read_op(b, c)).await?;
            let (e, ecpu) = sut_cell(&p.etcd, http, cfg, cell, |s, b, c| s.read_op(b, c)).await?;
            say(summary(&o, &e));
            let w = cell_name("linearizable reads ←", target, n, tag);
            push_load(report, &w, "reads/s", &o, &e, (ocpu, ecpu));
        }
    }
    Ok(())
}

/// Every key a reader reads exists before it is read.
async fn seed<S: Sut>(s: &S, http: &reqwest::Client, clients: usize, value: &str) -> Result<()> {
    let (l, _) = s.targets(http).await?;
    for c in 0..clients {
        s.write_op(&s.url(l), c, value)
            .send_ok(http, Duration::from_secs(10))
            .await?;
    }
    Ok(())
}
