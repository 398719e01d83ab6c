//! Requests to a cluster's leader that follow failover: the leader first, then the other
//! members and the seeds, until a deadline.

use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

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
        let mut last: Option<SendError> = None;
        let mut last_resp: Option<Response> = None;
        loop {
            // Any change of the view from here on (a stream or the poll naming a new leader)
            // ends the wait below at once.
            let mut changed = self.subscribe();
            let targets = self.targets();
            let mut all_refused = !targets.is_empty();
            let mut all_untrusted = !targets.is_empty();
            for url in &targets {
                let req = if stored_credentials {
                    self.authorize(build(url))
                } else {
                    build(url)
                };
                match req.send().await {
                    Ok(resp) => {
                        all_refused = false;
                        all_untrusted = false;
                        self.note_response(&resp);
                        let unavailable = matches!(
                            resp.status(),
                            StatusCode::BAD_GATEWAY
                                | StatusCode::SERVICE_UNAVAILABLE
                                | StatusCode::GATEWAY_TIMEOUT
                        );
                        if unavailable && retry == Retry::Idempotent && Instant::now() < end {
                            tracing::debug!(endpoint = %self.id, %url, status = %resp.status(), "member unavailable; trying another");
                            last_resp = Some(resp);
                            continue;
                        }
                        return Ok(resp);
                    }
                    Err(e) => {
                        // A refused certificate: the request never left (like a refused
                        // connection), and waiting will not change the certificate.
                        let untrusted = trust::untrusted(&e).is_some();
                        let refused = e.is_connect() || untrusted;
                        all_refused &= refused;
                        all_untrusted &= untrusted;
                        let message = trust::describe(&e);
                        tracing::debug!(endpoint = %self.id, %url, error = %message, "request failed");
                        self.note_down(url);
                        last = Some(SendError::Failed {
                            url: url.clone(),
                            message,
                        });
                        if !(refused || retry == Retry::Idempotent) {
                            return Err(
                                last.unwrap_or_else(|| SendError::Unavailable(self.id.clone()))
                            );
                        }
                    }
                }
            }
            if Instant::now() >= end || (all_untrusted && last_resp.is_none()) {
                break;
            }
            // Nothing answers at all (not a failover, where the others still do): give up
            // rather than hold the caller.
            let view = self.view();
            if all_refused && view.polled && view.reachable.is_empty() && last_resp.is_none() {
                break;
            }
            let wait = if self.pushing() {
                RETRY_WHILE_PUSHED
            } else {
                self.poke();
                RETRY_EVERY
            };
            let _ = tokio::time::timeout(wait, changed.changed()).await;
        }
        if let Some(resp) = last_resp {
            return Ok(resp);
        }
        Err(last.unwrap_or_else(|| SendError::Unavailable(self.id.clone())))
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
