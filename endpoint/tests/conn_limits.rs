//! Connection limits, deadlines and rate limits against a real node: each fires as documented
//! (a slow client is cut at its deadline, a source over its cap is refused, a user over their
//! rate gets 429 with `Retry-After`) and the node goes on serving others. Deadlines are set
//! short by flag; the only timing asserted is the deadline itself.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use common::{start_node_with, Node, ADMIN_PASSWORD};

/// A second loopback address: a source the limits count apart from 127.0.0.1.
const OTHER_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn api_addr(node: &Node) -> SocketAddr {
    let hostport = node
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/api/v3");
    hostport.parse().expect("node address")
}

/// A client whose connections come from `source`.
fn client_from(source: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn connect_from(source: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(source, 0)).expect("bind");
    socket.connect(to).await.expect("connect")
}

/// Reads until the server closes the connection; how long that took (None: still open
/// after `within`). Whatever the server sent before closing is returned too.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> Option<(Duration, Vec<u8>)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((start.elapsed(), got)),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

async fn info_status(http: &reqwest::Client, node: &Node) -> u16 {
    match http.get(format!("{}/info", node.base)).send().await {
        Ok(r) => r.status().as_u16(),
        Err(e) => panic!("GET /info failed: {e}"),
    }
}

#[tokio::test]
async fn a_slow_header_client_is_cut_at_the_header_deadline() {
    let http = reqwest::Client::new();
    let node = start_node_with(&http, &["--header-timeout-ms", "1500"]).await;
    let mut slow = TcpStream::connect(api_addr(&node)).await.expect("connect");
    slow.write_all(b"GET /api/v3/info HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("partial header");
    // Keep trickling: one header byte every 200 ms, never the end of the headers.
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow.write_all(b"X").await.is_err() {
                return;
            }
        }
    };
    let start = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(15), trickle).await;
    let cut_after = start.elapsed();
    assert!(
        cut_after >= Duration::from_millis(1300) && cut_after < Duration::from_secs(15),
        "the slow client was cut after {cut_after:?}, the deadline is 1.5 s"
    );
    assert_eq!(info_status(&http, &node).await, 200, "the node serves on");
}

#[tokio::test]
async fn a_silent_connection_is_closed_and_a_kept_alive_one_after_the_idle_timeout() {
    let http = reqwest::Client::new();
    let node = start_node_with(
        &http,
        &["--header-timeout-ms", "1000", "--idle-timeout-ms", "2000"],
    )
    .await;
    let addr = api_addr(&node);
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let (after, _) = closed_within(&mut silent, Duration::from_secs(10))
        .await
        .expect("a connection that sends nothing is closed at the header deadline");
    assert!(
        after >= Duration::from_millis(900),
        "closed after {after:?}"
    );

    let mut kept = TcpStream::connect(addr).await.expect("connect");
    kept.write_all(b"GET /api/v3/info HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let (after, got) = closed_within(&mut kept, Duration::from_secs(10))
        .await
        .expect("an idle kept-alive connection is closed at the idle timeout");
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "the request was answered: {text}"
    );
    assert!(
        after >= Duration::from_millis(1800),
        "closed after {after:?}"
    );
    assert_eq!(info_status(&http, &node).await, 200, "the node serves on");
}

#[tokio::test]
async fn the_per_source_cap_refuses_the_next_connection_and_other_sources_are_served() {
    let http = reqwest::Client::new();
    let node = start_node_with(&http, &["--max-conns-per-source", "4"]).await;
    let addr = api_addr(&node);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from(OTHER_SOURCE, addr).await);
    }
    // Let the server admit them before the fifth arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = connect_from(OTHER_SOURCE, addr).await;
    let (_, got) = closed_within(&mut fifth, Duration::from_secs(5))
        .await
        .expect("the fifth connection from one source is closed at once");
    assert!(got.is_empty(), "nothing is served to it");
    for conn in &mut held {
        assert!(
            closed_within(conn, Duration::from_millis(100))
                .await
                .is_none(),
            "the first four stay open"
        );
    }
    assert_eq!(
        info_status(&http, &node).await,
        200,
        "127.0.0.1 is served meanwhile"
    );
    drop(held);
    let other = client_from(OTHER_SOURCE);
    let served = async {
        loop {
            if let Ok(r) = other.get(format!("{}/info", node.base)).send().await {
                return r.status().as_u16();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let status = tokio::time::timeout(Duration::from_secs(10), served).await;
    assert_eq!(
        status.ok(),
        Some(200),
        "the source is served again once under its cap"
    );
}

#[tokio::test]
async fn at_the_total_cap_the_oldest_idle_connection_makes_room() {
    let http = reqwest::Client::new();
    let node = start_node_with(
        &http,
        &["--max-conns", "4", "--max-conns-per-source", "100"],
    )
    .await;
    let addr = api_addr(&node);
    let mut oldest = connect_from(OTHER_SOURCE, addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(connect_from(OTHER_SOURCE, addr).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fresh client (a new connection) is served; the oldest idle one is shed for it.
    let fresh = reqwest::Client::new();
    assert_eq!(info_status(&fresh, &node).await, 200);
    assert!(
        closed_within(&mut oldest, Duration::from_secs(5))
            .await
            .is_some(),
        "the oldest idle connection was shed"
    );
}

async fn create_limited_user(http: &reqwest::Client, node: &Node, name: &str, password: &str) {
    let admin = |req: reqwest::RequestBuilder| req.basic_auth("rocketskates", Some(ADMIN_PASSWORD));
    let role = json!({"Name": format!("{name}-role"), "Claims": [{"Scope": "profiles", "Action": "get,list", "Specific": "*"}]});
    let r = admin(http.post(format!("{}/roles", node.base)))
        .json(&role)
        .send()
        .await
        .expect("create role");
    assert!(r.status().is_success(), "role: {}", r.status());
    let user = json!({"Name": name, "Password": password, "Roles": [format!("{name}-role")]});
    let r = admin(http.post(format!("{}/users", node.base)))
        .json(&user)
        .send()
        .await
        .expect("create user");
    assert!(r.status().is_success(), "user: {}", r.status());
}

#[tokio::test]
async fn a_user_past_their_rate_gets_429_with_retry_after_and_others_are_served() {
    let http = reqwest::Client::new();
    let node = start_node_with(&http, &["--rate-limit-per-user", "5"]).await;
    create_limited_user(&http, &node, "mallory", "mallory-pass").await;
    let mut limited = None;
    // A burst of twice the rate is allowed; the 11th request at once cannot be.
    for _ in 0..30 {
        let r = http
            .get(format!("{}/profiles", node.base))
            .basic_auth("mallory", Some("mallory-pass"))
            .send()
            .await
            .expect("request");
        match r.status().as_u16() {
            200 => continue,
            429 => {
                limited = Some(r);
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let r = limited.expect("mallory was limited within 30 requests at a rate of 5/s");
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(retry >= 1);
    let body: Value = r.json().await.expect("DRP error body");
    assert_eq!(body["Code"], 429);
    assert_eq!(body["Key"], "mallory");
    let message = body["Messages"][0].as_str().unwrap_or_default();
    assert!(message.contains("5 requests/s per user"), "{message}");
    // Others are not limited by mallory's load, and the admin is never limited by user.
    let r = http
        .get(format!("{}/profiles", node.base))
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("admin request");
    assert_eq!(r.status(), 200);
    // Mallory is served again once the bucket refills.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let r = http
        .get(format!("{}/profiles", node.base))
        .basic_auth("mallory", Some("mallory-pass"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_source_past_its_rate_gets_429_before_authentication() {
    let http = reqwest::Client::new();
    let node = start_node_with(&http, &["--rate-limit-per-source", "5"]).await;
    let other = client_from(OTHER_SOURCE);
    let mut statuses = Vec::new();
    for _ in 0..30 {
        // Wrong credentials: limited before any password hash is computed.
        let r = other
            .get(format!("{}/profiles", node.base))
            .basic_auth("nobody", Some("wrong"))
            .send()
            .await
            .expect("request");
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses[..statuses.len() - 1].iter().all(|s| *s == 401));
    assert_eq!(
        info_status(&http, &node).await,
        200,
        "127.0.0.1 is served meanwhile"
    );
}

#[tokio::test]
async fn a_body_slower_than_the_minimum_rate_is_cut() {
    let http = reqwest::Client::new();
    let node = start_node_with(
        &http,
        &[
            "--min-body-bytes-per-sec",
            "1000",
            "--body-grace-ms",
            "1000",
        ],
    )
    .await;
    let profiles = || async {
        let r = http
            .get(format!("{}/profiles", node.base))
            .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("list");
        let list: Value = r.json().await.expect("json");
        list.as_array().map(Vec::len).expect("a list")
    };
    let before = profiles().await;
    let auth = base64_basic("rocketskates", ADMIN_PASSWORD);
    let mut conn = TcpStream::connect(api_addr(&node)).await.expect("connect");
    let head = format!(
        "POST /api/v3/profiles HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"Name\":"
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    let (after, got) = closed_within(&mut conn, Duration::from_secs(15))
        .await
        .expect("the trickling upload is cut");
    assert!(after >= Duration::from_millis(900), "cut after {after:?}");
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 4"),
        "no success for a cut upload: {text}"
    );
    assert_eq!(
        profiles().await,
        before,
        "nothing was created, and the node serves on"
    );
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let cred = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {cred}")
}

#[tokio::test]
async fn a_user_holds_at_most_64_event_websockets() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let http = reqwest::Client::new();
    let node = start_node_with(&http, &[]).await;
    create_limited_user(&http, &node, "wsuser", "wsuser-pass").await;
    let url = format!("{}/ws", node.base.replace("http://", "ws://"));
    let open = || async {
        let mut req = url.as_str().into_client_request().expect("request");
        let auth = base64_basic("wsuser", "wsuser-pass");
        req.headers_mut()
            .insert("authorization", auth.parse().expect("header"));
        tokio_tungstenite::connect_async(req).await
    };
    let mut sockets = Vec::new();
    for i in 0..64 {
        match open().await {
            Ok((ws, _)) => sockets.push(ws),
            Err(e) => panic!("socket {i} refused: {e}"),
        }
    }
    match open().await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 429);
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap_or_default())
                .expect("DRP error body");
            let message = body["Messages"][0].as_str().unwrap_or_default();
            assert!(
                message.contains("64 event websockets per user"),
                "{message}"
            );
        }
        other => panic!("the 65th socket was not refused: {:?}", other.map(|_| ())),
    }
    // Closing one makes room again.
    drop(sockets.pop());
    let reopened = async {
        loop {
            if open().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(10), reopened)
            .await
            .is_ok(),
        "a socket is accepted again once one closed"
    );
}
