//! Prometheus metrics of the manager, served as `GET /metrics` (OpenMetrics text).
//!
//! Event counters (leader changes seen, applies, drift, gateway calls) are bumped by one-call
//! hooks where those things happen; the per-endpoint gauges are read from the registry and
//! the trackers at scrape time. Labels are bounded: endpoint ids (the operator's own list),
//! status codes and fixed result words.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::http::AppState;
use crate::state::Manager;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApplyLabels {
    pub endpoint: String,
    /// `ok`, `refused` (the endpoint answered 4xx/5xx) or `failed` (no answer).
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    /// `tracker`, `reconciler` or `replica`.
    pub task: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: u16,
}

pub struct ManagerMetrics {
    registry: Registry,
    pub endpoint_up: Family<EndpointLabels, Gauge>,
    pub members_up: Family<EndpointLabels, Gauge>,
    pub members_total: Family<EndpointLabels, Gauge>,
    pub in_sync: Family<EndpointLabels, Gauge>,
    pub actions_pending: Family<EndpointLabels, Gauge>,
    pub leader_changes: Family<EndpointLabels, Counter>,
    pub drift_detections: Family<EndpointLabels, Counter>,
    pub apply_seconds: Family<ApplyLabels, Histogram, fn() -> Histogram>,
    pub applied_commit_age: Family<EndpointLabels, Gauge>,
    pub git_good_commit_age: Gauge,
    pub git_rejected: Gauge,
    pub gateway_seconds: Family<StatusLabels, Histogram, fn() -> Histogram>,
    pub task_panics: Family<TaskLabels, Counter>,
    /// When this manager first saw each commit (commit ages are measured from it).
    first_seen: Mutex<HashMap<String, SystemTime>>,
}

fn latency() -> Histogram {
    // 1 ms .. ~33 s: gateway calls and VersionSet applies (which may fetch files).
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl ManagerMetrics {
    fn new() -> Self {
        let mut r = Registry::with_prefix("drp_manager");
        let m = Self {
            registry: Registry::default(),
            endpoint_up: Family::default(),
            members_up: Family::default(),
            members_total: Family::default(),
            in_sync: Family::default(),
            actions_pending: Family::default(),
            leader_changes: Family::default(),
            drift_detections: Family::default(),
            apply_seconds: Family::new_with_constructor(latency),
            applied_commit_age: Family::default(),
            git_good_commit_age: Gauge::default(),
            git_rejected: Gauge::default(),
            gateway_seconds: Family::new_with_constructor(latency),
            task_panics: Family::default(),
            first_seen: Mutex::new(HashMap::new()),
        };
        r.register(
            "endpoint_up",
            "1 while the manager reaches the endpoint's leader",
            m.endpoint_up.clone(),
        );
        r.register(
            "endpoint_members_up",
            "Members answering",
            m.members_up.clone(),
        );
        r.register(
            "endpoint_members",
            "Members in the cluster's membership",
            m.members_total.clone(),
        );
        r.register(
            "endpoint_in_sync",
            "1 when the applied VersionSet is the desired one",
            m.in_sync.clone(),
        );
        r.register(
            "endpoint_actions_pending",
            "Plan actions not yet applied",
            m.actions_pending.clone(),
        );
        r.register(
            "task_panics",
            "Per-endpoint tasks that panicked and were started again",
            m.task_panics.clone(),
        );
        r.register(
            "endpoint_leader_changes",
            "Leader changes the manager saw",
            m.leader_changes.clone(),
        );
        r.register(
            "endpoint_drift_detections",
            "Times the endpoint drifted from its applied VersionSet and was re-asserted",
            m.drift_detections.clone(),
        );
        r.register(
            "endpoint_apply_seconds",
            "VersionSet applies by result",
            m.apply_seconds.clone(),
        );
        r.register(
            "endpoint_applied_commit_age_seconds",
            "Age of the git commit the endpoint's applied state came from (since this manager first saw it)",
            m.applied_commit_age.clone(),
        );
        r.register(
            "git_good_commit_age_seconds",
            "Age of the last good git commit (since this manager first saw it)",
            m.git_good_commit_age.clone(),
        );
        r.register(
            "git_head_rejected",
            "1 while the branch head is a rejected commit",
            m.git_rejected.clone(),
        );
        r.register(
            "gateway_request_duration_seconds",
            "Calls forwarded to a cluster's leader, by status",
            m.gateway_seconds.clone(),
        );
        Self { registry: r, ..m }
    }

    fn age_of(&self, commit: &str) -> i64 {
        let Ok(mut seen) = self.first_seen.lock() else {
            return 0;
        };
        if seen.len() > 1024 {
            seen.clear();
        }
        let at = *seen
            .entry(commit.to_owned())
            .or_insert_with(SystemTime::now);
        let age = at.elapsed().unwrap_or(Duration::ZERO).as_secs();
        i64::try_from(age).unwrap_or(i64::MAX)
    }

    /// Reads the per-endpoint gauges from the manager's state.
    fn refresh(&self, mgr: &Manager) {
        let git = mgr.registry.git();
        self.git_rejected.set(i64::from(
            git.rejected.is_some() && git.good.as_ref().map(|g| &g.commit) != git.head.as_ref(),
        ));
        if let Some(good) = &git.good {
            self.git_good_commit_age.set(self.age_of(&good.commit));
        }
        for family in [
            &self.endpoint_up,
            &self.members_up,
            &self.members_total,
            &self.in_sync,
            &self.actions_pending,
            &self.applied_commit_age,
        ] {
            family.clear();
        }
        for id in mgr.effective_endpoints().into_keys() {
            let o = crate::http::live_observed(mgr, &id);
            let l = EndpointLabels { endpoint: id };
            let up = o.connection_status.as_deref() == Some(crate::cluster::CONNECTED);
            self.endpoint_up.get_or_create(&l).set(i64::from(up));
            let online = o.members.iter().filter(|m| m.online).count();
            self.members_up.get_or_create(&l).set(online as i64);
            self.members_total
                .get_or_create(&l)
                .set(o.members.len() as i64);
            let synced = o
                .applied
                .as_ref()
                .is_some_and(|a| Some(&a.hash) == o.desired_hash.as_ref());
            self.in_sync.get_or_create(&l).set(i64::from(synced));
            self.actions_pending
                .get_or_create(&l)
                .set(o.actions.len() as i64);
            if let Some(a) = o.applied.as_ref().filter(|a| !a.git_commit.is_empty()) {
                self.applied_commit_age
                    .get_or_create(&l)
                    .set(self.age_of(&a.git_commit));
            }
        }
    }

    fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "encoding metrics");
        }
        out
    }
}

static METRICS: LazyLock<ManagerMetrics> = LazyLock::new(ManagerMetrics::new);

pub fn global() -> &'static ManagerMetrics {
    &METRICS
}

fn labels(endpoint: &str) -> EndpointLabels {
    EndpointLabels {
        endpoint: endpoint.to_owned(),
    }
}

/// The leader each endpoint was last seen with: a failover usually passes through "no
/// reachable leader", so a change is counted against the last leader known, not the last view.
static LAST_LEADER: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Default::default);

/// Hook for the leader tracker: the cluster's view now names `leader` (or no leader).
pub fn leader_seen(endpoint: &str, leader: Option<&str>) {
    let (Some(now), Ok(mut last)) = (leader, LAST_LEADER.lock()) else {
        return;
    };
    if last
        .insert(endpoint.to_owned(), now.to_owned())
        .is_some_and(|before| before != now)
    {
        global()
            .leader_changes
            .get_or_create(&labels(endpoint))
            .inc();
    }
}

/// Hook for the task supervisor: a per-endpoint task panicked and starts again.
pub fn task_restarted(task: &'static str) {
    global()
        .task_panics
        .get_or_create(&TaskLabels { task })
        .inc();
}

/// Hook for the reconciler: drift found and about to be re-asserted.
pub fn drift_detected(endpoint: &str) {
    global()
        .drift_detections
        .get_or_create(&labels(endpoint))
        .inc();
}

/// Hook for the reconciler: one apply ended with `result` after `took`.
pub fn apply_done(endpoint: &str, result: &'static str, took: Duration) {
    global()
        .apply_seconds
        .get_or_create(&ApplyLabels {
            endpoint: endpoint.to_owned(),
            result,
        })
        .observe(took.as_secs_f64());
}

/// The gateway with its latency recorded by status.
pub async fn timed_gateway(state: State<AppState>, req: Request) -> Response {
    let started = Instant::now();
    let resp = crate::http::gateway::handle(state, req).await;
    global()
        .gateway_seconds
        .get_or_create(&StatusLabels {
            status: resp.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// The text of a scrape.
pub fn render(mgr: &Manager) -> Response {
    let m = global();
    m.refresh(mgr);
    let mut resp = m.encode().into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

/// `GET /metrics` on the API port (behind the manager's authentication).
pub async fn scrape(State(st): State<AppState>) -> Response {
    render(&st.mgr)
}

/// `--metrics-listen`: `/metrics` alone, without credentials, over plain HTTP.
pub async fn serve_plain(
    addr: std::net::SocketAddr,
    mgr: Arc<Manager>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "metrics served without credentials on a non-loopback address");
    }
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let mgr = mgr.clone();
            async move { render(&mgr) }
        }),
    );
    Ok(tokio::spawn(async move {
        let stopped = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(error = %e, "metrics listener");
        }
    }))
}
