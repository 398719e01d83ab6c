//! Locating the binaries a test runs: `$DRP_*_BIN`, or built once per process with cargo in
//! the profile of the running executable.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};

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
