//! `drp-bench boot-files`: MB/s of one large file (an ISO's size) downloaded from the active
//! member's static HTTP server, beside the same file from `busybox httpd` (a plain file server
//! reading from disk), both fetched by `curl` on loopback, on the same machine.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::say;
use crate::cluster::{free_port, wait_for, Cluster, Opts};

/// MB/s of one `curl` download of `url` to /dev/null, with its size check.
fn curl_rate(url: &str, want_bytes: u64) -> Result<f64> {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "--max-time", "300", "-w"])
        .arg("%{size_download} %{speed_download}")
        .arg(url)
        .output()
        .context("running curl")?;
    if !out.status.success() {
        bail!("curl {url}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut parts = text.split_whitespace();
    let size: u64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .context("curl size")?;
    let speed: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .context("curl speed")?;
    if size != want_bytes {
        bail!("curl {url}: got {size} bytes, want {want_bytes}");
    }
    Ok(speed / 1e6)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub async fn boot_files(mib: u64, reps: usize) -> Result<()> {
    for tool in ["curl", "busybox"] {
        if Command::new(tool)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            bail!("{tool} is not installed (apt-get install curl busybox-static)");
        }
    }
    let bytes = mib << 20;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("www/big.iso");
    std::fs::create_dir_all(file.parent().unwrap())?;
    let data: Vec<u8> = (0..bytes)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&file, &data)?;

    let static_port = free_port()?;
    let opts = Opts {
        extra_args: vec![
            "--static-port".into(),
            static_port.to_string(),
            "--static-ip".into(),
            "127.0.0.1".into(),
            // A 1 GiB upload commits as 1,024 entries of 1 MiB.
            // The upload's last entry assembles and hashes the whole file.
            "--write-timeout-ms".into(),
            "60000".into(),
            "--max-file-bytes".into(),
            (bytes * 2).to_string(),
        ],
        ..Opts::default()
    };
    say(format!("boot-files: a 1-node cluster, uploading {mib} MiB"));
    let mut c = Cluster::start_with(1, opts).await?;
    let url = c.node(0).api("/files/isos/big.iso");
    c.http
        .post(url)
        .raw_json(data)
        .timeout(Duration::from_secs(600))
        .send()
        .await?
        .expect(201)?;
    let ours_url = format!("http://127.0.0.1:{static_port}/files/isos/big.iso");
    wait_for(Duration::from_secs(20), "the static server", async || {
        Ok(curl_rate(&ours_url, bytes).ok())
    })
    .await?;

    let busybox_port = free_port()?;
    let mut httpd = Command::new("busybox")
        .args([
            "httpd",
            "-f",
            "-p",
            &format!("127.0.0.1:{busybox_port}"),
            "-h",
        ])
        .arg(dir.path().join("www"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting busybox httpd")?;
    let plain_url = format!("http://127.0.0.1:{busybox_port}/big.iso");
    let plain_ready = wait_for(Duration::from_secs(10), "busybox httpd", async || {
        Ok(curl_rate(&plain_url, bytes).ok())
    })
    .await;
    let result = async {
        plain_ready?;
        let (mut ours, mut plain) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            ours.push(curl_rate(&ours_url, bytes)?);
            plain.push(curl_rate(&plain_url, bytes)?);
        }
        Ok::<_, anyhow::Error>((median(ours), median(plain)))
    }
    .await;
    let _ = httpd.kill();
    let _ = httpd.wait();
    let (ours, plain) = result?;
    println!("| file | ours MB/s | busybox httpd MB/s | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| {mib} MiB, median of {reps} | {ours:.0} | {plain:.0} | {:.2}× |",
        ours / plain
    );
    c.success();
    Ok(())
}
