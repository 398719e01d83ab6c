//! Issue 18 on a real node, without the Python client: DRP's defaults and stamps on what is
//! stored, wrong types refused, the params-map calls, client-sealed secure values, and the
//! routes DRP's clients call (info, token in DRP's form, password, whoami, indexes, objects).
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use common::{start_node, Node, ADMIN_PASSWORD};

struct Api<'a> {
    http: reqwest::Client,
    node: &'a Node,
}

impl Api<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(method, path, body, "rocketskates", ADMIN_PASSWORD)
            .await
    }

    async fn call_as(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        user: &str,
        password: &str,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.node.base))
            .basic_auth(user, Some(password));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

fn messages(body: &Value) -> String {
    body["Messages"].to_string()
}

#[tokio::test]
async fn stored_objects_carry_drp_defaults_and_stamps() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;
    let api = Api { http, node: &node };

    let (status, m) = api
        .call(
            Method::POST,
            "/machines",
            Some(json!({"Name": "m1", "Tasks": null})),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["CurrentTask"], -1);
    assert_eq!(m["Runnable"], true);
    assert_eq!(m["Tasks"], json!([]));
    assert_eq!(m["HardwareAddrs"], json!([]));
    assert_eq!(m["CreatedBy"], "rocketskates");
    assert_eq!(m["Bundle"], "");
    let created_at = m["CreatedAt"].as_str().expect("CreatedAt").to_string();
    let uuid = m["Uuid"].as_str().expect("Uuid").to_string();

    // A replace keeps the creation stamp whatever the client sends.
    let (status, r) = api
        .call(
            Method::PUT,
            &format!("/machines/{uuid}"),
            Some(json!({"Name": "m1", "CreatedAt": "2001-01-01T00:00:00Z", "CreatedBy": "x"})),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["CreatedAt"], created_at.as_str());
    assert_eq!(r["CreatedBy"], "rocketskates");
    assert!(r["LastModifiedAt"].as_str() >= Some(created_at.as_str()));

    // Wrong types: 422 naming the field, nothing stored or changed.
    let (status, e) = api
        .call(
            Method::POST,
            "/machines",
            Some(json!({"Name": "m2", "CurrentTask": "3"})),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    assert!(
        messages(&e).contains("CurrentTask must be an integer"),
        "{e}"
    );
    let (status, e) = api
        .call(
            Method::PATCH,
            &format!("/machines/{uuid}"),
            Some(json!([{"op": "replace", "path": "/Tasks", "value": "a,b"}])),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    assert!(
        messages(&e).contains("Tasks must be a list of strings"),
        "{e}"
    );
    let (_, unchanged) = api
        .call(Method::GET, &format!("/machines/{uuid}"), None)
        .await;
    assert_eq!(unchanged["Tasks"], json!([]));

    // Nested fills a reader requires: a task's template paths, a param's Secure.
    let (status, t) = api
        .call(
            Method::POST,
            "/tasks",
            Some(json!({"Name": "t1", "Templates": [{"Name": "x", "Contents": "echo"}]})),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["Templates"][0]["Path"], "");
    assert_eq!(t["RequiredParams"], json!([]));
    let (_, p) = api
        .call(Method::POST, "/params", Some(json!({"Name": "p1"})))
        .await;
    assert_eq!(p["Secure"], false);
}

/// A value sealed with NaCl crypto_box to `pubkey` (base64), as DRP's clients send it.
fn seal_for(pubkey: &str, value: &Value) -> Value {
    use crypto_box::aead::{Aead, AeadCore, OsRng};
    let ours = crypto_box::SecretKey::generate(&mut OsRng);
    let theirs: [u8; 32] = B64
        .decode(pubkey)
        .expect("base64")
        .try_into()
        .expect("32 bytes");
    let sealer = crypto_box::SalsaBox::new(&crypto_box::PublicKey::from(theirs), &ours);
    let nonce = crypto_box::SalsaBox::generate_nonce(&mut OsRng);
    let payload = sealer
        .encrypt(&nonce, value.to_string().as_bytes())
        .expect("seal");
    json!({
        "Key": B64.encode(ours.public_key().as_bytes()),
        "Nonce": B64.encode(nonce),
        "Payload": B64.encode(payload),
    })
}

#[tokio::test]
async fn params_maps_and_client_sealed_secure_values() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;
    let api = Api { http, node: &node };
    api.call(
        Method::POST,
        "/params",
        Some(json!({"Name": "ipmi/password", "Secure": true})),
    )
    .await;
    for name in ["a", "b"] {
        let (status, _) = api
            .call(Method::POST, "/profiles", Some(json!({"Name": name})))
            .await;
        assert_eq!(status, 201);
    }

    let (status, map) = api
        .call(
            Method::POST,
            "/profiles/a/params",
            Some(json!({"x": 1, "ipmi/password": "plain-then-sealed"})),
        )
        .await;
    assert_eq!(status, 200, "{map}");
    assert_eq!(map["x"], 1);
    assert!(map["ipmi/password"]["Payload"].is_string(), "sealed: {map}");
    let (status, map) = api
        .call(
            Method::PATCH,
            "/profiles/a/params",
            Some(
                json!([{"op": "add", "path": "/y", "value": [1]}, {"op": "remove", "path": "/x"}]),
            ),
        )
        .await;
    assert_eq!(status, 200, "{map}");
    assert_eq!(map["y"], json!([1]));
    assert!(map.get("x").is_none());

    let (status, pubkey) = api.call(Method::GET, "/profiles/a/pubkey", None).await;
    assert_eq!(status, 200);
    let pubkey = pubkey.as_str().expect("a base64 string").to_string();
    let (_, again) = api.call(Method::GET, "/profiles/a/pubkey", None).await;
    assert_eq!(again, pubkey.as_str(), "one key per object");
    let (_, other) = api.call(Method::GET, "/profiles/b/pubkey", None).await;
    assert_ne!(other, pubkey.as_str(), "another object, another key");

    let secret = json!({"user": "admin", "pass": "hunter2"});
    let (status, stored) = api
        .call(
            Method::POST,
            "/profiles/a/params/ipmi%2Fpassword",
            Some(seal_for(&pubkey, &secret)),
        )
        .await;
    assert_eq!(status, 200, "{stored}");
    assert!(!stored.to_string().contains("hunter2"));
    let (_, opened) = api
        .call(
            Method::GET,
            "/profiles/a/params/ipmi%2Fpassword?decode=True",
            None,
        )
        .await;
    assert_eq!(opened, secret);

    // Sealed to b's key, sent to a: refused, a keeps its value.
    let (status, e) = api
        .call(
            Method::POST,
            "/profiles/a/params/ipmi%2Fpassword",
            Some(seal_for(
                other.as_str().expect("key"),
                &json!("misdirected"),
            )),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    assert!(messages(&e).contains("public key of profiles/a"), "{e}");
    let (_, still) = api
        .call(
            Method::GET,
            "/profiles/a/params/ipmi%2Fpassword?decode=true",
            None,
        )
        .await;
    assert_eq!(still, secret);
    let (status, _) = api.call(Method::GET, "/profiles/nope/pubkey", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn drp_client_routes() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;
    let api = Api { http, node: &node };

    let (_, info) = api.call(Method::GET, "/info", None).await;
    for field in [
        "id",
        "local_id",
        "uuid",
        "os",
        "arch",
        "address",
        "version",
        "ha_id",
        "ha_status",
        "ha_consensus_id",
        "server_hostname",
    ] {
        assert!(info[field].is_string(), "{field}: {info}");
    }
    for field in [
        "api_port",
        "file_port",
        "tftp_port",
        "dhcp_port",
        "binl_port",
        "dns_port",
    ] {
        assert!(info[field].is_u64(), "{field}: {info}");
    }
    assert_eq!(info["manager"], false);
    assert_eq!(info["ha_status"], "Active");
    assert_eq!(info["ha_passive_state"], json!([]));

    // A user sets their own password (DRP's `{name}` form), the old one stops working.
    let (status, created) = api
        .call(
            Method::POST,
            "/users",
            Some(json!({"Name": "bob", "Password": "one"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");

    // The token in the form DRP's generated clients send, with a whole Info.
    let (status, token) = api
        .call(Method::GET, "/users/%7Bname%7D/token?name=bob&ttl=60", None)
        .await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["Info"]["ha_id"], info["ha_id"]);
    assert!(token["Token"].is_string());
    let (status, bob) = api
        .call_as(
            Method::PUT,
            "/users/%7Bname%7D/password",
            Some(json!({"Password": "two"})),
            "bob",
            "one",
        )
        .await;
    assert_eq!(status, 200, "{bob}");
    assert_eq!(bob["Name"], "bob");
    assert!(bob.get("PasswordHash").is_none());
    let (status, _) = api
        .call_as(Method::GET, "/users/bob/token", None, "bob", "one")
        .await;
    assert_eq!(status, 401);
    let (status, _) = api
        .call_as(Method::GET, "/users/bob/token", None, "bob", "two")
        .await;
    assert_eq!(status, 200);

    let (_, m) = api
        .call(
            Method::POST,
            "/machines",
            Some(json!({"Name": "w1", "HardwareAddrs": ["52:54:00:aa:bb:cc"]})),
        )
        .await;
    let (status, who) = api
        .call(
            Method::POST,
            "/whoami",
            Some(json!({"MacAddrs": ["52:54:00:AA:BB:CC"]})),
        )
        .await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["Result"]["Uuid"], m["Uuid"]);
    let (_, nobody) = api
        .call(
            Method::POST,
            "/whoami",
            Some(json!({"MacAddrs": ["00:00:00:00:00:01"]})),
        )
        .await;
    assert_eq!(nobody["Result"]["Uuid"], "");

    let (_, objects) = api.call(Method::GET, "/objects", None).await;
    assert!(objects
        .as_array()
        .expect("list")
        .contains(&json!("machines")));
    let (_, indexes) = api.call(Method::GET, "/indexes/machines", None).await;
    assert_eq!(indexes["Name"]["Unique"], true);
    assert_eq!(indexes["CurrentTask"]["Type"], "integer");
    let (status, e) = api.call(Method::GET, "/indexes/nonsense", None).await;
    assert_eq!((status, e["Code"].clone()), (404, json!(404)));
}
