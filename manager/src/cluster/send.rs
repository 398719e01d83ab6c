//! Requests to a cluster's leader that follow failover: the leader first, then the other
//! members and the seeds, until a deadline.

use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::sync::watch;

use super::trust;
use super::Cluster;

/// Longest wait before trying the members again when the view has not changed: short while
/// the poll is the only news of a new leader, longer while members' streams push it.
const RETRY_EVERY: Duration = Duration::from_millis(100);
const RETRY_WHILE_PUSHED: Duration = Duration::from_millis(300);

/// Whether a request may be sent again after a failure that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Safe to repeat: reads, PUT/DELETE, or writes carrying an Idempotency-Key.
    Idempotent,
    /// Only when it surely never reached a server (connection refused).
    ConnectOnly,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cluster `{0}` has no reachable member")]
    Unavailable(String),
    #[error("request to {url} failed: {message}")]
    Failed { url: String, message: String },
}

/// What the attempts so far left: the last failure, and the last 502/503/504 reply, which
/// is returned rather than an error once the deadline passes.
#[derive(Default)]
struct Tried {
    last: Option<SendError>,
    last_resp: Option<Response>,
}

/// How the members failed in one pass.
struct Pass {
    /// Every request surely never reached a server (refused connection or certificate).
    all_refused: bool,
    /// Every member's certificate was refused.
    all_untrusted: bool,
}

enum Outcome {
    /// Return this now.
    Done(Result<Response, SendError>),
    /// No member gave an answer to return.
    Failed(Pass),
}

/// A member that cannot serve now (another may).
fn unavailable(resp: &Response) -> bool {
    matches!(
        resp.status(),
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

impl Cluster {
    /// Sends a request built by `build(base_url)` to the leader, following failover until
    /// `deadline`: a connection refused always moves on to the next member; a timeout or a
    /// 502/503/504 moves on only for [`Retry::Idempotent`] requests.
    pub async fn send(
        &self,
        build: impl Fn(&str) -> RequestBuilder,
        retry: Retry,
        deadline: Duration,
    ) -> Result<Response, SendError> {
        self.send_with(build, retry, deadline, true).await
    }

    /// [`Self::send`] without the stored credentials: `build` carries the caller's own (a
    /// cluster user through the gateway), and the cluster alone decides what they may do.
    pub async fn send_as_caller(
        &self,
        build: impl Fn(&str) -> RequestBuilder,
        retry: Retry,
        deadline: Duration,
    ) -> Result<Response, SendError> {
        self.send_with(build, retry, deadline, false).await
    }

    async fn send_with(
        &self,
        build: impl Fn(&str) -> RequestBuilder,
        retry: Retry,
        deadline: Duration,
        stored_credentials: bool,
    ) -> Result<Response, SendError> {
        let end = Instant::now() + deadline;
        let mut tried = Tried::default();
        loop {
            // Any change of the view from here on (a stream or the poll naming a new leader)
            // ends the wait below at once.
            let mut changed = self.subscribe();
            let pass = match self
                .try_members(&build, retry, end, stored_credentials, &mut tried)
                .await
            {
                Outcome::Done(result) => return result,
                Outcome::Failed(pass) => pass,
            };
            if self.give_up(end, &pass, &tried) {
                break;
            }
            self.wait_for_news(&mut changed).await;
        }
        if let Some(resp) = tried.last_resp {
            return Ok(resp);
        }
        Err(tried
            .last
            .unwrap_or_else(|| SendError::Unavailable(self.id.clone())))
    }

    /// One pass over the members (the leader first): the answer to return, or how they all
    /// failed.
    async fn try_members(
        &self,
        build: &impl Fn(&str) -> RequestBuilder,
        retry: Retry,
        end: Instant,
        stored_credentials: bool,
        tried: &mut Tried,
    ) -> Outcome {
        let targets = self.targets();
        let mut pass = Pass {
            all_refused: !targets.is_empty(),
            all_untrusted: !targets.is_empty(),
        };
        for url in &targets {
            let req = if stored_credentials {
                self.authorize(build(url))
            } else {
                build(url)
            };
            match req.send().await {
                Ok(resp) => {
                    pass.all_refused = false;
                    pass.all_untrusted = false;
                    self.note_response(&resp);
                    if unavailable(&resp) && retry == Retry::Idempotent && Instant::now() < end {
                        tracing::debug!(endpoint = %self.id, %url, status = %resp.status(), "member unavailable; trying another");
                        tried.last_resp = Some(resp);
                        continue;
                    }
                    return Outcome::Done(Ok(resp));
                }
                Err(e) => {
                    // A refused certificate: the request never left (like a refused
                    // connection), and waiting will not change the certificate.
                    let untrusted = trust::untrusted(&e).is_some();
                    let refused = e.is_connect() || untrusted;
                    pass.all_refused &= refused;
                    pass.all_untrusted &= untrusted;
                    let failed = self.failed(url, &e);
                    if !(refused || retry == Retry::Idempotent) {
                        return Outcome::Done(Err(failed));
                    }
                    tried.last = Some(failed);
                }
            }
        }
        Outcome::Failed(pass)
    }

    /// Records a member's failed request and says what failed.
    fn failed(&self, url: &str, e: &reqwest::Error) -> SendError {
        let message = trust::describe(e);
        tracing::debug!(endpoint = %self.id, %url, error = %message, "request failed");
        self.note_down(url);
        SendError::Failed {
            url: url.to_owned(),
            message,
        }
    }

    /// Whether to stop after a pass in which no member gave an answer to return.
    fn give_up(&self, end: Instant, pass: &Pass, tried: &Tried) -> bool {
        if Instant::now() >= end || (pass.all_untrusted && tried.last_resp.is_none()) {
            return true;
        }
        // Nothing answers at all (not a failover, where the others still do): give up
        // rather than hold the caller.
        let view = self.view();
        pass.all_refused && view.polled && view.reachable.is_empty() && tried.last_resp.is_none()
    }

    /// Waits until the view changes, at most a short while.
    async fn wait_for_news(&self, changed: &mut watch::Receiver<u64>) {
        let wait = if self.pushing() {
            RETRY_WHILE_PUSHED
        } else {
            self.poke();
            RETRY_EVERY
        };
        let _ = tokio::time::timeout(wait, changed.changed()).await;
    }

    /// A JSON call with failover; non-2xx replies are errors carrying the body.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
        timeout: Duration,
        deadline: Duration,
    ) -> Result<(StatusCode, Value), SendError> {
        let retry = if method == Method::GET || !extra.is_empty() {
            Retry::Idempotent
        } else {
            Retry::ConnectOnly
        };
        let client = self.client();
        let resp = self
            .send(
                |base| {
                    let mut r = client
                        .request(method.clone(), format!("{base}{path}"))
                        .timeout(timeout);
                    for (k, v) in extra {
                        r = r.header(*k, *v);
                    }
                    if let Some(b) = body {
                        r = r.json(b);
                    }
                    r
                },
                retry,
                deadline,
            )
            .await?;
        let status = resp.status();
        let url = resp.url().to_string();
        let bytes = resp.bytes().await.map_err(|e| SendError::Failed {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok((status, value))
    }
}
