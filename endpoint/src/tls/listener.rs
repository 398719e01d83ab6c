//! A TLS accept loop shared by both listeners: every handshake runs in its own task with a
//! deadline (a slow or silent client cannot hold up the others), and finished connections are
//! handed over through a channel. The server config is read from a watch at each accept, so
//! a rotated certificate serves new connections at once while open ones carry on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; more connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 256;

pub type Accepted = (TlsStream<TcpStream>, SocketAddr);

/// The server config a listener uses now; send a new one to rotate its certificate.
pub type LiveConfig = watch::Receiver<Arc<rustls::ServerConfig>>;

/// Accepts on `listener` until `shutdown`, completing handshakes with the current `config`.
pub fn spawn(
    listener: TcpListener,
    config: LiveConfig,
    mut shutdown: watch::Receiver<bool>,
    what: &'static str,
) -> mpsc::Receiver<Accepted> {
    let (tx, rx) = mpsc::channel(64);
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let (tcp, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, listener = what, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.changed() => return,
            };
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY");
            }
            let acceptor = TlsAcceptor::from(config.borrow().clone());
            let tx = tx.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => {
                        crate::metrics::tls_handshake_failed(what);
                        tracing::debug!(%peer, error = %e, listener = what, "TLS handshake refused")
                    }
                    Err(_) => {
                        crate::metrics::tls_handshake_failed(what);
                        tracing::debug!(%peer, listener = what, "TLS handshake timed out")
                    }
                }
            });
        }
    });
    rx
}

/// The API side: an `axum::serve` listener over the accepted TLS connections.
pub struct AxumTls {
    pub accepted: mpsc::Receiver<Accepted>,
    pub local: SocketAddr,
}

impl axum::serve::Listener for AxumTls {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(conn) => conn,
            // The accept loop stopped (shutdown): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
