//! Results: one [`Row`] per figure (ours, etcd, ratio), the goals from issue 7, a markdown
//! rendering for stdout and `docs/benchmarks.md`, and a JSON file.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::machine::Machine;

/// Which direction is better for a figure.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub workload: String,
    pub metric: String,
    pub unit: String,
    pub ours: Option<f64>,
    pub etcd: Option<f64>,
    pub better: Better,
    pub note: String,
}

impl Row {
    /// ours / etcd.
    pub fn ratio(&self) -> Option<f64> {
        match (self.ours, self.etcd) {
            (Some(o), Some(e)) if e > 0.0 => Some(o / e),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Goal {
    pub goal: String,
    pub measured: String,
    pub met: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub date: String,
    pub mode: String,
    pub command: String,
    pub machine: Machine,
    pub ours_binary: String,
    pub etcd_version: String,
    pub settings: Value,
    pub rows: Vec<Row>,
    pub goals: Vec<Goal>,
    /// Raw per-repetition samples and anything else worth keeping.
    pub details: Value,
    pub notes: Vec<String>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        workload: &str,
        metric: &str,
        unit: &str,
        better: Better,
        ours: Option<f64>,
        etcd: Option<f64>,
        note: &str,
    ) {
        self.rows.push(Row {
            workload: workload.into(),
            metric: metric.into(),
            unit: unit.into(),
            ours,
            etcd,
            better,
            note: note.into(),
        });
    }

    pub fn find(&self, workload: &str, metric: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.workload == workload && r.metric == metric)
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(s, "## drp-bench results ({} mode)\n", self.mode);
        let _ = writeln!(s, "- date: {}", self.date);
        let _ = writeln!(
            s,
            "- machine: {} cores ({}), {:.1} GiB RAM, kernel {}",
            m.cores, m.cpu, m.mem_gib, m.kernel
        );
        let _ = writeln!(
            s,
            "- disk: {}, {}; 4 KiB write+fdatasync p50 {} ms, p99 {} ms",
            m.disk,
            m.disk_kind,
            num(m.fsync_p50_ms),
            num(m.fsync_p99_ms)
        );
        let _ = writeln!(
            s,
            "- ours: {}; peer: {}",
            self.ours_binary, self.etcd_version
        );
        let _ = writeln!(s, "- command: `{}`", self.command);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| workload | metric | ours | etcd | ratio ours/etcd | better | note |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---|---|");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} ({}) | {} | {} | {} | {} | {} |",
                r.workload,
                r.metric,
                r.unit,
                num(r.ours),
                num(r.etcd),
                r.ratio().map_or("-".into(), |x| format!("{x:.2}×")),
                match r.better {
                    Better::Higher => "higher",
                    Better::Lower => "lower",
                },
                r.note
            );
        }
        if let Some(t) = super::footing::footing_table(self) {
            let _ = write!(s, "\n{t}");
        }
        let _ = writeln!(s, "\n### Goals (issues 7 and 19)\n");
        let _ = writeln!(s, "| goal | measured | met |");
        let _ = writeln!(s, "|---|---|---|");
        for g in &self.goals {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                g.goal,
                g.measured,
                match g.met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "n/a",
                }
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s, "\nNotes:\n");
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        std::fs::write(path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Replace the generated part of `path` (between the markers) with this run, keeping the
    /// hand-written text around it; create the file when missing.
    pub fn write_docs(&self, path: &Path) -> Result<()> {
        const BEGIN: &str = "<!-- drp-bench:begin (generated by drp-bench --docs; edits inside are overwritten) -->";
        const END: &str = "<!-- drp-bench:end -->";
        let generated = format!("{BEGIN}\n{}\n{END}", self.markdown().trim_end());
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let new = match (old.find("<!-- drp-bench:begin"), old.find(END)) {
            (Some(b), Some(e)) if e > b => {
                format!("{}{}{}", &old[..b], generated, &old[e + END.len()..])
            }
            _ if old.trim().is_empty() => format!("# Benchmarks\n\n{generated}\n"),
            _ => format!("{}\n\n{generated}\n", old.trim_end()),
        };
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
    }
}

/// A figure with sensible precision, "-" when missing.
pub fn num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
    }
}
