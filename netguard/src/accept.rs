//! The accept loop: it only accepts, admits (or refuses) against the [`Registry`] and hands
//! each admitted connection to a task of its own, so no slow client can hold it up. TLS
//! handshakes run in those tasks, each under a deadline, and give way when the registry needs
//! their slot.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::registry::{Refusal, Registry, Slot};

/// The server config a TLS listener uses now; send a new one to rotate its certificate (new
/// connections get it at once, open ones carry on).
pub type LiveConfig = watch::Receiver<Arc<rustls::ServerConfig>>;

/// How often refusals are summed up in the log (one line, not one per connection).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Accepts on `listener` until `shutdown`; every admitted connection goes to `handle` in a
/// task of its own. Refused connections are closed at once, before any TLS work.
pub fn spawn_accept<F, Fut>(
    listener: TcpListener,
    registry: Arc<Registry>,
    mut shutdown: watch::Receiver<bool>,
    what: &'static str,
    handle: F,
) -> JoinHandle<()>
where
    F: Fn(TcpStream, Slot) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut refusals = RefusalLog::new(what);
        loop {
            let (tcp, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, listener = what, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.changed() => return,
            };
            match registry.admit(peer) {
                Ok(slot) => {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(error = %e, "TCP_NODELAY");
                    }
                    tokio::spawn(handle(tcp, slot));
                }
                Err(why) => refusals.note(why, &registry),
            }
        }
    })
}

/// Called with the listener's name on every refused or timed-out TLS handshake; set once by the
/// binary (a metrics counter lives above this crate, which must not depend on it).
static HANDSHAKE_FAILURE_HOOK: std::sync::OnceLock<fn(&'static str)> = std::sync::OnceLock::new();

/// Install the hook told of each failed TLS handshake (the first call wins).
pub fn on_handshake_failure(hook: fn(&'static str)) {
    let _ = HANDSHAKE_FAILURE_HOOK.set(hook);
}

fn note_handshake_failure(what: &'static str) {
    if let Some(hook) = HANDSHAKE_FAILURE_HOOK.get() {
        hook(what);
    }
}

/// The TLS handshake of an admitted connection, bounded by `timeout`; `None` when it failed,
/// timed out or the registry shed the connection first.
pub async fn handshake(
    tcp: TcpStream,
    config: &LiveConfig,
    slot: &Slot,
    timeout: Duration,
    what: &'static str,
) -> Option<TlsStream<TcpStream>> {
    let acceptor = TlsAcceptor::from(config.borrow().clone());
    let peer = slot.peer();
    tokio::select! {
        r = tokio::time::timeout(timeout, acceptor.accept(tcp)) => match r {
            Ok(Ok(tls)) => {
                slot.state().touch();
                Some(tls)
            }
            Ok(Err(e)) => {
                note_handshake_failure(what);
                tracing::debug!(%peer, error = %e, listener = what, "TLS handshake refused");
                None
            }
            Err(_) => {
                note_handshake_failure(what);
                tracing::debug!(%peer, listener = what, "TLS handshake timed out");
                None
            }
        },
        _ = slot.state().shed_requested() => None,
    }
}

/// Sums refusals into one warning per [`REFUSAL_LOG_EVERY`].
struct RefusalLog {
    what: &'static str,
    last: Instant,
    since: u64,
}

impl RefusalLog {
    fn new(what: &'static str) -> Self {
        RefusalLog {
            what,
            last: Instant::now(),
            since: 0,
        }
    }

    fn note(&mut self, why: Refusal, registry: &Registry) {
        self.since += 1;
        if self.last.elapsed() >= REFUSAL_LOG_EVERY {
            let c = registry.counters();
            tracing::warn!(
                listener = self.what,
                refused = self.since,
                last_reason = ?why,
                open = c.open,
                refused_per_source = c.refused_per_source,
                refused_rate = c.refused_rate,
                refused_full = c.refused_full,
                shed = c.shed,
                "connections refused at accept (limits)"
            );
            self.last = Instant::now();
            self.since = 0;
        }
    }
}
