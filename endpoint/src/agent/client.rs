//! The agent's HTTP client: any member will do, so a call that cannot connect, times out or
//! meets a 502/503/504 (an election, a member going down) moves to the next member and tries
//! again, with the same body and the same `Idempotency-Key`, until its retry window ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;

use super::{AgentError, Result};

/// One attempt's limit: a member that does not answer in this long is treated as down.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one call keeps retrying across members before it gives up.
const RETRY_WINDOW: Duration = Duration::from_secs(120);

pub enum Credentials {
    Token(String),
    Basic { user: String, password: String },
}

pub struct Client {
    http: reqwest::Client,
    endpoints: Vec<String>,
    current: AtomicUsize,
    credentials: Credentials,
}

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(AgentError::NotJson)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    pub fn new(
        endpoints: Vec<String>,
        credentials: Credentials,
        ca_pem: Option<&[u8]>,
    ) -> Result<Client> {
        if endpoints.is_empty() {
            return Err(AgentError::Usage("no endpoints given".to_string()));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(3));
        if let Some(pem) = ca_pem {
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem).map_err(
                |why| AgentError::Http {
                    what: "the --ca file is not a PEM certificate",
                    why,
                },
            )?);
        }
        Ok(Client {
            http: builder.build().map_err(|why| AgentError::Http {
                what: "building the HTTP client",
                why,
            })?,
            endpoints: endpoints
                .into_iter()
                .map(|e| e.trim_end_matches('/').to_string())
                .collect(),
            current: AtomicUsize::new(0),
            credentials,
        })
    }

    /// The `Authorization` header value calls carry (for the event socket).
    pub fn authorization(&self) -> String {
        match &self.credentials {
            Credentials::Token(t) => format!("Bearer {t}"),
            Credentials::Basic { user, password } => {
                let pair = format!("{user}:{password}");
                format!(
                    "Basic {}",
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair)
                )
            }
        }
    }

    /// The member calls go to now.
    pub fn endpoint(&self) -> &str {
        &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()]
    }

    fn next_member(&self) {
        self.current.fetch_add(1, Ordering::Relaxed);
    }

    /// `PATCH path` with an RFC 6902 JSON Patch under an idempotency key.
    pub async fn patch(&self, path: &str, patch: &serde_json::Value, key: &str) -> Result<Reply> {
        let body = serde_json::to_vec(patch)?;
        self.call(
            Method::PATCH,
            path,
            Some(("application/json-patch+json", body)),
            Some(key),
        )
        .await
    }

    /// `method path` with an optional body and idempotency key, across members as needed.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            let url = format!("{}{path}", self.endpoint());
            let mut req = self.http.request(method.clone(), &url);
            req = match &self.credentials {
                Credentials::Token(t) => req.bearer_auth(t),
                Credentials::Basic { user, password } => req.basic_auth(user, Some(password)),
            };
            if let Some(key) = idempotency_key {
                req = req.header(proto::headers::IDEMPOTENCY_KEY, key);
            }
            if let Some((content_type, bytes)) = &body {
                req = req
                    .header("Content-Type", *content_type)
                    .body(bytes.clone());
            }
            let why = match req.send().await {
                Ok(resp) if matches!(resp.status().as_u16(), 502..=504) => {
                    format!("{url}: {}", resp.status())
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.bytes().await {
                        Ok(bytes) => {
                            return Ok(Reply {
                                status,
                                body: bytes.to_vec(),
                            })
                        }
                        Err(e) => format!("{url}: reading the reply: {e}"),
                    }
                }
                Err(e) => format!("{url}: {e}"),
            };
            if started.elapsed() > RETRY_WINDOW {
                return Err(AgentError::NoMember {
                    window: RETRY_WINDOW,
                    last: why,
                });
            }
            tracing::warn!("{why}; trying the next member");
            self.next_member();
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}
