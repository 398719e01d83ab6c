//! The Raft command decoder: bytes → `endpoint::command::Request` as the members read it
//! (serde_json), alone, inside a log entry (`endpoint::raft::Entry`, what the log store
//! decodes) and inside an `AppendEntriesRequest` (what the gRPC server decodes).
//!
//! Checks: no panic, hang or unbounded memory; every decoded `Request` displays, encodes
//! and decodes back (equal, unless floats are involved), so a command a member accepted can
//! always be re-sent to the others.
#![no_main]

use drp_fuzz::has_float;
use endpoint::command::Request;
use endpoint::raft::{Entry, TypeConfig};
use libfuzzer_sys::fuzz_target;
use openraft::raft::AppendEntriesRequest;
use openraft::EntryPayload;

fn check_request(req: &Request) {
    let _ = req.to_string();
    let _ = req.op.collection();
    let bytes = serde_json::to_vec(req).expect("encode Request");
    let back: Request = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("a decoded Request does not decode again: {e}"));
    if !has_float(&serde_json::to_value(req).expect("Request to JSON")) {
        assert_eq!(&back, req, "Request changed through encode/decode");
    }
}

fn check_entry(entry: &Entry) {
    if let EntryPayload::Normal(req) = &entry.payload {
        check_request(req);
    }
    let bytes = serde_json::to_vec(entry).expect("encode Entry");
    serde_json::from_slice::<Entry>(&bytes)
        .unwrap_or_else(|e| panic!("a decoded Entry does not decode again: {e}"));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<Request>(data) {
        check_request(&req);
    }
    if let Ok(entry) = serde_json::from_slice::<Entry>(data) {
        check_entry(&entry);
    }
    if let Ok(rpc) = serde_json::from_slice::<AppendEntriesRequest<TypeConfig>>(data) {
        rpc.entries.iter().for_each(check_entry);
    }
});
