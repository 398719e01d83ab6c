//! The VersionSet/Endpoint YAML (and JSON) parser: `versionsets::parse_documents`, the
//! located multi-document parse behind `drp-manager version-sets lint`, the manager's git
//! source and its `POST /version_sets` and `/endpoints` bodies.
//!
//! Checks: no panic, hang or unbounded memory on any text; every accepted document also
//! passes the JSON-side validation (`validate_version_set` / `validate_endpoint`), survives
//! a JSON round trip unchanged, and hashes and merges without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use versionsets::{
    merge_for_endpoint, parse_documents, state_hash, validate_endpoint, validate_version_set,
    Document,
};

fuzz_target!(|data: &[u8]| {
    // Callers refuse non-UTF-8 before parsing (`lint`: "not UTF-8 text").
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let docs = match parse_documents("fuzz.yaml", text, None) {
        Ok(docs) => docs,
        Err(err) => {
            assert!(!err.diagnostics.is_empty(), "an error with no diagnostic");
            let _ = err.to_string();
            return;
        }
    };
    let mut sets = Vec::new();
    let mut endpoints = Vec::new();
    for doc in &docs {
        let _ = doc.id();
        let json = match doc {
            Document::VersionSet(vs) => {
                let problems = validate_version_set(vs);
                assert!(
                    problems.is_empty(),
                    "parsed {vs:?} but validation says {problems:?}"
                );
                let _ = state_hash(vs);
                sets.push(vs.clone());
                serde_json::to_string(vs).expect("serialise VersionSet")
            }
            Document::Endpoint(ep) => {
                let problems = validate_endpoint(ep);
                assert!(
                    problems.is_empty(),
                    "parsed {ep:?} but validation says {problems:?}"
                );
                let _ = ep.effective_version_sets();
                endpoints.push(ep.clone());
                serde_json::to_string(ep).expect("serialise Endpoint")
            }
        };
        // What the manager stores and serves is JSON, read back by the same parser.
        let again = parse_documents("fuzz.json", &json, Some(doc.kind()))
            .unwrap_or_else(|e| panic!("{json} does not parse back: {e}"));
        assert_eq!(
            again.as_slice(),
            std::slice::from_ref(doc),
            "JSON round trip of {json}"
        );
    }
    for ep in &endpoints {
        if let Ok(merged) = merge_for_endpoint(ep, &sets) {
            let _ = state_hash(&merged);
        }
    }
});
