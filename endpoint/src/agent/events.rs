//! The agent's event stream: a `/api/v3/ws` socket registered for its machine's events, so a
//! wait wakes when the machine changes instead of polling often. Best effort: the waits poll
//! as well, so a member going down (its socket with it) costs at most one poll interval.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{AgentError, Result};

/// Connecting, the TLS handshake and the upgrade together get this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub struct Events {
    ws: WebSocketStream<Box<dyn Io>>,
}

/// TLS settings for `wss://`: the `--ca` certificate is the trust root.
pub fn tls_config(ca_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::str::from_utf8(ca_pem).map_err(AgentError::CaNotText)?;
    for cert in crate::tls::certs(pem)? {
        roots.add(cert).map_err(|why| AgentError::Tls {
            what: "the --ca certificate",
            why,
        })?;
    }
    let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|why| AgentError::Tls {
            what: "TLS versions",
            why,
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl Events {
    /// Opens the socket on `endpoint` (an `https://` or `http://` member URL) and registers
    /// for every event of `machine`.
    pub async fn open(
        endpoint: &str,
        authorization: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
        machine: &str,
    ) -> Result<Events> {
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            Self::connect(endpoint, authorization, tls, machine),
        )
        .await
        .map_err(|_| AgentError::EventsTimeout)?
    }

    async fn connect(
        endpoint: &str,
        authorization: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
        machine: &str,
    ) -> Result<Events> {
        let url = url::Url::parse(endpoint).map_err(AgentError::Url)?;
        let usage = |what: &str| AgentError::Usage(what.to_string());
        let host = url
            .host_str()
            .ok_or_else(|| usage("the endpoint URL has no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| usage("the endpoint URL has no port"))?;
        let tcp = tokio::net::TcpStream::connect((host, port)).await?;
        let (scheme, io): (&str, Box<dyn Io>) = match (url.scheme(), tls) {
            ("https", Some(config)) => {
                let name = rustls_pki_types::ServerName::try_from(host.to_string())?;
                let stream = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await?;
                ("wss", Box::new(stream))
            }
            ("https", None) => return Err(usage("no --ca to check the member's certificate with")),
            _ => ("ws", Box::new(tcp)),
        };
        let mut req = format!("{scheme}://{host}:{port}/api/v3/ws").into_client_request()?;
        req.headers_mut()
            .insert("authorization", authorization.parse()?);
        let (mut ws, _) = tokio_tungstenite::client_async(req, io).await?;
        ws.send(Message::text(format!("register machines.*.{machine}")))
            .await?;
        // Registered once the reply is back: a change read after this is not missed.
        while let Some(message) = ws.next().await {
            if let Message::Text(text) = message? {
                let reply: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                match reply["Action"].as_str() {
                    Some("register") => return Ok(Events { ws }),
                    Some("error") => {
                        return Err(AgentError::Reply(format!("registering for events: {text}")))
                    }
                    _ => {}
                }
            }
        }
        Err(AgentError::Reply(
            "the event socket closed before registering".to_string(),
        ))
    }

    /// Waits for the next message (an event, or the registration's reply); `false` when the
    /// socket is gone.
    pub async fn next(&mut self) -> bool {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(_))) => return true,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return false,
                Some(Ok(_)) => {}
            }
        }
    }
}
