use clap::{Parser, Subcommand};

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
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(endpoint::serve::serve(*args)),
        Command::Contents { command } => command.run(),
        Command::Snapshot { command } => runtime.block_on(command.run()),
    }
}
