//! TFTP (DRP's port 69), read-only, over the same boot tree as the static HTTP server, for
//! firmware that cannot speak HTTP (legacy PXE loading `lpxelinux.0` or `ipxe.efi`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_tftp::packet;
use async_tftp::server::{Handler, TftpServerBuilder};
use tokio::sync::watch;

use super::tree::{Found, Miss, Tree};
use super::RunningGuard;
use crate::node::Node;

/// Resends of an unacknowledged block before a transfer is dropped, and the wait for each.
const RETRIES: u32 = 5;
const BLOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves the tree on UDP `port` (all IPv4 addresses) until `stop`.
pub async fn serve(
    node: Node,
    tree: Arc<Tree>,
    port: u16,
    mut stop: watch::Receiver<bool>,
) -> Result<(), super::ServiceError> {
    let server = TftpServerBuilder::with_handler(ReadOnly { tree })
        .bind(SocketAddr::from(([0, 0, 0, 0], port)))
        .timeout(BLOCK_TIMEOUT)
        .max_send_retries(RETRIES)
        .build()
        .await
        .map_err(|why| super::ServiceError::TftpBind { port, why })?;
    let _running = RunningGuard::set(&node.settings.boot.running.tftp);
    tracing::info!(port, "serving TFTP");
    // Dropping the server future ends it and every transfer it runs.
    tokio::select! {
        r = server.serve() => r.map_err(super::ServiceError::Tftp),
        _ = stop.wait_for(|s| *s) => Ok(()),
    }
}

struct ReadOnly {
    tree: Arc<Tree>,
}

impl Handler for ReadOnly {
    type Reader = Reader;
    type Writer = futures::io::Sink;

    async fn read_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
    ) -> Result<(Self::Reader, Option<u64>), packet::Error> {
        let Some(path) = path.to_str() else {
            return Err(packet::Error::FileNotFound);
        };
        match self.tree.get(path, client.ip()).await {
            Ok(Found::Rendered(bytes)) => {
                let len = bytes.len() as u64;
                Ok((Reader::Rendered(futures::io::Cursor::new(bytes)), Some(len)))
            }
            Ok(Found::Stored(file)) => match std::fs::File::open(&file.path) {
                // Read on blocking's thread pool, a block at a time.
                Ok(f) => Ok((Reader::Stored(blocking::Unblock::new(f)), Some(file.len))),
                Err(e) => {
                    tracing::warn!(%client, path, error = %e, "opening a boot file's copy");
                    Err(packet::Error::UnknownError)
                }
            },
            Err(Miss::BadPath(problem)) => {
                tracing::debug!(%client, path, problem, "refused a TFTP path");
                Err(packet::Error::PermissionDenied)
            }
            Err(Miss::Render(error)) => {
                tracing::warn!(%client, path, %error, "a boot file did not render");
                Err(packet::Error::UnknownError)
            }
            Err(miss) => {
                tracing::debug!(%client, path, ?miss, "no TFTP file");
                Err(packet::Error::FileNotFound)
            }
        }
    }

    async fn write_req_open(
        &mut self,
        _client: &SocketAddr,
        _path: &Path,
        _size: Option<u64>,
    ) -> Result<Self::Writer, packet::Error> {
        Err(packet::Error::IllegalOperation)
    }
}

/// A rendered file from memory, or a stored file's copy from disk.
enum Reader {
    Rendered(futures::io::Cursor<Vec<u8>>),
    Stored(blocking::Unblock<std::fs::File>),
}

impl futures::io::AsyncRead for Reader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Reader::Rendered(r) => std::pin::Pin::new(r).poll_read(cx, buf),
            Reader::Stored(r) => std::pin::Pin::new(r).poll_read(cx, buf),
        }
    }
}
