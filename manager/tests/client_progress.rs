//! The client commands that take time, against a real member and a real manager:
//! `contents upload` (a pack installed, then replaced; a bad pack refused with nothing
//! changed), `files upload` (streamed intact, directly and through the gateway) and
//! `version-sets plan` over every endpoint; progress as plain lines when not on a terminal.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// Runs a client command of `drp-manager` against `url`; (success, stdout, stderr).
fn cli(args: &[&str], url: &str, ca: Option<&Path>) -> (bool, String, String) {
    let mut cmd = Command::new(manager_bin());
    cmd.args(args)
        .args(["--url", url, "--password", PASSWORD])
        .env_remove("RS_ENDPOINT")
        .env_remove("RS_KEY")
        .env_remove("RS_TOKEN");
    if let Some(ca) = ca {
        cmd.arg("--ca-cert").arg(ca);
    }
    let out = cmd.output().expect("run drp-manager");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn pack(version: &str) -> String {
    format!(
        "meta:\n  Name: up-pack\n  Version: {version}\nsections:\n  profiles:\n    up-prof:\n      Name: up-prof\n      Description: from {version}\n"
    )
}

#[test]
fn uploads_and_plans_show_progress_and_do_the_work() {
    let _g = serial();
    let c = Cluster::start("up-site", 1);
    let node = &c.nodes[0];
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, node.ca_pem()).unwrap();

    // A new pack is installed (POST), and the progress is two plain lines on a pipe.
    let file = dir.path().join("up-pack.yaml");
    std::fs::write(&file, pack("v1.0.0")).unwrap();
    let f = file.to_str().unwrap();
    let (ok, out, err) = cli(&["contents", "upload", f], &node.url, Some(&ca));
    assert!(ok, "upload failed: {err}");
    assert_eq!(out.trim(), "up-pack v1.0.0 installed");
    let size = pack("v1.0.0").len();
    assert!(
        err.contains(&format!(
            "uploading content pack up-pack ({size} bytes) ..."
        )) && err.contains("uploading content pack up-pack: done in"),
        "progress lines: {err}"
    );

    // The same name again replaces it (drpcli's upload), with the new version in force.
    std::fs::write(&file, pack("v1.1.0")).unwrap();
    let (ok, out, err) = cli(&["contents", "upload", f], &node.url, Some(&ca));
    assert!(ok, "replace failed: {err}");
    assert_eq!(out.trim(), "up-pack v1.1.0 installed");
    assert!(
        err.contains("replacing content pack up-pack: done in"),
        "{err}"
    );
    let (_, installed) = node.get("/api/v3/contents/up-pack");
    assert_eq!(installed["meta"]["Version"], "v1.1.0", "{installed}");
    let (_, profile) = node.get("/api/v3/profiles/up-prof");
    assert_eq!(profile["Description"], "from v1.1.0");

    // A pack without meta.Name is refused before anything is sent; nothing changes.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "meta:\n  Version: v9\nsections: {}\n").unwrap();
    let (ok, _, err) = cli(
        &["contents", "upload", bad.to_str().unwrap()],
        &node.url,
        Some(&ca),
    );
    assert!(!ok);
    assert!(err.contains("has no meta.Name"), "{err}");
    let (_, installed) = node.get("/api/v3/contents/up-pack");
    assert_eq!(installed["meta"]["Version"], "v1.1.0");

    // A 3 MiB file, streamed in chunks, arrives byte for byte.
    let data: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let big = dir.path().join("big.bin");
    std::fs::write(&big, &data).unwrap();
    let (ok, _, err) = cli(
        &["files", "upload", big.to_str().unwrap(), "isos/big.bin"],
        &node.url,
        Some(&ca),
    );
    assert!(ok, "file upload failed: {err}");
    assert!(
        err.contains(&format!(
            "uploading isos/big.bin ({} bytes) ...",
            data.len()
        )),
        "{err}"
    );
    let got = http()
        .get(format!("{}/api/v3/files/isos/big.bin", node.url))
        .basic_auth("rocketskates", Some(PASSWORD))
        .send()
        .and_then(|r| r.bytes())
        .expect("download");
    assert!(got[..] == data[..], "downloaded {} bytes", got.len());

    // Through the manager's gateway to the registered endpoint.
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(&mdir.path().join("m"), &[]);
    m.register(&c, &[], false);
    m.wait_status("up-site", "connected", Duration::from_secs(20));
    let small = dir.path().join("small.txt");
    std::fs::write(&small, "through the gateway\n").unwrap();
    let (ok, _, err) = cli(
        &[
            "files",
            "upload",
            small.to_str().unwrap(),
            "gw/small.txt",
            "--endpoint",
            "up-site",
        ],
        &m.url,
        None,
    );
    assert!(ok, "gateway upload failed: {err}");
    let got = http()
        .get(format!("{}/api/v3/files/gw/small.txt", node.url))
        .basic_auth("rocketskates", Some(PASSWORD))
        .send()
        .and_then(|r| r.text())
        .expect("download");
    assert_eq!(got, "through the gateway\n");

    // Every endpoint's plan, with progress; an unknown endpoint fails naming it.
    let (ok, out, err) = cli(&["version-sets", "plan"], &m.url, None);
    assert!(ok, "plan failed: {err}");
    assert!(out.contains("endpoint up-site: VersionSets"), "{out}");
    assert!(
        err.contains("planning 1 endpoints ...") && err.contains("planning 1 endpoints: done in"),
        "{err}"
    );
    let (ok, out, err) = cli(
        &["version-sets", "plan", "up-site", "nowhere"],
        &m.url,
        None,
    );
    assert!(!ok);
    assert!(out.contains("endpoint up-site: VersionSets"), "{out}");
    assert!(
        out.contains("endpoint nowhere:") && out.contains("404"),
        "{out}"
    );
    assert!(err.contains("1 of 2 plans could not be read"), "{err}");
}
