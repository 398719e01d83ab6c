//! Compatibility with DRP's own client test objects (../shared/fixtures/api-objects, third-party
//! data kept outside the repo): create and update succeed, the bad ones get a 4xx naming the
//! problem and change nothing.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use serde_json::Value;

use common::{start_node, ADMIN_PASSWORD};

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/api-objects"
    ));
    dir.is_dir().then_some(dir)
}

/// (collection, key field) the fixture folders hold.
const COLLECTIONS: &[(&str, &str)] = &[("machines", "Uuid"), ("profiles", "Name")];

#[tokio::test]
async fn drp_client_objects_round_trip() {
    let Some(dir) = fixtures() else {
        println!("SKIPPED: ../shared/fixtures not present");
        return;
    };
    let http = reqwest::Client::new();
    let node = start_node(&http).await;
    let send = |method: reqwest::Method, path: String, body: Vec<u8>, yaml: bool| {
        let req = http
            .request(method, format!("{}{path}", node.base))
            .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
            .header(
                "content-type",
                if yaml {
                    "application/yaml"
                } else {
                    "application/json"
                },
            )
            .body(body);
        async move {
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for &(collection, key_field) in COLLECTIONS {
        for ext in ["json", "yaml"] {
            let yaml = ext == "yaml";
            let read = |name: &str| {
                std::fs::read(dir.join(collection).join(format!("{name}.{ext}"))).expect("fixture")
            };
            let create = read("create");
            let created: Value = serde_yaml::from_slice(&create).expect("fixture parses");
            let key = created[key_field].as_str().expect("key").to_string();

            let (status, body) = send(
                reqwest::Method::POST,
                format!("/{collection}"),
                create,
                yaml,
            )
            .await;
            assert_eq!(status, 201, "{collection} create.{ext}: {body}");
            assert_eq!(body["Description"], created["Description"]);

            let update = read("update");
            let updated: Value = serde_yaml::from_slice(&update).expect("fixture parses");
            let (status, body) = send(
                reqwest::Method::PUT,
                format!("/{collection}/{key}"),
                update,
                yaml,
            )
            .await;
            assert_eq!(status, 200, "{collection} update.{ext}: {body}");
            let (_, now) = send(
                reqwest::Method::GET,
                format!("/{collection}/{key}"),
                Vec::new(),
                false,
            )
            .await;
            assert_eq!(
                now["Description"], updated["Description"],
                "{collection}: the update is what a read returns"
            );

            let (status, body) = send(
                reqwest::Method::POST,
                format!("/{collection}"),
                read("bad"),
                yaml,
            )
            .await;
            assert!(
                (400..500).contains(&status),
                "{collection} bad.{ext}: {status} {body}"
            );
            let message = body["Messages"][0].as_str().unwrap_or_default().to_string();
            assert!(
                message.contains("line"),
                "{collection} bad.{ext}: the error names where: {message}"
            );
            let (_, after) = send(
                reqwest::Method::GET,
                format!("/{collection}/{key}"),
                Vec::new(),
                false,
            )
            .await;
            assert_eq!(after, now, "{collection}: a bad request changes nothing");

            let (status, _) = send(
                reqwest::Method::DELETE,
                format!("/{collection}/{key}"),
                Vec::new(),
                false,
            )
            .await;
            assert_eq!(status, 200);
        }
    }
}
