//! Serves an axum `Router` over guarded connections: the first request's headers must arrive
//! within the header deadline, kept-alive connections close after the idle timeout, request
//! bodies are held to the minimum rate, and a connection the registry sheds closes gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::accept::{handshake, spawn_accept, LiveConfig};
use crate::body_rate::MinRate;
use crate::limits::ConnLimits;
use crate::registry::{ConnState, Registry, Slot};

/// HTTP/2 streams per connection at once.
const MAX_H2_STREAMS: u32 = 128;

/// A running guarded HTTP listener.
pub struct Served {
    /// The listener's connection registry, for counters and live limits.
    pub registry: Arc<Registry>,
    /// Ends once `shutdown` has fired and every connection has closed.
    pub task: JoinHandle<()>,
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `shutdown`.
pub fn serve(
    listener: TcpListener,
    tls: Option<LiveConfig>,
    app: Router,
    limits: ConnLimits,
    shutdown: watch::Receiver<bool>,
    what: &'static str,
) -> Served {
    let registry = Registry::new(limits);
    let accept = {
        let registry = registry.clone();
        let shutdown = shutdown.clone();
        spawn_accept(
            listener,
            registry.clone(),
            shutdown.clone(),
            what,
            move |tcp, slot| {
                let (app, tls, shutdown) = (app.clone(), tls.clone(), shutdown.clone());
                let limits = registry.limits().clone();
                async move {
                    match tls {
                        None => serve_conn(tcp, app, slot, limits, shutdown).await,
                        Some(config) => {
                            let timeout = limits.handshake_timeout;
                            if let Some(io) = handshake(tcp, &config, &slot, timeout, what).await {
                                serve_conn(io, app, slot, limits, shutdown).await
                            }
                        }
                    }
                }
            },
        )
    };
    let task = {
        let registry = registry.clone();
        tokio::spawn(async move {
            let _ = accept.await;
            // Connections close gracefully on shutdown; wait for them (the caller bounds it).
            while registry.counters().open > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    Served { registry, task }
}

/// What the deadline watch decides when it wakes.
enum Due {
    /// Busy or not due yet: look again at this instant.
    Later(Instant),
    /// No complete first request within the header deadline: cut.
    HeaderTimeout,
    /// Kept alive with nothing to do for the idle timeout: close gracefully.
    Idle,
}

fn due(state: &ConnState, limits: &ConnLimits) -> Due {
    let now = Instant::now();
    if state.in_flight() > 0 {
        return Due::Later(now + limits.idle_timeout);
    }
    let since: Instant = state.last_active().into();
    let (at, verdict) = if state.served() == 0 {
        (since + limits.header_timeout, Due::HeaderTimeout)
    } else {
        (since + limits.idle_timeout, Due::Idle)
    };
    if at <= now {
        verdict
    } else {
        Due::Later(at)
    }
}

async fn serve_conn<I>(
    io: I,
    app: Router,
    slot: Slot,
    limits: ConnLimits,
    mut shutdown: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = slot.state().clone();
    let peer = slot.peer();
    let (min_rate, grace) = (limits.min_body_rate, limits.body_grace);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let in_flight = slot.state().begin();
        let (app, slot) = (app.clone(), slot.clone());
        async move {
            let mut req = req.map(|b| axum::body::Body::new(MinRate::new(b, min_rate, grace)));
            req.extensions_mut().insert(ConnectInfo(slot.peer()));
            req.extensions_mut().insert(slot);
            let resp = app.oneshot(req).await;
            drop(in_flight);
            resp
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's header timer also runs while a kept-alive connection waits for its next request,
    // so it bounds later requests' headers and idle HTTP/1 connections alike.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_H2_STREAMS);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut closing = false;
    let mut wake = Instant::now();
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = tokio::time::sleep_until(wake), if !closing => match due(&state, &limits) {
                Due::Later(at) => wake = at,
                Due::HeaderTimeout => {
                    tracing::debug!(%peer, "no request headers within the header deadline; closed");
                    return;
                }
                Due::Idle => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            },
            _ = state.shed_requested(), if !closing => {
                tracing::debug!(%peer, "idle connection shed to make room");
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = shutdown.changed(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// The peer address axum handlers see through `ConnectInfo`, for routers served elsewhere.
pub fn peer_of<B>(req: &http::Request<B>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}
