//! The peer: an etcd 3.4 cluster (Debian's `etcd-server`) on loopback, default durability
//! (WAL fsync on every commit batch), driven through its HTTP JSON gateway (`/v3/kv/put`,
//! `/v3/kv/range`, keys and values base64) by the same load generator as our endpoint.
//!
//! [`EtcdOpts`] puts it on the same footing as our cluster: client and peer URLs over TLS with
//! the bench's certificate ([`super::etcd_tls`], trusted by the bench's HTTP client; members
//! verify each other's, as ours do), and peers that advertise a proxy in front of their real port (the fault proxy's
//! delays in the availability-zone workload).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

use super::etcd_tls::{self, TlsFiles};
use super::load::Op;
use super::proc::Proc;
use super::POLL;
use crate::cluster::free_port;

/// `$ETCD_BIN` or `/usr/bin/etcd` (or `etcd` on the PATH).
pub fn etcd_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ETCD_BIN") {
        return Ok(PathBuf::from(p));
    }
    for p in ["/usr/bin/etcd", "/usr/local/bin/etcd"] {
        if Path::new(p).is_file() {
            return Ok(PathBuf::from(p));
        }
    }
    bail!("etcd not found (run scripts/install-bench-deps.sh, or set $ETCD_BIN)")
}

/// `etcd --version`, first line.
pub fn etcd_version(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "etcd (version unknown)".into())
}

/// How an etcd cluster is started.
#[derive(Clone, Debug, Default)]
pub struct EtcdOpts {
    /// Client and peer URLs over TLS (`https`), with the bench's CA and certificate.
    pub tls: bool,
    /// Member `i` advertises `127.0.0.1:<this[i]>` to its peers instead of its own peer port:
    /// a proxy there forwards to [`Member::peer_port`].
    pub advertise_peer_ports: Option<Vec<u16>>,
}

impl EtcdOpts {
    fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }
}

pub struct Member {
    pub name: String,
    scheme: &'static str,
    pub client_port: u16,
    pub peer_port: u16,
    /// The peer URL the other members dial (a proxy's, or its own).
    advertised_peer_url: String,
    dir: PathBuf,
    proc: Option<Proc>,
    /// etcd's member id (decimal string, as the JSON gateway prints it).
    pub id: String,
}

impl Member {
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.client_port)
    }
    fn peer_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.peer_port)
    }
    pub fn is_up(&self) -> bool {
        self.proc.as_ref().is_some_and(Proc::is_running)
    }
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().and_then(Proc::pid)
    }
}

/// An etcd cluster; every member is SIGKILLed on drop, the temp dir removed.
pub struct Etcd {
    pub members: Vec<Member>,
    bin: PathBuf,
    initial_cluster: String,
    token: String,
    tls: Option<TlsFiles>,
    _root: tempfile::TempDir,
}

/// `{"key": b64(key)}` etc.
pub fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

impl Etcd {
    /// Start `n` plain-HTTP members and wait until they agree on a leader.
    pub async fn start(http: &reqwest::Client, n: usize) -> Result<Etcd> {
        Etcd::start_with(http, n, &EtcdOpts::default()).await
    }

    /// Start `n` members as `opts` says and wait until they agree on a leader.
    pub async fn start_with(http: &reqwest::Client, n: usize, opts: &EtcdOpts) -> Result<Etcd> {
        let mut e = Etcd::prepare(n, opts)?;
        e.launch(http).await?;
        Ok(e)
    }

    /// Ports, directories and certificates of `n` members, none started yet (so a proxy can
    /// learn each member's real peer port first).
    pub fn prepare(n: usize, opts: &EtcdOpts) -> Result<Etcd> {
        let bin = etcd_bin()?;
        let root = tempfile::Builder::new()
            .prefix("drp-bench-etcd-")
            .tempdir()?;
        let mut members = Vec::new();
        for i in 0..n {
            let dir = root.path().join(format!("e{i}"));
            std::fs::create_dir_all(&dir)?;
            members.push(Member {
                name: format!("e{i}"),
                scheme: opts.scheme(),
                client_port: free_port()?,
                peer_port: free_port()?,
                advertised_peer_url: String::new(),
                dir,
                proc: None,
                id: String::new(),
            });
        }
        let advertised = advertised_peer_urls(&members, opts)?;
        for (m, u) in members.iter_mut().zip(advertised) {
            m.advertised_peer_url = u;
        }
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.advertised_peer_url))
            .collect::<Vec<_>>()
            .join(",");
        let tls = if opts.tls {
            Some(etcd_tls::write_files(&root.path().join("tls"))?)
        } else {
            None
        };
        Ok(Etcd {
            members,
            bin,
            initial_cluster,
            token: format!("bench-{}", uuid::Uuid::new_v4().simple()),
            tls,
            _root: root,
        })
    }

    /// Start every prepared member and wait until they agree on a leader.
    pub async fn launch(&mut self, http: &reqwest::Client) -> Result<()> {
        let n = self.members.len();
        for i in 0..n {
            self.spawn(i)?;
        }
        self.wait_leader(http, Duration::from_secs(30)).await?;
        for i in 0..n {
            let (id, _) = self.status(http, i).await?;
            self.members[i].id = id;
        }
        Ok(())
    }

    /// Start member `i` (first start: `--initial-cluster-state new`; etcd ignores the
    /// initial-cluster flags once its data dir holds state, so this is also the restart).
    pub fn spawn(&mut self, i: usize) -> Result<()> {
        let m = &self.members[i];
        if m.is_up() {
            bail!("{} is already running", m.name);
        }
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--name")
            .arg(&m.name)
            .arg("--data-dir")
            .arg(m.dir.join("data"))
            .arg("--listen-client-urls")
            .arg(m.url())
            .arg("--advertise-client-urls")
            .arg(m.url())
            .arg("--listen-peer-urls")
            .arg(m.peer_url())
            .arg("--initial-advertise-peer-urls")
            .arg(&m.advertised_peer_url)
            .arg("--initial-cluster")
            .arg(&self.initial_cluster)
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--initial-cluster-token")
            .arg(&self.token)
            .arg("--logger")
            .arg("zap")
            .arg("--log-level")
            .arg("warn")
            .env_remove("ETCDCTL_API");
        if let Some(t) = &self.tls {
            // Clients are not asked for certificates (no `--trusted-ca-file`: with it etcd
            // requires them, and our API takes a bearer token instead); peers verify each
            // other's certificates both ways, as our members do.
            cmd.arg("--cert-file")
                .arg(&t.cert)
                .arg("--key-file")
                .arg(&t.key)
                .arg("--peer-cert-file")
                .arg(&t.cert)
                .arg("--peer-key-file")
                .arg(&t.key)
                .arg("--peer-trusted-ca-file")
                .arg(&t.ca);
        }
        let log = m.dir.join("etcd.log");
        let p = Proc::spawn(&m.name, &mut cmd, &log)?;
        self.members[i].proc = Some(p);
        Ok(())
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.members[i].proc.take() {
            p.kill();
        }
    }

    pub fn live(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].is_up())
            .collect()
    }

    pub fn url(&self, i: usize) -> String {
        self.members[i].url()
    }

    /// `(member_id, leader_id)` from `/v3/maintenance/status` of member `i`.
    pub async fn status(&self, http: &reqwest::Client, i: usize) -> Result<(String, String)> {
        status_at(http, &self.url(i), Duration::from_millis(500)).await
    }

    /// Index of the leader every live member names.
    pub async fn try_leader(&self, http: &reqwest::Client) -> Option<usize> {
        let live = self.live();
        let mut leader: Option<String> = None;
        for &i in &live {
            let (_, l) = self.status(http, i).await.ok()?;
            if l.is_empty() || l == "0" || leader.as_ref().is_some_and(|x| *x != l) {
                return None;
            }
            leader = Some(l);
        }
        let l = leader?;
        live.into_iter().find(|&i| self.members[i].id == l)
    }

    pub async fn wait_leader(&self, http: &reqwest::Client, timeout: Duration) -> Result<usize> {
        let start = Instant::now();
        loop {
            if self.members.iter().any(|m| m.id.is_empty()) {
                // During start: members agree on a leader id, and it is one of them.
                let mut ids = Vec::new();
                let mut leaders = Vec::new();
                for &i in &self.live() {
                    if let Ok((id, l)) = self.status(http, i).await {
                        ids.push(id);
                        leaders.push(l);
                    }
                }
                if ids.len() == self.live().len()
                    && !leaders.is_empty()
                    && leaders.iter().all(|l| *l == leaders[0] && l != "0")
                {
                    if let Some(p) = ids.iter().position(|id| *id == leaders[0]) {
                        return Ok(self.live()[p]);
                    }
                }
            } else if let Some(l) = self.try_leader(http).await {
                return Ok(l);
            }
            if start.elapsed() > timeout {
                let tails: Vec<String> = self
                    .members
                    .iter()
                    .filter_map(|m| {
                        m.proc
                            .as_ref()
                            .map(|p| format!("{}: {}", m.name, p.log_tail(10)))
                    })
                    .collect();
                bail!(
                    "etcd: no agreed leader after {timeout:?}\n{}",
                    tails.join("\n")
                );
            }
            tokio::time::sleep(POLL * 5).await;
        }
    }

    /// Wait until member `i` answers a linearizable range (after a restart).
    pub async fn wait_member_serving(
        &self,
        http: &reqwest::Client,
        i: usize,
        timeout: Duration,
    ) -> Result<()> {
        let op = range_op(&self.url(i), b"bench/probe");
        let start = Instant::now();
        loop {
            if op.send_ok(http, Duration::from_millis(500)).await.is_ok() {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!(
                    "etcd member {} not serving after {timeout:?}",
                    self.members[i].name
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Each member's peer URL as advertised: its own port, or the proxy port `opts` names.
fn advertised_peer_urls(members: &[Member], opts: &EtcdOpts) -> Result<Vec<String>> {
    match &opts.advertise_peer_ports {
        None => Ok(members.iter().map(Member::peer_url).collect()),
        Some(ports) if ports.len() == members.len() => Ok(ports
            .iter()
            .map(|p| format!("{}://127.0.0.1:{p}", opts.scheme()))
            .collect()),
        Some(ports) => bail!(
            "{} advertised peer ports for {} etcd members",
            ports.len(),
            members.len()
        ),
    }
}

/// `(member_id, leader_id)` of the member at `url`.
pub async fn status_at(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<(String, String)> {
    let op =
        Op::new(Method::POST, format!("{url}/v3/maintenance/status")).json_body(b"{}".to_vec());
    let body = op.send_ok(http, timeout).await?;
    let v: Value = serde_json::from_slice(&body)?;
    let id = v["header"]["member_id"]
        .as_str()
        .ok_or_else(|| anyhow!("status without member_id: {v}"))?
        .to_string();
    let leader = v["leader"].as_str().unwrap_or("").to_string();
    Ok((id, leader))
}

/// `POST /v3/kv/put {"key","value"}`.
pub fn put_op(url: &str, key: &[u8], value: &[u8]) -> Op {
    let body = json!({"key": b64(key), "value": b64(value)}).to_string();
    Op::new(Method::POST, format!("{url}/v3/kv/put")).json_body(body.into_bytes())
}

/// `POST /v3/kv/range {"key"}`: linearizable (etcd's default, `serializable` false).
pub fn range_op(url: &str, key: &[u8]) -> Op {
    let body = json!({"key": b64(key)}).to_string();
    Op::new(Method::POST, format!("{url}/v3/kv/range")).json_body(body.into_bytes())
}

/// The `count` of a range reply (0 when absent).
pub fn range_count(body: &[u8]) -> u64 {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["count"].as_str().and_then(|c| c.parse().ok()))
        .unwrap_or(0)
}
