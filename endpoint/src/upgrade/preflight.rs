//! `drp-endpoint --upgrade-preflight --data-dir D`: run by the old binary on the staged one
//! before it execs it. A binary that cannot even start this (a script that exits at once)
//! could not exec back either, so it is refused here while the old binary still serves.
//!
//! The running member holds the store's file lock, so the preflight does not open the store:
//! the old binary writes `upgrade/preflight.json` with the newest command version the
//! cluster's log may hold (the cluster's effective version), and the staged binary checks
//! that it understands it and that the data dir is there, then prints its version.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::command::COMMAND_VERSION;

pub const FLAG: &str = "--upgrade-preflight";

#[derive(Debug, Serialize, Deserialize)]
pub struct Needs {
    #[serde(rename = "CommandVersion")]
    pub command_version: u32,
}

pub fn needs_path(data_dir: &Path) -> PathBuf {
    super::status::dir(data_dir).join("preflight.json")
}

/// Runs the preflight for `args` (argv after argv[0], starting with [`FLAG`]); returns the
/// process exit code.
pub fn main(args: &[String]) -> i32 {
    match check(args) {
        Ok(version) => {
            println!("drp-endpoint {version}");
            0
        }
        Err(why) => {
            eprintln!("upgrade preflight failed: {why}");
            1
        }
    }
}

/// Why the staged binary refuses the data dir it would serve.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("usage: {FLAG} --data-dir DIR")]
    Usage,
    #[error("{} holds no member store", .0.display())]
    NoStore(PathBuf),
    #[error("reading {}: {}", .0.display(), .1)]
    Read(PathBuf, std::io::Error),
    #[error("{}: {}", .0.display(), .1)]
    Decode(PathBuf, serde_json::Error),
    #[error("the cluster's log uses command version {0}, this binary understands up to {COMMAND_VERSION}")]
    TooNew(u32),
}

fn check(args: &[String]) -> Result<String, PreflightError> {
    let data_dir = match args {
        [flag, d, dir] if flag == FLAG && d == "--data-dir" => PathBuf::from(dir),
        _ => return Err(PreflightError::Usage),
    };
    if !data_dir.join("state.redb").is_file() {
        return Err(PreflightError::NoStore(data_dir));
    }
    let path = needs_path(&data_dir);
    let raw = std::fs::read(&path).map_err(|e| PreflightError::Read(path.clone(), e))?;
    let needs: Needs =
        serde_json::from_slice(&raw).map_err(|e| PreflightError::Decode(path.clone(), e))?;
    if needs.command_version > COMMAND_VERSION {
        return Err(PreflightError::TooNew(needs.command_version));
    }
    Ok(env!("CARGO_PKG_VERSION").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_checks_the_data_dir_and_the_command_version() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_string();
        let args = |d: &str| vec![FLAG.to_string(), "--data-dir".into(), d.to_string()];
        assert!(check(&args(&d))
            .unwrap_err()
            .to_string()
            .contains("no member store"));
        std::fs::write(dir.path().join("state.redb"), b"").unwrap();
        assert!(check(&args(&d))
            .unwrap_err()
            .to_string()
            .contains("preflight.json"));
        std::fs::create_dir_all(super::super::status::dir(dir.path())).unwrap();
        let write = |v: u32| {
            let raw = serde_json::to_vec(&Needs { command_version: v }).unwrap();
            std::fs::write(needs_path(dir.path()), raw).unwrap();
        };
        write(COMMAND_VERSION + 1);
        assert!(check(&args(&d))
            .unwrap_err()
            .to_string()
            .contains("understands up to"));
        write(COMMAND_VERSION);
        assert_eq!(check(&args(&d)).unwrap(), env!("CARGO_PKG_VERSION"));
        assert!(check(&args(&d)[..1]).is_err());
    }
}
