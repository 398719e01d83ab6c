//! The event websocket against a real node: register/deregister, wildcards, error replies,
//! and create/update events carrying the object before and after.
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

async fn connect(base: &str, auth: bool) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    connect_as(base, auth.then_some(("rocketskates", ADMIN_PASSWORD))).await
}

async fn connect_as(
    base: &str,
    user: Option<(&str, &str)>,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}/ws", base.replace("http://", "ws://"));
    let mut req = url.into_client_request()?;
    if let Some((user, password)) = user {
        let cred = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        req.headers_mut().insert(
            "authorization",
            format!("Basic {cred}").parse().expect("header"),
        );
    }
    Ok(tokio_tungstenite::connect_async(req).await?.0)
}

/// The next JSON text message, within a bound.
async fn next_json(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("socket open")
            .expect("no socket error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).expect("JSON event");
        }
    }
}

#[tokio::test]
async fn events_follow_registrations() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;
    assert!(
        connect(&node.base, false).await.is_err(),
        "an anonymous websocket must be refused"
    );

    let mut ws = connect(&node.base, true).await.expect("connect");
    ws.send(Message::Text("register profiles.*.*".into()))
        .await
        .expect("send");
    assert_eq!(next_json(&mut ws).await["Action"], json!("register"));
    ws.send(Message::Text("subscribe everything".into()))
        .await
        .expect("send");
    let err = next_json(&mut ws).await;
    assert_eq!(err["Action"], json!("error"), "{err}");
    assert!(
        err["Object"]["Messages"][0]
            .as_str()
            .unwrap_or("")
            .contains("<type>.<action>.<key>"),
        "{err}"
    );

    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", node.base))
            .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
            .json(&body)
            .send()
    };
    assert_eq!(
        post("/machines", json!({"Name": "m1"}))
            .await
            .expect("post")
            .status(),
        201
    );
    assert_eq!(
        post("/profiles", json!({"Name": "p1"}))
            .await
            .expect("post")
            .status(),
        201
    );
    assert_eq!(
        post("/profiles/p1/params/k", json!(7))
            .await
            .expect("post")
            .status(),
        200
    );

    // The machine event is filtered out: the first event is the profile's creation.
    let created = next_json(&mut ws).await;
    assert_eq!(
        (
            created["Type"].clone(),
            created["Action"].clone(),
            created["Key"].clone()
        ),
        (json!("profiles"), json!("create"), json!("p1"))
    );
    assert_eq!(created["Object"]["Name"], json!("p1"));
    assert_eq!(
        created["Principal"],
        json!("rocketskates"),
        "the event names the authenticated user who made the change"
    );
    let updated = next_json(&mut ws).await;
    assert_eq!(updated["Action"], json!("update"));
    assert_eq!(updated["Object"]["Params"]["k"], json!(7));
    assert_eq!(
        updated["Original"]["Params"],
        json!({}),
        "Original is the object before the change"
    );

    ws.send(Message::Text("deregister profiles.*.*".into()))
        .await
        .expect("send");
    assert_eq!(next_json(&mut ws).await["Action"], json!("deregister"));
    ws.send(Message::Text("register machines.delete.*".into()))
        .await
        .expect("send");
    assert_eq!(next_json(&mut ws).await["Action"], json!("register"));
    assert_eq!(
        post("/profiles", json!({"Name": "p2"}))
            .await
            .expect("post")
            .status(),
        201
    );
    let uuid = http
        .get(format!("{}/machines/Name:m1", node.base))
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("get")
        .json::<Value>()
        .await
        .expect("json")["Uuid"]
        .as_str()
        .expect("uuid")
        .to_string();
    let deleted = http
        .delete(format!("{}/machines/{uuid}", node.base))
        .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 200);
    let event = next_json(&mut ws).await;
    assert_eq!(
        (event["Type"].clone(), event["Action"].clone()),
        (json!("machines"), json!("delete")),
        "p2 was deregistered: {event}"
    );
    assert_eq!(event["Object"]["Name"], json!("m1"));
}

/// A user sees only the changes to objects their roles let them `get`.
#[tokio::test]
async fn events_are_filtered_by_the_users_claims() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", node.base))
            .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
            .json(&body)
            .send()
    };
    let role = json!({"Name": "profile-watcher", "Claims": [{"Scope": "profiles", "Action": "get", "Specific": "*"}]});
    assert_eq!(post("/roles", role).await.expect("role").status(), 201);
    let user = json!({"Name": "watcher", "Password": "watcher-pw", "Roles": ["profile-watcher"]});
    assert_eq!(post("/users", user).await.expect("user").status(), 201);

    let mut ws = connect_as(&node.base, Some(("watcher", "watcher-pw")))
        .await
        .expect("connect");
    ws.send(Message::Text("register *.*.*".into()))
        .await
        .expect("send");
    assert_eq!(next_json(&mut ws).await["Action"], json!("register"));
    let machine = json!({"Name": "hidden", "Uuid": "0b6f3f0e-1c1d-4e57-8f44-5b0b7a4d0c01"});
    assert_eq!(
        post("/machines", machine).await.expect("machine").status(),
        201
    );
    assert_eq!(
        post("/profiles", json!({"Name": "seen"}))
            .await
            .expect("profile")
            .status(),
        201
    );
    let event = next_json(&mut ws).await;
    assert_eq!(
        (event["Type"].clone(), event["Key"].clone()),
        (json!("profiles"), json!("seen")),
        "the machine's creation is not for this user: {event}"
    );
}
