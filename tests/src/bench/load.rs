//! The closed-loop load generator shared by both systems: `clients` tasks, each sending its own
//! request shape back to back; latencies are kept for requests sent after the warm-up and
//! answered before the end of the measured window.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use serde::Serialize;

use crate::stats::percentile;

/// One HTTP request shape.
#[derive(Clone, Debug)]
pub struct Op {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
}

impl Op {
    pub fn new(method: Method, url: impl Into<String>) -> Op {
        Op {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: None,
        }
    }

    pub fn header(mut self, k: &'static str, v: &str) -> Result<Op> {
        self.headers.insert(
            HeaderName::from_static(k),
            HeaderValue::from_str(v).with_context(|| format!("header {k}"))?,
        );
        Ok(self)
    }

    pub fn headers(mut self, h: &HeaderMap) -> Op {
        for (k, v) in h {
            self.headers.insert(k.clone(), v.clone());
        }
        self
    }

    pub fn json_body(mut self, body: Vec<u8>) -> Op {
        self.headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.body = Some(body);
        self
    }

    /// Send it with `timeout` and read the whole body: `(status, body)`.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>)> {
        let mut rb = client
            .request(self.method.clone(), &self.url)
            .headers(self.headers.clone())
            .timeout(timeout);
        if let Some(b) = &self.body {
            rb = rb.body(b.clone());
        }
        let r = rb
            .send()
            .await
            .with_context(|| format!("{} {}", self.method, self.url))?;
        let status = r.status().as_u16();
        let body = r
            .bytes()
            .await
            .with_context(|| format!("{} {}: body", self.method, self.url))?;
        Ok((status, body.to_vec()))
    }

    /// Send and return Ok only on 2xx.
    pub async fn send_ok(&self, client: &reqwest::Client, timeout: Duration) -> Result<Vec<u8>> {
        let (status, body) = self.send(client, timeout).await?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            anyhow::bail!(
                "{} {} -> {status}: {}",
                self.method,
                self.url,
                crate::http::truncate(&String::from_utf8_lossy(&body), 300)
            )
        }
    }
}

/// The HTTP client of the load generator: keep-alive pool big enough for every client, no
/// proxy, TCP_NODELAY, a backstop timeout (each request also carries its own). It trusts the
/// harness's test CA (our clusters) and the bench's etcd CA.
pub fn client() -> Result<reqwest::Client> {
    let ca = reqwest::Certificate::from_pem(crate::tls::test_tls().ca_pem.as_bytes())
        .context("the harness CA")?;
    let etcd_ca = reqwest::Certificate::from_pem(super::etcd_tls::etcd_tls()?.ca_pem.as_bytes())
        .context("the bench's etcd CA")?;
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .add_root_certificate(etcd_ca)
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .no_proxy()
        .build()
        .context("building the bench HTTP client")
}

/// How a load runs.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub clients: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// What one load run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadStats {
    pub clients: usize,
    pub ok: usize,
    pub errors: usize,
    pub secs: f64,
    pub per_sec: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub first_error: Option<String>,
}

fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1000.0)
}

impl LoadStats {
    pub fn from_samples(clients: usize, samples: &[Duration], errors: usize, secs: f64) -> Self {
        LoadStats {
            clients,
            ok: samples.len(),
            errors,
            secs,
            per_sec: if secs > 0.0 {
                samples.len() as f64 / secs
            } else {
                0.0
            },
            p50_ms: ms(percentile(samples, 50.0)),
            p99_ms: ms(percentile(samples, 99.0)),
            first_error: None,
        }
    }
}

/// Run `shape.clients` closed-loop clients; client `i` sends `ops[i % ops.len()]`.
pub async fn run(client: &reqwest::Client, ops: Vec<Op>, shape: Shape) -> Result<LoadStats> {
    anyhow::ensure!(!ops.is_empty(), "no request shape");
    let ops = Arc::new(ops);
    let start = Instant::now();
    let warm_end = start + shape.warmup;
    let end = warm_end + shape.measure;
    let mut tasks = Vec::new();
    for i in 0..shape.clients.max(1) {
        let (client, ops) = (client.clone(), ops.clone());
        tasks.push(tokio::spawn(async move {
            let op = &ops[i % ops.len()];
            let mut samples = Vec::new();
            let mut errors = 0usize;
            let mut first_error = None;
            while Instant::now() < end {
                let t = Instant::now();
                let r = op.send_ok(&client, shape.timeout).await;
                let done = Instant::now();
                let counted = t >= warm_end && done <= end;
                match r {
                    Ok(_) if counted => samples.push(done - t),
                    Ok(_) => {}
                    Err(e) => {
                        if counted {
                            errors += 1;
                        }
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (samples, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        let (s, e, f) = t.await.context("load task panicked")?;
        all.extend(s);
        errors += e;
        if first_error.is_none() {
            first_error = f;
        }
    }
    let mut stats =
        LoadStats::from_samples(shape.clients, &all, errors, shape.measure.as_secs_f64());
    stats.first_error = first_error;
    Ok(stats)
}

/// Send `n` requests (`make(i)` for i in 0..n) with `clients` concurrent clients, retrying a
/// failed request (up to `deadline` overall). Returns the achieved rate (requests/s).
pub async fn run_count(
    client: &reqwest::Client,
    make: Arc<dyn Fn(usize) -> Op + Send + Sync>,
    n: usize,
    clients: usize,
    timeout: Duration,
    deadline: Duration,
) -> Result<LoadStats> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (client, make, next) = (client.clone(), make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let op = make(i);
                loop {
                    let t = Instant::now();
                    match op.send_ok(&client, timeout).await {
                        Ok(_) => {
                            samples.push(t.elapsed());
                            break;
                        }
                        Err(e) => {
                            errors += 1;
                            if start.elapsed() > deadline {
                                anyhow::bail!("still failing after {deadline:?}: {e:#}");
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }
            Ok::<_, anyhow::Error>((samples, errors))
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (s, e) = t.await.context("load task panicked")??;
        all.extend(s);
        errors += e;
    }
    Ok(LoadStats::from_samples(
        clients,
        &all,
        errors,
        start.elapsed().as_secs_f64(),
    ))
}
