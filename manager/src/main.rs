//! `drp-manager`: parses flags and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "drp-manager",
    version,
    about = "Manage DRP HA clusters as endpoints"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with VersionSet and Endpoint files.
    #[command(name = "version-sets", subcommand)]
    VersionSets(VersionSetsCommand),
}

#[derive(Debug, Subcommand)]
enum VersionSetsCommand {
    /// Validate VersionSet/Endpoint YAML or JSON files offline; prints FILE:LINE:COLUMN: message
    /// for each problem and exits 1 if there is any.
    Lint {
        /// Files to check (`version_sets/*.yaml`, `endpoints/*.yaml`, ...).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::VersionSets(VersionSetsCommand::Lint { files }) => {
            let report = manager::lint::lint_files(&files);
            for line in &report.problems {
                println!("{line}");
            }
            if report.problems.is_empty() {
                eprintln!("{}", report.summary());
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
