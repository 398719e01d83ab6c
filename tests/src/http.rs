//! A small HTTP client over `reqwest` for talking to endpoints: every request carries HTTP
//! Basic auth and a timeout, and the whole response (status, headers, body) is read so
//! assertions can compare bodies byte for byte.

use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The DRP admin user; the password is [`ADMIN_PASSWORD`] (passed as `RS_ADMIN_PASSWORD`).
pub const ADMIN_USER: &str = proto::paths::ADMIN_USER;
/// The admin password every harness-started node is given.
pub const ADMIN_PASSWORD: &str = "r0cketsk8ts";
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Response header naming the leader's ConsensusID.
pub const HDR_LEADER: &str = proto::headers::LEADER;
/// Response header with the commit index the response reflects.
pub const HDR_COMMIT: &str = proto::headers::COMMIT_INDEX;
/// Collection `HEAD` count header.
pub const HDR_COUNT: &str = proto::headers::LIST_FILTER_COUNT;
/// Request header opting into a local (possibly stale) read.
pub const HDR_STALE: &str = proto::headers::STALE_READ;
/// Request header for exactly-once writes.
pub const HDR_IDEMPOTENCY: &str = "Idempotency-Key";

/// A cheap-to-clone HTTP client (connection pool shared between clones).
#[derive(Clone, Debug)]
pub struct Http {
    client: reqwest::Client,
    /// The CA it trusts, to build another pool with [`Http::with_own_pool`].
    ca_pem: String,
    user: String,
    password: String,
    /// Sent as `Authorization: Bearer` instead of the Basic credentials.
    bearer: Option<String>,
}

impl Http {
    /// A client trusting the harness's test CA.
    pub fn new() -> Result<Self> {
        Self::trusting(&crate::tls::test_tls().ca_pem)
    }

    /// A client trusting only the CA in `ca_pem` (e.g. a cluster's own CA).
    pub fn trusting(ca_pem: &str) -> Result<Self> {
        Self::trusting_from(ca_pem, None)
    }

    fn trusting_from(ca_pem: &str, source: Option<std::net::IpAddr>) -> Result<Self> {
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).context("the CA PEM")?;
        let client = reqwest::Client::builder()
            .local_address(source)
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        Ok(Http {
            client,
            ca_pem: ca_pem.to_string(),
            user: ADMIN_USER.to_string(),
            password: ADMIN_PASSWORD.to_string(),
            bearer: None,
        })
    }

    /// The same credentials on a connection pool of its own, whose connections are driven by
    /// the runtime it is first used on.
    pub fn with_own_pool(&self) -> Result<Http> {
        self.with_pool_from(None)
    }

    /// The same credentials on a pool of its own whose connections come from `source` (any
    /// 127.0.0.0/8 address works on loopback): another machine, as a member's per-source
    /// limits count it.
    pub fn from_source(&self, source: std::net::IpAddr) -> Result<Http> {
        self.with_pool_from(Some(source))
    }

    fn with_pool_from(&self, source: Option<std::net::IpAddr>) -> Result<Http> {
        let fresh = Self::trusting_from(&self.ca_pem, source)?;
        Ok(Http {
            client: fresh.client,
            ..self.clone()
        })
    }

    /// The same client (and connection pool) with another user's Basic credentials.
    pub fn as_user(&self, user: &str, password: &str) -> Http {
        Http {
            user: user.to_string(),
            password: password.to_string(),
            bearer: None,
            ..self.clone()
        }
    }

    /// The same client authenticating with a bearer token.
    pub fn with_token(&self, token: &str) -> Http {
        Http {
            bearer: Some(token.to_string()),
            ..self.clone()
        }
    }

    pub fn request(&self, method: Method, url: impl Into<String>) -> Req<'_> {
        Req {
            http: self,
            method,
            url: url.into(),
            body: None,
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn get(&self, url: impl Into<String>) -> Req<'_> {
        self.request(Method::GET, url)
    }
    pub fn post(&self, url: impl Into<String>) -> Req<'_> {
        self.request(Method::POST, url)
    }
    pub fn put(&self, url: impl Into<String>) -> Req<'_> {
        self.request(Method::PUT, url)
    }
    pub fn delete(&self, url: impl Into<String>) -> Req<'_> {
        self.request(Method::DELETE, url)
    }
    pub fn head(&self, url: impl Into<String>) -> Req<'_> {
        self.request(Method::HEAD, url)
    }
}

/// A request being built; finish with [`Req::send`].
#[must_use = "a request does nothing until sent"]
pub struct Req<'a> {
    http: &'a Http,
    method: Method,
    url: String,
    body: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
    timeout: Duration,
}

impl Req<'_> {
    /// A JSON body.
    pub fn json(mut self, v: &Value) -> Self {
        self.body = Some(v.to_string().into_bytes());
        self.headers
            .push(("Content-Type".into(), "application/json".into()));
        self
    }

    /// A raw body sent as `application/json` (for malformed-input tests).
    pub fn raw_json(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self.headers
            .push(("Content-Type".into(), "application/json".into()));
        self
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    /// `Idempotency-Key: key`.
    pub fn idem(self, key: &str) -> Self {
        self.header(HDR_IDEMPOTENCY, key)
    }

    /// `X-DRP-Stale-Read: true`: a local read on the member asked.
    pub fn stale(self) -> Self {
        self.header(HDR_STALE, "true")
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    pub async fn send(self) -> Result<Resp> {
        let mut rb = self
            .http
            .client
            .request(self.method.clone(), &self.url)
            .timeout(self.timeout);
        rb = match &self.http.bearer {
            Some(token) => rb.bearer_auth(token),
            None => rb.basic_auth(&self.http.user, Some(&self.http.password)),
        };
        for (k, v) in &self.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(b) = self.body {
            rb = rb.body(b);
        }
        let what = format!("{} {}", self.method, self.url);
        let resp = rb.send().await.with_context(|| what.clone())?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .with_context(|| format!("{what}: reading the body"))?
            .to_vec();
        Ok(Resp {
            what,
            status,
            headers,
            body,
        })
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// "METHOD url", for messages.
    pub what: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (error mentions the request and the body).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "{} -> {}: body is not the expected JSON: {}",
                self.what,
                self.status,
                truncate(&self.text(), 400)
            )
        })
    }

    pub fn value(&self) -> Result<Value> {
        self.json()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status)
    }

    /// `Messages` of a DRP error body (empty if absent or not an error).
    pub fn messages(&self) -> Vec<String> {
        self.json::<proto::error::ErrorBody>()
            .map(|e| e.messages)
            .unwrap_or_default()
    }

    /// Err unless the status is `want`.
    pub fn expect(self, want: u16) -> Result<Self> {
        if self.status == want {
            Ok(self)
        } else {
            anyhow::bail!(
                "{}: expected {want}, got {}: {}",
                self.what,
                self.status,
                truncate(&self.text(), 600)
            )
        }
    }

    /// Err unless 2xx.
    pub fn ok(self) -> Result<Self> {
        if self.is_success() {
            Ok(self)
        } else {
            anyhow::bail!(
                "{}: expected 2xx, got {}: {}",
                self.what,
                self.status,
                truncate(&self.text(), 600)
            )
        }
    }
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        s.to_string()
    } else {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…({} bytes)", &s[..end], s.len())
    }
}
