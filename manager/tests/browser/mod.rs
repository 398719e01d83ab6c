//! The Selenium driver process shared by the dashboard's browser tests: `driver.py` takes
//! one JSON command per line and answers one JSON reply per line. Screenshots go to
//! `<target>/tmp/dashboard/` (not committed).
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The Selenium driver process: one JSON command per line, one reply per line.
pub struct Browser {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Browser {
    pub fn start() -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/driver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the browser driver");
        let input = child.stdin.take().expect("driver stdin");
        let output = BufReader::new(child.stdout.take().expect("driver stdout"));
        let mut b = Self {
            child,
            input,
            output,
        };
        let hello = b.reply();
        assert_eq!(hello["value"], "ready", "driver: {hello}");
        b
    }

    fn reply(&mut self) -> Value {
        let mut line = String::new();
        self.output.read_line(&mut line).expect("driver reply");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("driver said {line:?}"))
    }

    /// Runs one command; panics with the driver's error when it fails.
    pub fn run(&mut self, cmd: Value) -> Value {
        writeln!(self.input, "{cmd}").expect("driver stdin");
        let r = self.reply();
        if r["ok"] != true {
            let path = shots_dir().join("failure.png");
            let _ = writeln!(self.input, "{}", json!({"op": "screenshot", "path": path}));
            let _ = self.reply();
            panic!(
                "browser command {cmd} failed (page in {}): {r}",
                path.display()
            );
        }
        r["value"].clone()
    }

    pub fn screenshot(&mut self, name: &str) {
        let path = shots_dir().join(format!("{name}.png"));
        self.run(json!({"op": "screenshot", "path": path}));
        eprintln!("screenshot: {}", path.display());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.input, "{}", json!({"op": "quit"}));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn shots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Why the browser test cannot run here, if it cannot.
pub fn missing_browser() -> Option<String> {
    for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        if !Path::new(bin).exists() {
            return Some(format!(
                "{bin} not installed (apt-get install chromium chromium-driver)"
            ));
        }
    }
    let selenium = Command::new("python3")
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success());
    (!selenium).then(|| "python3 selenium not installed (pip install selenium)".to_string())
}
