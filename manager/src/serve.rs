//! `drp-manager serve`: wires the shared state, its background tasks and the HTTP server
//! together, and takes them down in order on shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;

use crate::state::{Config, Manager, OpenError};

/// Why the manager could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("binding --metrics-listen {addr}: {source}")]
    MetricsListen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// Runs the manager until `shutdown` turns true; `ready` gets the bound address.
pub async fn run(
    config: Config,
    shutdown: watch::Receiver<bool>,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), ServeError> {
    let listen = config.api_listen;
    let listen_error = |source| ServeError::Listen {
        addr: listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    let mgr = Manager::open(config, shutdown.clone())?;
    mgr.sync_clusters();
    let git_task = mgr
        .config
        .git_repo
        .clone()
        .map(|repo| tokio::spawn(crate::sync::gitsource::run(mgr.clone(), repo)));
    let rollout_task = tokio::spawn(crate::sync::rollout::run(mgr.clone()));
    tracing::info!(%addr, "drp-manager API listening");
    if let Some(tx) = ready {
        let _ = tx.send(addr);
    }
    let metrics = match mgr.config.metrics_listen {
        Some(a) => Some(
            crate::metrics::serve_plain(a, mgr.clone(), shutdown.clone())
                .await
                .map_err(|source| ServeError::MetricsListen { addr: a, source })?,
        ),
        None => None,
    };
    // Per source before authentication: the manager's only user is its admin.
    let per_source = netguard::RequestLimit::new(
        "source address",
        mgr.config.rate.rate_limit_per_source,
        netguard::SourceIp::of_request,
    );
    let app = crate::http::router(mgr.clone()).layer(axum::middleware::from_fn_with_state(
        per_source,
        netguard::enforce::<netguard::SourceIp>,
    ));
    let limits = mgr.config.conn.limits();
    let served = netguard::serve(listener, None, app, limits, shutdown.clone(), "manager");
    let mut stop = shutdown.clone();
    let _ = stop.wait_for(|s| *s).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
    if let Some(t) = git_task {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    if let Some(t) = metrics {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), rollout_task).await;
    mgr.stop_all().await;
    tracing::info!("drp-manager stopped");
    Ok(())
}
