//! The attacks. Each runs until `until`, from [`super::ATTACKER_IP`], and returns one line
//! saying what the attacker saw. Counts and rates are fixed (see [`super::Attack`]), so every
//! attack is bounded in connections and time.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

use super::{Attack, Target, ATTACKER_IP, MALLORY, MALLORY_PASSWORD};

/// A rustls client trusting `ca_pem` (the harness CA the members' API certificate chains to).
pub fn client_tls(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.context("CA PEM")?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

pub async fn run(attack: Attack, target: &Target, until: Instant) -> String {
    match attack {
        Attack::IdleConns => idle_conns(target, until, 10_000).await,
        Attack::SlowHeaders => slow_headers(target, until, 1_000).await,
        Attack::HandshakeFlood => handshake_flood(target, until, 64).await,
        Attack::UserRate => user_rate(target, until, 200).await,
        Attack::IdleWebsockets => idle_websockets(target, until, 1_000).await,
        Attack::ConsensusJunk => consensus_junk(target, until, 1_000).await,
    }
}

async fn connect(to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(ATTACKER_IP, 0))?;
    tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))?
}

async fn tls_connect(
    target: &Target,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = connect(target.api).await?;
    let name = ServerName::try_from("127.0.0.1").map_err(std::io::Error::other)?;
    tokio::time::timeout(
        Duration::from_secs(10),
        TlsConnector::from(target.tls.clone()).connect(name, tcp),
    )
    .await
    .map_err(|_| std::io::Error::other("handshake timed out"))?
}

/// Waits until the peer closes `conn` or `until`; true when the peer closed it.
async fn held_until_closed<S: AsyncRead + Unpin>(conn: &mut S, until: Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(until.into(), conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Counters every attack keeps.
#[derive(Default)]
struct Tally {
    attempts: AtomicU64,
    held: AtomicU64,
    held_peak: AtomicU64,
    closed_by_server: AtomicU64,
    failed: AtomicU64,
}

impl Tally {
    fn hold(&self) {
        let now = self.held.fetch_add(1, Ordering::Relaxed) + 1;
        self.held_peak.fetch_max(now, Ordering::Relaxed);
    }
    fn release(&self) {
        self.held.fetch_sub(1, Ordering::Relaxed);
    }
    fn line(&self, what: &str) -> String {
        format!(
            "{} {what} attempts, peak {} open at once, {} closed by the server, {} failed to connect",
            self.attempts.load(Ordering::Relaxed),
            self.held_peak.load(Ordering::Relaxed),
            self.closed_by_server.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// `n` workers started over the first second, each running `worker(i)` until `until`.
async fn workers<F, Fut>(n: usize, until: Instant, worker: F)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let ramp = Duration::from_secs(1).as_secs_f64() / n.max(1) as f64;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let fut = worker(i);
        let at = start + Duration::from_secs_f64(ramp * i as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            if Instant::now() < until {
                fut.await
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn idle_conns(target: &Target, until: Instant, n: usize) -> String {
    let tally = Arc::new(Tally::default());
    let api = target.api;
    workers(n, until, |_| {
        let tally = tally.clone();
        async move {
            while Instant::now() < until {
                tally.attempts.fetch_add(1, Ordering::Relaxed);
                match connect(api).await {
                    Ok(mut conn) => {
                        tally.hold();
                        let closed = held_until_closed(&mut conn, until).await;
                        tally.release();
                        if closed {
                            tally.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        tally.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    })
    .await;
    tally.line("connection")
}

async fn slow_headers(target: &Target, until: Instant, n: usize) -> String {
    let tally = Arc::new(Tally::default());
    workers(n, until, |_| {
        let (tally, target) = (tally.clone(), target.clone());
        async move {
            while Instant::now() < until {
                tally.attempts.fetch_add(1, Ordering::Relaxed);
                let Ok(mut conn) = tls_connect(&target).await else {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                };
                tally.hold();
                let mut closed = conn
                    .write_all(b"GET /api/v3/info HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    .await
                    .is_err();
                while !closed && Instant::now() < until {
                    let next = (Instant::now() + Duration::from_secs(1)).min(until);
                    // A read returning means the server answered or closed: either ends it.
                    closed = held_until_closed(&mut conn, next).await
                        || conn.write_all(b"X-Slow: 1\r\n").await.is_err();
                }
                tally.release();
                if closed {
                    tally.closed_by_server.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    })
    .await;
    tally.line("slow-header connection")
}

async fn handshake_flood(target: &Target, until: Instant, n: usize) -> String {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    workers(n, until, |_| {
        let (done, failed, target) = (done.clone(), failed.clone(), target.clone());
        async move {
            while Instant::now() < until {
                match tls_connect(&target).await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }
    })
    .await;
    format!(
        "{} handshakes completed, {} refused or failed",
        done.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    )
}

async fn user_rate(target: &Target, until: Instant, per_sec: u64) -> String {
    let client = match reqwest::Client::builder()
        .local_address(ATTACKER_IP)
        .add_root_certificate(
            match reqwest::Certificate::from_pem(target.ca_pem.as_bytes()) {
                Ok(c) => c,
                Err(e) => return format!("no client: {e}"),
            },
        )
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => return format!("no client: {e}"),
    };
    let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        String,
        u64,
    >::new()));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_sec as f64));
    let mut tasks = Vec::new();
    while Instant::now() < until {
        tick.tick().await;
        let (client, statuses) = (client.clone(), statuses.clone());
        let url = format!("{}/profiles", target.base);
        tasks.push(tokio::spawn(async move {
            let key = match client
                .get(url)
                .basic_auth(MALLORY, Some(MALLORY_PASSWORD))
                .send()
                .await
            {
                Ok(r) => r.status().as_u16().to_string(),
                Err(_) => "error".to_string(),
            };
            if let Ok(mut s) = statuses.lock() {
                *s.entry(key).or_default() += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let s = statuses.lock().map(|s| s.clone()).unwrap_or_default();
    let parts: Vec<String> = s.iter().map(|(k, v)| format!("{v}× {k}")).collect();
    format!("{per_sec} req/s as {MALLORY}: {}", parts.join(", "))
}

async fn idle_websockets(target: &Target, until: Instant, n: usize) -> String {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let tally = Arc::new(Tally::default());
    let refused = Arc::new(AtomicU64::new(0));
    workers(n, until, |_| {
        let (tally, refused, target) = (tally.clone(), refused.clone(), target.clone());
        async move {
            tally.attempts.fetch_add(1, Ordering::Relaxed);
            let Ok(tls) = tls_connect(&target).await else {
                tally.failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let url = format!("wss://{}/api/v3/ws", target.api);
            let Ok(mut req) = url.into_client_request() else {
                return;
            };
            let cred = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{MALLORY}:{MALLORY_PASSWORD}"),
            );
            if let Ok(v) = format!("Basic {cred}").parse() {
                req.headers_mut().insert("authorization", v);
            }
            let Ok((mut ws, _)) = tokio_tungstenite::client_async(req, tls).await else {
                refused.fetch_add(1, Ordering::Relaxed);
                return;
            };
            tally.hold();
            let _ = futures::SinkExt::send(&mut ws, Message::text("register profiles.*.*")).await;
            // Never read again: events pile up on the server's side of this socket.
            tokio::time::sleep_until(until.into()).await;
            drop(ws);
            tally.release();
        }
    })
    .await;
    format!(
        "{}, {} upgrades refused",
        tally.line("websocket"),
        refused.load(Ordering::Relaxed)
    )
}

async fn consensus_junk(target: &Target, until: Instant, n: usize) -> String {
    let tally = Arc::new(Tally::default());
    let to = target.consensus;
    workers(n, until, |i| {
        let tally = tally.clone();
        async move {
            let junk: Vec<u8> = (0..4096u32)
                .map(|b| (b.wrapping_mul(2654435761) >> 13) as u8)
                .collect();
            while Instant::now() < until {
                tally.attempts.fetch_add(1, Ordering::Relaxed);
                let Ok(mut conn) = connect(to).await else {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                };
                tally.hold();
                // Half send a TLS ClientHello-looking prefix, half raw junk; all keep writing.
                let prefix: &[u8] = if i % 2 == 0 {
                    &[0x16, 0x03, 0x01, 0x02, 0x00]
                } else {
                    b""
                };
                let mut closed = conn.write_all(prefix).await.is_err();
                while !closed && Instant::now() < until {
                    if conn.write_all(&junk).await.is_err() {
                        closed = true;
                        break;
                    }
                    let next = (Instant::now() + Duration::from_millis(500)).min(until);
                    closed = held_until_closed(&mut conn, next).await;
                }
                tally.release();
                if closed {
                    tally.closed_by_server.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    })
    .await;
    tally.line("junk connection")
}
