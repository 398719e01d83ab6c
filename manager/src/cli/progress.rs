//! Progress on long waits: an indicatif spinner with the elapsed time on a terminal, plain
//! start and end lines otherwise (logs and CI keep a readable record).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// One long step, shown until [`Step::done`] or [`Step::failed`] (or drop).
pub struct Step {
    bar: Option<ProgressBar>,
    what: String,
    started: Instant,
}

pub fn step(what: impl Into<String>) -> Step {
    let what = what.into();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("  {spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(what.clone());
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    if bar.is_none() {
        eprintln!("  {what} ...");
    }
    Step {
        bar,
        what,
        started: Instant::now(),
    }
}

/// A transfer of `total` bytes: a bar with bytes, rate and time left on a terminal; plain
/// start and end lines otherwise. Advanced with [`Step::advance`].
pub fn transfer(what: impl Into<String>, total: u64) -> Step {
    bar_step(
        what.into(),
        total,
        "  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ({eta} left)",
        &format!(" ({total} bytes)"),
    )
}

/// `total` items to go through: a bar with a count on a terminal; plain start and end lines
/// otherwise. Advanced with [`Step::advance`].
pub fn items(what: impl Into<String>, total: usize) -> Step {
    bar_step(
        what.into(),
        total as u64,
        "  {msg} [{bar:30}] {pos}/{len} ({elapsed})",
        "",
    )
}

/// A step shown as a bar of `total` units on a terminal; `plain_suffix` follows the name on
/// the plain start line.
fn bar_step(what: String, total: u64, template: &str, plain_suffix: &str) -> Step {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.clone());
        bar
    });
    if bar.is_none() {
        eprintln!("  {what}{plain_suffix} ...");
    }
    Step {
        bar,
        what,
        started: Instant::now(),
    }
}

impl Step {
    /// `n` more bytes went through (a transfer's bar; nothing otherwise).
    pub fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Updates what the step is waiting on (shown on a terminal only).
    pub fn set(&self, detail: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}: {detail}", self.what));
        }
    }

    pub fn done(&self) {
        self.finish("done");
    }

    pub fn failed(&self) {
        self.finish("failed");
    }

    fn finish(&self, outcome: &str) {
        let line = format!(
            "  {}: {outcome} in {:.1} s",
            self.what,
            self.started.elapsed().as_secs_f64()
        );
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }
}
