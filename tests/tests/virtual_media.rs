//! DRP's `virtual-media-boot` end to end: a machine whose params resolve `boot-virtual-iso` to
//! true gets a bootable ISO of its bootenv at `dynamic_isos/<uuid>/<bootenv>/boot.iso` on the
//! static HTTP port, and a QEMU VM with that ISO as its CD (no network) boots the bootenv's
//! kernel and initrd with the bootenv's `BootParams` rendered for the machine.
//!
//! - `a_vm_boots_the_machines_iso_from_virtual_media`: before the kernel is uploaded the ISO
//!   path answers 503 naming the missing file; once it is, the ISO is served to the machine's
//!   BMC address (`ipmi/address`) under both spellings of the path and refused to another
//!   address; a VM booted from it, with legacy BIOS and then with UEFI (OVMF), prints a
//!   `/proc/cmdline` holding the param value rendered into `BootParams`; fetching it again gives the same image (cached, not rebuilt); a param
//!   change rebuilds it with the new value; the machine's own `boot-virtual-iso: false`
//!   (overriding its profile's true) removes it.
//!
//! Prints `SKIPPED: <reason>` and passes without QEMU, a kernel, busybox, xorriso or isolinux
//! (see `.ci/run` for the packages); skips only the UEFI boot without OVMF. The VM runs under KVM when it can, else TCG.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tests::cluster::{free_port, wait_for, Cluster, Opts};
use tests::pxe::{self, HostFiles, Vm};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BOOTENV: &str = "vm-iso";
const OS: &str = "vmtest";
/// Rendered into the bootenv's `BootParams` from a machine param: the VM must print it back.
const MARKER_PARAM: &str = "vm-marker";
const BOOT_PARAMS: &str = "console=ttyS0 panic=-1 quiet vm.marker={{.Param \"vm-marker\"}} \
                           rs.uuid={{.Machine.UUID}}";

/// Why this host cannot run the test, if it cannot.
fn skip_reason() -> Option<String> {
    if let Err(e) = HostFiles::find() {
        return Some(format!("{e:#}"));
    }
    if tests::netns::which("xorriso").is_none() {
        return Some("no xorriso (apt-get install xorriso)".into());
    }
    for f in [
        "/usr/lib/ISOLINUX/isolinux.bin",
        "/usr/lib/syslinux/modules/bios/ldlinux.c32",
    ] {
        if !Path::new(f).is_file() {
            return Some(format!("no {f} (apt-get install isolinux syslinux-common)"));
        }
    }
    None
}

/// A raw HTTP/1.1 request from `local` (a loopback address of our choosing, so the server
/// sees a client address the machine does or does not own): status and body.
async fn fetch(
    local: IpAddr,
    server: SocketAddr,
    method: &str,
    target: &str,
) -> Result<(u16, Vec<u8>)> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::new(local, 0))
        .with_context(|| format!("binding {local}"))?;
    let mut s = tokio::time::timeout(Duration::from_secs(3), socket.connect(server))
        .await
        .context("connect timed out")??;
    let req = format!("{method} {target} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    // Long enough for a first request that builds the image on a busy 2-core machine.
    tokio::time::timeout(Duration::from_secs(120), s.read_to_end(&mut buf))
        .await
        .context("response timed out")??;
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status line in {head:?}"))?;
    Ok((status, buf[head_end + 4..].to_vec()))
}

async fn create(cluster: &Cluster, collection: &str, body: Value) -> Result<Value> {
    cluster
        .node(0)
        .post(&format!("/{collection}"))
        .json(&body)
        .send()
        .await?
        .expect(201)?
        .value()
}

async fn set_param(cluster: &Cluster, uuid: &str, name: &str, value: Value) -> Result<()> {
    cluster
        .node(0)
        .post(&format!("/machines/{uuid}/params/{name}"))
        .json(&value)
        .send()
        .await?
        .ok()?;
    Ok(())
}

/// `POST /files/<path>`, retried under one Idempotency-Key (a large upload next to a busy
/// build can miss the write timeout with a 503 whose outcome is unknown).
async fn upload(cluster: &Cluster, path: &str, bytes: Vec<u8>) -> Result<()> {
    let key = uuid::Uuid::new_v4().to_string();
    wait_for(
        Duration::from_secs(120),
        &format!("uploading {path}"),
        async || {
            let r = cluster
                .node(0)
                .post(&format!("/files/{path}"))
                .idem(&key)
                .raw_json(bytes.clone())
                .timeout(Duration::from_secs(60))
                .send()
                .await?;
            if r.status == 503 {
                return Ok(None);
            }
            r.ok()?;
            Ok(Some(()))
        },
    )
    .await
}

/// Boots a VM from `iso` and returns the command line its initramfs printed.
async fn boot_cmdline(
    host: &HostFiles,
    iso: &Path,
    firmware: Option<&Path>,
    console: std::path::PathBuf,
) -> Result<String> {
    // GRUB under OVMF runs out of memory loading the kernel in 256 MiB.
    let mut vm = Vm::start_cdrom(host, iso, firmware, console, 512)?;
    let firmware = firmware.map_or("SeaBIOS".into(), |f| f.display().to_string());
    let accel = if vm.kvm { "KVM" } else { "TCG" };
    // Under TCG on a busy 2-core machine OVMF alone can take a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    loop {
        vm.poll_markers();
        if let Some((_, line)) = vm.marker("cmdline") {
            println!(
                "{firmware} ({accel}): {line} (after {:?})",
                vm.started.elapsed()
            );
            return Ok(line.clone());
        }
        let why = if let Some(st) = vm.exited() {
            format!("QEMU exited ({st}): {}", vm.qemu_output())
        } else if std::time::Instant::now() > deadline {
            "no command line marker in time".to_string()
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let console = vm.console();
        let tail: String = console
            .chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        anyhow::bail!("{firmware} ({accel}): {why}; console tail:\n{tail}");
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_boots_the_machines_iso_from_virtual_media() -> Result<()> {
    if let Some(reason) = skip_reason() {
        println!("SKIPPED: {reason}");
        return Ok(());
    }
    let host = HostFiles::find()?;
    let port = free_port()?;
    let opts = Opts {
        extra_args: vec!["--static-port".into(), port.to_string()],
        ..Opts::default()
    };
    let cluster = Cluster::start_with(1, opts).await?;
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    // The machine's BMC fetches the image from 127.0.0.1; 127.0.0.2 is anyone else.
    let (bmc, stranger): (IpAddr, IpAddr) = ([127, 0, 0, 1].into(), [127, 0, 0, 2].into());

    create(
        &cluster,
        "bootenvs",
        json!({
            "Name": BOOTENV,
            "OS": {"Name": OS},
            "Kernel": "vmlinuz",
            "Initrds": ["initrd.gz"],
            "BootParams": BOOT_PARAMS,
            "Templates": [],
        }),
    )
    .await?;
    create(
        &cluster,
        "profiles",
        json!({"Name": "vmedia", "Params": {"boot-virtual-iso": true}}),
    )
    .await?;
    // BootEnv is server-maintained: the workflow's stage moves the machine into it.
    create(
        &cluster,
        "stages",
        json!({"Name": "vm-stage", "BootEnv": BOOTENV}),
    )
    .await?;
    create(
        &cluster,
        "workflows",
        json!({"Name": "vm-wf", "Stages": ["vm-stage"]}),
    )
    .await?;
    let uuid = uuid::Uuid::new_v4().to_string();
    let marker = format!("m-{}", &uuid[..8]);
    let m = create(
        &cluster,
        "machines",
        json!({
            "Uuid": uuid,
            "Name": "vm-iso-1",
            "HardwareAddrs": [pxe::random_mac()],
            "Workflow": "vm-wf",
            "Profiles": ["vmedia"],
            "Params": {MARKER_PARAM: marker, "ipmi/address": bmc.to_string()},
        }),
    )
    .await?;
    ensure!(m["BootEnv"] == BOOTENV, "machine as created: {m}");
    let iso_path = format!("/dynamic_isos/{uuid}/{BOOTENV}/boot.iso");

    // No kernel uploaded yet: the operator is told which file is missing.
    let (status, body) = fetch(bmc, server, "GET", &iso_path).await?;
    let body = String::from_utf8_lossy(&body);
    ensure!(
        status == 503 && body.contains(&format!("{OS}/vmlinuz")),
        "before the kernel is uploaded: {status} {body}"
    );

    let kernel = std::fs::read(&host.kernel)?;
    let initrd = pxe::build_cmdline_initramfs(&host)?;
    upload(&cluster, &format!("{OS}/vmlinuz"), kernel).await?;
    upload(&cluster, &format!("{OS}/initrd.gz"), initrd).await?;

    let iso = wait_for(Duration::from_secs(120), "the ISO", async || {
        let (status, body) = fetch(bmc, server, "GET", &iso_path).await?;
        ensure!(
            status == 200,
            "{status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(Some(body))
    })
    .await?;
    println!("ISO: {} bytes", iso.len());
    // El Torito: the boot record volume descriptor at sector 17.
    ensure!(
        iso.len() > 17 * 2048 + 32 && &iso[17 * 2048 + 1..17 * 2048 + 6] == b"CD001",
        "not an ISO9660 image"
    );
    ensure!(
        contains(&iso[17 * 2048..17 * 2048 + 32], "EL TORITO"),
        "no El Torito boot record"
    );

    // Only the machine (and its BMC) get it; DRP's other spelling names the same image.
    let (status, _) = fetch(stranger, server, "HEAD", &iso_path).await?;
    ensure!(status == 404, "another address got {status}");
    let (status, _) = fetch(stranger, server, "GET", &iso_path).await?;
    ensure!(status == 404, "another address got {status}");
    let (status, again) = fetch(
        bmc,
        server,
        "GET",
        &iso_path.replace("dynamic_isos", "dynamic_iso"),
    )
    .await?;
    ensure!(status == 200, "dynamic_iso/: {status}");
    // xorriso stamps every image with its build time: the same bytes mean no rebuild.
    ensure!(sha(&again) == sha(&iso), "the unchanged ISO was rebuilt");

    // Boot it: no network, the image as the CD, as a BMC's virtual media presents it; with
    // legacy BIOS (ISOLINUX), then with UEFI (GRUB from the EFI El Torito image).
    let dir = tempfile::tempdir()?;
    let iso_file = dir.path().join("boot.iso");
    std::fs::write(&iso_file, &iso)?;
    let mut firmwares = vec![("BIOS", None)];
    match pxe::ovmf() {
        Some(ovmf) => firmwares.push(("UEFI", Some(ovmf))),
        None => println!("UEFI boot: SKIPPED (no OVMF: apt-get install ovmf)"),
    }
    for (name, firmware) in firmwares {
        let console = dir.path().join(format!("console-{name}.log"));
        let cmdline = boot_cmdline(&host, &iso_file, firmware.as_deref(), console)
            .await
            .with_context(|| format!("booting the ISO with {name}"))?;
        ensure!(
            cmdline.contains(&format!("vm.marker={marker}"))
                && cmdline.contains(&format!("rs.uuid={uuid}")),
            "{name}: the kernel did not get the rendered BootParams: {cmdline}"
        );
    }

    // A changed input rebuilds it.
    let changed = format!("{marker}-2");
    set_param(&cluster, &uuid, MARKER_PARAM, json!(changed)).await?;
    wait_for(Duration::from_secs(120), "the rebuilt ISO", async || {
        let (status, body) = fetch(bmc, server, "GET", &iso_path).await?;
        ensure!(status == 200, "{status}");
        Ok(contains(&body, &format!("vm.marker={changed} ")).then_some(()))
    })
    .await?;

    // The machine's own false overrides its profile's true: the image goes.
    set_param(&cluster, &uuid, "boot-virtual-iso", json!(false)).await?;
    wait_for(Duration::from_secs(30), "the ISO to go", async || {
        let (status, _) = fetch(bmc, server, "HEAD", &iso_path).await?;
        Ok((status == 404).then_some(()))
    })
    .await?;
    let data = cluster.node(0).data_dir();
    let left: Vec<_> = std::fs::read_dir(data.join("boot-files").join("dynamic_isos"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name())
                .filter(|n| n.to_string_lossy().ends_with(".iso"))
                .collect()
        })
        .unwrap_or_default();
    wait_for(
        Duration::from_secs(30),
        "the image file to be deleted",
        async || {
            let left: Vec<_> = std::fs::read_dir(data.join("boot-files").join("dynamic_isos"))
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name())
                        .filter(|n| n.to_string_lossy().ends_with(".iso"))
                        .collect()
                })
                .unwrap_or_default();
            Ok(left.is_empty().then_some(()))
        },
    )
    .await
    .with_context(|| format!("left in dynamic_isos: {left:?}"))?;
    let errors = cluster.node(0).first_errors(5);
    ensure!(errors.is_empty(), "node errors: {errors:?}");
    Ok(())
}
