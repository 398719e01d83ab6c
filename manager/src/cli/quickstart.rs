//! `drp-manager quickstart`: a local 3-node `site-a` cluster, a git repo made from the
//! examples, and a manager following it; waits for the apply and prints the status.
//!
//! The cluster's CA is read from the first node's `<data-dir>/tls/ca.pem`: the quickstart
//! verifies the members against it and registers it as the endpoint's `manager/ca`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use proto::paths;
use serde_json::json;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::cli::{status_table, Client};
use crate::cluster::trust::{self, Anchor, AnchoredVerifier};
use crate::{serve, state::Config};

const HA_ID: &str = "site-a";

/// The shipped examples, built in so the quickstart works from any directory.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "version_sets/site-base.yaml",
        include_str!("../../../examples/version_sets/site-base.yaml"),
    ),
    (
        "version_sets/override.yaml",
        include_str!("../../../examples/version_sets/override.yaml"),
    ),
    (
        "endpoints/site-a.yaml",
        include_str!("../../../examples/endpoints/site-a.yaml"),
    ),
    (
        "catalog/example-base-v1.0.0.yaml",
        include_str!("../../../examples/catalog/example-base-v1.0.0.yaml"),
    ),
    (
        "catalog/example-base-v1.1.0.yaml",
        include_str!("../../../examples/catalog/example-base-v1.1.0.yaml"),
    ),
];

#[derive(Debug, Clone)]
pub struct Options {
    pub exit_after_apply: bool,
    pub admin_password: Option<String>,
    pub dir: Option<PathBuf>,
    pub api_listen: SocketAddr,
    pub examples: Option<PathBuf>,
    pub timeout: Duration,
}

/// A child process stopped (TERM, then KILL) when dropped.
struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: sending a signal to a child process we spawned and still own.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A client verifying the members against the cluster CA `ca_pem`.
fn http(ca_pem: &str) -> anyhow::Result<reqwest::Client> {
    let ca = trust::parse_pem(ca_pem).map_err(|e| anyhow::anyhow!("the cluster CA {e}"))?;
    Ok(
        trust::client_builder(std::sync::Arc::new(AnchoredVerifier::new(Anchor::Given(
            ca,
        ))))?
        .timeout(Duration::from_secs(2))
        .build()?,
    )
}

async fn answers(client: &reqwest::Client, port: u16, pw: &str) -> Option<String> {
    for scheme in ["http", "https"] {
        let url = format!("{scheme}://127.0.0.1:{port}");
        if let Ok(r) = client
            .get(format!("{url}{}", paths::INFO))
            .basic_auth(paths::ADMIN_USER, Some(pw))
            .send()
            .await
        {
            if r.status().is_success() || r.status() == reqwest::StatusCode::UNAUTHORIZED {
                return Some(url);
            }
        }
    }
    None
}

async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    timeout: Duration,
    mut f: impl FnMut() -> F,
) -> Option<T> {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

fn write_examples(repo: &Path, from: Option<&Path>) -> anyhow::Result<()> {
    for (rel, text) in EXAMPLES {
        let path = repo.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let text = match from {
            Some(dir) => std::fs::read_to_string(dir.join(rel))
                .with_context(|| format!("reading {}", dir.join(rel).display()))?,
            None => (*text).to_owned(),
        };
        std::fs::write(&path, text)?;
    }
    Ok(())
}

fn git(repo: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "drp-manager quickstart")
        .env("GIT_AUTHOR_EMAIL", "quickstart@localhost")
        .env("GIT_COMMITTER_NAME", "drp-manager quickstart")
        .env("GIT_COMMITTER_EMAIL", "quickstart@localhost")
        .output()
        .context("running git (needed to create the quickstart repo)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let endpoint_bin = std::env::current_exe()?.with_file_name("drp-endpoint");
    if !endpoint_bin.exists() {
        bail!(
            "{} not found: build it next to drp-manager (cargo build -p endpoint)",
            endpoint_bin.display()
        );
    }
    let temp;
    let work = match &opts.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("drp-quickstart-")
                .tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let password = opts
        .admin_password
        .clone()
        .unwrap_or_else(crate::crypto::random_password);
    let mut procs: Vec<Proc> = Vec::new();
    let result = run_inner(&opts, &endpoint_bin, &work, &password, &mut procs).await;
    for p in procs.iter_mut().rev() {
        p.stop().await;
    }
    if result.is_ok() {
        println!("stopped: cluster members and manager");
    }
    result
}

async fn run_inner(
    opts: &Options,
    endpoint_bin: &Path,
    work: &Path,
    password: &str,
    procs: &mut Vec<Proc>,
) -> anyhow::Result<()> {
    println!("quickstart: working in {}", work.display());
    let (urls, ca, client) = start_cluster(endpoint_bin, work, password, procs).await?;
    wait_formed(&client, &urls[0], password).await?;
    println!("  cluster {HA_ID}: 3 voters, leader elected");
    let repo = example_repo(work, opts.examples.as_deref())?;
    println!("  git repo: {} (branch main)", repo.display());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let config = manager_config(opts, work, repo, password);
    let manager = tokio::spawn(serve::run(config, shutdown_rx, Some(ready_tx)));
    let outcome = drive(opts, &urls, password, &ca, ready_rx).await;
    let _ = shutdown_tx.send(true);
    match tokio::time::timeout(Duration::from_secs(10), manager).await {
        Ok(Ok(Err(e))) => tracing::warn!("manager: {e:#}"),
        Ok(Err(e)) => tracing::warn!("manager task: {e}"),
        Err(_) => tracing::warn!("manager did not stop within 10 s"),
        Ok(Ok(Ok(()))) => {}
    }
    for p in procs.iter() {
        tracing::debug!(proc = %p.name, "stopping");
    }
    outcome
}

/// Starts node1 (bootstrapping) and two joiners; returns their URLs, the cluster CA (which
/// node1 writes before it serves) and a client verifying against it.
async fn start_cluster(
    endpoint_bin: &Path,
    work: &Path,
    password: &str,
    procs: &mut Vec<Proc>,
) -> anyhow::Result<(Vec<String>, String, reqwest::Client)> {
    let mut urls: Vec<String> = Vec::new();
    let mut cluster: Option<(String, reqwest::Client)> = None;
    for n in 1..=3 {
        let api = free_port()?;
        let data = work.join(format!("node{n}"));
        procs.push(start_node(
            endpoint_bin,
            work,
            n,
            api,
            password,
            urls.first(),
        )?);
        let client = match &cluster {
            Some((_, client)) => client,
            None => {
                let ca = wait_for_ca(work, &data).await?;
                &cluster.insert((ca.clone(), http(&ca)?)).1
            }
        };
        let waiting = crate::cli::progress::step(format!("node{n} starting"));
        let url = wait_for(Duration::from_secs(30), || answers(client, api, password)).await;
        match &url {
            Some(_) => waiting.done(),
            None => waiting.failed(),
        }
        let url = url.with_context(|| {
            format!("node{n} did not answer; see {}/node{n}.log", work.display())
        })?;
        println!("  node{n}: {url}");
        urls.push(url);
    }
    let Some((ca, client)) = cluster else {
        bail!("no cluster CA");
    };
    Ok((urls, ca, client))
}

/// Starts member `n`: the first bootstraps the cluster, the others join it at `first`.
fn start_node(
    endpoint_bin: &Path,
    work: &Path,
    n: u32,
    api: u16,
    password: &str,
    first: Option<&String>,
) -> anyhow::Result<Proc> {
    let cons = free_port()?;
    let data = work.join(format!("node{n}"));
    std::fs::create_dir_all(&data)?;
    let log = std::fs::File::create(work.join(format!("node{n}.log")))?;
    let mut cmd = Command::new(endpoint_bin);
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .args(["--api-listen", &format!("127.0.0.1:{api}")])
        .args(["--consensus-listen", &format!("127.0.0.1:{cons}")])
        .args(["--ha-id", HA_ID])
        .env("RS_ADMIN_PASSWORD", password)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    match first {
        None => cmd.arg("--bootstrap"),
        Some(url) => cmd.args(["--join", url]),
    };
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", endpoint_bin.display()))?;
    Ok(Proc {
        name: format!("node{n}"),
        child,
    })
}

/// The cluster CA node1 writes (`<data>/tls/ca.pem`) before it serves.
async fn wait_for_ca(work: &Path, data: &Path) -> anyhow::Result<String> {
    let path = data.join("tls").join("ca.pem");
    wait_for(Duration::from_secs(30), || async {
        std::fs::read_to_string(&path)
            .ok()
            .filter(|t| trust::parse_pem(t).is_ok())
    })
    .await
    .with_context(|| {
        format!(
            "node1 wrote no CA ({}); see {}/node1.log",
            path.display(),
            work.display()
        )
    })
}

/// Waits until the cluster has 3 voters and a leader.
async fn wait_formed(client: &reqwest::Client, url: &str, password: &str) -> anyhow::Result<()> {
    let state_url = format!("{url}{}", paths::CONSENSUS_STATE);
    let forming = crate::cli::progress::step("cluster forming (3 voters, a leader)");
    let formed = wait_for(Duration::from_secs(60), || async {
        let r = client
            .get(&state_url)
            .basic_auth(paths::ADMIN_USER, Some(password))
            .send()
            .await
            .ok()?;
        let st: proto::cluster::ClusterState = r.json().await.ok()?;
        (st.voters().len() == 3 && !st.leader_id.is_empty()).then_some(())
    })
    .await;
    match formed {
        Some(()) => forming.done(),
        None => forming.failed(),
    }
    formed.context("the 3-node cluster did not form within 60 s")
}

/// A git repo of the examples, one commit on `main`.
fn example_repo(work: &Path, examples: Option<&Path>) -> anyhow::Result<PathBuf> {
    let repo = work.join("repo");
    std::fs::create_dir_all(&repo)?;
    write_examples(&repo, examples)?;
    git(&repo, &["init", "-q", "-b", "main"])?;
    git(&repo, &["add", "-A"])?;
    git(&repo, &["commit", "-q", "-m", "quickstart: examples"])?;
    Ok(repo)
}

/// The manager following `repo`, polling and reconciling quickly for a demo.
fn manager_config(opts: &Options, work: &Path, repo: PathBuf, password: &str) -> Config {
    Config {
        id: crate::state::DEFAULT_ID.to_string(),
        data_dir: work.join("manager"),
        api_listen: opts.api_listen,
        git_repo: Some(repo),
        git_remote: None,
        webhook_secret: None,
        git_branch: "main".into(),
        git_poll: Duration::from_secs(5),
        catalog: None,
        admin_password: Some(password.to_owned()),
        max_parallel: 1,
        reconcile_every: Duration::from_secs(2),
        conn: Default::default(),
        rate: Default::default(),
        metrics_listen: None,
    }
}

async fn drive(
    opts: &Options,
    urls: &[String],
    password: &str,
    ca: &str,
    ready: tokio::sync::oneshot::Receiver<SocketAddr>,
) -> anyhow::Result<()> {
    let addr = tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .context("the manager did not start")?
        .context("the manager failed to start")?;
    let murl = format!("http://{addr}");
    let api = Client::new(&murl, paths::ADMIN_USER, Some(password.to_owned()), None)?;
    let body = json!({
        "Id": HA_ID,
        "Params": {
            "manager/url": urls[0],
            "manager/urls": urls,
            "manager/username": paths::ADMIN_USER,
            "manager/password": password,
            "manager/ca": ca,
        },
    });
    api.call(
        reqwest::Method::POST,
        paths::ENDPOINTS,
        Some(("application/json", body.to_string())),
    )
    .await?;
    println!("  manager: {murl} (endpoint {HA_ID} registered; VersionSets from git)");
    let started = Instant::now();
    let applying = crate::cli::progress::step("VersionSet applying");
    let applied = loop {
        let st = api.get(paths::STATUS).await?;
        let row = st["Endpoints"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["Endpoint"] == HA_ID).cloned());
        if row.as_ref().is_some_and(|r| r["InSync"] == true) {
            applying.done();
            break Some(st);
        }
        if let Some(r) = &row {
            applying.set(r["ConnectionStatus"].as_str().unwrap_or("waiting"));
        }
        if started.elapsed() > opts.timeout {
            applying.failed();
            println!("{}", status_table(&st));
            break None;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let Some(st) = applied else {
        bail!(
            "the VersionSet was not applied within {:?} (see the status above)",
            opts.timeout
        );
    };
    println!(
        "\napplied in {:.1} s\n\n{}",
        started.elapsed().as_secs_f64(),
        status_table(&st)
    );
    println!("URLs (user rocketskates, password {password}):");
    println!("  manager API:  {murl}/api/v3/endpoints");
    println!("  gateway:      {murl}/{HA_ID}/api/v3/prefs   (follows the leader)");
    for (i, u) in urls.iter().enumerate() {
        println!("  node{}:        {u}/api/v3/info", i + 1);
    }
    println!(
        "  try:          curl -u rocketskates:{password} {murl}/{HA_ID}/api/v3/profiles/global"
    );
    if opts.exit_after_apply {
        return Ok(());
    }
    println!("\nRunning; press Ctrl-C to stop everything.");
    wait_for_signal().await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
