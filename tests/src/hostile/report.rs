//! The table `drp-hostile` prints, and the RSS sampler.

use std::time::{Duration, Instant};

use crate::stats::{fmt_ms, percentile};

use super::legit::LegitStats;

pub struct Row {
    pub name: String,
    pub legit: LegitStats,
    pub elections: u64,
    /// Peak RSS of each member during the row, bytes.
    pub rss_peak: Vec<u64>,
    pub alive: Vec<bool>,
    /// What the attacker saw (connections held, refused, statuses).
    pub attacker: String,
}

/// Peak RSS per process, sampled every 250 ms.
pub struct RssPeak;

impl RssPeak {
    pub async fn sample_until(pids: Vec<Option<u32>>, until: Instant) -> Vec<u64> {
        let mut peak = vec![0u64; pids.len()];
        loop {
            for (p, pid) in peak.iter_mut().zip(&pids) {
                if let Some(rss) = pid.and_then(crate::bench::proc::rss_bytes) {
                    *p = (*p).max(rss);
                }
            }
            if Instant::now() >= until {
                return peak;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn mib(b: u64) -> String {
    format!("{:.0}", b as f64 / (1024.0 * 1024.0))
}

/// A markdown table: one row per attack, the baseline first.
pub fn table(rows: &[Row]) -> String {
    let base_p99 = rows
        .first()
        .and_then(|r| percentile(&r.legit.samples, 99.0));
    let mut out = String::from(
        "| attack | legit p50 (ms) | legit p99 (ms) | p99 / baseline | legit requests (errors) | elections | RSS per member (MiB, peak) | all alive | attacker saw |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let p50 = percentile(&r.legit.samples, 50.0);
        let p99 = percentile(&r.legit.samples, 99.0);
        let ratio = match (p99, base_p99) {
            (Some(a), Some(b)) if !b.is_zero() => {
                format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64())
            }
            _ => "-".into(),
        };
        let rss: Vec<String> = r.rss_peak.iter().map(|b| mib(*b)).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} |\n",
            r.name,
            fmt_ms(p50),
            fmt_ms(p99),
            ratio,
            r.legit.samples.len(),
            r.legit.errors,
            r.elections,
            rss.join(" / "),
            if r.alive.iter().all(|a| *a) {
                "yes"
            } else {
                "**no**"
            },
            r.attacker,
        ));
    }
    out
}
