//! `drp-soak`: long fault-injection runs against real `drp-endpoint` processes.
//!
//! ```text
//! cargo run --release -p tests --bin drp-soak -- --seconds 600 --seed 42
//! cargo run --release -p tests --bin drp-soak -- --scenario leader-kill --seed 7 --rounds 1
//! ```
//!
//! Rounds run back to back until `--seconds` have passed (or `--rounds` rounds): each round
//! draws its scenario (mostly `random`: random faults of every kind) and its own seed from the
//! master seed, runs it on a fresh cluster and checks it. The summary lists operations, faults
//! by kind, histories checked and violations; every failed round prints the command that
//! replays it. Exit status 1 if any round failed.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tests::fault::history::OpCounts;
use tests::fault::scenarios::{self, reproduce, RunCfg, Scenario};

#[derive(Parser, Debug)]
#[command(about = "Random fault injection with linearizability checking")]
struct Args {
    /// Stop starting new rounds after this many seconds.
    #[arg(long, default_value_t = 300)]
    seconds: u64,
    /// Master seed (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Run only this scenario (with `--rounds 1` and the round's seed: a replay).
    #[arg(long, value_enum)]
    scenario: Option<Scenario>,
    /// At most this many rounds.
    #[arg(long)]
    rounds: Option<u64>,
    /// Members per cluster.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Fault time of each `random` round, seconds.
    #[arg(long, default_value_t = 30)]
    random_seconds: u64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    eprintln!("drp-soak: master seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let start = Instant::now();
    let mut rounds = 0u64;
    let mut counts = OpCounts::default();
    let mut faults: BTreeMap<String, usize> = BTreeMap::new();
    let mut histories = 0usize;
    let mut ops_checked = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let mut skipped = 0usize;
    while start.elapsed() < Duration::from_secs(args.seconds)
        && args.rounds.is_none_or(|r| rounds < r)
    {
        // With --scenario and --rounds 1 the master seed IS the round seed (a replay).
        let (scenario, round_seed) = match args.scenario {
            Some(s) if args.rounds == Some(1) => (s, seed),
            Some(s) => (s, rng.random()),
            None => {
                let s = if rng.random_bool(0.5) {
                    Scenario::Random
                } else {
                    Scenario::ALL[rng.random_range(0..Scenario::ALL.len())]
                };
                (s, rng.random())
            }
        };
        rounds += 1;
        eprintln!("---- round {rounds}: {scenario}, seed {round_seed}");
        let cfg = RunCfg {
            seed: round_seed,
            nodes: args.nodes,
            random_for: Duration::from_secs(args.random_seconds),
            ..RunCfg::default()
        };
        match scenarios::run(scenario, cfg).await {
            Ok(r) => {
                eprintln!("{r}");
                if r.skipped.is_some() {
                    skipped += 1;
                }
                counts.add(&r.counts);
                for (k, v) in &r.faults {
                    *faults.entry(k.clone()).or_default() += v;
                }
                histories += r.histories_checked;
                ops_checked += r.ops_checked;
                if !r.ok() {
                    failures.push(format!(
                        "{scenario} seed {round_seed}: {} violation(s): {}\n    reproduce: {}",
                        r.violations.len(),
                        r.violations
                            .iter()
                            .map(|v| v.lines().next().unwrap_or("").to_string())
                            .collect::<Vec<_>>()
                            .join("; "),
                        reproduce(scenario, round_seed)
                    ));
                }
            }
            Err(e) => failures.push(format!(
                "{scenario} seed {round_seed}: run failed: {e:#}\n    reproduce: {}",
                reproduce(scenario, round_seed)
            )),
        }
    }
    println!("\n## drp-soak summary (master seed {seed})\n");
    println!("| what | value |\n|---|---|");
    println!("| wall time | {:.0} s |", start.elapsed().as_secs_f64());
    println!("| rounds | {rounds} ({skipped} skipped) |");
    println!("| operations | {counts} |");
    println!("| faults | {faults:?} |");
    println!("| key histories checked | {histories} ({ops_checked} ops replayed) |");
    println!("| failed rounds | {} |", failures.len());
    for f in &failures {
        println!("\nFAILED: {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
