//! `drp-bench dhcp`: DHCP leases per second (the four-way DISCOVER-OFFER-REQUEST-ACK), driven
//! by ISC's `perfdhcp` at rising offered rates, against the active member of a 3-node cluster
//! (every OFFER and ACK committed through Raft before the reply) and against `dnsmasq
//! --no-ping`, on the same namespace network (tests/src/netns.rs): perfdhcp in the root
//! namespace, the servers in member namespaces on one bridge.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::say;
use crate::cluster::{Cluster, Opts};
use crate::netns::{self, World};
use crate::pxe::WorldTls;

/// One perfdhcp run: what it offered and what came back.
#[derive(Debug, Clone)]
struct Run {
    rate: u32,
    secs: u32,
    acks: u64,
    drops_pct: f64,
    avg_ms: f64,
    max_ms: f64,
}

/// The second network the servers answer on: large enough for every client of a run.
fn bench_net(world: &World) -> (String, String) {
    let (a, _) = world.net;
    (
        format!("172.{}.0.0/16", 16 + a % 16),
        format!("172.{}", 16 + a % 16),
    )
}

/// perfdhcp as a relay at `<net>.0.1` (the giaddr the subnet is chosen by), unicasting to the
/// server at `server`.
fn perfdhcp(world: &World, server: &str, rate: u32, secs: u32) -> Result<Run> {
    let out = Command::new(netns::which("perfdhcp").context("perfdhcp")?)
        .args([
            "-4",
            "-l",
            &format!("{}.0.1", bench_net(world).1),
            "-r",
            &rate.to_string(),
        ])
        .args(["-p", &secs.to_string(), "-R", "1000000", server])
        .stdin(Stdio::null())
        .output()
        .context("running perfdhcp")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // The REQUEST-ACK section is the second statistics block.
    let ack = text
        .split("***Statistics for: REQUEST-ACK***")
        .nth(1)
        .with_context(|| {
            format!(
                "perfdhcp printed no REQUEST-ACK statistics: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let num = |label: &str| -> f64 {
        ack.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let offered = text
        .split("***Statistics for: DISCOVER-OFFER***")
        .nth(1)
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.trim().strip_prefix("sent packets:"))
        })
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    let acks = num("received packets:");
    Ok(Run {
        rate,
        secs,
        acks: acks as u64,
        drops_pct: 100.0 * (1.0 - acks / offered),
        avg_ms: num("avg delay:"),
        max_ms: num("max delay:"),
    })
}

fn sweep(world: &World, server: &str, name: &str, rates: &[u32], secs: u32) -> Result<Vec<Run>> {
    let mut runs = Vec::new();
    for &rate in rates {
        let run = perfdhcp(world, server, rate, secs)?;
        say(format!(
            "dhcp: {name} at {rate}/s offered: {:.0} leases/s, {:.2}% lost, avg {:.1} ms, max {:.1} ms",
            run.acks as f64 / secs as f64,
            run.drops_pct,
            run.avg_ms,
            run.max_ms
        ));
        runs.push(run);
    }
    Ok(runs)
}

/// The highest completed rate among runs that lost under 1% of the exchanges.
fn sustained(runs: &[Run]) -> f64 {
    runs.iter()
        .filter(|r| r.drops_pct < 1.0)
        .map(|r| r.acks as f64 / r.secs as f64)
        .fold(0.0, f64::max)
}

pub async fn dhcp(rates: Vec<u32>, secs: u32) -> Result<()> {
    if let Some(why) = netns::skip_reason() {
        bail!("cannot build the namespace network: {why}");
    }
    for tool in ["perfdhcp", "dnsmasq"] {
        if netns::which(tool).is_none() {
            bail!("{tool} is not installed (apt-get install kea-admin dnsmasq-base)");
        }
    }
    let world = World::create(3)?;
    let (net, prefix) = bench_net(&world);
    // Every member and the root namespace get an address on the bench network; servers
    // pick the subnet by the receiving interface's address.
    for (i, m) in world.members.iter().enumerate() {
        netns::ip(&[
            "-n",
            &m.netns,
            "addr",
            "add",
            &format!("{prefix}.0.{}/16", 11 + i),
            "dev",
            "eth0",
        ])?;
    }
    netns::ip(&[
        "addr",
        "add",
        &format!("{prefix}.0.1/16"),
        "dev",
        &world.root_if,
    ])?;

    let mut hosts: Vec<std::net::IpAddr> = world.members.iter().map(|m| m.ip.into()).collect();
    hosts.push(world.vip().into());
    let tls = WorldTls::generate(&hosts)?;
    let dir = tempfile::tempdir()?;
    let mut extra = tls.write_args(dir.path())?;
    extra.extend(
        [
            "--dhcp-port",
            "67",
            "--static-port",
            "0",
            "--tftp-port",
            "0",
        ]
        .map(String::from),
    );
    let opts = Opts {
        extra_args: extra,
        placement: Some(world.placements()),
        trust_ca: Some(tls.ca_pem.clone()),
        ..Opts::default()
    };
    say("dhcp: starting a 3-node cluster in namespaces");
    let c = Cluster::start_with(3, opts).await?;
    let leader = c.leader().await?;
    let subnet = json!({
        "Name": "bench", "Subnet": net, "Enabled": true, "Strategy": "MAC",
        "ActiveStart": format!("{prefix}.1.0"), "ActiveEnd": format!("{prefix}.255.254"),
        "ActiveLeaseTime": 3600, "ReservedLeaseTime": 7200,
        "Options": [{"Code": 3, "Value": format!("{prefix}.0.1")}, {"Code": 6, "Value": "10.0.0.53"}],
    });
    c.http
        .post(c.node(leader).api("/subnets"))
        .json(&subnet)
        .send()
        .await?
        .expect(201)?;
    crate::cluster::wait_for(Duration::from_secs(20), "DHCP on the leader", async || {
        let info = c
            .http
            .get(c.node(leader).api("/info"))
            .send()
            .await?
            .json::<serde_json::Value>()?;
        Ok((info["dhcp_enabled"] == true).then_some(()))
    })
    .await?;
    let ours = sweep(
        &world,
        &format!("{prefix}.0.{}", 11 + leader),
        "ours",
        &rates,
        secs,
    )?;
    drop(c);

    let leader_ns = world.members[0].netns.clone();
    let lease_file = dir.path().join("dnsmasq.leases");
    let mut dnsmasq = netns::exec_in(&leader_ns, netns::which("dnsmasq").context("dnsmasq")?)
        .args([
            "--no-daemon",
            "--no-ping",
            "--port=0",
            "--interface=eth0",
            "--bind-interfaces",
        ])
        .arg(format!("--dhcp-range={prefix}.1.0,{prefix}.255.254,1h"))
        .arg("--dhcp-lease-max=1000000")
        .arg(format!("--dhcp-leasefile={}", lease_file.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting dnsmasq")?;
    // dnsmasq answers once bound; a 1-second probe run tells.
    let server = format!("{prefix}.0.11");
    let ready = (0..20).any(|_| perfdhcp(&world, &server, 10, 1).is_ok_and(|r| r.acks > 0));
    let theirs = if ready {
        sweep(&world, &server, "dnsmasq", &rates, secs)
    } else {
        Err(anyhow::anyhow!("dnsmasq did not answer"))
    };
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
    let theirs = theirs?;

    println!("| offered /s | ours leases/s | ours lost % | ours avg / max ms | dnsmasq leases/s | dnsmasq lost % | dnsmasq avg / max ms |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (o, t) in ours.iter().zip(&theirs) {
        println!(
            "| {} | {:.0} | {:.2} | {:.1} / {:.1} | {:.0} | {:.2} | {:.1} / {:.1} |",
            o.rate,
            o.acks as f64 / o.secs as f64,
            o.drops_pct,
            o.avg_ms,
            o.max_ms,
            t.acks as f64 / t.secs as f64,
            t.drops_pct,
            t.avg_ms,
            t.max_ms
        );
    }
    let (so, st) = (sustained(&ours), sustained(&theirs));
    println!(
        "sustained (<1% lost): ours {so:.0}/s, dnsmasq {st:.0}/s, ratio {:.2}×",
        so / st
    );
    Ok(())
}
