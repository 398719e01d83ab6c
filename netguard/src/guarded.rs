//! Guarded TLS connections handed to another server (tonic on the consensus port): each
//! carries its registry slot, so it counts against the caps for as long as it is open.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;

use crate::accept::{handshake, spawn_accept, LiveConfig};
use crate::limits::ConnLimits;
use crate::registry::{Registry, Slot};

/// A connection that holds its slot until dropped.
pub struct Guarded<S> {
    /// The accepted stream (TLS over TCP on the listeners).
    pub io: S,
    /// The connection's registry entry; freed when the connection is dropped.
    pub slot: Slot,
}

/// Accepts TLS connections on `listener` under `limits`; each one that completes its
/// handshake is pinned (never shed: on the consensus port it is a member) and sent out.
pub fn tls_incoming(
    listener: TcpListener,
    config: LiveConfig,
    limits: ConnLimits,
    shutdown: watch::Receiver<bool>,
    what: &'static str,
) -> (Arc<Registry>, mpsc::Receiver<Guarded<TlsStream<TcpStream>>>) {
    let (tx, rx) = mpsc::channel(64);
    let registry = Registry::new(limits);
    let timeout = registry.limits().handshake_timeout;
    spawn_accept(
        listener,
        registry.clone(),
        shutdown,
        what,
        move |tcp, slot| {
            let (tx, config) = (tx.clone(), config.clone());
            async move {
                if let Some(io) = handshake(tcp, &config, &slot, timeout, what).await {
                    slot.state().pin();
                    let _ = tx.send(Guarded { io, slot }).await;
                }
            }
        },
    );
    (registry, rx)
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(feature = "tonic")]
impl<S: tonic::transport::server::Connected> tonic::transport::server::Connected for Guarded<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}
