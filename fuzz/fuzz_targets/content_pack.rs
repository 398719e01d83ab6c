//! Content pack parsing: `endpoint::packs::parse_pack`, the single-document `{meta,
//! sections}` form (JSON or YAML) that `POST/PUT /contents` and VersionSet apply take, then
//! what the store does with it: the prerequisite/feature checks (`packs::prereqs`) and the
//! install itself (`store::contents` via `store::apply`, on an in-memory store whose write
//! transaction is aborted after each input).
//!
//! Checks: no panic, hang or unbounded memory; a pack that parses survives the Raft log
//! encoding; applying its install never fails with a store error and answers 200/201/409/422.
#![no_main]

use drp_fuzz::{apply_discarded, has_float, request, PACK};
use endpoint::command::{Op, Request};
use endpoint::packs::prereqs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(pack) = endpoint::packs::parse_pack(data) else {
        return;
    };
    let name = pack.name();
    let _ = pack.version();
    let installed = |n: &str| match n {
        "BasicStore" => Some("v4.8.0".to_string()),
        PACK => Some("v1.2.0".to_string()),
        _ => None,
    };
    for unmet in prereqs::unmet(name, &pack.meta, installed, prereqs::FEATURES) {
        let _ = unmet.message(name);
    }

    // The pack is proposed as an `InstallContent` log entry: it must decode on every member.
    let mut req = request(Op::InstallContent {
        pack: Box::new(pack.clone()),
        replace_writable: false,
        mode: endpoint::command::InstallMode::Upsert,
        features: prereqs::advertised(),
    });
    let bytes = serde_json::to_vec(&req).expect("encode InstallContent");
    let back: Request = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("InstallContent does not decode back: {e}"));
    if !has_float(&serde_json::to_value(&pack).expect("pack to JSON")) {
        assert_eq!(back, req, "InstallContent changed through the log encoding");
    }

    let resp = apply_discarded(&req);
    assert!(
        matches!(resp.status, 200 | 201 | 409 | 422),
        "install answered {} {}",
        resp.status,
        resp.body
    );
    if resp.status == 409 {
        if let Op::InstallContent {
            replace_writable, ..
        } = &mut req.op
        {
            *replace_writable = true;
        }
        let resp = apply_discarded(&req);
        assert!(
            matches!(resp.status, 200 | 201 | 409 | 422),
            "{}",
            resp.status
        );
    }
});
