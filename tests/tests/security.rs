//! Issue 8 against real processes: the API is HTTPS by default with one cluster identity, and
//! the consensus port serves only members (mutual TLS 1.3 with the cluster CA, and a removed
//! member's certificate refused from then on).
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use proto::raft::cluster_service_client::ClusterServiceClient;
use proto::raft::IdentifyRequest;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tests::cluster::{serial, wait_for, Cluster, Opts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("certificate PEM")
}

fn roots(ca_pem: &str) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca_pem) {
        roots.add(c).expect("CA certificate");
    }
    roots
}

/// The leaf certificate the API at `port` presents, verified against `ca_pem`.
async fn api_leaf(port: u16, ca_pem: &str) -> Result<Vec<u8>> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem))
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1")?.to_owned(), tcp)
        .await
        .context("TLS to the API, verified against the cluster CA")?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| anyhow!("no server certificate"))?;
    Ok(leaf.as_ref().to_vec())
}

/// Does the consensus port answer an HTTP/2 preface (SETTINGS frame) over this stream?
async fn answers_h2<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S) -> bool {
    if s.write_all(H2_PREFACE).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
        Ok(Ok(n)) => n >= 9 && buf[3] == 4,
        _ => false,
    }
}

/// TLS to the consensus port with an optional client certificate; `Ok(true)` when the
/// server then speaks HTTP/2 to us.
async fn consensus_over_tls(port: u16, ca_pem: &str, client: Option<(&str, &str)>) -> Result<bool> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca_pem));
    let mut config = match client {
        Some((cert, key)) => builder.with_client_auth_cert(
            certs(cert),
            PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| anyhow!("{e}"))?,
        )?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    match tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("member.drp-cluster")?.to_owned(), tcp)
        .await
    {
        Ok(tls) => Ok(answers_h2(tls).await),
        Err(_) => Ok(false),
    }
}

/// A member-certificate gRPC client to `port`, as the member whose files are in `tls_dir`.
async fn member_client(
    port: u16,
    ca_pem: &str,
    cert: &str,
    key: &str,
) -> Result<ClusterServiceClient<tonic::transport::Channel>> {
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem))
        .identity(tonic::transport::Identity::from_pem(cert, key))
        .domain_name("member.drp-cluster");
    let ch = tonic::transport::Endpoint::from_shared(format!("https://127.0.0.1:{port}"))?
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .connect()
        .await?;
    Ok(ClusterServiceClient::new(ch))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_by_default_and_members_only_consensus() -> Result<()> {
    let _g = serial().await;
    let opts = Opts {
        cluster_tls: true,
        ..Opts::default()
    };
    // The harness's client trusts only the CA the first node generated: forming the cluster
    // at all proves every member's API verifies against it.
    let mut c = Cluster::start_with(3, opts).await?;
    let read = |i: usize, file: &str| {
        std::fs::read_to_string(c.node(i).data_dir().join("tls").join(file))
            .with_context(|| format!("n{} tls/{file}", i + 1))
    };
    let ca = read(0, "ca.pem")?;

    // One API identity on every member, from the cluster CA.
    let first = api_leaf(c.node(0).api_port(), &ca).await?;
    for i in 1..3 {
        assert_eq!(
            api_leaf(c.node(i).api_port(), &ca).await?,
            first,
            "n{} presents a different API certificate",
            i + 1
        );
        assert_eq!(read(i, "ca.pem")?, ca, "n{} has another CA", i + 1);
    }
    // Plain HTTP to the API gets no HTTP answer.
    let mut plain = TcpStream::connect(("127.0.0.1", c.node(0).api_port())).await?;
    plain
        .write_all(b"GET /api/v3/info HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(3), plain.read(&mut buf))
        .await
        .unwrap_or(Ok(0))
        .unwrap_or(0);
    assert!(
        !buf[..n].starts_with(b"HTTP/"),
        "the API answered plain HTTP"
    );

    // The consensus port: strangers get nothing.
    let target = c.node(0).consensus_addr();
    let port: u16 = target.rsplit(':').next().unwrap_or_default().parse()?;
    assert!(
        !answers_h2(TcpStream::connect(("127.0.0.1", port)).await?).await,
        "consensus port speaks plaintext HTTP/2"
    );
    assert!(
        !consensus_over_tls(port, &ca, None).await?,
        "consensus port served a client without a certificate"
    );
    let other = tests::tls::test_tls(); // a certificate from a CA that is not the cluster's
    assert!(
        !consensus_over_tls(port, &ca, Some((&other.chain_pem, &other.key_pem))).await?,
        "consensus port served a certificate from another CA"
    );

    // A member's certificate works, until the member is removed.
    let (cert3, key3) = (read(2, "member.pem")?, read(2, "member.key")?);
    let mut as_n3 = member_client(port, &ca, &cert3, &key3).await?;
    let id = as_n3.identify(IdentifyRequest {}).await?.into_inner();
    assert_eq!(id.consensus_id, c.node(0).consensus_id());

    let l = c.leader().await?;
    anyhow::ensure!(l != 2, "n3 leads; this test removes a follower");
    let removed = c.node(2).consensus_id().to_string();
    c.node(l)
        .delete(&format!("/system/consensus/node/{removed}"))
        .timeout(Duration::from_secs(30))
        .send()
        .await?
        .expect(200)?;
    c.node_mut(2).retire();
    wait_for(Duration::from_secs(10), "n1 to drop n3", async || {
        let st = c.node(0).state().await?;
        Ok((!st.nodes.iter().any(|n| n.consensus_id == removed)).then_some(()))
    })
    .await?;
    let mut as_removed = member_client(port, &ca, &cert3, &key3).await?;
    let refused = as_removed
        .identify(IdentifyRequest {})
        .await
        .expect_err("a removed member's certificate must be refused");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");

    // No secret of this run appears in any member's log: the admin password (sent by every
    // joining node), a bearer token just issued, and the private keys (CA, API, members).
    let token: serde_json::Value = c
        .node(l)
        .get("/users/rocketskates/token?ttl=600")
        .send()
        .await?
        .expect(200)?
        .json()?;
    let token = token["Token"].as_str().unwrap_or_default().to_string();
    anyhow::ensure!(!token.is_empty(), "no token issued");
    let mut secrets = vec![
        ("admin password", tests::http::ADMIN_PASSWORD.to_string()),
        ("token", token),
    ];
    for i in 0..3 {
        for file in ["member.key", "api.key", "ca.key"] {
            if let Ok(pem) = std::fs::read_to_string(c.node(i).data_dir().join("tls").join(file)) {
                // The base64 body, minus the armour lines every PEM shares.
                let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
                secrets.push(("private key", body.chars().take(40).collect()));
            }
        }
    }
    for i in 0..3 {
        // Only what the node wrote (the harness notes its own spawn command, env included).
        let log: String = c
            .node(i)
            .log()
            .lines()
            .filter(|l| !l.starts_with("==== harness"))
            .collect::<Vec<_>>()
            .join("\n");
        for (what, secret) in &secrets {
            assert!(
                !log.contains(secret.as_str()),
                "n{}'s log contains a {what}",
                i + 1
            );
        }
    }
    c.success();
    Ok(())
}

/// Certificates are replaced while the cluster serves: a writer keeps going through the
/// rotations without one failed request, new connections get the new certificates, and a
/// member restarted after its rotation comes back with the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotate_without_downtime() -> Result<()> {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicBool, Ordering};

    let _g = serial().await;
    let opts = Opts {
        cluster_tls: true,
        ..Opts::default()
    };
    let mut c = Cluster::start_with(3, opts).await?;
    let ca = std::fs::read_to_string(c.node(0).data_dir().join("tls/ca.pem"))?;
    let ports: Vec<u16> = (0..3).map(|i| c.node(i).api_port()).collect();
    let before = api_leaf(ports[0], &ca).await?;

    // A writer on every member for the whole test, over its pooled connections.
    let stop = Arc::new(AtomicBool::new(false));
    let http = c.node(0).http().clone();
    let urls: Vec<String> = (0..3).map(|i| c.node(i).api("/profiles")).collect();
    let writer = tokio::spawn({
        let stop = stop.clone();
        async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let body = serde_json::json!({ "Name": format!("rotation-{i}") });
                match http
                    .post(urls[i % urls.len()].clone())
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status == 201 => ok += 1,
                    Ok(r) => failed.push(format!("{} {}", r.status, r.text())),
                    Err(e) => failed.push(format!("{e:#}")),
                }
                i += 1;
            }
            (ok, failed)
        }
    });

    // The API certificate, asked through one member, reaches every member.
    let reply = c
        .node(1)
        .post("/system/tls/rotate")
        .send()
        .await?
        .expect(200)?
        .value()?;
    let sha = reply["Sha256"].as_str().context("Sha256")?.to_string();
    wait_for(
        Duration::from_secs(20),
        "every member to serve the new API certificate",
        async || {
            for &port in &ports {
                let leaf = api_leaf(port, &ca).await?;
                if leaf == before || hex::encode(Sha256::digest(&leaf)) != sha {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        },
    )
    .await?;

    // A member certificate: the member presents the new one to members dialling it, and
    // the cluster keeps replicating to and from it.
    let target = 2;
    let dir = c.node(target).data_dir().join("tls");
    let old_member = std::fs::read_to_string(dir.join("member.pem"))?;
    let reply = c
        .node(target)
        .post("/system/consensus/rotate")
        .send()
        .await?
        .expect(200)?
        .value()?;
    let new_member = std::fs::read_to_string(dir.join("member.pem"))?;
    anyhow::ensure!(new_member != old_member, "member.pem unchanged");
    let new_key = std::fs::read_to_string(dir.join("member.key"))?;
    let port: u16 = c
        .node(target)
        .consensus_addr()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .parse()?;
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(&ca))
        .with_client_auth_cert(
            certs(&new_member),
            PrivateKeyDer::from_pem_slice(new_key.as_bytes())?,
        )?;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("member.drp-cluster")?.to_owned(), tcp)
        .await?;
    let presented = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .context("no member certificate presented")?;
    anyhow::ensure!(
        hex::encode(Sha256::digest(presented.as_ref())) == reply["Sha256"].as_str().unwrap_or(""),
        "the consensus listener still presents the old member certificate"
    );
    let mut client = member_client(port, &ca, &new_member, &new_key).await?;
    client.identify(IdentifyRequest {}).await?;

    let l = c.leader().await?;
    c.node(l)
        .post("/profiles")
        .json(&serde_json::json!({"Name": "after-rotation"}))
        .send()
        .await?
        .expect(201)?;
    c.node(target)
        .get("/profiles/after-rotation")
        .send()
        .await?
        .expect(200)?;

    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = writer.await?;
    anyhow::ensure!(
        failed.is_empty(),
        "{} of {} writes failed during rotation: {:?}",
        failed.len(),
        failed.len() as u32 + ok,
        failed.iter().take(3).collect::<Vec<_>>()
    );
    anyhow::ensure!(ok > 0, "the writer made no progress");

    // Restarted, the member serves what it rotated to (the API one from its store).
    c.node_mut(target).restart().await?;
    let leaf = api_leaf(ports[target], &ca).await?;
    anyhow::ensure!(
        hex::encode(Sha256::digest(&leaf)) == sha,
        "old API certificate after restart"
    );
    anyhow::ensure!(
        std::fs::read_to_string(dir.join("member.pem"))? == new_member,
        "member certificate changed by the restart"
    );
    c.node(target)
        .get("/profiles/after-rotation")
        .send()
        .await?
        .expect(200)?;
    c.success();
    Ok(())
}

/// `--tls-cert/--tls-key` files renewed in place (certbot, cert-manager) are served from the
/// next connection on, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_certificate_files_are_picked_up() -> Result<()> {
    let _g = serial().await;
    let mut c = Cluster::start(1).await?;
    let ca = tests::tls::test_tls().ca_pem.clone();
    let port = c.node(0).api_port();
    let before = api_leaf(port, &ca).await?;
    let (chain, key) = tests::tls::renewed_api_cert()?;
    let dir = c.node(0).data_dir();
    let dir = dir.parent().context("node dir")?;
    // As renewal tools do: the new file written aside, then renamed over the old one.
    for (name, text) in [("api-key.pem", &key), ("api-cert.pem", &chain)] {
        let tmp = dir.join(format!("{name}.new"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join(name))?;
    }
    let after = wait_for(
        Duration::from_secs(15),
        "the renewed certificate",
        async || {
            let leaf = api_leaf(port, &ca).await?;
            Ok((leaf != before).then_some(leaf))
        },
    )
    .await?;
    let expected = certs(&chain)[0].as_ref().to_vec();
    anyhow::ensure!(
        after == expected,
        "serving a certificate that is neither old nor new"
    );
    c.node(0).get("/info").send().await?.expect(200)?;
    c.success();
    Ok(())
}
