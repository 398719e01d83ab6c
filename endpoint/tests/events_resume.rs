//! The event websocket's extensions for the manager's replica against a real node: each
//! event carries its entry's Raft `Index`; `?since=<index>` replays the kept events after it
//! once the first registration is acknowledged, then says the gap was covered; `?progress=true`
//! reports the applied index; a list answers the index it reflects at least.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use common::{start_node, ADMIN_PASSWORD};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(
    base: &str,
    query: &str,
) -> Result<Socket, Box<tokio_tungstenite::tungstenite::Error>> {
    let url = format!("{}/ws{query}", base.replace("http://", "ws://"));
    let mut req = url.into_client_request().map_err(Box::new)?;
    let cred =
        base64::engine::general_purpose::STANDARD.encode(format!("rocketskates:{ADMIN_PASSWORD}"));
    req.headers_mut()
        .insert("authorization", format!("Basic {cred}").parse().unwrap());
    Ok(tokio_tungstenite::connect_async(req)
        .await
        .map_err(Box::new)?
        .0)
}

async fn next_json(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a message within 30 s")
            .expect("socket open")
            .expect("no socket error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

async fn register(ws: &mut Socket, pattern: &str) {
    ws.send(Message::Text(format!("register {pattern}").into()))
        .await
        .unwrap();
    let ack = next_json(ws).await;
    assert_eq!(ack["Action"], "register", "{ack}");
}

#[tokio::test]
async fn resume_replays_after_an_index_and_progress_reports_the_applied_index() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;
    let create = |name: &str| {
        http.post(format!("{}/profiles", node.base))
            .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
            .json(&json!({"Name": name}))
            .send()
    };

    let mut live = connect(&node.base, "").await.unwrap();
    register(&mut live, "profiles.*.*").await;
    let mut index = Vec::new();
    for name in ["r1", "r2", "r3"] {
        assert_eq!(create(name).await.unwrap().status(), 201);
        let e = next_json(&mut live).await;
        assert_eq!(e["Key"], name, "{e}");
        index.push(e["Index"].as_u64().expect("the entry's index on the event"));
    }
    assert!(index[0] < index[1] && index[1] < index[2], "{index:?}");

    // A list says which index it reflects at least.
    let resp = http
        .get(format!("{}/profiles", node.base))
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    let applied: u64 = resp.headers()[proto::headers::APPLIED_INDEX]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(applied >= index[2], "{applied} {index:?}");

    // Resuming after r1: nothing before the registration, then r2 and r3 as they were sent
    // live, then word that the gap was covered, then the applied index.
    let mut resumed = connect(&node.base, &format!("?since={}&progress=true", index[0]))
        .await
        .unwrap();
    register(&mut resumed, "profiles.*.*").await;
    for (name, i) in [("r2", index[1]), ("r3", index[2])] {
        let e = next_json(&mut resumed).await;
        assert_eq!(
            (e["Key"].as_str(), e["Index"].as_u64()),
            (Some(name), Some(i)),
            "{e}"
        );
    }
    let word = next_json(&mut resumed).await;
    assert_eq!(word["Action"], "resumed", "{word}");
    assert_eq!(word["Object"]["Covered"], true, "{word}");
    assert_eq!(word["Object"]["Replayed"], 2, "{word}");
    let progress = next_json(&mut resumed).await;
    assert_eq!(progress["Action"], "progress", "{progress}");
    assert!(
        progress["Object"]["Index"].as_u64() >= Some(index[2]),
        "{progress}"
    );
    // Then live events, once.
    assert_eq!(create("r4").await.unwrap().status(), 201);
    let e = next_json(&mut resumed).await;
    assert_eq!(e["Key"], "r4", "{e}");

    // A query that is not a number is refused before the upgrade.
    let err = connect(&node.base, "?since=yesterday").await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
}
