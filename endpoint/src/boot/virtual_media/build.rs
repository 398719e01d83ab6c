//! Building one El Torito image with xorriso: ISOLINUX for legacy BIOS, and when the EFI boot
//! image could be made ([`super::efi`]) GRUB for UEFI. The kernel and initrds are grafted in
//! from their on-disk copies (never copied), next to an `isolinux.cfg` and a GRUB config that
//! boot them with the planned command line.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::efi;
use super::error::IsoError;
use super::plan::{Plan, TOKEN_MARKER};
use crate::boot::cache::CachedFile;

/// Where Debian's `isolinux` and `syslinux-common` put the boot loader.
const ISOLINUX_BIN: &str = "/usr/lib/ISOLINUX/isolinux.bin";
const LDLINUX_C32: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
/// The MBR that makes the image bootable when written to a USB stick, too.
const ISOHYBRID_MBR: &str = "/usr/lib/ISOLINUX/isohdpfx.bin";
/// The longest a tool may take: they only copy files, so far less than this unless stuck.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds `plan`'s image at `dir/<hash>.iso` (through a partial file and a rename), with
/// `token` in place of the token marker, bootable by UEFI too when `efi_image` is given.
/// Blocking. The error names what failed.
pub fn build(
    dir: &Path,
    plan: &Plan,
    token: &str,
    efi_image: Option<&Path>,
) -> Result<CachedFile, IsoError> {
    for needed in [ISOLINUX_BIN, LDLINUX_C32] {
        if !Path::new(needed).is_file() {
            return Err(IsoError::Missing {
                file: needed,
                install: "the isolinux and syslinux-common packages",
            });
        }
    }
    let staging = dir.join(format!(".{}.d", plan.hash));
    let partial = dir.join(format!(".{}.partial", plan.hash));
    let done = dir.join(format!("{}.iso", plan.hash));
    let result = stage_and_run(&staging, &partial, plan, token, efi_image);
    let _ = fs::remove_dir_all(&staging);
    if let Err(e) = result {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    fs::rename(&partial, &done).map_err(IsoError::io("renaming the image into place"))?;
    let len = fs::metadata(&done)
        .map_err(IsoError::io("reading the built image"))?
        .len();
    Ok(CachedFile { path: done, len })
}

fn stage_and_run(
    staging: &Path,
    out: &Path,
    plan: &Plan,
    token: &str,
    efi_image: Option<&Path>,
) -> Result<(), IsoError> {
    let _ = fs::remove_dir_all(staging);
    fs::create_dir_all(staging).map_err(IsoError::io("creating the staging directory"))?;
    // Copied: xorriso patches the boot info table into the boot image it is given.
    let isolinux = staging.join("isolinux.bin");
    fs::copy(ISOLINUX_BIN, &isolinux).map_err(IsoError::io("copying isolinux.bin"))?;
    let cmdline = plan.cmdline.replace(TOKEN_MARKER, token);
    let cfg = staging.join("isolinux.cfg");
    fs::write(&cfg, isolinux_cfg(plan, &cmdline)).map_err(IsoError::io("writing isolinux.cfg"))?;
    let grub = staging.join("grub.cfg");
    fs::write(&grub, efi::grub_cfg(plan, &cmdline)).map_err(IsoError::io("writing grub.cfg"))?;
    let mut grafts: Vec<(String, PathBuf)> = vec![
        ("isolinux/isolinux.bin".into(), isolinux),
        ("isolinux/ldlinux.c32".into(), LDLINUX_C32.into()),
        ("isolinux/isolinux.cfg".into(), cfg),
        (efi::GRUB_CFG.into(), grub),
        ("vmlinuz".into(), plan.kernel.path.clone()),
    ];
    if let Some(img) = efi_image {
        grafts.push(("efiboot.img".into(), img.to_path_buf()));
    }
    for (i, rd) in plan.initrds.iter().enumerate() {
        grafts.push((format!("initrd{i}"), rd.path.clone()));
    }
    let mut cmd = Command::new("xorriso");
    cmd.args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(out)
        .args(["-V", "DRP_BOOT", "-R", "-J"])
        .args(["-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat"])
        .args(["-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"]);
    if Path::new(ISOHYBRID_MBR).is_file() {
        cmd.args(["-isohybrid-mbr", ISOHYBRID_MBR]);
    }
    if efi_image.is_some() {
        cmd.args(["-eltorito-alt-boot", "-e", "efiboot.img", "-no-emul-boot"])
            .arg("-isohybrid-gpt-basdat");
    }
    cmd.arg("-graft-points");
    for (at, from) in &grafts {
        let mut spec = std::ffi::OsString::from(format!("/{at}="));
        spec.push(from);
        cmd.arg(spec);
    }
    run("xorriso", "xorriso", cmd)
}

/// ISOLINUX's config: boot the kernel straight away (no prompt) with the initrds.
fn isolinux_cfg(plan: &Plan, cmdline: &str) -> String {
    let initrds: Vec<String> = (0..plan.initrds.len())
        .map(|i| format!("/initrd{i}"))
        .collect();
    let initrd = if initrds.is_empty() {
        String::new()
    } else {
        format!("initrd={} ", initrds.join(","))
    };
    format!(
        "DEFAULT drp\nPROMPT 0\nTIMEOUT 0\nLABEL drp\n  KERNEL /vmlinuz\n  APPEND {initrd}{cmdline}\n"
    )
}

/// Runs the tool `what` (from Debian's `package`) to completion, killing it after
/// [`TOOL_TIMEOUT`]; its stderr is the error.
pub(super) fn run(
    what: &'static str,
    package: &'static str,
    mut cmd: Command,
) -> Result<(), IsoError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => IsoError::ToolNotInstalled {
                tool: what,
                package,
            },
            _ => IsoError::ToolStart {
                tool: what,
                source: e.into(),
            },
        })?;
    // Read on a thread: a full pipe would stall xorriso while we wait for it.
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut s) = stderr {
            let _ = std::io::Read::read_to_string(&mut s, &mut text);
        }
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > TOOL_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(IsoError::ToolTimeout {
                    tool: what,
                    limit: TOOL_TIMEOUT,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(IsoError::ToolWait {
                    tool: what,
                    source: e.into(),
                })
            }
        }
    };
    let stderr = reader.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Err(IsoError::ToolFailed {
        tool: what,
        status,
        stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_boots_the_kernel_with_every_initrd() {
        let plan = Plan::sample("", &["a", "b"]);
        let cfg = isolinux_cfg(&plan, "console=ttyS0 t=TOKEN");
        assert!(
            cfg.contains("APPEND initrd=/initrd0,/initrd1 console=ttyS0 t=TOKEN\n"),
            "{cfg}"
        );
        assert!(cfg.contains("KERNEL /vmlinuz\n"));
    }
}
