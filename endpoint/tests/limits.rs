//! Hostile-input limits against a real node: each is refused with a 4xx in DRP's error shape
//! (`{"Model","Key","Type","Messages","Code"}`) whose message names the limit, nothing is
//! changed, and the node goes on serving.
//!
//! | limit | value | answer |
//! |---|---|---|
//! | request body (most calls) | 2 MiB | 413 |
//! | file upload | `--max-file-bytes` (4 GiB by default, at most 64 GiB) | 413 |
//! | nesting of a JSON or YAML body | 64 levels | 413 |
//! | YAML alias expansion | 2 values+bytes per body byte (64 KiB at least) | 413 |
//! | list filters / sort keys per query | 32 / 8 | 400 |
//! | websocket command | 4096 bytes | error reply, Code 413 |
//! | websocket message at all | 64 KiB | close 1009 |
//! | websocket registrations per connection | 256 | error reply, Code 422 |
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use common::{start_node, start_node_with, Node, ADMIN_PASSWORD};

/// `--max-file-bytes` of the node that tests uploads.
const FILE_LIMIT: usize = 1 << 20;

fn basic() -> String {
    let cred =
        base64::engine::general_purpose::STANDARD.encode(format!("rocketskates:{ADMIN_PASSWORD}"));
    format!("Basic {cred}")
}

/// `host:port` of the node's API.
fn authority(node: &Node) -> String {
    node.base
        .trim_start_matches("http://")
        .trim_end_matches("/api/v3")
        .to_string()
}

/// Asserts a DRP error body with this status whose first message contains every `needle`.
fn assert_drp_error(status: u16, body: &[u8], code: u16, needles: &[&str], what: &str) {
    let text = String::from_utf8_lossy(body);
    assert_eq!(status, code, "{what}: {text}");
    let error: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{what}: not a DRP error ({e}): {text}"));
    for field in ["Model", "Key", "Type", "Messages", "Code"] {
        assert!(error.get(field).is_some(), "{what}: no {field} in {error}");
    }
    assert_eq!(error["Code"], code, "{what}: {error}");
    let message = error["Messages"][0].as_str().unwrap_or_default();
    for needle in needles {
        assert!(
            message.contains(needle),
            "{what}: {message:?} lacks {needle:?}"
        );
    }
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let resp = http
        .request(method, url)
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

async fn post_json(http: &reqwest::Client, node: &Node, path: &str, body: Value) -> (u16, Vec<u8>) {
    let url = format!("{}{path}", node.base);
    send(
        http,
        reqwest::Method::POST,
        url,
        "application/json",
        body.to_string().into_bytes(),
    )
    .await
}

async fn post_yaml(
    http: &reqwest::Client,
    node: &Node,
    path: &str,
    body: String,
) -> (u16, Vec<u8>) {
    let url = format!("{}{path}", node.base);
    send(
        http,
        reqwest::Method::POST,
        url,
        "application/yaml",
        body.into_bytes(),
    )
    .await
}

async fn get(http: &reqwest::Client, node: &Node, path_and_query: &str) -> (u16, Vec<u8>) {
    let resp = http
        .get(format!("{}{path_and_query}", node.base))
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "GET {}: {}",
                &path_and_query[..path_and_query.len().min(80)],
                e.without_url()
            )
        });
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// The node still answers a linearizable read and commits a write.
async fn still_serves(http: &reqwest::Client, node: &Node, name: &str) {
    let (status, body) = post_json(http, node, "/profiles", json!({ "Name": name })).await;
    assert_eq!(
        status,
        201,
        "write after the refusals: {}",
        String::from_utf8_lossy(&body)
    );
    let (status, body) = get(http, node, &format!("/profiles/{name}")).await;
    assert_eq!(
        status,
        200,
        "read after the refusals: {}",
        String::from_utf8_lossy(&body)
    );
}

/// A raw HTTP/1.1 exchange: `head` (without the blank line), then `body_bytes` of body sent as
/// chunks while the response is read (writes fail once the server has answered and closed,
/// which is expected). Returns the status and the response body.
async fn raw_request(node: &Node, head: &str, chunked_body_bytes: usize) -> (u16, Vec<u8>) {
    let stream = tokio::net::TcpStream::connect(authority(node))
        .await
        .expect("connect");
    let (mut rd, mut wr) = tokio::io::split(stream);
    let head = format!(
        "{head}\r\nHost: {}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        authority(node),
        basic()
    );
    wr.write_all(head.as_bytes()).await.expect("write head");
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 << 10];
        let mut sent = 0;
        while sent < chunked_body_bytes {
            let frame = [
                format!("{:x}\r\n", chunk.len()).into_bytes(),
                chunk.clone(),
                b"\r\n".to_vec(),
            ]
            .concat();
            if wr.write_all(&frame).await.is_err() {
                return;
            }
            sent += chunk.len();
        }
        if chunked_body_bytes > 0 {
            let _ = wr.write_all(b"0\r\n\r\n").await;
        }
        // Keep the write half open until the reader is done.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = vec![0; 64 << 10];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
            if complete(&response) {
                break;
            }
        }
    })
    .await;
    writer.abort();
    assert!(read.is_ok(), "no complete response within 20 s");
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line: {head}"));
    (status, body.as_bytes().to_vec())
}

/// Whether `response` holds a head and the whole `Content-Length` body.
fn complete(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .is_some_and(|len| body.len() >= len)
}

/// `depth` objects nested in one another, a string at the bottom.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("bottom"), |inner, _| json!({ "a": inner }))
}

#[tokio::test]
async fn request_bodies_are_bounded_in_size() {
    let http = reqwest::Client::new();
    let node = start_node_with(&http, &["--max-file-bytes", &FILE_LIMIT.to_string()]).await;

    // Declared far too large: refused from the header, before the body is read.
    let (status, body) = raw_request(
        &node,
        "POST /api/v3/profiles HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 1073741824",
        0,
    )
    .await;
    assert_drp_error(
        status,
        &body,
        413,
        &["limit", "2 MiB"],
        "Content-Length of 1 GiB",
    );

    // Streamed without a length: refused once 2 MiB have arrived.
    let (status, body) = raw_request(
        &node,
        "POST /api/v3/profiles HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked",
        3 << 20,
    )
    .await;
    assert_drp_error(
        status,
        &body,
        413,
        &["limit", "2 MiB"],
        "chunked body over 2 MiB",
    );

    // Through a client that sends its whole body before it reads the reply (reqwest): the body
    // is read and dropped, so it gets the 413, not a broken pipe; on another write route.
    let url = format!("{}/profiles/global/params/big", node.base);
    let (status, body) = send(
        &http,
        reqwest::Method::PUT,
        url,
        "application/json",
        vec![b' '; 3 << 20],
    )
    .await;
    assert_drp_error(
        status,
        &body,
        413,
        &["limit", "2 MiB"],
        "param value over 2 MiB",
    );

    // Files: `--max-file-bytes` (1 MiB on this node), refused up front by a declared length...
    let (status, body) = raw_request(
        &node,
        &format!(
            "POST /api/v3/files/limits/declared.bin HTTP/1.1\r\nContent-Type: application/octet-stream\r\nContent-Length: {}",
            FILE_LIMIT + 1
        ),
        0,
    )
    .await;
    assert_drp_error(
        status,
        &body,
        413,
        &["limit of 1048576 bytes"],
        "declared upload",
    );
    // ... and once a streamed upload passes it.
    let (status, body) = raw_request(
        &node,
        "POST /api/v3/files/limits/streamed.bin HTTP/1.1\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked",
        2 << 20,
    )
    .await;
    assert_drp_error(
        status,
        &body,
        413,
        &["limit of 1048576 bytes"],
        "streamed upload",
    );
    for path in ["declared", "streamed"] {
        let (status, _) = get(&http, &node, &format!("/files/limits/{path}.bin")).await;
        assert_eq!(status, 404, "nothing was stored at {path}");
    }
    // Past the ceiling any node may be configured with, the route itself refuses the length.
    let (status, body) = raw_request(
        &node,
        "POST /api/v3/files/limits/huge.bin HTTP/1.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000000000000",
        0,
    )
    .await;
    assert_drp_error(status, &body, 413, &["limit"], "upload past the ceiling");
    let url = format!("{}/files/limits/small.bin", node.base);
    let (status, body) = send(
        &http,
        reqwest::Method::POST,
        url,
        "application/octet-stream",
        vec![7; FILE_LIMIT],
    )
    .await;
    assert_eq!(
        status,
        201,
        "a file at the limit: {}",
        String::from_utf8_lossy(&body)
    );

    // Just under the limit is fine.
    let description = "d".repeat((2 << 20) - 1024);
    let (status, body) = post_json(
        &http,
        &node,
        "/profiles",
        json!({ "Name": "big", "Description": description }),
    )
    .await;
    assert_eq!(
        status,
        201,
        "{}",
        String::from_utf8_lossy(&body[..200.min(body.len())])
    );

    still_serves(&http, &node, "after-size").await;
}

#[tokio::test]
async fn request_bodies_are_bounded_in_depth_and_expansion() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;

    // {Name, Params: {d: <n levels>}} nests n + 2 levels deep: 62 is the most allowed.
    let (status, body) = post_json(
        &http,
        &node,
        "/profiles",
        json!({ "Name": "deep-ok", "Params": { "d": nested(62) } }),
    )
    .await;
    assert_eq!(
        status,
        201,
        "64 levels are allowed: {}",
        String::from_utf8_lossy(&body)
    );
    for depth in [63, 124, 500] {
        let (status, body) = post_json(
            &http,
            &node,
            "/profiles",
            json!({ "Name": format!("deep-{depth}"), "Params": { "d": nested(depth) } }),
        )
        .await;
        assert_drp_error(
            status,
            &body,
            413,
            &["limit of 64 levels"],
            &format!("JSON {depth} deep"),
        );
    }
    // Far past serde_json's own recursion limit, as raw text.
    let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let url = format!("{}/profiles/deep-ok/params/x", node.base);
    let (status, body) = send(
        &http,
        reqwest::Method::PUT,
        url,
        "application/json",
        text.into_bytes(),
    )
    .await;
    assert_drp_error(status, &body, 413, &["limit of 64 levels"], "100000 [");

    // YAML: flow and block nesting, and a patch body.
    let flow = format!(
        "Name: yflow\nParams:\n  d: {}{}\n",
        "[".repeat(70),
        "]".repeat(70)
    );
    let (status, body) = post_yaml(&http, &node, "/profiles", flow).await;
    assert_drp_error(
        status,
        &body,
        413,
        &["limit of 64 levels"],
        "YAML flow nesting",
    );
    // Block sequences, each item one indentation step deeper: `-\n  -\n    - ...`.
    let block: String = (0..70)
        .map(|i| format!("{}-\n", " ".repeat(4 + 2 * i)))
        .collect();
    let block = format!("Name: yblock\nParams:\n  d:\n{block}{}x\n", " ".repeat(144));
    let (status, body) = post_yaml(&http, &node, "/profiles", block).await;
    assert_drp_error(
        status,
        &body,
        413,
        &["limit of 64 levels"],
        "YAML block nesting",
    );
    let patch = json!([{ "op": "add", "path": "/Params/p", "value": nested(70) }]);
    let url = format!("{}/profiles/deep-ok", node.base);
    let (status, body) = send(
        &http,
        reqwest::Method::PATCH,
        url,
        "application/json-patch+json",
        patch.to_string().into_bytes(),
    )
    .await;
    assert_drp_error(
        status,
        &body,
        413,
        &["limit of 64 levels"],
        "patch value nesting",
    );

    // YAML aliases: a few references are fine, a "billion laughs" is refused while parsing.
    let small = "Name: aliases\nParams:\n  a: &a [1, 2]\n  b: [*a, *a, *a]\n".to_string();
    let (status, body) = post_yaml(&http, &node, "/profiles", small).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let list = vec!["0"; 3000].join(",");
    let refs = vec!["*a"; 3000].join(",");
    let bomb = format!("Name: bomb\nParams:\n  a: &a [{list}]\n  b: [{refs}]\n");
    let (status, body) = post_yaml(&http, &node, "/profiles", bomb).await;
    assert_drp_error(
        status,
        &body,
        413,
        &["expands past the limit"],
        "YAML alias expansion",
    );
    let (status, _) = get(&http, &node, "/profiles/bomb").await;
    assert_eq!(status, 404, "nothing was stored");

    still_serves(&http, &node, "after-depth").await;
}

#[tokio::test]
async fn list_queries_are_bounded() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;

    let filters = |n: usize| {
        (0..n)
            .map(|i| format!("f{i}=Ne(x)"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let (status, _) = get(&http, &node, &format!("/profiles?{}", filters(32))).await;
    assert_eq!(status, 200, "32 filters are allowed");
    let (status, body) = get(&http, &node, &format!("/profiles?{}", filters(33))).await;
    assert_drp_error(status, &body, 400, &["at most 32", "limit"], "33 filters");
    let (status, body) = get(&http, &node, &format!("/profiles?{}", filters(2_000))).await;
    assert_drp_error(status, &body, 400, &["at most 32", "limit"], "2000 filters");
    // HEAD counts with the same parser.
    let head = http
        .head(format!("{}/profiles?{}", node.base, filters(33)))
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), 400);

    let sorts = |n: usize| {
        (0..n)
            .map(|i| format!("sort=F{i}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let (status, _) = get(&http, &node, &format!("/profiles?{}", sorts(8))).await;
    assert_eq!(status, 200, "8 sort keys are allowed");
    let (status, body) = get(&http, &node, &format!("/profiles?{}", sorts(9))).await;
    assert_drp_error(status, &body, 400, &["at most 8", "limit"], "9 sort keys");

    still_serves(&http, &node, "after-filters").await;
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(node: &Node) -> Socket {
    let url = format!("{}/ws", node.base.replace("http://", "ws://"));
    let mut req = url.into_client_request().expect("request");
    req.headers_mut()
        .insert("authorization", basic().parse().expect("header"));
    tokio_tungstenite::connect_async(req)
        .await
        .expect("connect")
        .0
}

/// The next message, within a bound.
async fn next(ws: &mut Socket) -> Option<Message> {
    tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a message within 10 s")
        .and_then(Result::ok)
}

async fn command(ws: &mut Socket, text: String) -> Value {
    ws.send(Message::Text(text.into())).await.expect("send");
    loop {
        match next(ws).await {
            Some(Message::Text(t)) => return serde_json::from_str(&t).expect("JSON reply"),
            Some(_) => continue,
            None => panic!("the socket closed"),
        }
    }
}

/// An error reply whose `Object` is a DRP error with this code naming the limit.
fn assert_ws_error(reply: &Value, code: u16, needle: &str) {
    assert_eq!(reply["Action"], "error", "{reply}");
    let body = serde_json::to_vec(&reply["Object"]).expect("json");
    assert_drp_error(code, &body, code, &[needle, "limit"], "websocket");
}

#[tokio::test]
async fn websocket_messages_and_registrations_are_bounded() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;
    let mut ws = connect(&node).await;

    // A command over 4096 bytes is answered with an error; the connection stays usable.
    let reply = command(
        &mut ws,
        format!("register profiles.create.{}", "k".repeat(5000)),
    )
    .await;
    assert_ws_error(&reply, 413, "4096 bytes");
    let reply = command(&mut ws, "register profiles.*.*".into()).await;
    assert_eq!(reply["Action"], "register", "{reply}");

    // 256 registrations per connection (the one above is the first).
    for i in 1..256 {
        let reply = command(&mut ws, format!("register machines.create.m{i}")).await;
        assert_eq!(reply["Action"], "register", "registration {i}: {reply}");
    }
    let reply = command(&mut ws, "register machines.create.one-too-many".into()).await;
    assert_ws_error(&reply, 422, "256 registrations");
    // Deregistering makes room again.
    let reply = command(&mut ws, "deregister machines.create.m1".into()).await;
    assert_eq!(reply["Action"], "deregister", "{reply}");
    let reply = command(&mut ws, "register machines.create.one-too-many".into()).await;
    assert_eq!(reply["Action"], "register", "{reply}");

    // A message over 64 KiB is not read at all: the connection is closed with 1009.
    ws.send(Message::Text("x".repeat(70 << 10).into()))
        .await
        .expect("send");
    let closed = loop {
        match next(&mut ws).await {
            Some(Message::Close(frame)) => break frame,
            Some(_) => continue,
            None => break None,
        }
    };
    let frame = closed.expect("a close frame saying why");
    assert_eq!(frame.code, CloseCode::Size, "{frame:?}");
    assert!(
        frame.reason.contains("limit of 65536 bytes"),
        "{:?}",
        frame.reason
    );

    // A new connection, and the API, still work.
    let mut again = connect(&node).await;
    let reply = command(&mut again, "register profiles.*.*".into()).await;
    assert_eq!(reply["Action"], "register", "{reply}");
    still_serves(&http, &node, "after-ws").await;
}

/// Every way into the log is bounded in depth, not only `parse_json`'s callers: a content
/// pack, a VersionSet's Global value, and patches that each deepen a stored object a little.
/// Before, each of these committed an entry that no member could decode back: the node
/// stopped serving and could not restart.
#[tokio::test]
async fn no_route_commits_an_entry_too_deep_to_read_back() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;

    let pack = json!({
        "meta": { "Name": "deep-pack", "Version": "v1.0.0" },
        "sections": { "profiles": { "deep": { "Name": "deep", "Params": { "d": nested(118) } } } }
    });
    let (status, body) = post_json(&http, &node, "/contents", pack).await;
    assert_drp_error(status, &body, 413, &["levels"], "a 118-deep content pack");

    let apply = json!({ "VersionSet": { "Id": "deep", "Global": { "d": nested(122) } } });
    let url = format!("{}/system/versionset/apply", node.base);
    let resp = http
        .post(url)
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .header("Idempotency-Key", "deep-apply")
        .json(&apply)
        .send()
        .await
        .expect("apply");
    let status = resp.status().as_u16();
    let body = resp.bytes().await.expect("body").to_vec();
    assert_drp_error(status, &body, 413, &["levels"], "a 122-deep VersionSet");

    // Each patch adds 40 levels at the bottom of what the last one added.
    let (status, _) = post_json(&http, &node, "/profiles", json!({ "Name": "grows" })).await;
    assert_eq!(status, 201);
    let mut path = String::from("/Params/g");
    let mut refused = None;
    for round in 0..5 {
        let patch = json!([{ "op": "add", "path": path, "value": nested(40) }]);
        let resp = http
            .patch(format!("{}/profiles/grows", node.base))
            .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
            .json(&patch)
            .send()
            .await
            .expect("patch");
        let status = resp.status().as_u16();
        let body = resp.bytes().await.expect("body").to_vec();
        if status != 200 {
            assert_drp_error(status, &body, 422, &["deeper than"], "a deepening patch");
            refused = Some(round);
            break;
        }
        path.push_str(&"/a".repeat(40));
    }
    assert!(
        refused.is_some_and(|r| r >= 1),
        "deepening was never refused: {refused:?}"
    );
    still_serves(&http, &node, "after-deep-routes").await;
}
