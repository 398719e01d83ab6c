//! An axum middleware that rate-limits requests by a key taken from the request (a source
//! address, a user), answering past the limit with 429, `Retry-After` and DRP's error shape
//! `{"Model","Key","Type","Messages","Code"}`.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::rate::{retry_after_secs, RateLimiter};
use crate::registry::SourceKey;

/// A rate limit on the requests `key_of` gives a key for (`None`: not counted).
pub struct RequestLimit<K> {
    /// What the key is, for the message ("user", "source address").
    per: &'static str,
    rate: u32,
    limiter: RateLimiter<K>,
    key_of: fn(&Request) -> Option<K>,
}

impl<K: Hash + Eq + Clone + std::fmt::Display> RequestLimit<K> {
    /// `rate` requests per second per key, in bursts of twice as many; `None` when `rate` is 0
    /// (unlimited).
    pub fn new(
        per: &'static str,
        rate: u32,
        key_of: fn(&Request) -> Option<K>,
    ) -> Option<Arc<Self>> {
        (rate > 0).then(|| {
            Arc::new(RequestLimit {
                per,
                rate,
                limiter: RateLimiter::new(f64::from(rate), 2.0 * f64::from(rate)),
                key_of,
            })
        })
    }
}

/// The middleware: `axum::middleware::from_fn_with_state(limit, enforce::<K>)`; a `None`
/// limit lets everything through.
pub async fn enforce<K>(
    State(limit): State<Option<Arc<RequestLimit<K>>>>,
    req: Request,
    next: Next,
) -> Response
where
    K: Hash + Eq + Clone + std::fmt::Display + Send + Sync + 'static,
{
    if let Some(limit) = &limit {
        if let Some(key) = (limit.key_of)(&req) {
            if let Err(wait) = limit.limiter.check(&key) {
                return too_many(
                    limit.per,
                    &key.to_string(),
                    limit.rate,
                    retry_after_secs(wait),
                );
            }
        }
    }
    next.run(req).await
}

fn too_many(per: &str, key: &str, rate: u32, retry_after: u64) -> Response {
    let body = serde_json::json!({
        "Model": "ratelimit",
        "Key": key,
        "Type": "API_ERROR",
        "Messages": [format!(
            "rate limit of {rate} requests/s per {per} exceeded; retry in {retry_after} s"
        )],
        "Code": 429,
    });
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    resp
}

/// A source address as the limits count it ([`SourceKey`]: IPv6 per /64), shown as the
/// address seen.
#[derive(Clone, Copy, Debug)]
pub struct SourceIp(SourceKey, IpAddr);

impl SourceIp {
    /// The source `ip` is counted as, remembering `ip` itself for display.
    pub fn of(ip: IpAddr) -> SourceIp {
        SourceIp(SourceKey::of(ip), ip)
    }

    /// The source of a request served by [`crate::serve`] (its `ConnectInfo`).
    pub fn of_request(req: &Request) -> Option<SourceIp> {
        let peer = req.extensions().get::<ConnectInfo<SocketAddr>>()?;
        Some(SourceIp::of(peer.0.ip()))
    }
}

impl PartialEq for SourceIp {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for SourceIp {}

impl Hash for SourceIp {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl std::fmt::Display for SourceIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.1.fmt(f)
    }
}
