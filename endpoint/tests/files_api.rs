//! The files API against a real node: multi-chunk uploads, sha256 on HEAD/GET, a wrong
//! claimed sha256 refused with nothing stored, path traversal refused, tgz explode, delete.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;

use serde_json::Value;
use sha2::{Digest, Sha256};

use common::{start_node, ADMIN_PASSWORD};

#[tokio::test]
async fn files_upload_download_explode_delete() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;
    let url = |p: &str| format!("{}/files/{p}", node.base);
    let auth = |r: reqwest::RequestBuilder| r.basic_auth("rocketskates", Some(ADMIN_PASSWORD));

    // 2.5 MiB: three replicated chunks.
    let data: Vec<u8> = (0..(5u32 << 19))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let sum = hex::encode(Sha256::digest(&data));
    let resp = auth(http.post(url("isos/big.bin")).body(data.clone()))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 201);
    let meta: Value = resp.json().await.expect("json");
    assert_eq!(meta["Sha256Sum"], Value::String(sum.clone()));
    assert_eq!(meta["Size"], serde_json::json!(data.len()));
    let got = auth(http.get(url("isos/big.bin")))
        .send()
        .await
        .expect("get");
    assert_eq!(got.headers()["x-drp-sha256sum"], sum.as_str());
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), data.as_slice());
    let head = auth(http.head(url("isos/big.bin")))
        .send()
        .await
        .expect("head");
    assert_eq!(head.headers()["x-drp-sha256sum"], sum.as_str());

    let wrong = auth(
        http.post(url("isos/wrong.bin"))
            .header("X-DRP-SHA256SUM", "00".repeat(32))
            .body("abc"),
    )
    .send()
    .await
    .expect("upload");
    assert_eq!(wrong.status(), 422);
    assert_eq!(
        auth(http.get(url("isos/wrong.bin")))
            .send()
            .await
            .expect("get")
            .status(),
        404,
        "nothing stored"
    );

    for bad in ["a/..%2Fetc", "..%2Fpasswd", "a//b", "a/%00b"] {
        let r = auth(http.post(url(bad)).body("x"))
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), 400, "{bad} must be refused");
    }

    let mut tgz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        let mut archive = tar::Builder::new(&mut tgz);
        for (name, body) in [("one.txt", "1"), ("sub/two.txt", "22")] {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            archive
                .append_data(&mut header, name, body.as_bytes())
                .expect("append");
        }
        archive.finish().expect("finish");
    }
    let tgz = tgz.finish().expect("gzip");
    let r = auth(http.post(url("tools/kit.tgz?explode=true")).body(tgz))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["Exploded"],
        serde_json::json!(["tools/one.txt", "tools/sub/two.txt"])
    );
    let two = auth(http.get(url("tools/sub/two.txt")))
        .send()
        .await
        .expect("get");
    assert_eq!(two.text().await.expect("text"), "22");

    let listed: Value = auth(http.get(format!("{}/files", node.base)))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        listed,
        serde_json::json!([
            "isos/big.bin",
            "tools/kit.tgz",
            "tools/one.txt",
            "tools/sub/two.txt"
        ])
    );
    assert_eq!(
        auth(http.delete(url("tools/one.txt")))
            .send()
            .await
            .expect("delete")
            .status(),
        200
    );
    assert_eq!(
        auth(http.get(url("tools/one.txt")))
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    let _ = std::io::stdout().flush();
}

/// `--max-file-bytes`: a larger upload gets 413 naming the limit (declared up front, or
/// streamed without a length), stores nothing, and the node keeps serving.
#[tokio::test]
async fn files_over_the_configured_limit_get_413() {
    let http = reqwest::Client::new();
    let node = common::start_node_with(&http, &["--max-file-bytes", "4096"]).await;
    let url = |p: &str| format!("{}/files/{p}", node.base);
    let auth = |r: reqwest::RequestBuilder| r.basic_auth("rocketskates", Some(ADMIN_PASSWORD));

    let declared = auth(http.post(url("big.bin")).body(vec![7u8; 5000]))
        .send()
        .await
        .expect("upload");
    assert_eq!(declared.status(), 413);
    let body: Value = declared.json().await.expect("json");
    assert!(
        body["Messages"][0]
            .as_str()
            .unwrap_or_default()
            .contains("4096"),
        "{body}"
    );

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(vec![1u8; 3000]), Ok(vec![2u8; 3000])];
    let streamed = auth(
        http.post(url("streamed.bin"))
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks))),
    )
    .send()
    .await
    .expect("upload");
    assert_eq!(streamed.status(), 413);

    for p in ["big.bin", "streamed.bin"] {
        let gone = auth(http.head(url(p))).send().await.expect("head");
        assert_eq!(gone.status(), 404, "{p} was stored");
    }
    let fits = auth(http.post(url("small.bin")).body(vec![3u8; 4096]))
        .send()
        .await
        .expect("upload");
    assert_eq!(fits.status(), 201);
}
