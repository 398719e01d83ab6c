//! A cluster harness that runs REAL `drp-endpoint` processes on loopback.
//!
//! * Every node gets free ports and its own temp dir (data dir + `node.log` capturing the
//!   process's stdout and stderr).
//! * Every process is SIGKILLed when its [`Node`] is dropped (also during a panic), and the
//!   kernel kills it if the harness process dies (`PR_SET_PDEATHSIG`).
//! * When a [`Cluster`] is dropped without [`Cluster::success`] having been called (a failed
//!   assertion, an early `?` return, a panic) the tail of every node's log is printed.
//! * Set `DRP_KEEP_DIRS=1` to keep the temp dirs after a failure (their paths are printed).
//!
//! The binary is `$DRP_ENDPOINT_BIN`, or built once per process with
//! `cargo build -p endpoint --bin drp-endpoint` in the profile of the running executable.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::http::{Http, Req, ADMIN_PASSWORD};

// ---------------------------------------------------------------------------------------------
// Locating binaries
// ---------------------------------------------------------------------------------------------

static ENDPOINT_BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
static MANAGER_BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
static AGENT_BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The kernel kills the child when this process dies (`PR_SET_PDEATHSIG`), so no node, VM or
/// peer outlives a crashed test.
pub fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// Path of `drp-endpoint`: `$DRP_ENDPOINT_BIN`, else built once per process.
pub fn endpoint_bin() -> Result<PathBuf> {
    locate(
        "DRP_ENDPOINT_BIN",
        "endpoint",
        "drp-endpoint",
        &ENDPOINT_BIN,
    )
}

/// Path of `drp-agent`: `$DRP_AGENT_BIN`, else built once per process.
pub fn agent_bin() -> Result<PathBuf> {
    locate("DRP_AGENT_BIN", "endpoint", "drp-agent", &AGENT_BIN)
}

/// Path of `drp-manager`: `$DRP_MANAGER_BIN`, else built once per process.
pub fn manager_bin() -> Result<PathBuf> {
    locate("DRP_MANAGER_BIN", "manager", "drp-manager", &MANAGER_BIN)
}

fn locate(
    env: &str,
    package: &str,
    bin: &str,
    cell: &OnceLock<Result<PathBuf, String>>,
) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("${env} = {} is not a file", p.display());
        }
        return Ok(p);
    }
    cell.get_or_init(|| build(package, bin).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

/// `(target/<profile> dir, profile dir name)` of the running executable.
fn profile_dir() -> Result<(PathBuf, String)> {
    let exe = std::env::current_exe().context("current_exe")?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent", exe.display()))?;
    if dir.file_name().and_then(|n| n.to_str()) == Some("deps") {
        dir = dir
            .parent()
            .ok_or_else(|| anyhow!("{} has no parent", dir.display()))?;
    }
    let profile = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("cannot tell the profile from {}", exe.display()))?
        .to_string();
    Ok((dir.to_path_buf(), profile))
}

fn bin_env(bin: &str) -> String {
    format!("{}_BIN", bin.to_ascii_uppercase().replace('-', "_"))
}

fn build(package: &str, bin: &str) -> Result<PathBuf> {
    let (dir, profile) = profile_dir()?;
    let target = dir
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent", dir.display()))?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| anyhow!("no workspace root"))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", package, "--bin", bin])
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", target)
        .stdin(Stdio::null());
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    // A build killed by a signal (e.g. another tool interrupting cargo) is retried once; a
    // compile error is not.
    let mut status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if status.code().is_none() {
        eprintln!("{cmd:?} was killed ({status}); retrying once");
        status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    }
    if !status.success() {
        bail!(
            "{cmd:?} failed: {status} (set ${} to use a prebuilt binary)",
            bin_env(bin)
        );
    }
    let path = dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        bail!("{cmd:?} succeeded but {} is missing", path.display());
    }
    Ok(path)
}

// ---------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback TCP port that was free a moment ago and that this process has not handed out.
pub fn free_port() -> Result<u16> {
    for _ in 0..1000 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        let mut g = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if g.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
    bail!("no free port found")
}

/// Poll `cond` every 50 ms until it yields `Some` or `timeout` passes. An `Err` from `cond`
/// counts as "not yet" and is reported if the wait times out.
pub async fn wait_for<T>(
    timeout: Duration,
    what: &str,
    mut cond: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    let mut last: Option<anyhow::Error> = None;
    loop {
        match cond().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = Some(e),
        }
        if start.elapsed() >= timeout {
            match last {
                Some(e) => {
                    bail!("timed out after {timeout:?} waiting for {what}; last error: {e:#}")
                }
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Serialises tests that run clusters: they measure timings on a 2-core machine, so they must
/// not compete with each other. Hold the guard for the whole test.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// The last `lines` lines of a file (lossy UTF-8).
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(cannot open {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(256 * 1024);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let s = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// Consensus API shapes
// ---------------------------------------------------------------------------------------------

/// `GET /api/v3/system/consensus/state`: the workspace's one definition, as the endpoint
/// serves it.
pub use proto::cluster::{ClusterState, NodeInfo};

// ---------------------------------------------------------------------------------------------
// Node
// ---------------------------------------------------------------------------------------------

/// How a node process is started.
#[derive(Debug, Clone)]
pub enum Start {
    Bootstrap,
    Join(Vec<String>),
    /// Plain restart: data dir and listen addresses only.
    Restart,
}

/// Options for every node of a cluster.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Extra `serve` arguments for every node (e.g. `--snapshot-every 500`).
    pub extra_args: Vec<String>,
    /// `RUST_LOG` for the nodes (default: `$DRP_NODE_LOG` or `info`).
    pub rust_log: String,
    /// How long a node may take to answer `/api/v3/info` after spawn.
    pub ready_timeout: Duration,
    /// How long a join may take until the node is a voter.
    pub join_timeout: Duration,
    /// Extra `serve` arguments computed for each node at every spawn, appended after
    /// `extra_args` (the fault suite uses it to put a proxy in front of each consensus port).
    pub node_args: Option<NodeArgs>,
    /// Let the nodes present the API certificate their cluster CA generated at bootstrap
    /// (trusted by reading `tls/ca.pem` from the first node), instead of the harness's.
    pub cluster_tls: bool,
    /// Run the nodes in network namespaces (tests/src/netns.rs): the k-th node created gets
    /// `placement[k]` (nodes past the end run on loopback as usual).
    pub placement: Option<Vec<Placement>>,
    /// Trust this CA (PEM) instead of the harness's test CA: for a test that gives the nodes
    /// its own `--tls-cert/--tls-key` in `extra_args` (the harness then passes none).
    pub trust_ca: Option<String>,
}

/// Where a node runs when it is not on loopback: `ip netns exec <netns> drp-endpoint ...`, the
/// API on `0.0.0.0:8092` (so a virtual address on the namespace's interface reaches it too),
/// consensus on `<ip>:8093`, and `--api-url https://<ip>:8092 --consensus-addr <ip>:8093`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub netns: String,
    pub ip: std::net::IpAddr,
}

/// DRP's API port, used by nodes with a [`Placement`] (each in a network namespace of its own).
pub const PLACED_API_PORT: u16 = 8092;
/// DRP's consensus port, used by nodes with a [`Placement`].
pub const PLACED_CONSENSUS_PORT: u16 = 8093;

/// The function inside [`NodeArgs`].
pub type NodeArgsFn = dyn Fn(&Node) -> Vec<String> + Send + Sync;

/// A per-node argument hook for [`Opts::node_args`]: called with the node about to be spawned.
#[derive(Clone)]
pub struct NodeArgs(pub std::sync::Arc<NodeArgsFn>);

impl std::fmt::Debug for NodeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeArgs(..)")
    }
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            extra_args: Vec::new(),
            rust_log: std::env::var("DRP_NODE_LOG").unwrap_or_else(|_| "info".into()),
            ready_timeout: Duration::from_secs(20),
            join_timeout: Duration::from_secs(30),
            node_args: None,
            cluster_tls: false,
            placement: None,
            trust_ca: None,
        }
    }
}

/// One `drp-endpoint` process (or its stopped remains: data dir and log).
pub struct Node {
    pub name: String,
    pub ha_id: String,
    bin: PathBuf,
    dir: PathBuf,
    api_port: u16,
    consensus_port: u16,
    opts: Opts,
    placement: Option<Placement>,
    child: Option<Child>,
    paused: bool,
    retired: bool,
    consensus_id: Option<String>,
    http: Http,
}

impl Node {
    fn new(
        name: &str,
        ha_id: &str,
        root: &Path,
        bin: &Path,
        opts: &Opts,
        http: &Http,
        placement: Option<Placement>,
    ) -> Result<Self> {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("data"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let (api_port, consensus_port) = match placement {
            Some(_) => (PLACED_API_PORT, PLACED_CONSENSUS_PORT),
            None => (free_port()?, free_port()?),
        };
        Ok(Node {
            name: name.to_string(),
            ha_id: ha_id.to_string(),
            bin: bin.to_path_buf(),
            dir,
            api_port,
            consensus_port,
            opts: opts.clone(),
            placement,
            child: None,
            paused: false,
            retired: false,
            consensus_id: None,
            http: http.clone(),
        })
    }

    /// Spawn the process (it must not be running).
    pub fn spawn(&mut self, how: Start) -> Result<()> {
        if self.child.is_some() {
            bail!("{} is already running", self.name);
        }
        let log_path = self.log_path();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let node_args = self
            .opts
            .node_args
            .as_ref()
            .map(|h| (h.0)(self))
            .unwrap_or_default();
        let mut cmd = match &self.placement {
            // `ip netns exec` execs the binary: the child's pid is drp-endpoint's own.
            Some(p) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", &p.netns]).arg(&self.bin);
                cmd
            }
            None => Command::new(&self.bin),
        };
        let api_listen = match &self.placement {
            Some(_) => format!("0.0.0.0:{}", self.api_port),
            None => format!("127.0.0.1:{}", self.api_port),
        };
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--api-listen")
            .arg(api_listen)
            .arg("--consensus-listen")
            .arg(self.consensus_addr())
            .arg("--ha-id")
            .arg(&self.ha_id);
        if self.placement.is_some() {
            cmd.arg("--api-url")
                .arg(self.url())
                .arg("--consensus-addr")
                .arg(self.consensus_addr());
        }
        match &how {
            Start::Bootstrap => {
                cmd.arg("--bootstrap");
            }
            Start::Join(urls) => {
                cmd.arg("--join").arg(urls.join(","));
            }
            Start::Restart => {}
        }
        let own_cert = self
            .opts
            .extra_args
            .iter()
            .chain(&node_args)
            .any(|a| a == "--tls-cert");
        if !self.opts.cluster_tls && !own_cert {
            let (cert, key) = crate::tls::write_api_cert(&self.dir)?;
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        // Boot services stay off unless a test asks for them: every cluster's active member
        // would otherwise compete for 8091, 69 and 67 on this host.
        for flag in ["--static-port", "--tftp-port", "--dhcp-port"] {
            let given = self.opts.extra_args.iter().chain(&node_args);
            if !given.into_iter().any(|a| a == flag) {
                cmd.arg(flag).arg("0");
            }
        }
        cmd.args(&self.opts.extra_args)
            .args(&node_args)
            .env("RS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", &self.opts.rust_log)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?);
        let _ = writeln!(log, "==== harness: spawning {:?}", cmd);
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.bin.display()))?;
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    /// SIGKILL the process and reap it. No-op if not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.note(&format!("==== harness: killed {} (SIGKILL)", self.name));
        }
        self.paused = false;
    }

    /// Start again with the same data dir and ports (no --bootstrap/--join) and wait until the
    /// API answers.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn(Start::Restart)?;
        self.wait_ready(self.opts.ready_timeout).await
    }

    /// SIGSTOP the process.
    pub fn pause(&mut self) -> Result<()> {
        self.signal(libc::SIGSTOP)?;
        self.wait_all_threads_stopped()?;
        self.paused = true;
        self.note(&format!("==== harness: paused {} (SIGSTOP)", self.name));
        Ok(())
    }

    /// SIGCONT the process.
    pub fn resume(&mut self) -> Result<()> {
        self.signal(libc::SIGCONT)?;
        self.paused = false;
        self.note(&format!("==== harness: resumed {} (SIGCONT)", self.name));
        Ok(())
    }

    /// kill(2) returns before every thread has stopped: a thread running on another core
    /// could still answer a request sent at once (the harness test once got a 200 from a
    /// "paused" node). Waits until /proc shows every thread stopped.
    fn wait_all_threads_stopped(&self) -> Result<()> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| anyhow!("{} is not running", self.name))?;
        let tasks = format!("/proc/{}/task", child.id());
        let stopped = || -> bool {
            let Ok(entries) = std::fs::read_dir(&tasks) else {
                return false;
            };
            entries.flatten().all(|t| {
                std::fs::read_to_string(t.path().join("stat")).is_ok_and(|stat| {
                    // The state follows the parenthesised name, which may hold spaces.
                    stat.rsplit_once(") ")
                        .is_some_and(|(_, rest)| rest.starts_with('T') || rest.starts_with('t'))
                })
            })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !stopped() {
            if Instant::now() > deadline {
                bail!("{} did not stop within 5 s of SIGSTOP", self.name);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn signal(&self, sig: libc::c_int) -> Result<()> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| anyhow!("{} is not running", self.name))?;
        let pid = libc::pid_t::try_from(child.id())?;
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(pid, sig) };
        if rc != 0 {
            bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn note(&self, line: &str) {
        if let Ok(mut f) = OpenOptions::new().append(true).open(self.log_path()) {
            let _ = writeln!(f, "{line}");
        }
    }

    /// Kill it and delete its data dir: the next [`Node::spawn`] starts a new identity on the
    /// same ports.
    pub fn wipe(&mut self) -> Result<()> {
        self.kill();
        let data = self.data_dir();
        std::fs::remove_dir_all(&data).with_context(|| format!("removing {}", data.display()))?;
        std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        self.consensus_id = None;
        self.note(&format!(
            "==== harness: wiped the data dir of {}",
            self.name
        ));
        Ok(())
    }

    /// Kill it and exclude it from [`Cluster::live`] for good (after removal from membership).
    pub fn retire(&mut self) {
        self.kill();
        self.retired = true;
    }

    /// Running and not paused.
    pub fn is_up(&self) -> bool {
        self.child.is_some() && !self.paused
    }
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
    pub fn is_retired(&self) -> bool {
        self.retired
    }
    /// Has the process exited on its own? (Reaps it if so.)
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// `https://127.0.0.1:<api port>` (`https://<ip>:8092` for a node with a [`Placement`]).
    pub fn url(&self) -> String {
        format!("https://{}", self.host_port(self.api_port))
    }
    /// `https://127.0.0.1:<api port>/api/v3<path>`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v3{}", self.url(), path)
    }
    pub fn api_port(&self) -> u16 {
        self.api_port
    }
    pub fn consensus_addr(&self) -> String {
        self.host_port(self.consensus_port)
    }
    fn host_port(&self, port: u16) -> String {
        match self.placement.as_ref().map(|p| p.ip) {
            Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            Some(ip) => format!("{ip}:{port}"),
            None => format!("127.0.0.1:{port}"),
        }
    }
    /// Where the node runs, when not on loopback.
    pub fn placement(&self) -> Option<&Placement> {
        self.placement.as_ref()
    }
    /// The running process's pid (with a [`Placement`]: drp-endpoint's own, as
    /// `ip netns exec` execs it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("node.log")
    }
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path(), lines)
    }
    /// The first `max` lines that look like errors or panics (harness notes excluded).
    pub fn first_errors(&self, max: usize) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("panicked") || l.contains("FATAL"))
            .take(max)
            .map(|l| crate::http::truncate(l, 600))
            .collect()
    }

    /// The whole log (for grepping).
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// This node's ConsensusID (known once it has been ready once; it never changes).
    pub fn consensus_id(&self) -> &str {
        self.consensus_id.as_deref().unwrap_or("")
    }

    pub fn http(&self) -> &Http {
        &self.http
    }
    pub fn get(&self, path: &str) -> Req<'_> {
        self.http.get(self.api(path))
    }
    pub fn post(&self, path: &str) -> Req<'_> {
        self.http.post(self.api(path))
    }
    pub fn put(&self, path: &str) -> Req<'_> {
        self.http.put(self.api(path))
    }
    pub fn delete(&self, path: &str) -> Req<'_> {
        self.http.delete(self.api(path))
    }
    pub fn head(&self, path: &str) -> Req<'_> {
        self.http.head(self.api(path))
    }

    /// Wait until `GET /api/v3/info` answers 200, then learn the ConsensusID.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let mut last: String;
        loop {
            if let Some(st) = self.exited() {
                self.child = None;
                bail!("{} exited during startup: {st}", self.name);
            }
            match self
                .get("/info")
                .timeout(Duration::from_secs(1))
                .send()
                .await
            {
                Ok(r) if r.status == 200 => break,
                Ok(r) => last = format!("status {}: {}", r.status, r.text()),
                Err(e) => last = format!("{e:#}"),
            }
            if start.elapsed() > timeout {
                bail!("{} not ready after {timeout:?}: {last}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let id: String = wait_for(Duration::from_secs(5), "consensus id", async || {
            let r = self
                .get("/system/consensus/id")
                .timeout(Duration::from_secs(1))
                .send()
                .await?
                .expect(200)?;
            let id: String = r.json()?;
            Ok((!id.is_empty()).then_some(id))
        })
        .await?;
        if let Some(old) = &self.consensus_id {
            if *old != id {
                bail!(
                    "{} changed its ConsensusID across a restart: {old} -> {id}",
                    self.name
                );
            }
        }
        self.consensus_id = Some(id);
        Ok(())
    }

    /// `GET /system/consensus/state` with a short timeout.
    pub async fn state(&self) -> Result<ClusterState> {
        self.get("/system/consensus/state")
            .timeout(Duration::from_secs(2))
            .send()
            .await?
            .expect(200)?
            .json()
    }

    /// `GET /system/consensus/leader` ("" during an election).
    pub async fn leader_id(&self, timeout: Duration) -> Result<String> {
        self.get("/system/consensus/leader")
            .timeout(timeout)
            .send()
            .await?
            .expect(200)?
            .json()
    }

    /// `POST /profiles {"Name": name, "Params": params}`.
    pub async fn create_profile(&self, name: &str, params: Value) -> Result<crate::http::Resp> {
        self.post("/profiles")
            .json(&json!({"Name": name, "Description": "harness", "Params": params}))
            .send()
            .await
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------------------------

/// A set of nodes sharing an HaID. Dropping it kills every process.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub ha_id: String,
    pub http: Http,
    opts: Opts,
    bin: PathBuf,
    root: Option<tempfile::TempDir>,
    ok: bool,
}

impl Cluster {
    /// `n` voters: one bootstrapped, the rest joined one by one; waits until every member
    /// agrees on `n` voters and one leader.
    pub async fn start(n: usize) -> Result<Cluster> {
        Self::start_with(n, Opts::default()).await
    }

    pub async fn start_with(n: usize, opts: Opts) -> Result<Cluster> {
        anyhow::ensure!(n >= 1, "a cluster needs at least one node");
        let bin = endpoint_bin()?;
        let root = tempfile::Builder::new()
            .prefix("drp-cluster-")
            .tempdir()
            .context("creating the cluster temp dir")?;
        let mut c = Cluster {
            nodes: Vec::new(),
            ha_id: format!("ha-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            http: match &opts.trust_ca {
                Some(ca) => Http::trusting(ca)?,
                None => Http::new()?,
            },
            opts,
            bin,
            root: Some(root),
            ok: false,
        };
        let first = c.new_node()?;
        c.nodes[first].spawn(Start::Bootstrap)?;
        let rt = c.opts.ready_timeout;
        if c.opts.cluster_tls {
            let path = c.nodes[first].data_dir().join("tls").join("ca.pem");
            let ca = wait_for(rt, "the cluster CA file", async || {
                Ok(std::fs::read_to_string(&path)
                    .ok()
                    .filter(|s| s.contains("END")))
            })
            .await?;
            c.http = Http::trusting(&ca)?;
            c.nodes[first].http = c.http.clone();
        }
        c.nodes[first].wait_ready(rt).await?;
        c.wait_leader(Duration::from_secs(20)).await?;
        for _ in 1..n {
            c.add_node().await?;
        }
        c.wait_converged(n, Duration::from_secs(20)).await?;
        Ok(c)
    }

    fn root(&self) -> Result<&Path> {
        self.root
            .as_ref()
            .map(|t| t.path())
            .ok_or_else(|| anyhow!("cluster dir gone"))
    }

    fn new_node(&mut self) -> Result<usize> {
        let name = format!("n{}", self.nodes.len() + 1);
        let placement = self
            .opts
            .placement
            .as_ref()
            .and_then(|p| p.get(self.nodes.len()).cloned());
        let node = Node::new(
            &name,
            &self.ha_id,
            self.root()?,
            &self.bin,
            &self.opts,
            &self.http,
            placement,
        )?;
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    /// Start a new node with `--join <every live member>` and wait until it is a voter.
    pub async fn add_node(&mut self) -> Result<usize> {
        let urls: Vec<String> = self.live().iter().map(|&i| self.nodes[i].url()).collect();
        anyhow::ensure!(!urls.is_empty(), "no live member to join");
        let i = self.new_node()?;
        self.nodes[i].spawn(Start::Join(urls))?;
        let rt = self.opts.ready_timeout;
        self.nodes[i].wait_ready(rt).await?;
        let id = self.nodes[i].consensus_id().to_string();
        let jt = self.opts.join_timeout;
        let this = &*self;
        wait_for(
            jt,
            &format!("{} ({id}) to become a voter", this.nodes[i].name),
            async || {
                let l = this
                    .try_leader()
                    .await
                    .ok_or_else(|| anyhow!("no leader"))?;
                let st = this.nodes[l].state().await?;
                Ok(st
                    .nodes
                    .iter()
                    .any(|n| n.consensus_id == id && n.voter)
                    .then_some(()))
            },
        )
        .await?;
        Ok(i)
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }
    pub fn node_mut(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i]
    }

    /// Indices of nodes that are running, not paused and not retired.
    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_up() && !self.nodes[i].retired)
            .collect()
    }

    /// Index of the node with this ConsensusID.
    pub fn index_of(&self, consensus_id: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| !consensus_id.is_empty() && n.consensus_id() == consensus_id)
    }

    /// One probe: a live node that some live node names as leader and that names itself.
    pub async fn try_leader(&self) -> Option<usize> {
        let live = self.live();
        let answers = futures::future::join_all(
            live.iter()
                .map(|&i| self.nodes[i].leader_id(Duration::from_millis(500))),
        )
        .await;
        let mut candidates: Vec<usize> = answers
            .into_iter()
            .filter_map(|a| a.ok())
            .filter_map(|id| self.index_of(&id))
            .filter(|i| live.contains(i))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        for c in candidates {
            if let Ok(id) = self.nodes[c].leader_id(Duration::from_millis(500)).await {
                if id == self.nodes[c].consensus_id() {
                    return Some(c);
                }
            }
        }
        None
    }

    /// The current leader's index, waiting up to 10 s for one.
    pub async fn leader(&self) -> Result<usize> {
        self.wait_leader(Duration::from_secs(10)).await
    }

    pub async fn wait_leader(&self, timeout: Duration) -> Result<usize> {
        wait_for(timeout, "a leader", async || Ok(self.try_leader().await)).await
    }

    /// Wait until every live node reports `voters` voters, exactly one leader, and the same
    /// LeaderID (a live node). Returns the leader's index.
    pub async fn wait_converged(&self, voters: usize, timeout: Duration) -> Result<usize> {
        wait_for(
            timeout,
            &format!("{voters} voters and one agreed leader"),
            async || {
                let live = self.live();
                let states =
                    futures::future::join_all(live.iter().map(|&i| self.nodes[i].state())).await;
                let mut leader: Option<String> = None;
                for (&i, st) in live.iter().zip(states) {
                    let st = st.with_context(|| format!("state of {}", self.nodes[i].name))?;
                    if st.voters().len() != voters {
                        bail!(
                            "{} sees {} voters: {:?}",
                            self.nodes[i].name,
                            st.voters().len(),
                            st.voter_ids()
                        );
                    }
                    let leaders = st.leaders();
                    if leaders.len() != 1
                        || st.leader_id.is_empty()
                        || leaders[0].consensus_id != st.leader_id
                    {
                        bail!(
                            "{} sees no single leader: LeaderID={:?}, roles={:?}",
                            self.nodes[i].name,
                            st.leader_id,
                            st.nodes.iter().map(|n| n.role.clone()).collect::<Vec<_>>()
                        );
                    }
                    match &leader {
                        None => leader = Some(st.leader_id.clone()),
                        Some(l) if *l != st.leader_id => {
                            bail!("leaders disagree: {l} vs {}", st.leader_id)
                        }
                        Some(_) => {}
                    }
                }
                let l = leader.ok_or_else(|| anyhow!("no live node"))?;
                let idx = self
                    .index_of(&l)
                    .ok_or_else(|| anyhow!("leader {l} is not a harness node"))?;
                if !live.contains(&idx) {
                    bail!("leader {l} is not live");
                }
                Ok(Some(idx))
            },
        )
        .await
    }

    /// `DELETE /system/consensus/node/<id>` through whoever leads, retried until the leader's
    /// membership no longer names it (a leadership change during the removal answers 503,
    /// and an operator or the manager retries).
    pub async fn remove_member(&self, id: &str) -> Result<()> {
        wait_for(
            Duration::from_secs(30),
            &format!("removing member {id}"),
            async || {
                let l = self.wait_leader(Duration::from_secs(10)).await?;
                let r = self.nodes[l]
                    .delete(&format!("/system/consensus/node/{id}"))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await?;
                if r.is_success() || r.status == 404 {
                    let st = self.nodes[l].state().await?;
                    return Ok(st.nodes.iter().all(|n| n.consensus_id != id).then_some(()));
                }
                bail!("{} -> {}: {}", r.what, r.status, r.text())
            },
        )
        .await
    }

    /// Wait until every live node has applied at least the leader's current commit index.
    pub async fn wait_caught_up(&self, timeout: Duration) -> Result<()> {
        let l = self.leader().await?;
        let target = self.nodes[l].state().await?.commit_index;
        for i in self.live() {
            let node = &self.nodes[i];
            wait_for(
                timeout,
                &format!("{} to apply index {target}", node.name),
                async || {
                    let st = node.state().await?;
                    Ok((st.applied_index >= target).then_some(()))
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Mark the test as passed: logs are not printed on drop.
    pub fn success(&mut self) {
        self.ok = true;
    }

    /// Print the tail of every node's log to stderr.
    pub fn dump_logs(&self, lines: usize) {
        for n in &self.nodes {
            eprintln!(
                "\n---- {} ({}, id {}, api {}, consensus {}) log tail: {} ----\n{}",
                n.name,
                if n.retired {
                    "retired"
                } else if n.is_running() {
                    "running"
                } else {
                    "stopped"
                },
                n.consensus_id(),
                n.url(),
                n.consensus_addr(),
                n.log_path().display(),
                n.log_tail(lines)
            );
            let firsts = n.first_errors(8);
            if !firsts.is_empty() {
                eprintln!(
                    "---- {}: first ERROR/panic lines ----\n{}",
                    n.name,
                    firsts.join("\n")
                );
            }
        }
    }
}

impl Cluster {
    /// Members whose log holds the admin password every harness node is given (the harness's
    /// own notes aside, which record its spawn command). Checked when every cluster of every
    /// suite (HA, faults, object API, soak) is dropped: no run may log it.
    fn leaked_secret(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| {
                n.log()
                    .lines()
                    .any(|l| !l.starts_with("==== harness") && l.contains(ADMIN_PASSWORD))
            })
            .map(|n| n.name.clone())
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        let leaked = if std::thread::panicking() {
            Vec::new()
        } else {
            self.leaked_secret()
        };
        if !leaked.is_empty() {
            self.ok = false;
        }
        if !self.ok || std::thread::panicking() {
            let lines = std::env::var("DRP_LOG_TAIL")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(60);
            self.dump_logs(lines);
            if std::env::var_os("DRP_KEEP_DIRS").is_some() {
                if let Some(root) = self.root.take() {
                    let path = root.keep();
                    eprintln!("kept cluster dir {}", path.display());
                }
            }
        }
        assert!(
            leaked.is_empty(),
            "the admin password appears in the log of {leaked:?}"
        );
    }
}
