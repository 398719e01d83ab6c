//! `drp-hostile`: runs each attack against a 3-node cluster on loopback while a legitimate
//! client measures its own latency, and prints the table (see `tests/src/hostile`).
//!
//! `cargo build --release -p endpoint -p tests && target/release/drp-hostile`
//! (`DRP_ENDPOINT_BIN` picks another `drp-endpoint`, e.g. an older build to compare).
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use tests::hostile::{self, Attack};

#[derive(Parser)]
#[command(
    name = "drp-hostile",
    about = "Hostile-load measurements on a loopback cluster"
)]
struct Args {
    /// Attacks to run (default: all), comma-separated.
    #[arg(long, value_delimiter = ',', value_enum)]
    attacks: Vec<Attack>,
    /// Seconds per attack.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Seconds of the no-attack baseline.
    #[arg(long, default_value_t = 10)]
    baseline_seconds: u64,
    /// Extra `drp-endpoint serve` flags for every member (e.g. `--rate-limit-per-user=50`).
    #[arg(long = "serve-arg", allow_hyphen_values = true)]
    serve_args: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let opts = hostile::Options {
        attacks: if args.attacks.is_empty() {
            Attack::ALL.to_vec()
        } else {
            args.attacks
        },
        seconds: args.seconds.clamp(1, 120),
        baseline_seconds: args.baseline_seconds.clamp(1, 120),
        extra_args: args.serve_args,
    };
    let rows = hostile::run(&opts).await?;
    println!("{}", hostile::report::table(&rows));
    Ok(())
}
