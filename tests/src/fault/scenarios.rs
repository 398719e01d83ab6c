//! The fault scenarios and the checks every run ends with.
//!
//! A run: start `nodes` real members (behind the fault proxies when the binary supports
//! `--consensus-source-ip`), create the workload's profiles, start the register workload
//! ([`super::workload`]), an append-only writer (new profiles, acknowledged names recorded) and
//! the leader monitor, play the scenario's fault script, heal everything, stop the clients, then
//! **kill -9 and restart every member** and check:
//!
//! 1. every key's history (plus one final linearizable read per key through every member) is
//!    linearizable ([`super::checker`]);
//! 2. every acknowledged profile creation is present on every member, and every member's local
//!    (stale) read of every key equals the linearizable value once caught up;
//! 3. no two leaders were reported for one term ([`super::monitor`]);
//! 4. scenario-specific checks (the VersionSet push: one commit).
//!
//! Faults are drawn from the run's seed (which member, which variant, how long); the
//! interleaving with the clients is up to the machine, so a seed reproduces the fault schedule
//! and the clients' choices, not the exact history.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::checker::{self, Verdict};
use super::history::{History, Op, OpCounts, Outcome};
use super::monitor::LeaderMonitor;
use super::power_cut;
use super::proxy::{slot_of_name, FaultNet, Rule};
use super::workload::{self, Targets, Workload, WorkloadCfg};
use crate::cluster::{endpoint_bin, wait_for, Cluster, Opts, Start};
use crate::workload::{create_profiles, missing, profile_names, BackgroundWriter};

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Scenario {
    LeaderKill,
    FollowerKill,
    QuorumLoss,
    LeaderPartition,
    AsymmetricPartition,
    PausedLeader,
    RestartAll,
    WipeRejoin,
    MembershipChange,
    VersionsetLeaderKill,
    /// Every member runs with the power-cut fault and all of them lose power at once, twice,
    /// under load: each restarts from its last durable checkpoint and replays its Raft log.
    PowerCut,
    /// Random faults of every kind for [`RunCfg::random_for`] (the soak's favourite).
    Random,
}

impl Scenario {
    pub const ALL: [Scenario; 12] = [
        Scenario::LeaderKill,
        Scenario::FollowerKill,
        Scenario::QuorumLoss,
        Scenario::LeaderPartition,
        Scenario::AsymmetricPartition,
        Scenario::PausedLeader,
        Scenario::RestartAll,
        Scenario::WipeRejoin,
        Scenario::MembershipChange,
        Scenario::VersionsetLeaderKill,
        Scenario::PowerCut,
        Scenario::Random,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::LeaderKill => "leader-kill",
            Scenario::FollowerKill => "follower-kill",
            Scenario::QuorumLoss => "quorum-loss",
            Scenario::LeaderPartition => "leader-partition",
            Scenario::AsymmetricPartition => "asymmetric-partition",
            Scenario::PausedLeader => "paused-leader",
            Scenario::RestartAll => "restart-all",
            Scenario::WipeRejoin => "wipe-rejoin",
            Scenario::MembershipChange => "membership-change",
            Scenario::VersionsetLeaderKill => "versionset-leader-kill",
            Scenario::PowerCut => "power-cut",
            Scenario::Random => "random",
        }
    }

    /// Needs the consensus proxies.
    pub fn needs_proxy(self) -> bool {
        matches!(
            self,
            Scenario::LeaderPartition | Scenario::AsymmetricPartition
        )
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a run is shaped.
#[derive(Debug, Clone)]
pub struct RunCfg {
    pub seed: u64,
    pub nodes: usize,
    pub workload: WorkloadCfg,
    /// How long the workload runs before the first fault and after the last heal.
    pub settle: Duration,
    /// How long a fault is held (scaled randomly by 0.75..1.25 from the seed).
    pub hold: Duration,
    /// Total fault time of [`Scenario::Random`].
    pub random_for: Duration,
    /// Checker step budget per key.
    pub budget: u64,
}

impl Default for RunCfg {
    fn default() -> Self {
        RunCfg {
            seed: 1,
            nodes: 3,
            workload: WorkloadCfg::default(),
            settle: Duration::from_millis(1500),
            hold: Duration::from_secs(5),
            random_for: Duration::from_secs(20),
            budget: checker::DEFAULT_BUDGET,
        }
    }
}

/// What a run did and found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub counts: OpCounts,
    pub faults: BTreeMap<String, usize>,
    pub timeline: Vec<String>,
    /// Keys whose histories were checked, and the operations replayed into the checker.
    pub histories_checked: usize,
    pub ops_checked: usize,
    pub unknown_replayed: usize,
    pub acked_profiles: usize,
    pub terms_seen: usize,
    pub violations: Vec<String>,
    /// Set when the run was skipped (e.g. no proxy support).
    pub skipped: Option<String>,
    pub elapsed: Duration,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.skipped {
            return writeln!(f, "[{} seed {}] SKIPPED: {why}", self.scenario, self.seed);
        }
        writeln!(
            f,
            "[{} seed {}] {:.1}s: {}",
            self.scenario,
            self.seed,
            self.elapsed.as_secs_f64(),
            self.counts
        )?;
        writeln!(
            f,
            "  faults: {:?}; {} key histories checked ({} ops replayed, {} unknown); {} acked profile creations; {} terms seen",
            self.faults,
            self.histories_checked,
            self.ops_checked,
            self.unknown_replayed,
            self.acked_profiles,
            self.terms_seen
        )?;
        for t in &self.timeline {
            writeln!(f, "  {t}")?;
        }
        if self.violations.is_empty() {
            writeln!(f, "  no violation")
        } else {
            for v in &self.violations {
                writeln!(f, "  VIOLATION: {v}")?;
            }
            Ok(())
        }
    }
}

/// The command that reproduces a run.
pub fn reproduce(scenario: Scenario, seed: u64) -> String {
    format!(
        "cargo run --release -p tests --bin drp-soak -- --scenario {} --seed {seed} --rounds 1",
        scenario.name()
    )
}

/// Does the endpoint binary support the fault proxies?
pub fn proxy_supported() -> Result<bool> {
    Ok(FaultNet::supported(&endpoint_bin()?))
}

/// Faults injected so far, and the timeline.
struct Log {
    history: Arc<History>,
    faults: BTreeMap<String, usize>,
    timeline: Vec<String>,
}

impl Log {
    fn fault(&mut self, kind: &str, what: String) {
        *self.faults.entry(kind.to_string()).or_default() += 1;
        self.note(what);
    }
    fn note(&mut self, what: String) {
        let line = format!("t={:6.2}s {what}", self.history.elapsed().as_secs_f64());
        eprintln!("fault: {line}");
        self.timeline.push(line);
    }
}

/// Everything a scenario script needs.
struct Ctx {
    c: Cluster,
    net: Option<FaultNet>,
    targets: Targets,
    log: Log,
    rng: StdRng,
    cfg: RunCfg,
    voters: usize,
    /// Extra scenario checks' violations.
    violations: Vec<String>,
}

impl Ctx {
    fn hold(&mut self) -> Duration {
        let ms = self.cfg.hold.as_millis() as u64;
        Duration::from_millis(self.rng.random_range(ms * 3 / 4..=ms * 5 / 4))
    }

    fn set_targets(&self) {
        let t: Vec<(String, String)> = self
            .c
            .nodes
            .iter()
            .filter(|n| !n.is_retired())
            .map(|n| (n.name.clone(), n.url()))
            .collect();
        *self.targets.write().unwrap_or_else(|p| p.into_inner()) = t;
    }

    fn net(&self) -> Result<&FaultNet> {
        self.net
            .as_ref()
            .ok_or_else(|| anyhow!("this scenario needs the consensus proxies"))
    }

    fn slot(&self, i: usize) -> Result<usize> {
        slot_of_name(&self.c.nodes[i].name).ok_or_else(|| anyhow!("no slot"))
    }

    fn name(&self, i: usize) -> String {
        self.c.nodes[i].name.clone()
    }

    async fn leader(&self) -> Result<usize> {
        self.c
            .wait_converged(self.voters, Duration::from_secs(30))
            .await
    }

    fn others(&self, i: usize) -> Vec<usize> {
        (0..self.c.nodes.len())
            .filter(|&j| j != i && !self.c.nodes[j].is_retired())
            .collect()
    }

    /// A leader among `among` (live nodes only), ignoring nodes outside it.
    async fn leader_among(&self, among: &[usize], timeout: Duration) -> Result<usize> {
        let c = &self.c;
        wait_for(timeout, "a leader on the majority side", async || {
            for &i in among {
                let Ok(st) = c.nodes[i].state().await else {
                    continue;
                };
                if let Some(l) = c.index_of(&st.leader_id) {
                    if among.contains(&l) {
                        return Ok(Some(l));
                    }
                }
            }
            Ok(None)
        })
        .await
    }

    async fn kill(&mut self, i: usize, why: &str) {
        self.c.nodes[i].kill();
        let n = self.name(i);
        self.log.fault("kill -9", format!("kill -9 {n} ({why})"));
    }

    async fn restart(&mut self, i: usize) -> Result<()> {
        self.c.nodes[i].restart().await?;
        let n = self.name(i);
        self.log.fault("restart", format!("restarted {n}"));
        Ok(())
    }

    /// Heal every fault: lift proxy rules, resume paused nodes, start stopped ones.
    async fn heal(&mut self) -> Result<()> {
        if let Some(net) = &self.net {
            net.heal();
        }
        for i in 0..self.c.nodes.len() {
            let n = &mut self.c.nodes[i];
            if n.is_retired() {
                continue;
            }
            if n.is_running() && !n.is_up() {
                n.resume()?;
            } else if !n.is_running() {
                n.restart().await?;
            }
        }
        self.log.note("healed everything".into());
        Ok(())
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// Run one scenario and its checks. `Err` = the harness could not run it (including a
/// cluster that never recovered, which is a liveness failure); violations are in the report.
pub async fn run(scenario: Scenario, cfg: RunCfg) -> Result<Report> {
    let t0 = Instant::now();
    let mut report = Report {
        scenario: scenario.name().into(),
        seed: cfg.seed,
        ..Report::default()
    };
    let supported = proxy_supported()?;
    if scenario.needs_proxy() && !supported {
        report.skipped = Some(
            "drp-endpoint has no --consensus-source-ip, so the proxies cannot tell callers apart"
                .into(),
        );
        return Ok(report);
    }
    let net = if supported {
        Some(FaultNet::start(cfg.nodes + 2).await?)
    } else {
        None
    };
    let mut base_opts = Opts {
        extra_args: vec!["--write-timeout-ms".into(), "3000".into()],
        ..Opts::default()
    };
    if scenario == Scenario::PowerCut {
        // Every start, the final restart-all included, reverts to the last checkpoint.
        base_opts.extra_args.push(power_cut::FLAG.into());
    }
    let opts = match &net {
        Some(n) => n.opts(base_opts),
        None => base_opts,
    };
    let c = Cluster::start_with(cfg.nodes, opts).await?;
    let history = Arc::new(History::new());
    let targets: Targets = Arc::new(RwLock::new(Vec::new()));
    let mut ctx = Ctx {
        c,
        net,
        targets: targets.clone(),
        log: Log {
            history: history.clone(),
            faults: BTreeMap::new(),
            timeline: Vec::new(),
        },
        rng: StdRng::seed_from_u64(cfg.seed ^ 0x5eed_fa17),
        voters: cfg.nodes,
        cfg: cfg.clone(),
        violations: Vec::new(),
    };
    ctx.set_targets();
    let l = ctx.leader().await?;
    workload::setup(&ctx.c.http, &ctx.c.nodes[l].url(), &cfg.workload).await?;

    let monitor = LeaderMonitor::start(&ctx.c.http, targets.clone());
    let clients = Workload::start(
        &ctx.c.http,
        targets.clone(),
        &cfg.workload,
        history.clone(),
        cfg.seed,
    );
    let urls: Vec<String> = ctx.c.nodes.iter().map(|n| n.url()).collect();
    let writer = BackgroundWriter::start(&ctx.c.http, urls, &format!("fa{}", cfg.seed), 1);

    ctx.sleep(cfg.settle).await;
    let script = play(scenario, &mut ctx, &history).await;
    // Heal even when the script failed, then report the script's error.
    let healed = ctx.heal().await;
    script.with_context(|| format!("scenario {scenario} (seed {})", cfg.seed))?;
    healed?;
    ctx.leader()
        .await
        .context("the cluster did not recover after healing")?;
    ctx.sleep(cfg.settle).await;

    clients.stop().await?;
    let written = writer.stop().await?;
    let leaders = monitor.stop().await;

    // Kill -9 and restart every member, then check.
    ctx.log.note("kill -9 every member, restart all".into());
    for n in ctx.c.nodes.iter_mut().filter(|n| !n.is_retired()) {
        n.kill();
    }
    for i in 0..ctx.c.nodes.len() {
        if !ctx.c.nodes[i].is_retired() {
            ctx.c.nodes[i].spawn(Start::Restart)?;
        }
    }
    for i in 0..ctx.c.nodes.len() {
        if !ctx.c.nodes[i].is_retired() {
            let rt = Duration::from_secs(30);
            ctx.c.nodes[i].wait_ready(rt).await?;
        }
    }
    ctx.leader()
        .await
        .context("no leader after restarting everything")?;
    ctx.c
        .wait_caught_up(Duration::from_secs(30))
        .await
        .context("members did not catch up after restarting everything")?;

    // Final linearizable reads (recorded in the history) and local reads (must agree).
    let final_process = u64::MAX / 2;
    for key in 0..cfg.workload.keys() {
        let mut lin_value = None;
        for (j, i) in ctx.c.live().into_iter().enumerate() {
            let (name, base) = (ctx.c.nodes[i].name.clone(), ctx.c.nodes[i].url());
            let id = history.invoke(final_process + j as u64, key, Op::Read, &name);
            let out = workload::execute(&ctx.c.http, &cfg.workload, &base, key, Op::Read).await;
            if let Outcome::Ok(Some(v)) = out {
                lin_value = Some(v);
            } else {
                ctx.violations.push(format!(
                    "final linearizable read of key{key} via {name} failed: {out:?}"
                ));
            }
            history.complete(id, out);
        }
        let (profile, param) = cfg.workload.key(key);
        for i in ctx.c.live() {
            let n = &ctx.c.nodes[i];
            let r = n
                .get(&format!("/profiles/{profile}/params/{param}"))
                .stale()
                .send()
                .await?;
            let local: Option<u64> = r.json::<Value>().ok().and_then(|v| v.as_u64());
            if local != lin_value {
                ctx.violations.push(format!(
                    "key{key}: {} holds {local:?} locally but the linearizable value is {lin_value:?}",
                    n.name
                ));
            }
        }
    }

    // A member that died on its own after the restart is a failure in itself, and would
    // otherwise hide from the per-member checks below.
    for n in ctx.c.nodes.iter_mut().filter(|n| !n.is_retired()) {
        if let Some(status) = n.exited() {
            ctx.violations.push(format!(
                "{} exited on its own after the restart ({status}); log tail:\n{}",
                n.name,
                n.log_tail(40)
            ));
        }
    }

    // Every acknowledged profile creation, on every member.
    report.acked_profiles = written.acked.len();
    let mut holdings = Vec::new();
    for i in ctx.c.live() {
        let n = &ctx.c.nodes[i];
        let have = profile_names(&ctx.c.http, &n.url(), true).await?;
        let (lost, some) = missing(&written.acked, &have);
        if lost > 0 {
            ctx.violations.push(format!(
                "{}: {lost} acknowledged profile creations missing after restart, e.g. {some:?}",
                n.name
            ));
        }
        holdings.push((n.name.clone(), have));
    }
    // Say where a lost write survives, if anywhere: it tells a Raft bug from a harness bug.
    let lost: BTreeSet<&String> = holdings
        .iter()
        .flat_map(|(_, have)| written.acked.iter().filter(move |a| !have.contains(*a)))
        .collect();
    for name in lost.into_iter().take(3) {
        let on: Vec<&str> = holdings
            .iter()
            .filter(|(_, have)| have.contains(name))
            .map(|(n, _)| n.as_str())
            .collect();
        ctx.violations.push(format!(
            "acknowledged {name} (acked via {}) is held by {on:?}",
            written.acked_via.get(name).map_or("?", String::as_str)
        ));
    }

    // Leaders per term.
    report.terms_seen = leaders.terms();
    ctx.violations.extend(leaders.violations());

    // Linearizability.
    let (ops, events) = history.snapshot();
    report.counts = OpCounts::of(&ops);
    let keys = cfg.workload.keys();
    let budget = cfg.budget;
    let reports =
        tokio::task::spawn_blocking(move || checker::check_all(&ops, &events, keys, budget))
            .await
            .context("the checker panicked")?;
    for r in &reports {
        report.histories_checked += 1;
        report.ops_checked += r.replayed;
        report.unknown_replayed += r.in_flight;
        match &r.verdict {
            Verdict::Linearizable => {}
            Verdict::Violation { .. } => ctx.violations.push(format!(
                "key{} is NOT linearizable:\n{}",
                r.key, r.evidence
            )),
            Verdict::Inconclusive => ctx.violations.push(format!(
                "key{}: the checker ran out of its budget ({} ops, {} unknown): not proven linearizable\n{}",
                r.key, r.replayed, r.in_flight, r.evidence
            )),
            Verdict::Invalid(e) => ctx.violations.push(format!("key{}: bad history: {e}", r.key)),
        }
    }

    report.faults = std::mem::take(&mut ctx.log.faults);
    report.timeline = std::mem::take(&mut ctx.log.timeline);
    report.violations = std::mem::take(&mut ctx.violations);
    report.elapsed = t0.elapsed();
    if report.ok() {
        ctx.c.success();
    } else {
        eprintln!(
            "fault run failed: scenario {scenario}, seed {}; reproduce with:\n  {}",
            cfg.seed,
            reproduce(scenario, cfg.seed)
        );
    }
    Ok(report)
}

/// The fault script of each scenario.
async fn play(scenario: Scenario, ctx: &mut Ctx, history: &Arc<History>) -> Result<()> {
    match scenario {
        Scenario::LeaderKill => {
            let l = ctx.leader().await?;
            ctx.kill(l, "leader").await;
            let others = ctx.others(l);
            let nl = ctx.leader_among(&others, Duration::from_secs(15)).await?;
            let (a, b) = (ctx.name(l), ctx.name(nl));
            ctx.log.note(format!("new leader {b} after killing {a}"));
            let d = ctx.hold();
            ctx.sleep(d / 2).await;
            ctx.restart(l).await?;
        }
        Scenario::FollowerKill => {
            let l = ctx.leader().await?;
            let others = ctx.others(l);
            let f = others[ctx.rng.random_range(0..others.len())];
            ctx.kill(f, "follower").await;
            let d = ctx.hold();
            ctx.sleep(d).await;
            ctx.restart(f).await?;
        }
        Scenario::QuorumLoss => {
            let l = ctx.leader().await?;
            let others = ctx.others(l);
            // Leave a minority: kill the leader and half of the others.
            let mut down = vec![l];
            down.extend(others.iter().take(ctx.voters / 2));
            for &d in &down {
                ctx.kill(d, "quorum loss").await;
            }
            ctx.fault_note_quorum_lost().await;
            let d = ctx.hold();
            ctx.sleep(d).await;
            // Restore quorum one member at a time.
            for &d in &down {
                ctx.restart(d).await?;
            }
        }
        Scenario::LeaderPartition => {
            let l = ctx.leader().await?;
            let slot = ctx.slot(l)?;
            ctx.net()?.isolate(slot);
            let n = ctx.name(l);
            ctx.log.fault(
                "partition",
                format!("isolated the leader {n} from every other member"),
            );
            let others = ctx.others(l);
            let nl = ctx.leader_among(&others, Duration::from_secs(15)).await?;
            let b = ctx.name(nl);
            ctx.log.note(format!("majority elected {b}"));
            // Probe the old leader: a write through the majority, then a linearizable read
            // and a write through the old leader (recorded in the history like any op).
            let probe_base = u64::MAX / 4;
            let key = 0;
            let v = 9_000_000_000 + ctx.cfg.seed % 1_000_000;
            probe(ctx, history, probe_base, nl, key, Op::Write(v)).await;
            let old = probe(ctx, history, probe_base + 1, l, key, Op::Read).await;
            let w = probe(ctx, history, probe_base + 2, l, key, Op::Write(v + 1)).await;
            ctx.log.note(format!(
                "old leader {n} answered the probe read with {old:?} and the probe write with {w:?}"
            ));
            if let Outcome::Ok(_) = w {
                ctx.violations.push(format!(
                    "the isolated old leader {n} acknowledged a write after the majority elected {b}"
                ));
            }
            let d = ctx.hold();
            ctx.sleep(d / 2).await;
        }
        Scenario::AsymmetricPartition => {
            let l = ctx.leader().await?;
            let ls = ctx.slot(l)?;
            let others = ctx.others(l);
            let n = ctx.name(l);
            let variant = ctx.rng.random_range(0..3);
            let net = ctx.net()?;
            let what = match variant {
                0 => {
                    for &o in &others {
                        net.cut(ls, slot_of_name(&ctx.c.nodes[o].name).unwrap_or(0));
                    }
                    format!("{n} (leader) cannot reach anyone; everyone can reach it")
                }
                1 => {
                    for &o in &others {
                        net.cut(slot_of_name(&ctx.c.nodes[o].name).unwrap_or(0), ls);
                    }
                    format!("nobody can reach {n} (leader); it can reach everyone")
                }
                _ => {
                    let f = others[0];
                    let fs = slot_of_name(&ctx.c.nodes[f].name).unwrap_or(0);
                    net.cut(ls, fs);
                    let fname = ctx.name(f);
                    format!("{n} (leader) cannot reach {fname}; {fname} can reach it")
                }
            };
            ctx.log.fault("asymmetric partition", what);
            let d = ctx.hold();
            ctx.sleep(d).await;
        }
        Scenario::PausedLeader => {
            let l = ctx.leader().await?;
            ctx.c.nodes[l].pause()?;
            let n = ctx.name(l);
            ctx.log.fault("pause", format!("SIGSTOP {n} (leader)"));
            let others = ctx.others(l);
            let nl = ctx.leader_among(&others, Duration::from_secs(15)).await?;
            let b = ctx.name(nl);
            ctx.log.note(format!("new leader {b} while {n} sleeps"));
            let d = ctx.hold();
            ctx.sleep(d).await;
            ctx.c.nodes[l].resume()?;
            ctx.log.note(format!("SIGCONT {n}"));
        }
        Scenario::RestartAll => {
            for i in 0..ctx.c.nodes.len() {
                ctx.kill(i, "restart all").await;
            }
            ctx.sleep(Duration::from_millis(500)).await;
            for i in 0..ctx.c.nodes.len() {
                ctx.c.nodes[i].spawn(Start::Restart)?;
            }
            for i in 0..ctx.c.nodes.len() {
                ctx.c.nodes[i].wait_ready(Duration::from_secs(30)).await?;
                let n = ctx.name(i);
                ctx.log.fault("restart", format!("restarted {n}"));
            }
        }
        Scenario::WipeRejoin => {
            let l = ctx.leader().await?;
            let others = ctx.others(l);
            let f = others[ctx.rng.random_range(0..others.len())];
            wipe_rejoin(ctx, f).await?;
        }
        Scenario::MembershipChange => {
            let i = ctx.c.add_node().await?;
            ctx.voters += 1;
            ctx.set_targets();
            let n = ctx.name(i);
            ctx.log
                .fault("membership", format!("added {n} as a voter under load"));
            let l = ctx.leader().await?;
            let others: Vec<usize> = ctx.others(l).into_iter().filter(|&o| o != i).collect();
            let f = others[ctx.rng.random_range(0..others.len())];
            let id = ctx.c.nodes[f].consensus_id().to_string();
            ctx.c.remove_member(&id).await?;
            ctx.voters -= 1;
            ctx.c.nodes[f].retire();
            ctx.set_targets();
            let fname = ctx.name(f);
            ctx.log
                .fault("membership", format!("removed {fname} ({id}) under load"));
            ctx.leader().await?;
        }
        Scenario::VersionsetLeaderKill => versionset_leader_kill(ctx).await?,
        Scenario::PowerCut => power_cuts(ctx).await?,
        Scenario::Random => random_faults(ctx).await?,
    }
    Ok(())
}

impl Ctx {
    async fn fault_note_quorum_lost(&mut self) {
        let live: Vec<String> = self.c.live().iter().map(|&i| self.name(i)).collect();
        self.log
            .fault("quorum loss", format!("quorum lost; still up: {live:?}"));
    }
}

/// One recorded operation through member `i` by a dedicated process.
async fn probe(
    ctx: &Ctx,
    history: &History,
    process: u64,
    i: usize,
    key: usize,
    op: Op,
) -> Outcome {
    let n = &ctx.c.nodes[i];
    let id = history.invoke(process, key, op, &n.name);
    let out = workload::execute(&ctx.c.http, &ctx.cfg.workload, &n.url(), key, op).await;
    history.complete(id, out.clone());
    out
}

/// Wipe member `f`, remove its old identity, rejoin it under a new one.
async fn wipe_rejoin(ctx: &mut Ctx, f: usize) -> Result<()> {
    let old = ctx.c.nodes[f].consensus_id().to_string();
    ctx.c.nodes[f].wipe()?;
    let n = ctx.name(f);
    ctx.log.fault(
        "wipe",
        format!("kill -9 {n} and wiped its data dir (was {old})"),
    );
    ctx.c.remove_member(&old).await?;
    ctx.voters -= 1;
    ctx.log.note(format!("removed the old identity {old}"));
    let urls: Vec<String> = ctx
        .c
        .live()
        .into_iter()
        .filter(|&i| i != f)
        .map(|i| ctx.c.nodes[i].url())
        .collect();
    ctx.c.nodes[f].spawn(Start::Join(urls))?;
    ctx.c.nodes[f].wait_ready(Duration::from_secs(30)).await?;
    let id = ctx.c.nodes[f].consensus_id().to_string();
    if id == old {
        ctx.violations.push(format!(
            "{n} rejoined after a wipe with its OLD identity {old}"
        ));
    }
    let c = &ctx.c;
    wait_for(
        Duration::from_secs(30),
        &format!("{n} ({id}) to become a voter"),
        async || {
            let l = c.wait_leader(Duration::from_secs(10)).await?;
            let st = c.nodes[l].state().await?;
            Ok(st
                .nodes
                .iter()
                .any(|m| m.consensus_id == id && m.voter)
                .then_some(()))
        },
    )
    .await?;
    ctx.voters += 1;
    ctx.log.fault(
        "rejoin",
        format!("{n} rejoined as a voter under the new identity {id}"),
    );
    Ok(())
}

/// A VersionSet apply sent to a follower while the leader is killed; retried with the same
/// Idempotency-Key on the survivors. Exactly one commit: every successful reply names the
/// same log index, and so does every member's `GET /system/versionset` at the end.
async fn versionset_leader_kill(ctx: &mut Ctx) -> Result<()> {
    let l = ctx.leader().await?;
    let others = ctx.others(l);
    let f = others[ctx.rng.random_range(0..others.len())];
    let seed = ctx.cfg.seed;
    let key = format!("fault-vs-{seed}-{}", uuid::Uuid::new_v4().simple());
    let body = json!({
        "VersionSet": {
            "Id": format!("fault-vs-{seed}"),
            "Description": "fault suite",
            "Prefs": {"fault-vs": key.clone()},
            "Global": {"fault/vs": key.clone()},
        },
    });
    let http = ctx.c.http.clone();
    let url = ctx.c.nodes[f].api("/system/versionset/apply");
    let (k2, b2) = (key.clone(), body.clone());
    let first = tokio::spawn(async move {
        http.post(url)
            .json(&b2)
            .idem(&k2)
            .timeout(Duration::from_secs(15))
            .send()
            .await
    });
    let delay = ctx.rng.random_range(0..40u64);
    ctx.sleep(Duration::from_millis(delay)).await;
    ctx.kill(l, &format!("leader, {delay} ms into a VersionSet push"))
        .await;
    let first = first.await.context("apply task")?;
    let mut indexes: Vec<(String, u64)> = Vec::new();
    match &first {
        Ok(r) if r.is_success() => {
            let idx = r.value()?.get("Index").and_then(Value::as_u64).unwrap_or(0);
            indexes.push(("first attempt".into(), idx));
        }
        Ok(r) => ctx
            .log
            .note(format!("first apply attempt: {} {}", r.status, r.text())),
        Err(e) => ctx.log.note(format!("first apply attempt: {e:#}")),
    }
    // Retry on every survivor, same key: all must succeed with the same index.
    for &o in &others {
        let n = &ctx.c.nodes[o];
        let r = wait_for(
            Duration::from_secs(30),
            &format!("the VersionSet apply retry via {}", n.name),
            async || {
                let r = n
                    .post("/system/versionset/apply")
                    .json(&body)
                    .idem(&key)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await?;
                if r.is_client_error() {
                    bail!("{} -> {}: {}", r.what, r.status, r.text());
                }
                Ok(r.is_success().then_some(r))
            },
        )
        .await?;
        let idx = r.value()?.get("Index").and_then(Value::as_u64).unwrap_or(0);
        indexes.push((format!("retry via {}", n.name), idx));
    }
    ctx.restart(l).await?;
    ctx.leader().await?;
    ctx.c.wait_caught_up(Duration::from_secs(30)).await?;
    for i in ctx.c.live() {
        let n = &ctx.c.nodes[i];
        let v = n
            .get("/system/versionset")
            .stale()
            .send()
            .await?
            .expect(200)?
            .value()?;
        let idx = v.get("Index").and_then(Value::as_u64).unwrap_or(0);
        let k = v.get("Key").and_then(Value::as_str).unwrap_or("");
        if k != key {
            ctx.violations.push(format!(
                "{}: the applied VersionSet key is {k:?}, not {key:?}",
                n.name
            ));
        }
        indexes.push((format!("GET /system/versionset on {}", n.name), idx));
    }
    let distinct: std::collections::BTreeSet<u64> = indexes.iter().map(|(_, i)| *i).collect();
    ctx.log
        .note(format!("VersionSet apply indexes: {indexes:?}"));
    if distinct.len() != 1 {
        ctx.violations.push(format!(
            "the VersionSet push was committed more than once (or not at all): {indexes:?}"
        ));
    }
    Ok(())
}

/// Power cuts under load: every member killed at once and started again, twice. Each start
/// reverts the member's store to its last durable checkpoint (the fault flag), so it must
/// replay the tail from its own Raft log; the run's checks then find every acknowledged write.
/// A violation too if no member ever restarted behind what it had applied: then the cuts
/// proved nothing.
async fn power_cuts(ctx: &mut Ctx) -> Result<()> {
    const CUTS: usize = 2;
    // Past the endpoint's checkpoint every 1,024 applied entries: the first cut then reverts
    // to a checkpoint in the middle of the log, not to an empty store.
    const BURST: usize = 1100;
    let urls: Vec<String> = ctx.c.nodes.iter().map(|n| n.url()).collect();
    let names = (0..BURST)
        .map(|i| format!("cut-{}-{i:04}", ctx.cfg.seed))
        .collect();
    let burst = create_profiles(&ctx.c.http, &urls, names, 16, Duration::from_secs(120)).await?;
    ctx.log
        .note(format!("{} profiles created in a burst", burst.len()));
    let (mut behind, mut mid_log) = (0, 0);
    for cut in 1..=CUTS {
        let d = ctx.hold();
        ctx.sleep(d / 2).await;
        // What each member had applied just before the cut (a lower bound).
        let mut applied = Vec::new();
        for n in &ctx.c.nodes {
            applied.push(n.state().await.map(|s| s.applied_index).unwrap_or(0));
        }
        for n in ctx.c.nodes.iter_mut() {
            n.kill();
        }
        ctx.log.fault(
            "power cut",
            format!("power cut {cut}: kill -9 every member at once"),
        );
        for i in 0..ctx.c.nodes.len() {
            ctx.c.nodes[i].spawn(Start::Restart)?;
        }
        for (n, &had) in ctx.c.nodes.iter_mut().zip(&applied) {
            n.wait_ready(Duration::from_secs(30)).await?;
            let Some(r) = power_cut::last_revert(&n.log()) else {
                ctx.violations.push(format!(
                    "{} logged no '{}' line at its start after power cut {cut}",
                    n.name,
                    power_cut::REVERTED
                ));
                continue;
            };
            if r.reverted_to < had {
                behind += 1;
                mid_log += usize::from(r.reverted_to > 0);
            }
            let line = format!(
                "{}: had applied {} or more; restarted from {} (redb held {})",
                n.name, had, r.reverted_to, r.opened_at
            );
            ctx.log.note(line);
        }
    }
    if behind == 0 || mid_log == 0 {
        ctx.violations.push(format!(
            "after {CUTS} power cuts {behind} restarts were behind what the member had applied, \
             {mid_log} of them from a checkpoint in the middle of the log: the scenario did not \
             prove what it is for"
        ));
    }
    ctx.c.wait_caught_up(Duration::from_secs(30)).await?;
    for i in ctx.c.live() {
        let n = &ctx.c.nodes[i];
        let have = profile_names(&ctx.c.http, &n.url(), true).await?;
        let (lost, some) = missing(&burst, &have);
        if lost > 0 {
            ctx.violations.push(format!(
                "{}: {lost} acknowledged burst profiles missing after the power cuts, e.g. {some:?}",
                n.name
            ));
        }
    }
    Ok(())
}

/// Random faults from the seed for `random_for`: each held for a while, then healed, and the
/// cluster allowed to converge before the next.
async fn random_faults(ctx: &mut Ctx) -> Result<()> {
    let until = Instant::now() + ctx.cfg.random_for;
    while Instant::now() < until {
        let l = ctx.leader().await?;
        let others = ctx.others(l);
        let f = others[ctx.rng.random_range(0..others.len())];
        let kinds = if ctx.net.is_some() { 10 } else { 6 };
        let hold = ctx.hold() / 2;
        match ctx.rng.random_range(0..kinds) {
            0 => ctx.kill(l, "leader").await,
            1 => ctx.kill(f, "follower").await,
            2 => {
                ctx.c.nodes[l].pause()?;
                let n = ctx.name(l);
                ctx.log.fault("pause", format!("SIGSTOP {n} (leader)"));
            }
            3 => {
                ctx.c.nodes[f].pause()?;
                let n = ctx.name(f);
                ctx.log.fault("pause", format!("SIGSTOP {n} (follower)"));
            }
            4 => {
                ctx.kill(l, "quorum loss").await;
                ctx.kill(f, "quorum loss").await;
            }
            5 => {
                for i in 0..ctx.c.nodes.len() {
                    if !ctx.c.nodes[i].is_retired() {
                        ctx.kill(i, "restart all").await;
                    }
                }
            }
            6 => {
                let s = ctx.slot(l)?;
                ctx.net()?.isolate(s);
                let n = ctx.name(l);
                ctx.log.fault("partition", format!("isolated {n} (leader)"));
            }
            7 => {
                let (a, b) = (ctx.slot(l)?, ctx.slot(f)?);
                let dir = ctx.rng.random_bool(0.5);
                let (from, to) = if dir { (a, b) } else { (b, a) };
                ctx.net()?.cut(from, to);
                ctx.log.fault(
                    "asymmetric partition",
                    format!("n{} cannot reach n{}", from + 1, to + 1),
                );
            }
            8 => {
                // The follower acts on the leader's entries at once; the leader learns of it
                // late. (The window where followers hold entries the leader has not applied.)
                let (a, b) = (ctx.slot(l)?, ctx.slot(f)?);
                let ms = ctx.rng.random_range(20..300u64);
                ctx.net()?
                    .set(a, b, Rule::DelayReplies(Duration::from_millis(ms)));
                ctx.log.fault(
                    "slow replies",
                    format!("n{}'s answers to n{} delayed {ms} ms", b + 1, a + 1),
                );
            }
            _ => {
                let (a, b) = (ctx.slot(l)?, ctx.slot(f)?);
                let ms = ctx.rng.random_range(20..300u64);
                ctx.net()?.delay_both(a, b, Duration::from_millis(ms));
                ctx.log.fault(
                    "delay",
                    format!("delay {ms} ms between n{} and n{}", a + 1, b + 1),
                );
            }
        }
        ctx.sleep(hold).await;
        ctx.heal().await?;
        ctx.leader().await?;
        let gap = ctx.rng.random_range(200..1500u64);
        ctx.sleep(Duration::from_millis(gap)).await;
    }
    Ok(())
}
