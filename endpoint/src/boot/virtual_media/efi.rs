//! The UEFI half of the images: one El Torito EFI boot image (a FAT image holding
//! `EFI/BOOT/BOOTX64.EFI`, a standalone GRUB from Debian's `grub-efi-amd64-bin`, written with
//! `mtools`), the same for every machine: its embedded config finds the CD by a file only these
//! images carry and reads the machine's config from there. Built once per process.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::build::run;
use super::error::IsoError;
use super::plan::Plan;

/// Where each image carries the machine's GRUB config; also how GRUB finds the image's CD.
pub const GRUB_CFG: &str = "boot/grub/drp-virtual-media.cfg";
const GRUB_EFI_MODULES: &str = "/usr/lib/grub/x86_64-efi";
/// Modules preloaded into GRUB: enough to read the CD and boot Linux from it.
const MODULES: &str = "linux normal iso9660 search search_fs_file configfile part_gpt part_msdos";

/// Builds the EFI boot image at `dir/efiboot.img`. Blocking. The error names what is missing.
pub fn build_boot_image(dir: &Path) -> Result<PathBuf, IsoError> {
    if !Path::new(GRUB_EFI_MODULES).is_dir() {
        return Err(IsoError::Missing {
            file: GRUB_EFI_MODULES,
            install: "grub-efi-amd64-bin",
        });
    }
    let staging = dir.join(".efi.d");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)
        .map_err(IsoError::io(format!("creating {}", staging.display())))?;
    let result = build_in(&staging, dir);
    let _ = fs::remove_dir_all(&staging);
    result
}

fn build_in(staging: &Path, dir: &Path) -> Result<PathBuf, IsoError> {
    let embedded = staging.join("embedded.cfg");
    fs::write(
        &embedded,
        format!("search --no-floppy --set=root --file /{GRUB_CFG}\nconfigfile /{GRUB_CFG}\n"),
    )
    .map_err(IsoError::io("writing GRUB's embedded config"))?;
    let efi = staging.join("BOOTX64.EFI");
    let mut mk = Command::new("grub-mkstandalone");
    mk.args(["-O", "x86_64-efi", "--locales=", "--fonts=", "--themes="])
        .arg(format!("--install-modules={MODULES}"))
        .arg(format!("--modules={MODULES}"))
        .arg("-o")
        .arg(&efi)
        .arg({
            let mut spec = std::ffi::OsString::from("boot/grub/grub.cfg=");
            spec.push(&embedded);
            spec
        });
    run("grub-mkstandalone", "grub-common", mk)?;
    let efi_len = fs::metadata(&efi)
        .map_err(IsoError::io("reading BOOTX64.EFI"))?
        .len();
    // FAT12/16 with room for the loader and its directories: 512-byte sectors.
    let sectors = (efi_len / 512 + 1024).to_string();
    let partial = staging.join("efiboot.img");
    let img = |cmd: &str| {
        let mut c = Command::new(cmd);
        c.arg("-i").arg(&partial);
        c
    };
    let mut format = img("mformat");
    format.args(["-C", "-T", &sectors, "-h", "2", "-s", "16", "::"]);
    run("mformat", "mtools", format)?;
    let mut mkdir = img("mmd");
    mkdir.args(["::/EFI", "::/EFI/BOOT"]);
    run("mmd", "mtools", mkdir)?;
    let mut copy = img("mcopy");
    copy.arg(&efi).arg("::/EFI/BOOT/BOOTX64.EFI");
    run("mcopy", "mtools", copy)?;
    let done = dir.join("efiboot.img");
    fs::rename(&partial, &done).map_err(IsoError::io("renaming the EFI boot image"))?;
    Ok(done)
}

/// The machine's GRUB config: boot the kernel at once with the initrds. Each word of the
/// command line is single-quoted, so GRUB takes `$`, `;` or quotes in a param value literally.
pub fn grub_cfg(plan: &Plan, cmdline: &str) -> String {
    let words: Vec<String> = cmdline.split_whitespace().map(quote).collect();
    let initrds: Vec<String> = (0..plan.initrds.len())
        .map(|i| format!("/initrd{i}"))
        .collect();
    let mut cfg = format!("set timeout=0\nlinux /vmlinuz {}\n", words.join(" "));
    if !initrds.is_empty() {
        cfg.push_str(&format!("initrd {}\n", initrds.join(" ")));
    }
    cfg.push_str("boot\n");
    cfg
}

fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_quoted_for_grub() {
        let plan = Plan::sample("", &["a", "b"]);
        let cfg = grub_cfg(&plan, "a=$x b='c' d;e");
        assert_eq!(
            cfg,
            "set timeout=0\nlinux /vmlinuz 'a=$x' 'b='\\''c'\\''' 'd;e'\ninitrd /initrd0 /initrd1\nboot\n"
        );
    }
}
