//! Node logs: tails, first errors, the harness's own notes, the dump printed when a test
//! fails, and the check that no log holds the admin password.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::{Cluster, Node};
use crate::http::ADMIN_PASSWORD;

/// The line the harness writes into a node's log before each spawn.
pub const SPAWN_MARK: &str = "==== harness: spawning";

/// The part of a node's log written since the harness last spawned it.
pub fn since_last_spawn(log: &str) -> &str {
    let at = log.rfind(SPAWN_MARK).unwrap_or(0);
    &log[at..]
}

/// A log without ANSI colour codes (the endpoint colours its log when it thinks it may).
pub fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(ch) = chars.next() {
        if ch == '\x1b' {
            // CSI: ESC '[' parameters, ended by a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(ch);
        }
    }
    out
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

impl Node {
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

    pub(super) fn note(&self, line: &str) {
        if let Ok(mut f) = OpenOptions::new().append(true).open(self.log_path()) {
            let _ = writeln!(f, "{line}");
        }
    }
}

impl Cluster {
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

    /// Members whose log holds the admin password every harness node is given (the harness's
    /// own notes aside, which record its spawn command). Checked when every cluster of every
    /// suite (HA, faults, object API, soak) is dropped: no run may log it.
    pub(super) fn leaked_secret(&self) -> Vec<String> {
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
