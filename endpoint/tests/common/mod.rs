//! A real one-node `drp-endpoint` for the crate's integration tests.
#![allow(dead_code)]

/// A `drp-endpoint serve --bootstrap` child process, killed on drop.
pub struct Node {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    pub base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// SIGTERM, then waits (up to 20 s) for the process to finish its shutdown.
    pub fn terminate(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..400 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

pub const ADMIN_PASSWORD: &str = "endpoint-tests";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub async fn start_node(http: &reqwest::Client) -> Node {
    start_node_with(http, &[]).await
}

/// A node started with extra `serve` flags. A node that exits before it is ready (a port
/// picked here was taken by another process in the meantime) is started again on new ports.
pub async fn start_node_with(http: &reqwest::Client, extra: &[&str]) -> Node {
    for _ in 0..3 {
        if let Some(node) = try_start_node(http, extra).await {
            return node;
        }
    }
    panic!("drp-endpoint did not become ready (3 attempts)");
}

async fn try_start_node(http: &reqwest::Client, extra: &[&str]) -> Option<Node> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (api, raft) = (free_port(), free_port());
    // Boot services stay off unless a test asks for them: parallel nodes would compete for
    // 8091, 69 and 67.
    let mut boot_off = Vec::new();
    for flag in ["--static-port", "--tftp-port", "--dhcp-port"] {
        if !extra.contains(&flag) {
            boot_off.extend([flag, "0"]);
        }
    }
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_drp-endpoint"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--api-listen", &format!("127.0.0.1:{api}")])
        .args(["--consensus-listen", &format!("127.0.0.1:{raft}")])
        .args(["--bootstrap", "--admin-password", ADMIN_PASSWORD])
        // These suites test the API's behaviour; TLS itself is tests/tests/security.rs's job.
        .arg("--no-tls")
        .args(&boot_off)
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn drp-endpoint");
    let mut node = Node {
        child,
        _dir: dir,
        base: format!("http://127.0.0.1:{api}/api/v3"),
    };
    // Ready when a linearizable read succeeds: the node is up and leads its cluster.
    for _ in 0..400 {
        let ok = http
            .get(format!("{}/contents", node.base))
            .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            return Some(node);
        }
        if node.child.try_wait().ok().flatten().is_some() {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("drp-endpoint did not become ready within 20 s");
}
