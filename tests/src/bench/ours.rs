//! Our side: bearer-token requests (as automation authenticates) against `drp-endpoint`, and a
//! `drp-manager serve` process with endpoints registered through its API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::Method;
use serde_json::{json, Value};

use super::load::Op;
use super::proc::Proc;
use super::POLL;
use crate::cluster::{free_port, Cluster};
use crate::http::{ADMIN_PASSWORD, ADMIN_USER};

/// `Authorization: Basic` for the harness admin (the manager's API takes only Basic).
pub fn basic_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    let v = format!(
        "Basic {}",
        B64.encode(format!("{ADMIN_USER}:{ADMIN_PASSWORD}"))
    );
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&v).expect("ascii header"),
    );
    h
}

/// A bearer token from `GET /api/v3/users/rocketskates/token?ttl=...` on `base`, as
/// `Authorization: Bearer <token>` headers.
pub async fn bearer(http: &reqwest::Client, base: &str, ttl_secs: u64) -> Result<HeaderMap> {
    let op = Op::new(
        Method::GET,
        format!("{base}/api/v3/users/{ADMIN_USER}/token?ttl={ttl_secs}"),
    )
    .headers(&basic_headers());
    let body = op.send_ok(http, Duration::from_secs(10)).await?;
    let v: Value = serde_json::from_slice(&body).context("token reply")?;
    let token = v["Token"]
        .as_str()
        .with_context(|| format!("no Token in {v}"))?;
    let mut h = HeaderMap::new();
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).context("token header")?,
    );
    Ok(h)
}

/// `POST <base>/api/v3/profiles/<profile>/params/<key>` with a JSON string `value`.
pub fn param_write(base: &str, profile: &str, key: &str, value: &str, auth: &HeaderMap) -> Op {
    Op::new(
        Method::POST,
        format!("{base}/api/v3/profiles/{profile}/params/{key}"),
    )
    .headers(auth)
    .json_body(Value::String(value.to_string()).to_string().into_bytes())
}

/// `GET <base>/api/v3/profiles/<profile>/params/<key>` (linearizable: no stale header).
pub fn param_read(base: &str, profile: &str, key: &str, auth: &HeaderMap) -> Op {
    Op::new(
        Method::GET,
        format!("{base}/api/v3/profiles/{profile}/params/{key}"),
    )
    .headers(auth)
}

/// A `drp-manager serve` process on a free port with its own data dir.
pub struct Manager {
    pub url: String,
    proc: Proc,
    _dir: tempfile::TempDir,
}

pub struct ManagerOpts<'a> {
    pub git_repo: Option<&'a Path>,
    pub max_parallel: usize,
    pub reconcile_ms: u64,
}

impl Manager {
    pub async fn start(http: &reqwest::Client, bin: &Path, o: ManagerOpts<'_>) -> Result<Manager> {
        let dir = tempfile::Builder::new()
            .prefix("drp-bench-manager-")
            .tempdir()?;
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--api-listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--max-parallel")
            .arg(o.max_parallel.to_string())
            .arg("--reconcile-ms")
            .arg(o.reconcile_ms.to_string())
            .env("RS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn");
        if let Some(repo) = o.git_repo {
            cmd.arg("--git-repo")
                .arg(repo)
                .arg("--git-branch")
                .arg("main")
                // Commits are announced with POST /api/v3/git/refresh (the webhook).
                .arg("--git-poll-seconds")
                .arg("3600");
        }
        let mut proc = Proc::spawn("drp-manager", &mut cmd, &dir.path().join("manager.log"))?;
        let url = format!("http://127.0.0.1:{port}");
        let probe =
            Op::new(Method::GET, format!("{url}/api/v3/endpoints")).headers(&basic_headers());
        let start = Instant::now();
        while probe.send_ok(http, Duration::from_secs(1)).await.is_err() {
            if let Some(st) = proc.exited() {
                bail!("drp-manager exited: {st}\n{}", proc.log_tail(20));
            }
            if start.elapsed() > Duration::from_secs(20) {
                bail!(
                    "drp-manager not answering after 20 s\n{}",
                    proc.log_tail(20)
                );
            }
            tokio::time::sleep(POLL * 5).await;
        }
        Ok(Manager {
            url,
            proc,
            _dir: dir,
        })
    }

    /// The integration suites' manager: the built `drp-manager`, no git repository, two
    /// endpoints at a time, a reconcile every 500 ms.
    pub async fn start_for_suite(http: &reqwest::Client) -> Result<Manager> {
        let opts = ManagerOpts {
            git_repo: None,
            max_parallel: 2,
            reconcile_ms: 500,
        };
        Self::start(http, &crate::cluster::manager_bin()?, opts).await
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.proc.log_tail(lines)
    }

    pub fn op(&self, method: Method, path: &str) -> Op {
        Op::new(method, format!("{}{path}", self.url)).headers(&basic_headers())
    }

    /// Register a harness cluster (every member URL, the admin credentials).
    pub async fn register(
        &self,
        http: &reqwest::Client,
        c: &Cluster,
        sets: &[&str],
        apply: bool,
    ) -> Result<()> {
        let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
        let body = json!({
            "Id": c.ha_id,
            "Params": {
                "manager/url": urls[0],
                "manager/urls": urls,
                "manager/username": ADMIN_USER,
                "manager/password": ADMIN_PASSWORD,
            },
            "VersionSets": sets,
            "Apply": apply,
        });
        self.op(Method::POST, "/api/v3/endpoints")
            .json_body(body.to_string().into_bytes())
            .send_ok(http, Duration::from_secs(10))
            .await
            .with_context(|| format!("registering {}", c.ha_id))?;
        Ok(())
    }

    /// `GET /api/v3/endpoints/<id>`.
    pub async fn endpoint(&self, http: &reqwest::Client, id: &str) -> Result<Value> {
        let body = self
            .op(Method::GET, &format!("/api/v3/endpoints/{id}"))
            .send_ok(http, Duration::from_secs(5))
            .await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// Wait until the manager reports `ConnectionStatus: connected` for `id`.
    pub async fn wait_connected(
        &self,
        http: &reqwest::Client,
        id: &str,
        timeout: Duration,
    ) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Ok(e) = self.endpoint(http, id).await {
                if e["ConnectionStatus"] == "connected" {
                    return Ok(());
                }
            }
            if start.elapsed() > timeout {
                bail!(
                    "manager: {id} not connected after {timeout:?}\n{}",
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(POLL * 5).await;
        }
    }

    /// `POST /api/v3/git/refresh` (the webhook).
    pub async fn git_refresh(&self, http: &reqwest::Client) -> Result<()> {
        self.op(Method::POST, "/api/v3/git/refresh")
            .json_body(b"{}".to_vec())
            .send_ok(http, Duration::from_secs(30))
            .await?;
        Ok(())
    }
}

/// A git repository driven with the git CLI (the manager reads it with gix).
pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Result<Repo> {
        let r = Repo {
            dir: tempfile::Builder::new()
                .prefix("drp-bench-git-")
                .tempdir()?,
        };
        r.git(&["init", "-q", "-b", "main"])?;
        Ok(r)
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn git(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.dir.path())
            .args(args)
            .env("GIT_AUTHOR_NAME", "drp-bench")
            .env("GIT_AUTHOR_EMAIL", "bench@localhost")
            .env("GIT_COMMITTER_NAME", "drp-bench")
            .env("GIT_COMMITTER_EMAIL", "bench@localhost")
            .output()
            .context("running git")?;
        if !out.status.success() {
            bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Write `files` and commit them; the commit id.
    pub fn commit(&self, files: &[(&str, &str)]) -> Result<String> {
        for (rel, text) in files {
            let p = self.dir.path().join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, text)?;
        }
        self.git(&["add", "-A"])?;
        self.git(&["commit", "-qm", "drp-bench"])?;
        self.git(&["rev-parse", "HEAD"])
    }
}
