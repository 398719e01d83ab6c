//! The client commands (`endpoints`, `version-sets list|show|plan`, `status`): they talk to a
//! running manager's API.

pub mod drp_env;
pub mod lint;
pub mod progress;
pub mod quickstart;
pub mod rollout;
pub mod upload;

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{bail, Context as _};
use proto::error::ErrorBody;
use proto::paths;
use serde_json::{json, Value};

/// A call answered with an error status (the caller may act on `status`, e.g. 409).
#[derive(Debug, thiserror::Error)]
#[error("{what}: HTTP {status_line}\n  {messages}")]
pub struct HttpError {
    pub what: String,
    pub status: u16,
    /// The status with its reason, such as `409 Conflict`.
    pub status_line: String,
    pub messages: String,
}

/// A manager API client.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    username: String,
    password: Option<String>,
    /// Sent as `Authorization: Bearer` instead of Basic credentials.
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// An https manager URL is verified against the public roots plus `ca_pem` (`--ca-cert`).
    pub fn new(
        base: &str,
        username: &str,
        password: Option<String>,
        ca_pem: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(3));
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .context("--ca-cert holds no PEM certificate")?;
            if certs.is_empty() {
                bail!("--ca-cert holds no PEM certificate");
            }
            for c in certs {
                http = http.add_root_certificate(c);
            }
        }
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            username: username.to_owned(),
            password,
            token: None,
            http: http.build()?,
        })
    }

    /// A client for a resolved connection (flags and DRP's `RS_*` variables).
    pub fn connect(
        conn: &crate::cli::drp_env::Connection,
        ca_pem: Option<&str>,
    ) -> anyhow::Result<Self> {
        use crate::cli::drp_env::Credentials;
        match &conn.credentials {
            Credentials::Basic { username, password } => {
                Self::new(&conn.url, username, password.clone(), ca_pem)
            }
            Credentials::Bearer(token) => {
                let mut client =
                    Self::new(&conn.url, crate::cli::drp_env::DEFAULT_USER, None, ca_pem)?;
                client.token = Some(token.clone());
                Ok(client)
            }
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> anyhow::Result<Value> {
        let mut req = self.request(&method, path);
        if let Some((ct, text)) = body {
            req = req.header("content-type", ct).body(text);
        }
        self.send(req, &method, path).await
    }

    /// Sends a streamed body; `timeout` replaces the client's 30 s for the whole transfer.
    pub async fn send_stream(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: reqwest::Body,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let req = self
            .request(&method, path)
            .header("content-type", content_type)
            .timeout(timeout)
            .body(body);
        self.send(req, &method, path).await
    }

    fn request(&self, method: &reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req.bearer_auth(token)
        } else if let Some(pw) = &self.password {
            req.basic_auth(&self.username, Some(pw))
        } else {
            req
        }
    }

    /// Sends and reads the reply: the JSON (or text) body, or an error naming DRP's messages.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        method: &reqwest::Method,
        path: &str,
    ) -> anyhow::Result<Value> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {}{path}", self.base))?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if !status.is_success() {
            let msgs = match serde_json::from_value::<ErrorBody>(value.clone()) {
                Ok(e) if !e.messages.is_empty() => e.joined("\n  "),
                _ => value.to_string(),
            };
            return Err(HttpError {
                what: format!("{method} {path}"),
                status: status.as_u16(),
                status_line: status.to_string(),
                messages: msgs,
            }
            .into());
        }
        Ok(value)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn short(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// Renders rows as an aligned table.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect(), &mut out);
    for r in rows {
        line(r.clone(), &mut out);
    }
    out
}

/// `last fetch 12s ago: ok (abc123)` or `last fetch 12s ago FAILED: why` for a remote.
fn last_fetch_line(fetch: &Value) -> Option<String> {
    let at = fetch.get("At")?.as_u64()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(at, |d| d.as_secs());
    let ago = now.saturating_sub(at);
    Some(match fetch.get("Error").and_then(Value::as_str) {
        Some(e) => format!("last fetch {ago}s ago FAILED: {e}"),
        None => format!(
            "last fetch {ago}s ago: ok ({})",
            short(&s(fetch, "Commit"), 12)
        ),
    })
}

/// The `status` table from `GET /api/v3/status`.
pub fn status_table(status: &Value) -> String {
    let mut out = String::new();
    let git = &status["Git"];
    if git.get("Repo").is_some_and(|r| !r.is_null()) {
        let _ = writeln!(
            out,
            "git {} ({}): commit in force {}",
            s(git, "Repo"),
            s(git, "Branch"),
            short(&s(git, "Commit"), 12)
        );
        if let Some(line) = last_fetch_line(&git["LastFetch"]) {
            let _ = writeln!(out, "  {line}");
        }
    }
    for e in status["GitErrors"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  {}", e.as_str().unwrap_or_default());
    }
    let rows: Vec<Vec<String>> = status["Endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let pending = r["PendingActions"].as_array().map_or(0, Vec::len);
            vec![
                s(r, "Endpoint"),
                s(r, "ConnectionStatus"),
                s(r, "Leader"),
                format!("{}/{}", s(r, "MembersUp"), s(r, "MembersTotal")),
                format!(
                    "{}/{}",
                    short(&s(r, "DesiredCommit"), 8),
                    short(&s(r, "DesiredHash"), 8)
                ),
                format!(
                    "{}/{}",
                    short(&s(r, "AppliedCommit"), 8),
                    short(&s(r, "AppliedHash"), 8)
                ),
                pending.to_string(),
                short(&s(r, "LastError"), 80),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "ENDPOINT",
            "STATUS",
            "LEADER",
            "MEMBERS",
            "DESIRED (commit/hash)",
            "APPLIED (commit/hash)",
            "PENDING",
            "LAST ERROR",
        ],
        &rows,
    ));
    out
}

pub async fn status(c: &Client) -> anyhow::Result<()> {
    print!("{}", status_table(&c.get(paths::STATUS).await?));
    Ok(())
}

pub async fn endpoints_list(c: &Client) -> anyhow::Result<()> {
    let list = c.get(paths::ENDPOINTS).await?;
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            vec![
                s(e, "Id"),
                s(e, "Source"),
                s(e, "ConnectionStatus"),
                e["VersionSets"]
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default(),
                s(e, "Apply"),
                s(&e["Params"], "manager/url"),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["ID", "SOURCE", "STATUS", "VERSIONSETS", "APPLY", "URL"],
            &rows
        )
    );
    Ok(())
}

pub async fn show(c: &Client, path: &str) -> anyhow::Result<()> {
    let v = c.get(path).await?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// What `endpoints add` sends.
#[derive(Debug, Default)]
pub struct AddEndpoint {
    pub file: Option<std::path::PathBuf>,
    pub id: Option<String>,
    pub url: Option<String>,
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub endpoint_password: Option<String>,
    pub version_sets: Vec<String>,
    pub apply: bool,
}

pub async fn endpoints_add(c: &Client, a: AddEndpoint) -> anyhow::Result<()> {
    let (ct, body) = if let Some(f) = &a.file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let ct = if text.trim_start().starts_with('{') {
            "application/json"
        } else {
            "application/yaml"
        };
        (ct, text)
    } else {
        let Some(id) = &a.id else {
            bail!("give --file FILE, or --id ID --url URL");
        };
        let mut params = serde_json::Map::new();
        if let Some(u) = &a.url {
            params.insert("manager/url".into(), json!(u));
        }
        if !a.urls.is_empty() {
            params.insert("manager/urls".into(), json!(a.urls));
        }
        if let Some(u) = &a.username {
            params.insert("manager/username".into(), json!(u));
        }
        if let Some(p) = &a.endpoint_password {
            params.insert("manager/password".into(), json!(p));
        }
        let body =
            json!({"Id": id, "Params": params, "VersionSets": a.version_sets, "Apply": a.apply});
        ("application/json", body.to_string())
    };
    let v = c
        .call(reqwest::Method::POST, paths::ENDPOINTS, Some((ct, body)))
        .await?;
    println!("added endpoint {}", s(&v, "Id"));
    Ok(())
}

pub async fn endpoints_remove(c: &Client, id: &str) -> anyhow::Result<()> {
    c.call(
        reqwest::Method::DELETE,
        &format!("{}/{id}", paths::ENDPOINTS),
        None,
    )
    .await?;
    println!("removed endpoint {id}");
    Ok(())
}

pub async fn version_sets_list(c: &Client) -> anyhow::Result<()> {
    let list = c.get(paths::VERSION_SETS).await?;
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            vec![
                s(v, "Id"),
                s(v, "Source"),
                s(v, "Apply"),
                short(&s(v, "Description"), 60),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["ID", "SOURCE", "APPLY", "DESCRIPTION"], &rows)
    );
    Ok(())
}

/// Endpoints' plans fetched at once.
const PLANS_AT_ONCE: usize = 8;

/// The plans of `endpoints`, or of every registered endpoint when none is named, fetched a
/// few at a time with progress, printed in order. Fails if any could not be fetched.
pub async fn plans(c: &Client, endpoints: &[String]) -> anyhow::Result<()> {
    use futures::StreamExt as _;
    let ids: Vec<String> = if endpoints.is_empty() {
        c.get(paths::ENDPOINTS)
            .await?
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| s(e, "Id"))
            .collect()
    } else {
        endpoints.to_vec()
    };
    if ids.is_empty() {
        println!("no endpoints registered");
        return Ok(());
    }
    let step = crate::cli::progress::items(format!("planning {} endpoints", ids.len()), ids.len());
    let fetched: Vec<anyhow::Result<Value>> = futures::stream::iter(&ids)
        .map(|id| {
            let step = &step;
            async move {
                let plan = c.get(&format!("{}/{id}/plan", paths::ENDPOINTS)).await;
                step.advance(1);
                plan
            }
        })
        .buffered(PLANS_AT_ONCE)
        .collect()
        .await;
    let failed = fetched.iter().filter(|p| p.is_err()).count();
    if failed == 0 {
        step.done();
    } else {
        step.failed();
    }
    for (id, plan) in ids.iter().zip(fetched) {
        match plan {
            Ok(p) => print_plan(id, &p),
            Err(e) => println!("endpoint {id}: {e:#}"),
        }
    }
    if failed > 0 {
        bail!("{failed} of {} plans could not be read", ids.len());
    }
    Ok(())
}

fn print_plan(endpoint: &str, p: &Value) {
    println!(
        "endpoint {endpoint}: VersionSets {}, hash {}, commit {}, apply {}",
        p["VersionSets"],
        short(&s(p, "Hash"), 12),
        short(&s(p, "GitCommit"), 12),
        s(p, "Apply")
    );
    for e in p["Errors"].as_array().into_iter().flatten() {
        println!("  error: {}", e.as_str().unwrap_or_default());
    }
    let lines = p["Lines"].as_array().cloned().unwrap_or_default();
    if lines.is_empty() {
        println!("  no actions: the endpoint matches (as last observed)");
    }
    for l in lines {
        println!("  {}", l.as_str().unwrap_or_default());
    }
}
