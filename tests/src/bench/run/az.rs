//! Workload 6, availability zones (issue 19; DRP's HA page warns that latency between zones
//! raises the write commit time): the three members of each system `d` apart one way, by the
//! fault proxy's delay on every member-to-member connection (this kernel has no `netem`), and
//! writes to the leader at each client count, for no added delay (through the same proxy, so
//! the baseline pays its hop too) and then each configured `d`. Clients stay next to the
//! leader: only member links are delayed, as with a client in the leader's zone.

use std::time::Duration;

use anyhow::{anyhow, ensure, Result};

use super::etcd_sut::EtcdSut;
use super::measure::{cell_name, ms, push_rate_p50, summary, sut_cell};
use super::sut::Sut;
use super::transport::Transport;
use super::{start_ours, Config};
use crate::bench::etcd::Etcd;
use crate::bench::load::LoadStats;
use crate::bench::report::{Better, Report};
use crate::bench::say;
use crate::cluster::endpoint_bin;
use crate::fault::proxy::{FaultNet, Rule};

/// The workload name of a delay step (goals.rs finds rows by it).
pub fn az_what(delay: Duration) -> String {
    if delay.is_zero() {
        "az: no added delay, writes →".into()
    } else {
        format!("az: members {} ms apart, writes →", ms(delay))
    }
}

/// The metric of the throughput kept under a delay, relative to no delay.
pub const KEPT: &str = "throughput vs no added delay";

/// Measures every (delay, clients) cell on both systems.
pub async fn az(
    cfg: &Config,
    http: &reqwest::Client,
    value: &str,
    report: &mut Report,
) -> Result<()> {
    let t = cfg.reference_transport();
    ensure!(
        FaultNet::supported(&endpoint_bin()?),
        "this drp-endpoint has no --consensus-source-ip, which the fault proxy needs"
    );
    say(format!(
        "availability zones: both clusters behind the fault proxy ({})",
        t.label()
    ));
    let max = cfg.clients.iter().copied().max().unwrap_or(1);
    let ours_net = FaultNet::start(3).await?;
    let mut ours = start_ours(http, max, t.ours_args(), Some(&ours_net)).await?;
    let etcd_net = FaultNet::start(3).await?;
    let etcd = start_etcd(http, t, &etcd_net).await?;
    // Throughput without added delay, by client count: the base of `KEPT`.
    let mut base: Vec<(usize, f64, f64)> = Vec::new();
    for d in cfg.az_steps() {
        set_delay(&ours_net, &etcd_net, d);
        for &n in &cfg.clients {
            let what = az_what(d);
            let cell = (what.as_str(), "leader", n);
            let (o, _) =
                sut_cell(&ours, http, cfg, cell, |s, b, c| s.write_op(b, c, value)).await?;
            let (e, _) =
                sut_cell(&etcd, http, cfg, cell, |s, b, c| s.write_op(b, c, value)).await?;
            say(summary(&o, &e));
            let name = cell_name(&what, "leader", n, "");
            push_rows(report, &name, &o, &e);
            if d.is_zero() {
                base.push((n, o.per_sec, e.per_sec));
            } else if let Some(&(_, o0, e0)) = base.iter().find(|b| b.0 == n) {
                let kept = |x: f64, x0: f64| (x0 > 0.0).then(|| x / x0);
                report.push(
                    &name,
                    KEPT,
                    "×",
                    Better::Higher,
                    kept(o.per_sec, o0),
                    kept(e.per_sec, e0),
                    "",
                );
            }
        }
    }
    ours_net.heal();
    etcd_net.heal();
    ours.cluster.success();
    Ok(())
}

/// A 3-member etcd whose members dial each other through `net`'s proxies.
async fn start_etcd(http: &reqwest::Client, t: Transport, net: &FaultNet) -> Result<EtcdSut> {
    let ports = (0..3)
        .map(|i| net.proxy_port(i))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| anyhow!("the fault net has fewer than 3 proxies"))?;
    let mut opts = t.etcd_opts();
    opts.advertise_peer_ports = Some(ports);
    let mut e = Etcd::prepare(3, &opts)?;
    for (i, m) in e.members.iter().enumerate() {
        net.set_upstream(i, m.peer_port);
    }
    e.launch(http).await?;
    Ok(EtcdSut(e))
}

/// Every member-to-member link `d` long one way. Ours: each ordered pair of slots (its nodes
/// dial from their own source IPs). etcd cannot choose its source IP, so its proxies delay
/// every caller that is not a known slot: only etcd's members dial them.
fn set_delay(ours: &FaultNet, etcd: &FaultNet, d: Duration) {
    if d.is_zero() {
        ours.heal();
        etcd.heal();
        return;
    }
    for a in 0..ours.slots() {
        for b in (a + 1)..ours.slots() {
            ours.delay_both(a, b, d);
        }
    }
    etcd.set_unknown_callers(Rule::Delay(d));
}

/// Throughput and p50 of one cell (the issue asks for these two).
fn push_rows(report: &mut Report, name: &str, o: &LoadStats, e: &LoadStats) {
    push_rate_p50(report, name, "writes/s", o, e);
    if let serde_json::Value::Object(d) = &mut report.details {
        d.insert(name.to_string(), serde_json::json!({"ours": o, "etcd": e}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names() {
        assert_eq!(az_what(Duration::ZERO), "az: no added delay, writes →");
        assert_eq!(
            cell_name(&az_what(Duration::from_millis(5)), "leader", 64, ""),
            "az: members 5 ms apart, writes → leader, 64 clients"
        );
    }
}
