//! Real-process harness for the manager tests: builds `drp-endpoint` once, starts clusters and
//! managers on free loopback ports in temp dirs, and kills everything on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub mod replica;
pub mod writer;

pub const PASSWORD: &str = "mgr-test-pw-1";

/// Serialises the scenarios: each one runs several processes on a small machine.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn manager_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_drp-manager"))
}

/// `drp-endpoint` (`$DRP_ENDPOINT_BIN`, else built once by this test run): the harness's.
pub fn endpoint_bin() -> PathBuf {
    ::tests::cluster::endpoint_bin().expect("drp-endpoint")
}

/// A free loopback port this process never handed out before (the harness's helper, shared
/// with the `tests` crate's suites).
pub fn free_port() -> u16 {
    ::tests::cluster::free_port().expect("a free loopback port")
}

pub fn wait<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// (status, body) of a call with the admin credentials; status 0 when it did not connect.
pub fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = http()
        .request(m, url)
        .basic_auth("rocketskates", Some(PASSWORD));
    if let Some(b) = body {
        req = req.json(&b);
    }
    match req.send() {
        Ok(r) => {
            let st = r.status().as_u16();
            let text = r.text().unwrap_or_default();
            (
                st,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        Err(_) => (0, Value::Null),
    }
}

pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Node {
    pub api_port: u16,
    pub cons_port: u16,
    pub data: tempfile::TempDir,
    pub proc: Option<Proc>,
    pub url: String,
}

/// Spawns `cmd` with the admin password set and no stdin, its output appended to `log`.
fn spawn_logged(cmd: &mut Command, log: &Path) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = cmd
        .env("RS_ADMIN_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc(child)
}

/// `drp-endpoint serve` of cluster `ha_id` on `data`'s `d` directory and these ports.
fn serve(data: &Path, api_port: u16, cons_port: u16, ha_id: &str) -> Command {
    let mut cmd = Command::new(endpoint_bin());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data.join("d"))
        .args(["--api-listen", &format!("127.0.0.1:{api_port}")])
        .args(["--consensus-listen", &format!("127.0.0.1:{cons_port}")])
        .args(["--ha-id", ha_id]);
    cmd
}

impl Node {
    fn start(ha_id: &str, join: Option<&str>) -> Self {
        Self::start_on(ha_id, join, free_port(), &[])
    }

    /// A node serving its API on `api_port`, with extra `drp-endpoint serve` flags.
    pub fn start_on(ha_id: &str, join: Option<&str>, api_port: u16, extra: &[&str]) -> Self {
        let cons_port = free_port();
        let data = tempfile::tempdir().unwrap();
        let mut cmd = serve(data.path(), api_port, cons_port, ha_id);
        cmd.args(extra);
        match join {
            None => cmd.arg("--bootstrap"),
            Some(u) => cmd.args(["--join", u]),
        };
        let proc = spawn_logged(&mut cmd, &data.path().join("log"));
        let url = wait(Duration::from_secs(30), || {
            ["http", "https"].iter().find_map(|s| {
                let url = format!("{s}://127.0.0.1:{api_port}");
                let (st, _) = call("GET", &format!("{url}/api/v3/info"), None);
                (st == 200 || st == 401).then_some(url)
            })
        })
        .unwrap_or_else(|| {
            // The data dir (and its log) goes away with the panic: show why it never served.
            let log = std::fs::read_to_string(data.path().join("log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "node on port {api_port} never answered /api/v3/info; its log ends:\n{}",
                tail.join("\n")
            )
        });
        Self {
            api_port,
            cons_port,
            data,
            proc: Some(proc),
            url,
        }
    }

    pub fn alive(&self) -> bool {
        self.proc.is_some()
    }

    /// The cluster CA the node wrote at bootstrap (`<data-dir>/tls/ca.pem`).
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.data.path().join("d/tls/ca.pem")).unwrap()
    }

    pub fn kill(&mut self) {
        self.proc = None;
    }

    /// Starts this stopped node of a single-node cluster `ha_id` again, on its data dir and
    /// ports, and waits until it answers.
    pub fn restart_alone(&mut self, ha_id: &str) {
        let mut cmd = serve(self.data.path(), self.api_port, self.cons_port, ha_id);
        cmd.arg("--bootstrap");
        self.proc = Some(spawn_logged(&mut cmd, &self.data.path().join("log")));
        wait(Duration::from_secs(60), || {
            (self.get("/api/v3/info").0 == 200).then_some(())
        })
        .expect("the restarted node answers");
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        call("GET", &format!("{}{path}", self.url), None)
    }

    /// This member's `ClusterState`, read with the shared definition; `None` unless 200.
    pub fn cluster_state(&self) -> Option<proto::cluster::ClusterState> {
        let (st, v) = self.get("/api/v3/system/consensus/state");
        (st == 200)
            .then(|| serde_json::from_value(v).ok())
            .flatten()
    }
}

pub struct Cluster {
    pub ha_id: String,
    pub nodes: Vec<Node>,
}

impl Cluster {
    pub fn start(ha_id: &str, n: usize) -> Self {
        Self::start_with(ha_id, n, &[])
    }

    /// A cluster whose nodes get `extra` `drp-endpoint serve` flags.
    pub fn start_with(ha_id: &str, n: usize, extra: &[&str]) -> Self {
        let first = Node::start_on(ha_id, None, free_port(), extra);
        let mut nodes = vec![first];
        for _ in 1..n {
            let join = nodes[0].url.clone();
            nodes.push(Node::start_on(ha_id, Some(&join), free_port(), extra));
        }
        let c = Self {
            ha_id: ha_id.into(),
            nodes,
        };
        wait(Duration::from_secs(60), || {
            let st = c.nodes[0].cluster_state()?;
            (st.voters().len() == n && c.leader().is_some()).then_some(())
        })
        .expect("cluster forms");
        c
    }

    /// The index of the live node every live member names as leader.
    pub fn leader(&self) -> Option<usize> {
        let mut ids = std::collections::BTreeSet::new();
        for n in self.nodes.iter().filter(|n| n.alive()) {
            let l = n.cluster_state()?.leader_id;
            if l.is_empty() {
                return None;
            }
            ids.insert(l);
        }
        if ids.len() != 1 {
            return None;
        }
        let lid = ids.pop_first()?;
        self.nodes.iter().position(|n| {
            n.alive() && n.get("/api/v3/system/consensus/id").1.as_str() == Some(lid.as_str())
        })
    }

    pub fn alive(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.alive())
    }
}

pub struct Manager {
    pub port: u16,
    pub url: String,
    pub data: PathBuf,
    pub proc: Option<Proc>,
    args: Vec<String>,
}

impl Manager {
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        let port = free_port();
        let mut m = Self {
            port,
            url: format!("http://127.0.0.1:{port}"),
            data: data.to_path_buf(),
            proc: None,
            args: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        m.restart();
        m
    }

    pub fn restart(&mut self) {
        self.proc = None;
        let mut cmd = Command::new(manager_bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--api-listen", &format!("127.0.0.1:{}", self.port)])
            .args(&self.args)
            .env("RUST_LOG", "info");
        // A short round unless the test sets its own.
        if !self.args.iter().any(|a| a == "--reconcile-ms") {
            cmd.args(["--reconcile-ms", "500"]);
        }
        self.proc = Some(spawn_logged(&mut cmd, &self.data.with_extension("log")));
        let url = self.url.clone();
        wait(Duration::from_secs(60), || {
            (call("GET", &format!("{url}/api/v3/endpoints"), None).0 == 200).then_some(())
        })
        .expect("manager answers");
    }

    pub fn stop(&mut self) {
        self.proc = None;
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        call(method, &format!("{}{path}", self.url), body)
    }

    pub fn endpoint(&self, id: &str) -> Value {
        self.call("GET", &format!("/api/v3/endpoints/{id}"), None).1
    }

    pub fn register(&self, c: &Cluster, sets: &[&str], apply: bool) {
        let (st, body) = self.call(
            "POST",
            "/api/v3/endpoints",
            Some(endpoint_body(c, sets, apply)),
        );
        assert!(st == 201 || st == 200, "register gave {st}: {body}");
    }

    /// Waits until `id` reports `ConnectionStatus` `status`; the endpoint then.
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        wait(timeout, || {
            let e = self.endpoint(id);
            (e["ConnectionStatus"] == status).then_some(e)
        })
        .unwrap_or_else(|| {
            panic!(
                "{id} never {status}: {}\nmanager log ends:\n{}",
                self.endpoint(id),
                self.log_tail(80)
            )
        })
    }

    /// Waits until the endpoint's applied state came from `commit`.
    pub fn wait_applied(&self, id: &str, commit: &str, timeout: Duration) -> Value {
        wait(timeout, || {
            let e = self.endpoint(id);
            (e["AppliedVersionSet"]["GitCommit"] == commit).then_some(e)
        })
        .unwrap_or_else(|| {
            panic!(
                "{commit} not applied to {id}: {}\nmanager log ends:\n{}",
                self.endpoint(id),
                self.log_tail(80)
            )
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
    }

    /// The last `n` lines of the log: what a failed wait shows of why.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// The registration body of a cluster: its URLs and the admin credentials (no `manager/ca`).
pub fn endpoint_body(c: &Cluster, sets: &[&str], apply: bool) -> Value {
    let urls: Vec<&str> = c.nodes.iter().map(|n| n.url.as_str()).collect();
    json!({
        "Id": c.ha_id,
        "Params": {
            "manager/url": c.nodes[0].url,
            "manager/urls": urls,
            "manager/username": "rocketskates",
            "manager/password": PASSWORD,
        },
        "VersionSets": sets,
        "Apply": apply,
    })
}

/// `sha256:<hex>` of the (first) certificate of a PEM text.
pub fn pem_fingerprint(pem: &str) -> String {
    let der = manager::cluster::trust::parse_pem(pem).unwrap().remove(0);
    manager::cluster::trust::fingerprint(&der)
}

/// A git repo driven with the git CLI (the manager reads it with gix).
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Self {
        let r = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        r.git(&["init", "-q", "-b", "main"]);
        r
    }

    pub fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.dir.path())
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@x")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@x")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {:?}", out);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Writes `files` and commits them; the new commit's id.
    pub fn commit(&self, files: &[(&str, &str)]) -> String {
        for (rel, text) in files {
            let p = self.dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-qm", "change"]);
        self.git(&["rev-parse", "HEAD"])
    }
}

pub fn base_set(pref: &str) -> String {
    format!("Id: base\nApply: true\nPrefs:\n  test/pref: \"{pref}\"\n")
}
