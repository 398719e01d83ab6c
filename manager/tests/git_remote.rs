//! The manager following remote repositories, against real git servers on loopback: a bare
//! repository served by `git http-backend` (behind a small CGI server that wants a token) and
//! by `git daemon` (git://). A push is applied after a signed webhook; a wrongly signed or
//! unsigned one is a 401 that changes nothing; a fetch that fails (server stopped, token
//! refused) shows in status with its reason while the commit in force stays; the token never
//! appears in the manager's log or status.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use manager::http::webhook::signature::github_signature;
use serde_json::{json, Value};

const TOKEN: &str = "tok-7f3a9c1e5b2d4680";
const SECRET: &str = "hook-secret-42";

/// A CGI front for `git http-backend`: every request must carry `x-access-token:<token>`
/// as HTTP Basic (401 otherwise), as a hosted forge wants.
const CGI_SERVER: &str = r#"
import base64, os, subprocess, sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
port, root, token, backend = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
want = "Basic " + base64.b64encode(("x-access-token:" + token).encode()).decode()
class H(BaseHTTPRequestHandler):
    def do_GET(self): self.cgi()
    def do_POST(self): self.cgi()
    def cgi(self):
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1",
                   PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(body)), REMOTE_ADDR="127.0.0.1",
                   HTTP_GIT_PROTOCOL=self.headers.get("Git-Protocol", ""),
                   HTTP_CONTENT_ENCODING=self.headers.get("Content-Encoding", ""))
        out = subprocess.run([backend], input=body, env=env, capture_output=True).stdout
        sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
        head, _, rest = out.partition(sep)
        code, headers = 200, []
        for line in head.decode().splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                code = int(v.split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"#;

fn git_tool(name: &str) -> PathBuf {
    let out = Command::new("git").arg("--exec-path").output().unwrap();
    let exec = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    [exec.join(name), Path::new("/usr/lib/git-core").join(name)]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no {name} next to git"))
}

/// A bare repository `fleet.git` under a temp root, fed by pushes from a work repo.
struct Upstream {
    root: tempfile::TempDir,
    work: Repo,
}

impl Upstream {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let out = Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(root.path().join("fleet.git"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        Self {
            root,
            work: Repo::new(),
        }
    }

    /// Commits `files` in the work repo and pushes them; the commit.
    fn push(&self, files: &[(&str, &str)]) -> String {
        let sha = self.work.commit(files);
        let bare = self.root.path().join("fleet.git");
        self.work
            .git(&["push", "-q", bare.to_str().unwrap(), "HEAD:refs/heads/main"]);
        sha
    }
}

/// A server process on a loopback port, up once the port accepts connections.
fn serve(mut cmd: Command, port: u16, log: &Path) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let p = Proc(child);
    wait(Duration::from_secs(60), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    })
    .expect("git server listens");
    p
}

fn http_backend(up: &Upstream, port: u16, work: &Path) -> Proc {
    let script = work.join("cgi.py");
    std::fs::write(&script, CGI_SERVER).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg(port.to_string())
        .arg(up.root.path())
        .arg(TOKEN)
        .arg(git_tool("git-http-backend"));
    serve(cmd, port, &work.join("cgi.log"))
}

fn file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, format!("{text}\n")).unwrap();
    p.to_str().unwrap().to_owned()
}

/// `POST /api/v3/git/refresh` without the admin's credentials, with `headers`.
fn webhook(m: &Manager, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = http()
        .post(format!("{}/api/v3/git/refresh", m.url))
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().unwrap();
    let st = r.status().as_u16();
    (
        st,
        serde_json::from_str(&r.text().unwrap()).unwrap_or(Value::Null),
    )
}

fn git_view(m: &Manager) -> Value {
    m.call("GET", "/api/v3/git", None).1
}

#[test]
fn follows_an_http_remote_and_applies_a_push_after_a_signed_webhook() {
    let _g = serial();
    let c = Cluster::start("t-remote", 1);
    let up = Upstream::new();
    let sha1 = up.push(&[("version_sets/base.yaml", &base_set("one"))]);
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = http_backend(&up, port, work.path());
    let url = format!("http://127.0.0.1:{port}/fleet.git");
    let m = Manager::start(
        &work.path().join("m"),
        &[
            "--git-repo",
            &url,
            "--git-token-file",
            &file(work.path(), "token", TOKEN),
            "--webhook-secret-file",
            &file(work.path(), "secret", SECRET),
            // Only the first poll and webhooks fetch in this test.
            "--git-poll-seconds",
            "3600",
        ],
    );
    m.register(&c, &["base"], true);
    m.wait_applied("t-remote", &sha1, Duration::from_secs(60));
    let g = git_view(&m);
    assert_eq!(g["Repo"], url.as_str(), "{g}");
    assert_eq!(g["LastFetch"]["Ok"], true, "{g}");
    assert_eq!(g["LastFetch"]["Commit"], sha1.as_str(), "{g}");

    // A push, announced by webhooks: wrongly signed and unsigned ones change nothing.
    let sha2 = up.push(&[("version_sets/base.yaml", &base_set("two"))]);
    let payload = json!({"ref": "refs/heads/main", "before": sha1, "after": sha2}).to_string();
    let wrong = github_signature(payload.as_bytes(), b"not-the-secret");
    for headers in [
        vec![
            ("X-Hub-Signature-256", wrong.as_str()),
            ("X-GitHub-Event", "push"),
        ],
        vec![("X-GitHub-Event", "push")],
        vec![("X-Gitlab-Token", "not-the-secret")],
    ] {
        let (st, body) = webhook(&m, &payload, &headers);
        assert_eq!(st, 401, "{headers:?}: {body}");
    }
    let g = git_view(&m);
    assert_eq!(
        g["Commit"],
        sha1.as_str(),
        "a refused webhook changed the commit: {g}"
    );
    assert_eq!(
        g["LastFetch"]["Commit"],
        sha1.as_str(),
        "a refused webhook fetched: {g}"
    );
    assert_eq!(
        m.endpoint("t-remote")["AppliedVersionSet"]["GitCommit"],
        sha1.as_str()
    );

    let good = github_signature(payload.as_bytes(), SECRET.as_bytes());
    let (st, reply) = webhook(
        &m,
        &payload,
        &[("X-Hub-Signature-256", &good), ("X-GitHub-Event", "push")],
    );
    assert_eq!(st, 200, "{reply}");
    assert_eq!(reply["Saw"], sha2.as_str(), "{reply}");
    assert_eq!(reply["Event"], "GitHub", "{reply}");
    m.wait_applied("t-remote", &sha2, Duration::from_secs(60));

    // A push to another branch is acknowledged and ignored.
    let other = json!({"ref": "refs/heads/feature", "after": sha2}).to_string();
    let sig = github_signature(other.as_bytes(), SECRET.as_bytes());
    let (st, reply) = webhook(&m, &other, &[("X-Hub-Signature-256", &sig)]);
    assert_eq!(st, 202, "{reply}");

    // The server goes away: the fetch fails with its reason, the commit in force stays.
    drop(server);
    let (st, g) = m.call("POST", "/api/v3/git/refresh", Some(json!({})));
    assert_eq!(st, 200, "{g}");
    let err = g["LastFetch"]["Error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(err.contains(&url), "the failed fetch names the remote: {g}");
    assert_eq!(g["LastFetch"]["Ok"], false, "{g}");
    assert_eq!(g["Commit"], sha2.as_str(), "the commit in force stays: {g}");
    assert_eq!(
        m.endpoint("t-remote")["AppliedVersionSet"]["GitCommit"],
        sha2.as_str()
    );
    let out = Command::new(manager_bin())
        .args(["status", "--url", &m.url, "--password", PASSWORD])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(table.contains(&url) && table.contains("FAILED"), "{table}");

    // The token is in neither the log nor anything the API shows.
    let (_, status) = m.call("GET", "/api/v3/status", None);
    let (_, info) = m.call("GET", "/api/v3/info", None);
    for (what, text) in [
        ("log", m.log()),
        ("status", status.to_string()),
        ("info", info.to_string()),
        ("git", git_view(&m).to_string()),
        ("status table", table.to_string()),
    ] {
        assert!(!text.contains(TOKEN), "the token is in the {what}: {text}");
        assert!(
            !text.contains(SECRET),
            "the webhook secret is in the {what}"
        );
    }
}

#[test]
fn a_refused_token_shows_in_status_without_the_token() {
    let _g = serial();
    let up = Upstream::new();
    up.push(&[("version_sets/base.yaml", &base_set("one"))]);
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = http_backend(&up, port, work.path());
    let wrong = "wrong-token-0123456789";
    let m = Manager::start(
        &work.path().join("m"),
        &[
            "--git-repo",
            &format!("http://127.0.0.1:{port}/fleet.git"),
            "--git-token-file",
            &file(work.path(), "token", wrong),
        ],
    );
    let g = wait(Duration::from_secs(60), || {
        let g = git_view(&m);
        g["LastFetch"]["Error"].is_string().then_some(g)
    })
    .unwrap_or_else(|| panic!("no failed fetch in status: {}", git_view(&m)));
    let err = g["LastFetch"]["Error"].as_str().unwrap();
    assert!(err.contains("credentials"), "{g}");
    assert!(g["Commit"].is_null(), "nothing was ever fetched: {g}");
    assert!(!g.to_string().contains(wrong), "{g}");
    assert!(!m.log().contains(wrong), "the token is in the log");
}

#[test]
fn follows_a_git_daemon_remote() {
    let _g = serial();
    let up = Upstream::new();
    let sha1 = up.push(&[("version_sets/base.yaml", &base_set("one"))]);
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(git_tool("git-daemon"));
    cmd.args(["--reuseaddr", "--export-all", "--listen=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", up.root.path().display()))
        .arg(up.root.path());
    let _daemon = serve(cmd, port, &work.path().join("daemon.log"));
    let url = format!("git://127.0.0.1:{port}/fleet.git");
    let m = Manager::start(
        &work.path().join("m"),
        &["--git-repo", &url, "--git-poll-seconds", "3600"],
    );
    wait(Duration::from_secs(60), || {
        (git_view(&m)["Commit"] == sha1.as_str()).then_some(())
    })
    .unwrap_or_else(|| panic!("{sha1} never in force: {}", git_view(&m)));
    // GitLab-style: an admin refresh works without a secret; a second push is fetched
    // incrementally into the same mirror.
    let sha2 = up.push(&[("version_sets/base.yaml", &base_set("two"))]);
    let (st, g) = m.call("POST", "/api/v3/git/refresh", Some(json!({})));
    assert_eq!(st, 200, "{g}");
    assert_eq!(g["Saw"], sha2.as_str(), "{g}");
    assert_eq!(g["Commit"], sha2.as_str(), "{g}");
    assert_eq!(g["Repo"], url.as_str(), "{g}");
}

/// An OpenSSH server on a loopback port serving the current user's files, its host key, and
/// a client key it accepts. `None` (the test says SKIPPED) without Debian's openssh-server.
struct Sshd {
    _proc: Proc,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sshd {
    fn start() -> Option<Self> {
        let sshd = Path::new("/usr/sbin/sshd");
        if !sshd.exists() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for key in ["host", "client", "other_host"] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", ""])
                .arg("-f")
                .arg(d.join(key))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        std::fs::copy(d.join("client.pub"), d.join("authorized_keys")).unwrap();
        // sshd's privilege separation directory (Debian creates it at boot).
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\n\
             AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPidFile {d}/sshd.pid\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let mut cmd = Command::new(sshd);
        cmd.args(["-D", "-e", "-f"]).arg(d.join("sshd_config"));
        let proc = serve(cmd, port, &d.join("sshd.log"));
        Some(Self {
            _proc: proc,
            port,
            dir,
        })
    }

    /// A known_hosts naming `key`'s public half as this server's host key.
    fn known_hosts(&self, key: &str) -> String {
        let public = std::fs::read_to_string(self.dir.path().join(format!("{key}.pub"))).unwrap();
        let mut parts = public.split_whitespace();
        let (kind, base64) = (parts.next().unwrap(), parts.next().unwrap());
        file(
            self.dir.path(),
            &format!("known_hosts_{key}"),
            &format!("[127.0.0.1]:{} {kind} {base64}", self.port),
        )
    }

    fn client_key(&self) -> String {
        self.dir.path().join("client").to_str().unwrap().to_owned()
    }
}

#[test]
fn follows_an_ssh_remote_and_refuses_an_unknown_host_key() {
    let _g = serial();
    let Some(sshd) = Sshd::start() else {
        eprintln!("SKIPPED: no /usr/sbin/sshd (Debian's openssh-server)");
        return;
    };
    let up = Upstream::new();
    let sha1 = up.push(&[("version_sets/base.yaml", &base_set("one"))]);
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let url = format!(
        "ssh://{}@127.0.0.1:{}{}",
        user.trim(),
        sshd.port,
        up.root.path().join("fleet.git").display()
    );
    let work = tempfile::tempdir().unwrap();
    let m = Manager::start(
        &work.path().join("m"),
        &[
            "--git-repo",
            &url,
            "--git-ssh-key-file",
            &sshd.client_key(),
            "--git-known-hosts",
            &sshd.known_hosts("host"),
            "--git-poll-seconds",
            "3600",
        ],
    );
    wait(Duration::from_secs(60), || {
        (git_view(&m)["Commit"] == sha1.as_str()).then_some(())
    })
    .unwrap_or_else(|| panic!("{sha1} never in force: {}\n{}", git_view(&m), m.log()));

    // The same server behind a host key known_hosts does not name: refused, nothing taken.
    let m2 = Manager::start(
        &work.path().join("m2"),
        &[
            "--git-repo",
            &url,
            "--git-ssh-key-file",
            &sshd.client_key(),
            "--git-known-hosts",
            &sshd.known_hosts("other_host"),
            "--git-poll-seconds",
            "3600",
        ],
    );
    let g = wait(Duration::from_secs(60), || {
        let g = git_view(&m2);
        g["LastFetch"]["Error"].is_string().then_some(g)
    })
    .unwrap_or_else(|| panic!("no failed fetch in status: {}", git_view(&m2)));
    eprintln!("unknown host key: {}", g["LastFetch"]["Error"]);
    assert!(
        g["Commit"].is_null(),
        "a commit was taken from an unverified host: {g}"
    );
    assert!(
        m2.log().contains("Host key verification failed") || g.to_string().contains("Host key"),
        "ssh refused the host key: {g}\n{}",
        m2.log()
    );
}
