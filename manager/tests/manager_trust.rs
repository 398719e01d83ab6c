//! The manager verifies each cluster's certificate: pinned at registration (trust on first
//! use) or against `manager/ca`; a changed certificate is refused with a clear status until the
//! endpoint is re-registered; plain-HTTP clusters keep working.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const CHANGED: &str = "changed since it was pinned";

fn errors(e: &Value) -> String {
    e["Errors"].to_string()
}

/// (status, messages) of a gateway GET.
fn gateway(m: &Manager, id: &str) -> (u16, String) {
    let (st, body) = m.call("GET", &format!("/{id}/api/v3/info"), None);
    (st, body["Messages"].to_string())
}

#[test]
fn registration_pins_the_cluster_ca_and_a_new_certificate_is_refused_until_re_registered() {
    let _g = serial();
    let mut c = Cluster::start("t-pin", 1);
    let first_ca = pem_fingerprint(&c.nodes[0].ca_pem());
    let mdir = tempfile::tempdir().unwrap();
    let mut m = Manager::start(&mdir.path().join("m"), &[]);
    m.register(&c, &[], false);
    let e = m.endpoint("t-pin");
    assert_eq!(e["Trust"]["Mode"], "pinned", "{e}");
    assert_eq!(
        e["Trust"]["Sha256"],
        first_ca.as_str(),
        "the CA, not the leaf"
    );
    assert!(
        e["Params"].get("manager/pinned-ca").is_none()
            && !e["Params"].to_string().contains("BEGIN"),
        "the pin is not a param: {e}"
    );
    m.wait_status("t-pin", "connected", Duration::from_secs(10));
    assert_eq!(gateway(&m, "t-pin").0, 200);

    // The cluster is rebuilt at the same address: a new CA, a new certificate.
    let port = c.nodes[0].api_port;
    c.nodes[0].kill();
    c.nodes[0] = Node::start_on("t-pin", None, port, &[]);
    let second_ca = pem_fingerprint(&c.nodes[0].ca_pem());
    assert_ne!(first_ca, second_ca);
    let e = wait(Duration::from_secs(15), || {
        let e = m.endpoint("t-pin");
        (e["ConnectionStatus"] == "untrusted" && errors(&e).contains(CHANGED)).then_some(e)
    })
    .unwrap_or_else(|| panic!("not refused: {}", m.endpoint("t-pin")));
    assert!(errors(&e).contains("set manager/ca or re-register"), "{e}");
    assert_eq!(
        e["Trust"]["Sha256"],
        first_ca.as_str(),
        "silently re-pinned"
    );
    let (st, msg) = gateway(&m, "t-pin");
    assert_eq!(st, 502, "{msg}");
    assert!(msg.contains(CHANGED), "{msg}");

    // The pin is kept across a manager restart.
    m.stop();
    m.restart();
    let e = m.wait_status("t-pin", "untrusted", Duration::from_secs(10));
    assert_eq!(e["Trust"]["Sha256"], first_ca.as_str());

    // Re-registering (PUT) accepts the cluster's certificate as it is now.
    let (st, body) = m.call(
        "PUT",
        "/api/v3/endpoints/t-pin",
        Some(endpoint_body(&c, &[], false)),
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["Trust"]["Sha256"], second_ca.as_str(), "{body}");
    m.wait_status("t-pin", "connected", Duration::from_secs(10));
    assert_eq!(gateway(&m, "t-pin").0, 200);
}

#[test]
fn another_clusters_ca_is_refused_and_the_right_one_is_accepted() {
    let _g = serial();
    let a = Cluster::start("t-ca-a", 1);
    let b = Cluster::start("t-ca-b", 1);
    let (ca_a, ca_b) = (a.nodes[0].ca_pem(), b.nodes[0].ca_pem());
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(&mdir.path().join("m"), &[]);

    // B registered with A's CA: accepted, but every call to B is refused.
    let mut body = endpoint_body(&b, &[], false);
    body["Params"]["manager/ca"] = json!(ca_a);
    let (st, e) = m.call("POST", "/api/v3/endpoints", Some(body.clone()));
    assert_eq!(st, 201, "{e}");
    assert_eq!(e["Trust"]["Mode"], "ca", "{e}");
    let e = wait(Duration::from_secs(10), || {
        let e = m.endpoint("t-ca-b");
        (e["ConnectionStatus"] == "untrusted").then_some(e)
    })
    .unwrap_or_else(|| panic!("not refused: {}", m.endpoint("t-ca-b")));
    assert!(errors(&e).contains("does not chain to manager/ca"), "{e}");
    let (st, msg) = gateway(&m, "t-ca-b");
    assert_eq!(st, 502, "{msg}");
    assert!(msg.contains("does not chain to manager/ca"), "{msg}");

    // Its own CA: connected (the certificate names 127.0.0.1, but names are not required).
    let (st, e) = m.call(
        "PATCH",
        "/api/v3/endpoints/t-ca-b",
        Some(json!([{"op": "replace", "path": "/Params/manager~1ca", "value": ca_b}])),
    );
    assert_eq!(st, 200, "{e}");
    m.wait_status("t-ca-b", "connected", Duration::from_secs(10));
    assert_eq!(gateway(&m, "t-ca-b").0, 200);

    // A with only its URL: pinned on first use, to A's CA.
    m.register(&a, &[], false);
    let e = m.wait_status("t-ca-a", "connected", Duration::from_secs(10));
    assert_eq!(e["Trust"]["Mode"], "pinned");
    assert_eq!(e["Trust"]["Sha256"], pem_fingerprint(&ca_a).as_str());
    assert_eq!(gateway(&m, "t-ca-a").0, 200);

    // manager/ca that is not PEM: refused at registration.
    let mut bad = endpoint_body(&a, &[], false);
    bad["Params"]["manager/ca"] = json!("not a certificate");
    let (st, e) = m.call("PUT", "/api/v3/endpoints/t-ca-a", Some(bad));
    assert_eq!(st, 400, "{e}");
    assert!(e.to_string().contains("manager/ca"), "{e}");
}

#[test]
fn a_cluster_down_at_registration_is_pinned_at_its_first_answer_and_plain_http_needs_no_pin() {
    let _g = serial();
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(&mdir.path().join("m"), &[]);
    let port = free_port();
    let (st, e) = m.call(
        "POST",
        "/api/v3/endpoints",
        Some(json!({
            "Id": "t-late",
            "Params": {
                "manager/url": format!("https://127.0.0.1:{port}"),
                "manager/username": "rocketskates",
                "manager/password": PASSWORD,
            },
        })),
    );
    assert_eq!(st, 201, "{e}");
    assert_eq!(e["Trust"]["Mode"], "unpinned", "{e}");
    let late = Node::start_on("t-late", None, port, &[]);
    let e = wait(Duration::from_secs(15), || {
        let e = m.endpoint("t-late");
        (e["ConnectionStatus"] == "connected" && e["Trust"]["Mode"] == "pinned").then_some(e)
    })
    .unwrap_or_else(|| panic!("not pinned: {}", m.endpoint("t-late")));
    assert_eq!(
        e["Trust"]["Sha256"],
        pem_fingerprint(&late.ca_pem()).as_str()
    );

    let plain = Cluster::start_with("t-plain", 1, &["--no-tls"]);
    assert!(
        plain.nodes[0].url.starts_with("http://"),
        "{}",
        plain.nodes[0].url
    );
    m.register(&plain, &[], false);
    let e = m.wait_status("t-plain", "connected", Duration::from_secs(10));
    assert_eq!(e["Trust"]["Mode"], "none", "{e}");
    assert_eq!(gateway(&m, "t-plain").0, 200);
}
