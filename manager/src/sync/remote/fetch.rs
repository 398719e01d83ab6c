//! Fetching the followed branch into the mirror: one attempt on a blocking thread bounded by
//! the remote's timeout, a few attempts with backoff, one fetch at a time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use gix::remote::Direction;
use gix_transport::client::blocking_io::{connect, http as gix_http, Transport};

use super::http::{chain, Client, Refusal};
use super::{location_scheme, Auth, Remote, Scheme};

/// Attempts per fetch, and the wait before the second (doubled for each further one).
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The poller and a webhook may both fetch; two gix fetches into one mirror would race for
/// its ref locks.
static FETCH_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Why a fetch failed (credentials already scrubbed from every message).
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The mirror could not be created or opened.
    #[error("cannot prepare the mirror {path}: {message}")]
    Mirror {
        /// The mirror.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Connecting, negotiating or receiving the pack failed.
    #[error("fetching {branch} from {url}: {message}")]
    Fetch {
        /// The remote.
        url: String,
        /// The branch.
        branch: String,
        /// Why.
        message: String,
    },
    /// The remote has no such branch.
    #[error("{url} has no branch {branch}")]
    NoBranch {
        /// The remote.
        url: String,
        /// The branch.
        branch: String,
    },
    /// One attempt took longer than the remote's timeout.
    #[error("fetching from {url} took more than {timeout:?}")]
    TimedOut {
        /// The remote.
        url: String,
        /// The limit.
        timeout: Duration,
    },
    /// The blocking fetch task failed.
    #[error("the fetch task failed: {0}")]
    Task(String),
    /// The manager is shutting down.
    #[error("the manager is shutting down")]
    ShuttingDown,
}

/// Fetches `branch` from `remote` into `mirror` (retrying with backoff) and returns the
/// commit the branch now points at in the mirror.
pub async fn fetch(
    remote: &Remote,
    mirror: &Path,
    branch: &str,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<String, FetchError> {
    let _one_at_a_time = FETCH_LOCK.lock().await;
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let failure = match once(remote, mirror, branch, shutdown).await {
            Ok(commit) => return Ok(commit),
            Err(e @ (FetchError::ShuttingDown | FetchError::NoBranch { .. })) => return Err(e),
            Err(e) => e,
        };
        if attempt >= ATTEMPTS {
            return Err(failure);
        }
        tracing::info!(
            attempt,
            "git: fetch failed, retrying in {backoff:?}: {failure}"
        );
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|s| *s) => return Err(FetchError::ShuttingDown),
        }
        backoff *= 2;
        attempt += 1;
    }
}

/// One attempt, bounded by the timeout; a late attempt is told to stop.
async fn once(
    remote: &Remote,
    mirror: &Path,
    branch: &str,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<String, FetchError> {
    let stop = Arc::new(AtomicBool::new(false));
    let job = {
        let (remote, mirror, branch, stop) = (
            remote.clone(),
            mirror.to_path_buf(),
            branch.to_owned(),
            stop.clone(),
        );
        tokio::task::spawn_blocking(move || fetch_blocking(&remote, &mirror, &branch, &stop))
    };
    let outcome = tokio::select! {
        done = tokio::time::timeout(remote.timeout, job) => match done {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(FetchError::Task(join.to_string())),
            Err(_) => Err(FetchError::TimedOut { url: remote.url.clone(), timeout: remote.timeout }),
        },
        _ = shutdown.wait_for(|s| *s) => Err(FetchError::ShuttingDown),
    };
    if outcome.is_err() {
        stop.store(true, Ordering::Relaxed);
    }
    outcome
}

/// The whole fetch, on a blocking thread.
fn fetch_blocking(
    remote: &Remote,
    mirror: &Path,
    branch: &str,
    stop: &AtomicBool,
) -> Result<String, FetchError> {
    let repo = open_mirror(mirror)?;
    let failed = |message: String| FetchError::Fetch {
        url: remote.url.clone(),
        branch: branch.to_owned(),
        message: remote.scrub(&message),
    };
    let refname = if branch.starts_with("refs/") {
        branch.to_owned()
    } else {
        format!("refs/heads/{branch}")
    };
    // Forced: a force-push upstream replaces the mirror's branch as it replaced theirs.
    let spec = format!("+{refname}:{refname}");
    let handle = repo
        .remote_at(remote.url.as_str())
        .and_then(|r| r.with_refspecs([spec.as_str()], Direction::Fetch))
        .map_err(|e| failed(chain(&e)))?;
    let refusal = Refusal::default();
    let transport = transport(remote, refusal.clone()).map_err(|e| failed(e.to_string()))?;
    // The server's own refusal says more than gix's "no credentials from the helper".
    let why = |e: gix::Error| match refusal.lock().ok().and_then(|r| r.clone()) {
        Some(refused) => failed(refused),
        None => failed(chain(&e)),
    };
    let outcome = handle
        .to_connection_with_transport(transport)
        // No credential helpers or prompts: the flags are the only credentials.
        .with_credentials(|_| Ok(None))
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(why)?
        .receive(gix::progress::Discard, stop)
        .map_err(why)?;
    let found = outcome
        .ref_map
        .mappings
        .iter()
        .any(|m| m.remote.as_name().is_some_and(|n| n == refname.as_bytes()));
    if !found {
        return Err(FetchError::NoBranch {
            url: remote.url.clone(),
            branch: branch.to_owned(),
        });
    }
    crate::sync::gitsource::head_commit(mirror, branch).map_err(|e| failed(e.to_string()))
}

/// The mirror, created bare on first use.
fn open_mirror(mirror: &Path) -> Result<gix::Repository, FetchError> {
    let failed = |message: String| FetchError::Mirror {
        path: mirror.to_path_buf(),
        message,
    };
    if mirror.join("HEAD").exists() {
        return gix::open(mirror).map_err(|e| failed(chain(&e)));
    }
    std::fs::create_dir_all(mirror).map_err(|e| failed(e.to_string()))?;
    gix::init_bare(mirror).map_err(|e| failed(chain(&e)))
}

/// Why the transport to a remote could not be set up, in the library's own words. The client
/// and connect errors render their causes on the same line (reqwest puts the useful part
/// there), so they expose no separate `source` that a reader would see twice.
#[derive(Debug, thiserror::Error)]
enum TransportError {
    /// The remote's URL is not a git URL.
    #[error(transparent)]
    Url(gix::Error),
    /// The HTTP client could not be built.
    #[error("{}", chain(.0))]
    HttpClient(reqwest::Error),
    /// Connecting by ssh, file or the git protocol failed.
    #[error("{}", chain(.0))]
    Connect(gix::Error),
}

/// The transport for the remote's scheme, with its credentials.
fn transport(
    remote: &Remote,
    refusal: Refusal,
) -> Result<Box<dyn Transport + Send>, TransportError> {
    let url =
        gix::url::parse(gix::bstr::BStr::new(remote.url.as_str())).map_err(TransportError::Url)?;
    let version = gix::protocol::transport::Protocol::V2;
    match location_scheme(&remote.url) {
        Scheme::Http => {
            let authorization = match &remote.auth {
                Auth::Token { user, token } => Some(basic(user, token.expose())),
                Auth::Basic { user, password } => Some(basic(user, password.expose())),
                Auth::None | Auth::Ssh(_) => None,
            };
            let client = Client::new(remote.timeout, authorization, refusal)
                .map_err(TransportError::HttpClient)?;
            Ok(Box::new(gix_http::connect_http(
                client, url, version, false,
            )))
        }
        Scheme::Ssh | Scheme::Other => {
            let ssh = match &remote.auth {
                Auth::Ssh(o) => o.connect_options(),
                _ => super::ssh::SshOptions::default().connect_options(),
            };
            connect::connect(
                url,
                connect::Options {
                    version,
                    ssh,
                    trace: false,
                },
            )
            .map_err(TransportError::Connect)
        }
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}
