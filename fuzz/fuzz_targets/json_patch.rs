//! JSON Patch application: a `PATCH /<collection>/<key>` body, checked the way the API
//! checks it (JSON that deserialises as an RFC 6902 `json_patch::Patch`), then applied the
//! way every member applies it: `endpoint::store::apply` of an `Op::Patch` (which runs
//! `apply_patch`: json_patch, key and model validation, reference marking), on an in-memory
//! store whose write transaction is aborted after each input.
//!
//! Checks: no panic, hang or unbounded memory; never a store error; only 200/409/422; a
//! successful patch keeps the object's key.
#![no_main]

use drp_fuzz::{apply_discarded, request, MACHINE};
use endpoint::command::Op;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(patch) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    // `api::objects::patch` refuses anything else with a 400 before proposing it.
    if serde_json::from_value::<json_patch::Patch>(patch.clone()).is_err() {
        return;
    }
    for (collection, key, key_field) in [("machines", MACHINE, "Uuid"), ("profiles", "p1", "Name")]
    {
        let resp = apply_discarded(&request(Op::Patch {
            collection: collection.into(),
            key: key.into(),
            patch: patch.clone(),
        }));
        match resp.status {
            200 => assert_eq!(resp.body.get(key_field).and_then(Value::as_str), Some(key)),
            409 | 422 => {}
            other => panic!("PATCH {collection}/{key} answered {other}: {}", resp.body),
        }
    }
});
