//! `GET /api/v3/system/consensus/watch` against a real node: the stream's first line is this
//! member's `ClusterState` naming itself as the leader, and the stream ends (cleanly) once the
//! member is told to stop, so it cannot hold up the API server's graceful shutdown.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use serde_json::Value;

use common::{start_node, ADMIN_PASSWORD};

/// Generous: a loaded machine may be slow, and a healthy run never waits this long.
const PATIENCE: Duration = Duration::from_secs(60);

/// The next complete line of the stream (without its newline); `None` once it ended.
async fn next_line(resp: &mut reqwest::Response, pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(at) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=at).collect();
            return Some(line[..at].to_vec());
        }
        let chunk = tokio::time::timeout(PATIENCE, resp.chunk())
            .await
            .expect("the stream sent nothing within the patience")
            .expect("the stream broke instead of ending");
        pending.extend_from_slice(&chunk?);
    }
}

#[tokio::test]
async fn the_watch_streams_the_state_and_ends_when_the_member_stops() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;
    let me: String = http
        .get(format!("{}/system/consensus/id", node.base))
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("GET id")
        .json()
        .await
        .expect("the id as JSON");

    let mut resp = http
        .get(format!("{}/system/consensus/watch", node.base))
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("GET watch");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-ndjson")
    );
    let mut pending = Vec::new();
    let first = next_line(&mut resp, &mut pending)
        .await
        .expect("a first line");
    let state: Value = serde_json::from_slice(&first).expect("a ClusterState line");
    assert_eq!(state["LeaderID"], me.as_str(), "{state}");
    assert!(state["Term"].as_u64().is_some_and(|t| t >= 1), "{state}");

    // SIGTERM: the member stops its streams with everything else, and exits.
    let stopping = tokio::task::spawn_blocking(move || node.terminate());
    let mut lines = 0;
    while let Some(line) = next_line(&mut resp, &mut pending).await {
        // Blank keep-alives, or the state once more before the stop.
        assert!(
            line.is_empty() || serde_json::from_slice::<Value>(&line).is_ok(),
            "{:?}",
            String::from_utf8_lossy(&line)
        );
        lines += 1;
    }
    assert!(pending.is_empty(), "a partial last line: {pending:?}");
    println!("the stream ended after {lines} more lines");
    stopping.await.expect("terminate");
}
