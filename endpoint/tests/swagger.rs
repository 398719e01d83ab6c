//! `GET /api/v3/swagger.json` against a real endpoint: served without credentials, and every
//! (path, method) it documents is routed to a handler that answers with one of the statuses
//! the document gives for it; every method it does not document is 405.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reqwest::Method;
use serde_json::Value;

use common::{start_node, ADMIN_PASSWORD};

/// A value for each path parameter: none of them names an existing object.
fn concrete(path: &str) -> String {
    path.replace("{key}", "swagger-probe")
        .replace("{param}", "swagger/probe")
        .replace("{path}", "swagger/probe.txt")
        .replace("{name}", "swagger-probe")
        .replace("{id}", "swagger-probe")
        .replace("{prefix}", "machines")
        .replace("{field}", "Name")
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.to_ascii_uppercase().as_bytes()).expect("method")
}

#[tokio::test]
async fn every_documented_operation_is_served_as_documented() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;
    let root = node.base.trim_end_matches("/api/v3").to_string();

    let resp = http
        .get(format!("{}/swagger.json", node.base))
        .send()
        .await
        .expect("GET swagger.json");
    assert_eq!(resp.status(), 200, "served without credentials");
    assert!(resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json")));
    let doc: Value = resp.json().await.expect("JSON");
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3.0."));
    let server = doc["servers"][0]["url"].as_str().expect("server url");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/machines/{key}/params/{param}"));

    let mut probed = 0;
    for (path, item) in paths {
        let url = format!("{root}{server}{}", concrete(path));
        let documented = item.as_object().expect("path item");
        for (name, op) in documented {
            let id = op["operationId"].as_str().unwrap_or(name);
            let statuses = op["responses"].as_object().expect("responses");
            let open = op.get("security") == Some(&Value::Array(Vec::new()));

            let anonymous = http.request(method(name), &url).send().await.expect("send");
            if open {
                assert!(
                    statuses.contains_key(anonymous.status().as_str()),
                    "{id}: {name} {url} without credentials: undocumented {}",
                    anonymous.status()
                );
            } else {
                assert_eq!(
                    anonymous.status(),
                    401,
                    "{id}: {name} {url} needs credentials"
                );
            }

            let resp = http
                .request(method(name), &url)
                .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
                .send()
                .await
                .expect("send");
            let status = resp.status();
            let response = statuses.get(status.as_str()).unwrap_or_else(|| {
                panic!(
                    "{id}: {name} {url} answered {status}, documented {:?}",
                    statuses.keys().collect::<Vec<_>>()
                )
            });
            let drp_error = response["content"]["application/json"]["schema"]["$ref"]
                == "#/components/schemas/Error"
                && response["content"].get("text/plain").is_none();
            // A stream never ends (its status and headers are what is checked here); the
            // route table marks it, and the document says so.
            if op["x-streaming"] == true {
                probed += 1;
                continue;
            }
            let body = resp.bytes().await.expect("body");
            if drp_error && name != "head" {
                let error: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
                    panic!("{id}: {name} {url} {status}: not a DRP error ({e})")
                });
                assert_eq!(error["Code"], status.as_u16(), "{id}: {error}");
            }
            probed += 1;
        }

        // Methods the document does not name are not served (GET also answers HEAD).
        let all = ["get", "head", "post", "put", "patch", "delete", "options"];
        for name in all.into_iter().filter(|m| !documented.contains_key(*m)) {
            if name == "head" && documented.contains_key("get") {
                continue;
            }
            let status = http
                .request(method(name), &url)
                .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
                .send()
                .await
                .expect("send")
                .status();
            assert_eq!(status, 405, "{name} {url} is served but not documented");
        }
    }
    assert!(probed > 250, "{probed} operations");
}
