//! `GET /metrics`, request latency by route template, and the optional `--metrics-listen`.
//!
//! On the API port `/metrics` goes through the API's authentication like any call: it needs
//! a claim on scope `metrics` (action `list`; the admin and `superuser` have it).
//! `--metrics-listen ADDR` serves the same text without credentials on a plain-HTTP listener
//! of its own, for a scraper on loopback or on a private scrape network.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

use super::raft_gauges::{self, RaftSample};
use super::{global, CollectionLabels, RouteLabels, StateLabels};
use crate::store::ObjectStore;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Router layer: one observation per request, labelled by the matched route template.
pub async fn track_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| route_label(p.as_str()));
    let resp = next.run(req).await;
    global()
        .http_requests
        .get_or_create(&RouteLabels {
            method,
            route,
            status: resp.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// `/api/v3/{collection}/{key}` as `/api/v3/:collection/:key`: braces inside a label value
/// trip simple text-format parsers.
fn route_label(template: &str) -> String {
    template.replace('{', ":").replace('}', "")
}

/// Methods outside the API's own collapse into one label value, keeping the set bounded.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// What a scrape reads besides the counters: the store, for the per-collection counts, and
/// a sampler of the Raft state, which the node provides (axum state built from it).
#[derive(Clone)]
pub struct ScrapeSource {
    pub store: ObjectStore,
    pub raft: Arc<dyn Fn() -> RaftSample + Send + Sync>,
}

/// The `/metrics` handler.
pub async fn scrape(State(source): State<ScrapeSource>) -> Response {
    raft_gauges::set(&(source.raft)());
    let store = source.store;
    // The per-collection counts read the store: off the async workers.
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || refresh_store(&store)).await {
        tracing::debug!(error = %e, "reading the store for metrics");
    }
    let mut resp = global().encode().into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

fn refresh_store(store: &ObjectStore) -> Result<(), crate::store::StoreError> {
    let g = global();
    for c in crate::model::COLLECTIONS {
        let n = store.count(c.name)?;
        g.objects
            .get_or_create(&CollectionLabels {
                collection: c.name.to_string(),
            })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    for (collection, family) in [("jobs", &g.jobs), ("leases", &g.leases)] {
        let mut by_state: BTreeMap<String, i64> = BTreeMap::new();
        for item in store.list(collection, 0, None)?.items {
            let state = item
                .get("State")
                .and_then(serde_json::Value::as_str)
                .map(bounded_state)
                .unwrap_or("unknown");
            *by_state.entry(state.to_string()).or_default() += 1;
        }
        family.clear();
        for (state, n) in by_state {
            family.get_or_create(&StateLabels { state }).set(n);
        }
    }
    Ok(())
}

/// DRP's job and lease states; anything else is `other`, so a client cannot grow the label set.
fn bounded_state(s: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "created",
        "running",
        "finished",
        "failed",
        "incomplete",
        "waiting",
        "canceled",
        "offered",
        "acked",
        "expired",
        "nak",
        "discovered",
        "reserved",
    ];
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(s))
        .copied()
        .unwrap_or("other")
}

/// `--metrics-listen` could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("binding --metrics-listen {addr}: {why}")]
pub struct BindError {
    addr: SocketAddr,
    why: std::io::Error,
}

/// `--metrics-listen`: `/metrics` alone, without credentials, over plain HTTP.
pub async fn serve_plain(
    addr: SocketAddr,
    source: ScrapeSource,
    mut shutdown: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, BindError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|why| BindError { addr, why })?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "metrics served without credentials on a non-loopback address");
    }
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(source);
    Ok(tokio::spawn(async move {
        let stopped = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(error = %e, "metrics listener");
        }
    }))
}
