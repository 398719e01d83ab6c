//! The boot tree over static HTTP and TFTP against a real one-node cluster (it is the active
//! member): uploaded files, a bootenv's files rendered per machine and MAC, the unknown-machine
//! bootenv, a machine's files refused to other addresses, path traversal refused on both
//! protocols, `/api/v3/info` reporting the services, and `--virt-interface-script` called to
//! add the virtual address on becoming active and remove it on shutdown.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use serde_json::{json, Value};

use common::{free_port, start_node_with, ADMIN_PASSWORD};

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free udp port")
}

/// A raw HTTP/1.1 GET, so the path reaches the server exactly as written (clients normalise
/// `..` away). Returns (status, body).
fn raw_get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = match out.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => out[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}

/// A minimal TFTP read (RFC 1350, 512-byte blocks): Ok(bytes) or Err(error code).
fn tftp_get(port: u16, path: &str) -> Result<Vec<u8>, u16> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rrq = vec![0, 1];
    rrq.extend_from_slice(path.as_bytes());
    rrq.push(0);
    rrq.extend_from_slice(b"octet\0");
    sock.send_to(&rrq, ("127.0.0.1", port)).expect("send rrq");
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let (n, from) = sock.recv_from(&mut buf).expect("tftp reply");
        let opcode = u16::from_be_bytes([buf[0], buf[1]]);
        let number = u16::from_be_bytes([buf[2], buf[3]]);
        match opcode {
            3 => {
                out.extend_from_slice(&buf[4..n]);
                sock.send_to(&[0, 4, buf[2], buf[3]], from).expect("ack");
                if n - 4 < 512 {
                    return Ok(out);
                }
            }
            5 => return Err(number),
            other => panic!("unexpected TFTP opcode {other}"),
        }
    }
}

#[tokio::test]
async fn boot_tree_over_http_and_tftp() {
    let http = reqwest::Client::new();
    let (static_port, tftp_port) = (free_port(), free_udp_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let calls = dir.path().join("vip-calls");
    let script = dir.path().join("vip.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", calls.display()),
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&script).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (sp, tp) = (static_port.to_string(), tftp_port.to_string());
    let script_arg = script.display().to_string();
    let node = start_node_with(
        &http,
        &[
            "--static-port",
            &sp,
            "--tftp-port",
            &tp,
            "--static-ip",
            "127.0.0.1",
            "--virt-addr",
            "10.250.0.2/24",
            "--virt-interface",
            "drptest0",
            "--virt-interface-script",
            &script_arg,
        ],
    )
    .await;
    let api = |p: &str| format!("{}{p}", node.base);
    let auth = |r: reqwest::RequestBuilder| r.basic_auth("rocketskates", Some(ADMIN_PASSWORD));

    // The active member runs the services and holds the address (through the script).
    let mut info = Value::Null;
    for _ in 0..200 {
        info = auth(http.get(api("/info")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let vip_added =
            std::fs::read_to_string(&calls).is_ok_and(|c| c.contains("add drptest0 10.250.0.2/24"));
        if info["prov_enabled"] == true && info["tftp_enabled"] == true && vip_added {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(info["prov_enabled"], true, "{info}");
    assert_eq!(info["tftp_enabled"], true, "{info}");
    assert_eq!(info["file_port"], json!(static_port));
    assert_eq!(info["tftp_port"], json!(tftp_port));
    assert_eq!(info["ha_virtual_address"], "10.250.0.2");
    assert_eq!(info["ha_is_active"], true);
    let vip_calls = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        vip_calls.lines().collect::<Vec<_>>(),
        [
            "remove drptest0 10.250.0.2/24",
            "add drptest0 10.250.0.2/24"
        ],
        "a starting member clears a stale address, then the active one adds it"
    );

    // An uploaded file, at files/<p> and at <p>.
    let kernel: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let up = auth(http.post(api("/files/pxe/vmlinuz")).body(kernel.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 201);
    for path in ["/files/pxe/vmlinuz", "/pxe/vmlinuz"] {
        let (status, body) = raw_get(static_port, path);
        assert_eq!((status, body.len()), (200, kernel.len()), "{path}");
        assert!(body == kernel, "{path}: bytes differ");
    }
    assert_eq!(tftp_get(tftp_port, "files/pxe/vmlinuz"), Ok(kernel.clone()));
    assert_eq!(tftp_get(tftp_port, "pxe/vmlinuz"), Ok(kernel.clone()));
    // A file replaced through the API is served in its new version (the servers stream from
    // per-version copies).
    let initrd_v1 = b"initrd version 1".to_vec();
    let initrd_v2 = b"initrd version 2, longer".to_vec();
    for version in [&initrd_v1, &initrd_v2] {
        let up = auth(http.put(api("/files/pxe/initrd")).body(version.clone()))
            .send()
            .await
            .unwrap();
        assert!(up.status().is_success(), "{}", up.status());
        assert_eq!(
            raw_get(static_port, "/files/pxe/initrd"),
            (200, version.clone())
        );
        assert_eq!(tftp_get(tftp_port, "pxe/initrd"), Ok(version.clone()));
    }

    // A bootenv with a per-MAC iPXE script; an unknown-machine bootenv with default.ipxe.
    let bootenv = json!({
        "Name": "pxe-test",
        "OS": {"Name": "pxe-test"},
        "Kernel": "vmlinuz",
        "Templates": [
            {"Name": "ipxe-mac", "Path": "{{.Machine.MacAddr \"pxe\"}}.ipxe",
             "Contents": "#!ipxe\nkernel {{.ProvisionerURL}}/files/pxe/vmlinuz rs.uuid={{.Machine.UUID}} rs.api={{.ApiURL}}\nboot\n"},
            {"Name": "kexec", "Path": "{{.Machine.Path}}/kexec", "Contents": "{{.Machine.Name}} at {{.ProvisionerAddress}}"}
        ]
    });
    let discovery = json!({
        "Name": "discovery-test",
        "OS": {"Name": "discovery"},
        "Templates": [
            {"Name": "default", "Path": "default.ipxe",
             "Contents": "#!ipxe\nchain {{.ProvisionerURL}}/01-${mac:hexhyp}.ipxe\n"}
        ]
    });
    for env in [&bootenv, &discovery] {
        let r = auth(http.post(api("/bootenvs")).json(env))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let r = auth(
        http.post(api("/prefs"))
            .json(&json!({"unknownBootEnv": "discovery-test"})),
    )
    .send()
    .await
    .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    // A machine's BootEnv comes from its workflow's stage (the server maintains it).
    let task =
        json!({"Name": "noop", "Templates": [{"Name": "s", "Contents": "#!/bin/sh\ntrue\n"}]});
    let stage = json!({"Name": "boot-pxe", "BootEnv": "pxe-test", "Tasks": ["noop"]});
    let workflow = json!({"Name": "pxe-wf", "Stages": ["boot-pxe"]});
    for (c, o) in [
        ("tasks", &task),
        ("stages", &stage),
        ("workflows", &workflow),
    ] {
        let r = auth(http.post(api(&format!("/{c}"))).json(o))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{c}: {}", r.text().await.unwrap());
    }
    let mine = json!({"Name": "mine", "Uuid": "3a2c1e8e-1111-4d4d-8e8e-000000000001",
        "HardwareAddrs": ["52:54:00:AA:00:01"], "Address": "127.0.0.1", "Workflow": "pxe-wf"});
    let theirs = json!({"Name": "theirs", "Uuid": "3a2c1e8e-1111-4d4d-8e8e-000000000002",
        "HardwareAddrs": ["52:54:00:aa:00:02"], "Address": "10.250.0.77", "Workflow": "pxe-wf"});
    for m in [&mine, &theirs] {
        let r = auth(http.post(api("/machines")).json(m))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    let (status, body) = raw_get(static_port, "/default.ipxe");
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&body),
        format!("#!ipxe\nchain http://127.0.0.1:{static_port}/01-${{mac:hexhyp}}.ipxe\n")
    );
    let (status, body) = raw_get(static_port, "/01-52-54-00-aa-00-01.ipxe");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let script_text = String::from_utf8_lossy(&body).to_string();
    assert!(
        script_text.contains("rs.uuid=3a2c1e8e-1111-4d4d-8e8e-000000000001")
            && script_text.contains(&format!("http://127.0.0.1:{static_port}/files/pxe/vmlinuz")),
        "{script_text}"
    );
    assert_eq!(
        tftp_get(
            tftp_port,
            "machines/3a2c1e8e-1111-4d4d-8e8e-000000000001/kexec"
        ),
        Ok(b"mine at 127.0.0.1".to_vec())
    );
    // Another machine's files: nothing, on both protocols, however the path is guessed.
    assert_eq!(raw_get(static_port, "/01-52-54-00-aa-00-02.ipxe").0, 404);
    assert_eq!(
        tftp_get(
            tftp_port,
            "machines/3a2c1e8e-1111-4d4d-8e8e-000000000002/kexec"
        ),
        Err(1)
    );

    // Paths out of the tree: refused, whatever the spelling.
    for path in [
        "/../../../../etc/passwd",
        "/files/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "//etc/passwd",
        "/files//pxe/vmlinuz",
        "/files/pxe/vmlinuz%00.txt",
    ] {
        let (status, body) = raw_get(static_port, path);
        assert!(
            status == 400 || status == 404,
            "{path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        assert!(!String::from_utf8_lossy(&body).contains("root:"), "{path}");
    }
    for path in [
        "../../etc/passwd",
        "/etc/passwd",
        "files/../../../etc/passwd",
    ] {
        assert!(tftp_get(tftp_port, path).is_err(), "{path}");
    }
    // TFTP is read-only.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(b"\0\x02files/evil\0octet\0", ("127.0.0.1", tftp_port))
        .unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = sock.recv_from(&mut buf).expect("error reply to a write");
    assert_eq!(&buf[..2], &[0, 5], "{:?}", &buf[..n]);
    // Junk datagrams do not stop the server.
    for junk in [&b""[..], b"\0", b"\0\x01", b"\xff\xff\xff", &[0u8; 600]] {
        sock.send_to(junk, ("127.0.0.1", tftp_port)).unwrap();
    }
    assert_eq!(tftp_get(tftp_port, "pxe/vmlinuz"), Ok(kernel.clone()));
    assert_eq!(raw_get(static_port, "/pxe/vmlinuz").0, 200);
    // Read-only over HTTP too.
    let put = http
        .put(format!("http://127.0.0.1:{static_port}/files/evil"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 405);

    // Shutdown lets go of the address.
    node.terminate();
    let vip_calls = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        vip_calls.lines().last(),
        Some("remove drptest0 10.250.0.2/24"),
        "{vip_calls}"
    );
}

/// Waits until the member runs its static file server.
async fn wait_static_running(http: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        let info: Value = http
            .get(format!("{base}/info"))
            .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if info["prov_enabled"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the static file server never ran");
}

/// A GET or HEAD with an optional Range: (status, Content-Range, Content-Length, body).
async fn ranged(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    range: Option<&str>,
) -> (u16, Option<String>, Option<u64>, Vec<u8>) {
    let mut req = http
        .request(method, url)
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD));
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let resp = req.send().await.unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let content_range = header("content-range");
    let content_length = header("content-length").map(|l| l.parse().unwrap());
    if resp.status() != 416 {
        assert_eq!(header("accept-ranges").as_deref(), Some("bytes"), "{url}");
    }
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap().to_vec();
    (status, content_range, content_length, body)
}

/// DRP's `http-range-header`: single ranges of a multi-MiB stored file (streamed from disk)
/// and of a rendered file give 206 with exactly those bytes, over the static server and the
/// files API alike; a range past the end gives 416; malformed and multiple ranges get the
/// whole file; HEAD answers with GET's headers.
#[tokio::test]
async fn range_requests_get_exactly_the_bytes_asked_for() {
    let http = reqwest::Client::new();
    let static_port = free_port();
    let sp = static_port.to_string();
    let node = start_node_with(&http, &["--static-port", &sp, "--static-ip", "127.0.0.1"]).await;
    let api = |p: &str| format!("{}{p}", node.base);
    wait_static_running(&http, &node.base).await;

    // 3 MiB and a bit, so ranges cross the server's read chunks; no two nearby bytes alike.
    let len: usize = (3 << 20) + 4099;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let iso: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let up = http
        .post(api("/files/isos/big.iso"))
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .body(iso.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 201);
    let n = len as u64;
    let urls = [
        format!("http://127.0.0.1:{static_port}/files/isos/big.iso"),
        api("/files/isos/big.iso"),
    ];
    for url in &urls {
        let cases: [(&str, usize, usize); 6] = [
            ("bytes=0-99", 0, 99),
            // Across the 256 KiB read chunk boundary.
            ("bytes=262000-1300000", 262_000, 1_300_000),
            ("bytes=3145000-", 3_145_000, len - 1),
            ("bytes=-5000", len - 5000, len - 1),
            (
                &format!("bytes={}-{}", len - 1, len + 100),
                len - 1,
                len - 1,
            ),
            ("bytes=-99999999", 0, len - 1),
        ];
        for (range, start, end) in cases {
            let (status, content_range, length, body) =
                ranged(&http, reqwest::Method::GET, url, Some(range)).await;
            assert_eq!(status, 206, "{url} {range}");
            assert_eq!(
                content_range,
                Some(format!("bytes {start}-{end}/{n}")),
                "{url} {range}"
            );
            assert_eq!(length, Some((end - start + 1) as u64), "{url} {range}");
            assert!(body == iso[start..=end], "{url} {range}: bytes differ");
        }
        // Past the end: 416 naming the length, no body.
        for range in [
            format!("bytes={len}-"),
            format!("bytes={}-{}", len + 5, len + 9),
        ] {
            let (status, content_range, _, body) =
                ranged(&http, reqwest::Method::GET, url, Some(&range)).await;
            assert_eq!(status, 416, "{url} {range}");
            assert_eq!(content_range, Some(format!("bytes */{n}")), "{url} {range}");
            assert!(body.is_empty());
        }
        // Malformed, other units and several ranges: the whole file.
        for range in ["bytes=5-2", "bytes=abc", "lines=0-3", "bytes=0-1,10-20"] {
            let (status, content_range, length, body) =
                ranged(&http, reqwest::Method::GET, url, Some(range)).await;
            assert_eq!(
                (status, content_range, length),
                (200, None, Some(n)),
                "{url} {range}"
            );
            assert!(body == iso, "{url} {range}: bytes differ");
        }
    }
    // HEAD agrees with GET on the headers.
    let url = &urls[0];
    for range in [None, Some("bytes=10-19"), Some(&*format!("bytes={len}-"))] {
        let (get_status, get_range, get_len, _) =
            ranged(&http, reqwest::Method::GET, url, range).await;
        let (status, content_range, length, body) =
            ranged(&http, reqwest::Method::HEAD, url, range).await;
        assert_eq!(
            (status, content_range, length),
            (get_status, get_range, get_len),
            "{range:?}"
        );
        assert!(body.is_empty());
    }

    // A rendered file: the unknown-machine bootenv's default.ipxe.
    let discovery = json!({
        "Name": "discovery-range",
        "OS": {"Name": "discovery"},
        "Templates": [{"Name": "default", "Path": "default.ipxe",
            "Contents": "#!ipxe\nchain {{.ProvisionerURL}}/01-${mac:hexhyp}.ipxe\n"}]
    });
    let r = http
        .post(api("/bootenvs"))
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .json(&discovery)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = http
        .post(api("/prefs"))
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .json(&json!({"unknownBootEnv": "discovery-range"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let script = format!("#!ipxe\nchain http://127.0.0.1:{static_port}/01-${{mac:hexhyp}}.ipxe\n");
    let url = format!("http://127.0.0.1:{static_port}/default.ipxe");
    let (status, _, _, whole) = ranged(&http, reqwest::Method::GET, &url, None).await;
    assert_eq!(
        (status, String::from_utf8_lossy(&whole)),
        (200, script.clone().into())
    );
    let total = script.len();
    let (status, content_range, _, body) =
        ranged(&http, reqwest::Method::GET, &url, Some("bytes=7-11")).await;
    assert_eq!(status, 206);
    assert_eq!(content_range, Some(format!("bytes 7-11/{total}")));
    assert_eq!(body, script.as_bytes()[7..=11]);
    let (status, content_range, _, body) =
        ranged(&http, reqwest::Method::GET, &url, Some("bytes=-6")).await;
    assert_eq!(
        (status, content_range),
        (
            206,
            Some(format!("bytes {}-{}/{total}", total - 6, total - 1))
        )
    );
    assert_eq!(body, script.as_bytes()[total - 6..]);
    let (status, content_range, _, _) = ranged(
        &http,
        reqwest::Method::GET,
        &url,
        Some(&format!("bytes={total}-")),
    )
    .await;
    assert_eq!(
        (status, content_range),
        (416, Some(format!("bytes */{total}")))
    );
}
