use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use endpoint::upgrade;

#[derive(Parser)]
#[command(
    name = "drp-endpoint",
    version,
    about = "One member of a Raft-replicated DRP endpoint cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run this node: the DRP API and its Raft membership.
    Serve(Box<endpoint::serve::ServeArgs>),
    /// Content pack tools (`contents bundle DIR`).
    Contents {
        #[command(subcommand)]
        command: endpoint::packs::bundle::ContentsCommand,
    },
    /// Cluster backup and restore (`snapshot save`, `snapshot restore`).
    Snapshot {
        #[command(subcommand)]
        command: endpoint::backup::SnapshotCommand,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .init();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some(upgrade::preflight::FLAG) {
        std::process::exit(upgrade::preflight::main(&argv));
    }
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        // A new binary that cannot even parse its argv goes back to the old one.
        if !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
            let _ = upgrade::exec::roll_back_if_upgrading(&e.to_string());
        }
        e.exit()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(args) => {
            let served = runtime.block_on(endpoint::serve::serve(*args));
            // Every task dropped, so the stores close cleanly before any exec; a blocking task
            // still running (hashing the binary) is not waited for past the grace.
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
            // The raft log's writer thread closes the file once the dropped tasks let go of it;
            // exiting (or exec'ing) before that would leave it to be repaired at the next start.
            if !endpoint::raft::log_store::wait_closed(std::time::Duration::from_secs(5)) {
                tracing::warn!("the raft log was still open at exit: the next start repairs it");
            }
            if let Err(e) = served {
                let e = anyhow::Error::from(e);
                upgrade::exec::roll_back_if_upgrading(&format!("{e:#}"))?;
                return Err(e);
            }
            Ok(upgrade::exec::exec_if_planned()?)
        }
        Command::Contents { command } => Ok(command.run()?),
        Command::Snapshot { command } => Ok(runtime.block_on(command.run())?),
    }
}
