//! Workload 1, writes: each client writes its own key, 1 and 64 closed-loop clients, to the
//! leader and to a follower.

use anyhow::Result;

use super::measure::{cell_name, push_load, summary, sut_cell};
use super::sut::Sut;
use super::{Config, Pair};
use crate::bench::report::Report;
use crate::bench::say;

/// Measures every (target, clients) cell on both systems.
pub async fn writes(
    cfg: &Config,
    http: &reqwest::Client,
    p: &Pair,
    value: &str,
    tag: &str,
    report: &mut Report,
) -> Result<()> {
    for target in ["leader", "follower"] {
        for &n in &cfg.clients {
            let cell = ("writes →", target, n);
            let (o, ocpu) =
                sut_cell(&p.ours, http, cfg, cell, |s, b, c| s.write_op(b, c, value)).await?;
            let (e, ecpu) =
                sut_cell(&p.etcd, http, cfg, cell, |s, b, c| s.write_op(b, c, value)).await?;
            say(summary(&o, &e));
            let w = cell_name("writes →", target, n, tag);
            push_load(report, &w, "writes/s", &o, &e, (ocpu, ecpu));
        }
    }
    Ok(())
}
