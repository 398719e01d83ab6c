//! Hostile clients against a real TLS member (the harness's): a connection that never
//! finishes its TLS handshake is cut at the handshake deadline on both listeners, and junk on
//! the consensus port costs the cluster nothing (the member stays leader and serves). The
//! attack-by-attack measurements are `drp-hostile`'s job (see README "Hostile load").

use std::time::{Duration, Instant};

use anyhow::Result;
use tests::cluster::{Cluster, Opts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; how long that took (None: still open
/// after `within`).
async fn closed_within(conn: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

async fn connect_from_stranger(addr: &str) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind("127.0.0.2:0".parse().map_err(std::io::Error::other)?)?;
    socket
        .connect(addr.parse().map_err(std::io::Error::other)?)
        .await
}

#[tokio::test]
async fn unfinished_handshakes_are_cut_at_the_deadline_on_both_listeners() -> Result<()> {
    let _serial = tests::cluster::serial().await;
    let mut c = Cluster::start_with(
        1,
        Opts {
            extra_args: vec!["--handshake-timeout-ms".into(), "1500".into()],
            ..Opts::default()
        },
    )
    .await?;
    let node = c.node(0);
    let api = format!("127.0.0.1:{}", node.api_port());
    let consensus = node.consensus_addr();
    for (what, addr) in [("api", api.as_str()), ("consensus", consensus.as_str())] {
        // One sends nothing at all, one starts a TLS record and stalls.
        let opened = Instant::now();
        let mut silent = TcpStream::connect(addr).await?;
        let mut stalled = TcpStream::connect(addr).await?;
        stalled
            .write_all(&[0x16, 0x03, 0x01, 0x00, 0x80, 0x01])
            .await?;
        for conn in [&mut silent, &mut stalled] {
            closed_within(conn, Duration::from_secs(15))
                .await
                .ok_or_else(|| anyhow::anyhow!("{what}: an unfinished handshake stayed open"))?;
            let after = opened.elapsed();
            anyhow::ensure!(
                after >= Duration::from_millis(1300),
                "{what}: cut after {after:?}, before the 1.5 s deadline"
            );
        }
    }
    node.get("/info").send().await?.expect(200)?;
    c.success();
    Ok(())
}

#[tokio::test]
async fn junk_on_the_consensus_port_does_not_disturb_the_cluster() -> Result<()> {
    let _serial = tests::cluster::serial().await;
    let mut c = Cluster::start(3).await?;
    let leader = c.wait_leader(Duration::from_secs(20)).await?;
    let term = c.node(leader).state().await?.term;
    let addr = c.node(leader).consensus_addr();
    // 200 strangers (from another address than the members') writing junk, reconnecting for 5 s.
    let until = Instant::now() + Duration::from_secs(5);
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                if let Ok(mut conn) = connect_from_stranger(&addr).await {
                    let junk = vec![(i % 251) as u8; 2048];
                    let _ = conn.write_all(&junk).await;
                    let _ = closed_within(&mut conn, Duration::from_millis(500)).await;
                }
            }
        }));
    }
    // Writes keep committing through the attack.
    let mut written = 0;
    while Instant::now() < until {
        c.node(leader)
            .create_profile(&format!("during-junk-{written}"), serde_json::json!({}))
            .await?
            .ok()?;
        written += 1;
    }
    for t in tasks {
        let _ = t.await;
    }
    anyhow::ensure!(written > 0, "no write committed during the attack");
    let after = c.node(leader).state().await?;
    anyhow::ensure!(
        after.term == term && after.leader_id == c.node(leader).consensus_id(),
        "an election happened: term {term} -> {}, leader {}",
        after.term,
        after.leader_id
    );
    c.success();
    Ok(())
}
