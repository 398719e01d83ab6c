//! The follower's events websocket to one cluster member: TCP, TLS verified to the cluster's
//! trust anchor exactly as its HTTP client is (the same [`AnchoredVerifier`]), and the stored
//! admin credentials. Every step is bounded by a timeout.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::cluster::trust::{provider, Anchor, AnchoredVerifier};
use crate::cluster::Connection;

/// A TCP connection, or a TLS session over one.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open events socket.
pub type Socket = WebSocketStream<Box<dyn Io>>;

/// Largest event accepted: an object (a machine with its params) can be large, but not this.
const MAX_MESSAGE: usize = 64 << 20;

/// Why a member's socket could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("{0}: not an http(s) URL")]
    Url(String),
    #[error("{url}: {step} timed out")]
    Timeout { url: String, step: &'static str },
    #[error("{url}: connecting: {source}")]
    Connect { url: String, source: std::io::Error },
    #[error("{url}: TLS: {message}")]
    Tls { url: String, message: String },
    #[error("{url}: websocket: {source}")]
    Ws {
        url: String,
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    #[error("{0}")]
    Protocol(String),
}

/// Opens `/api/v3/ws?<query>` on the member at `base` (its API URL, with any path) with the stored
/// credentials.
pub(super) async fn open(
    base: &str,
    query: &str,
    conn: &Connection,
    timeout: Duration,
) -> Result<Socket, SocketError> {
    open_as(base, query, &conn.anchor, basic_auth(conn), timeout).await
}

/// [`open`] with the `Authorization` header given (none: anonymous), for the gateway's
/// websocket proxy.
pub async fn open_as(
    base: &str,
    query: &str,
    anchor: &Anchor,
    authorization: Option<String>,
    timeout: Duration,
) -> Result<Socket, SocketError> {
    let url = reqwest::Url::parse(base).map_err(|_| SocketError::Url(base.into()))?;
    let tls = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(SocketError::Url(base.into())),
    };
    let host = url
        .host_str()
        .ok_or_else(|| SocketError::Url(base.into()))?
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| SocketError::Url(base.into()))?;
    let bounded = |step| {
        let url = base.to_string();
        move |_| SocketError::Timeout { url, step }
    };
    let tcp = tokio::time::timeout(
        timeout,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(bounded("connecting"))?
    .map_err(|source| SocketError::Connect {
        url: base.into(),
        source,
    })?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if tls {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(anchor)?));
        // The verifier ignores names (the anchor is what is checked); SNI wants one anyway.
        let name =
            rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| SocketError::Tls {
                url: base.into(),
                message: e.to_string(),
            })?;
        let stream = tokio::time::timeout(timeout, connector.connect(name, tcp))
            .await
            .map_err(bounded("the TLS handshake"))?
            .map_err(|e| SocketError::Tls {
                url: base.into(),
                message: e.to_string(),
            })?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let scheme = if tls { "wss" } else { "ws" };
    let authority = url.host_str().unwrap_or_default();
    // A base with a path (a leaf behind a manager: `<manager>/<leaf>`) keeps it.
    let prefix = url.path().trim_end_matches('/');
    let ws_url = format!("{scheme}://{authority}:{port}{prefix}/api/v3/ws?{query}");
    let ws_err = |source| SocketError::Ws {
        url: base.into(),
        source: Box::new(source),
    };
    let mut request = ws_url.into_client_request().map_err(ws_err)?;
    if let Some(auth) = authorization {
        if let Ok(v) = http::HeaderValue::from_str(&auth) {
            request.headers_mut().insert(http::header::AUTHORIZATION, v);
        }
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let (socket, _) = tokio::time::timeout(
        timeout,
        tokio_tungstenite::client_async_with_config(request, io, Some(config)),
    )
    .await
    .map_err(bounded("the websocket handshake"))?
    .map_err(ws_err)?;
    Ok(socket)
}

/// The member's certificate must verify to the cluster's anchor, as for its HTTP client.
fn tls_config(anchor: &Anchor) -> Result<rustls::ClientConfig, SocketError> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| SocketError::Tls {
            url: String::new(),
            message: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnchoredVerifier::new(anchor.clone())))
        .with_no_client_auth();
    Ok(config)
}

/// The stored admin credentials, as [`crate::cluster::Cluster::authorize`] sends them.
pub fn basic_auth(conn: &Connection) -> Option<String> {
    let password = conn.password.as_deref()?;
    let user = conn.username.as_deref().unwrap_or(proto::paths::ADMIN_USER);
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    Some(format!("Basic {token}"))
}

/// Sends a text command, bounded by `timeout`.
pub(super) async fn send(
    socket: &mut Socket,
    text: &str,
    timeout: Duration,
) -> Result<(), SocketError> {
    match tokio::time::timeout(timeout, socket.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SocketError::Protocol(format!("sending {text:?}: {e}"))),
        Err(_) => Err(SocketError::Protocol(format!("sending {text:?} timed out"))),
    }
}

/// What the socket said next.
pub(super) enum Next {
    /// A JSON message (an event or the socket's own word).
    Json(Value),
    /// Any other frame (ping, pong): the connection is alive.
    Alive,
}

/// The next message, at most `timeout` away.
pub(super) async fn next(socket: &mut Socket, timeout: Duration) -> Result<Next, SocketError> {
    let msg = match tokio::time::timeout(timeout, socket.next()).await {
        Err(_) => {
            return Err(SocketError::Protocol(format!(
                "nothing from the member for {timeout:?}"
            )))
        }
        Ok(None) => return Err(SocketError::Protocol("the member closed the socket".into())),
        Ok(Some(Err(e))) => return Err(SocketError::Protocol(format!("socket: {e}"))),
        Ok(Some(Ok(m))) => m,
    };
    match msg {
        Message::Text(t) => serde_json::from_str(t.as_str())
            .map(Next::Json)
            .map_err(|e| SocketError::Protocol(format!("a message that is not JSON: {e}"))),
        Message::Close(frame) => Err(SocketError::Protocol(format!(
            "the member closed the socket: {}",
            frame.map(|f| f.reason.to_string()).unwrap_or_default()
        ))),
        _ => Ok(Next::Alive),
    }
}
