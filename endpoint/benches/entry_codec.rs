//! What a binary encoding of the Raft log's entries would save: the commands the log carries,
//! encoded and decoded with serde_json (what the log and the wire use) and with MessagePack
//! (rmp-serde, maps with field names: self-describing like JSON, so `Op::Unknown` and
//! `#[serde(default)]` keep working). Prints ns per entry and the ratio; asserts nothing
//! about time. `cargo bench -p endpoint --bench entry_codec`.
// A measurement program: a failed encode is its failure report.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use endpoint::command::{Idempotency, Op, Request};
use serde_json::{json, Value};

/// Long enough for stable figures on a noisy 2-core machine.
const BUDGET: Duration = Duration::from_millis(700);

fn request(op: Op) -> Request {
    Request {
        idempotency: Some(Idempotency {
            key: "auto:0193a8f0-1111-7222-8333-444455556666".into(),
            fingerprint: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            ttl_ms: 600_000,
        }),
        at_ms: 1_733_600_000_000,
        if_match: None,
        principal: Some("rocketskates".into()),
        op,
    }
}

/// drp-bench's write: one 256-byte param on a profile.
fn set_param() -> Request {
    request(Op::SetParam {
        collection: "profiles".into(),
        key: "bench-17".into(),
        param: "bench/value".into(),
        value: Value::String("v".repeat(256)),
    })
}

/// The scale cell's write: a machine as the API creates it.
fn create_machine() -> Request {
    request(Op::Create {
        collection: "machines".into(),
        key: "0193a8f0-1111-7222-8333-444455556666".into(),
        object: json!({
            "Name": "m-000017", "Uuid": "0193a8f0-1111-7222-8333-444455556666",
            "Address": "10.0.0.17", "Arch": "amd64", "OS": "", "Workflow": "discover",
            "BootEnv": "sledgehammer", "Stage": "discover", "Runnable": true,
            "Profiles": ["rack-3", "site-a"], "Tasks": [], "CurrentTask": -1,
            "HardwareAddrs": ["52:54:00:12:34:56"], "Description": "bench machine",
            "Meta": {"color": "blue", "icon": "server", "feature-flags": "change-stage-v2"},
            "Params": {"bench/value": "v".repeat(256), "rack/slot": 17, "ipmi/enabled": true},
            "Validated": true, "Available": true, "Errors": [], "ReadOnly": false,
            "CreatedAt": "2026-12-08T03:00:00Z", "CreatedBy": "rocketskates",
        }),
    })
}

/// Mean time per call over [`BUDGET`].
fn time(mut f: impl FnMut()) -> Duration {
    let mut n = 0u32;
    let start = Instant::now();
    while start.elapsed() < BUDGET {
        for _ in 0..256 {
            f();
        }
        n += 256;
    }
    start.elapsed() / n
}

fn main() {
    println!("| entry | codec | bytes | encode | decode |");
    println!("|---|---|---:|---:|---:|");
    for (name, req) in [
        ("SetParam 256 B", set_param()),
        ("Create machine", create_machine()),
    ] {
        let json = serde_json::to_vec(&req).expect("json");
        let mpk = rmp_serde::to_vec_named(&req).expect("msgpack");
        // The same command back from either: the encoding would be a faithful log format.
        assert_eq!(
            serde_json::from_slice::<Request>(&json).expect("json back"),
            req
        );
        assert_eq!(
            rmp_serde::from_slice::<Request>(&mpk).expect("msgpack back"),
            req
        );
        let je = time(|| drop(black_box(serde_json::to_vec(black_box(&req)))));
        let me = time(|| drop(black_box(rmp_serde::to_vec_named(black_box(&req)))));
        let jd = time(|| {
            drop(black_box(serde_json::from_slice::<Request>(black_box(
                &json,
            ))))
        });
        let md = time(|| drop(black_box(rmp_serde::from_slice::<Request>(black_box(&mpk)))));
        println!("| {name} | json | {} | {je:.2?} | {jd:.2?} |", json.len());
        println!("| {name} | msgpack | {} | {me:.2?} | {md:.2?} |", mpk.len());
        println!(
            "| {name} | msgpack ÷ json | {:.2}× | {:.2}× | {:.2}× |",
            mpk.len() as f64 / json.len() as f64,
            me.as_secs_f64() / je.as_secs_f64(),
            md.as_secs_f64() / jd.as_secs_f64()
        );
    }
}
