//! `drp-agent`: flags only; the loop is `endpoint::agent`.

use clap::Parser;
use endpoint::agent::{self, Finish};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = agent::Args::parse();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        } else {
            let _ = tokio::signal::ctrl_c().await;
        }
        println!("drp-agent: stopping");
        let _ = stop.send(true);
        // Keep the sender alive: a dropped sender would read as another signal.
        std::future::pending::<()>().await;
    });
    match agent::run(args, shutdown).await {
        Ok(Finish::Complete) => {
            println!("drp-agent: workflow complete");
            std::process::ExitCode::SUCCESS
        }
        Ok(Finish::Stopped) => {
            println!("drp-agent: the machine is stopped (a task failed or it is not runnable)");
            std::process::ExitCode::from(1)
        }
        Ok(Finish::ExitState(what)) => {
            println!("drp-agent: a task asked for {what}; leaving it to the machine");
            std::process::ExitCode::SUCCESS
        }
        Ok(Finish::Terminated) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drp-agent: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
