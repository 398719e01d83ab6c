//! The machine a run was measured on (cores, CPU, memory, the disk under the temp dir and its
//! fsync latency) and the UTC date, for the report.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::stats::percentile;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub mem_gib: f64,
    pub kernel: String,
    /// Device, filesystem and size of the temp dir's file system (`df`).
    pub disk: String,
    /// "ssd"/"hdd" from `/sys/block/<dev>/queue/rotational`, or "unknown".
    pub disk_kind: String,
    /// p50 of 200 × (4 KiB write + fdatasync) in the temp dir.
    pub fsync_p50_ms: Option<f64>,
    pub fsync_p99_ms: Option<f64>,
}

fn first_match(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

pub fn describe() -> Machine {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = first_match(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = first_match(&meminfo, "MemTotal")
        .and_then(|v| {
            v.split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let tmp = std::env::temp_dir();
    let (disk, disk_kind) = disk_of(&tmp);
    let (fsync_p50_ms, fsync_p99_ms) = fsync_probe(&tmp);
    Machine {
        cores,
        cpu,
        mem_gib,
        kernel,
        disk,
        disk_kind,
        fsync_p50_ms,
        fsync_p99_ms,
    }
}

fn disk_of(dir: &Path) -> (String, String) {
    let out = Command::new("df")
        .args(["-P", "-T", "-h"])
        .arg(dir)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let Some(line) = out.lines().nth(1) else {
        return ("unknown".into(), "unknown".into());
    };
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 7 {
        return (line.to_string(), "unknown".into());
    }
    let dev = f[0];
    let desc = format!("{dev} ({}, {}, mounted on {})", f[1], f[2], f[6]);
    let base = dev.trim_start_matches("/dev/");
    // vda1 -> vda, nvme0n1p2 -> nvme0n1
    let block = if base.starts_with("nvme") {
        base.split('p').next().unwrap_or(base).to_string()
    } else {
        base.trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string()
    };
    let kind = std::fs::read_to_string(format!("/sys/block/{block}/queue/rotational"))
        .map(|s| match s.trim() {
            "0" => "non-rotational".to_string(),
            "1" => "rotational=1 in /sys (virtual disks often say so)".to_string(),
            o => o.to_string(),
        })
        .unwrap_or_else(|_| "unknown".into());
    (desc, kind)
}

fn fsync_probe(dir: &Path) -> (Option<f64>, Option<f64>) {
    let path = dir.join(format!("drp-bench-fsync-{}", std::process::id()));
    let mut samples = Vec::new();
    if let Ok(mut f) = std::fs::File::create(&path) {
        let block = vec![0x5au8; 4096];
        for _ in 0..200 {
            let t = Instant::now();
            if f.write_all(&block).is_err() || f.sync_data().is_err() {
                break;
            }
            samples.push(t.elapsed());
        }
    }
    let _ = std::fs::remove_file(&path);
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    (
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 99.0)),
    )
}

/// `YYYY-MM-DD HH:MM UTC` of now.
pub fn utc_now() -> String {
    utc(SystemTime::now())
}

/// `YYYY-MM-DD HH:MM UTC` of `t`.
pub fn utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// What was measured: `git <short sha>[ (dirty)]` of the workspace and the binary's build time.
pub fn provenance(bin: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let sha = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&[
        "status",
        "--porcelain",
        "--",
        "endpoint",
        "manager",
        "proto",
    ])
    .is_some_and(|s| !s.is_empty());
    let built = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .map(utc)
        .unwrap_or_else(|_| "unknown".into());
    format!(
        "git {sha}{}, binary built {built}",
        if dirty {
            " (endpoint/manager/proto modified)"
        } else {
            ""
        }
    )
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }
}
