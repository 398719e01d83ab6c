//! Helpers shared by the fuzz targets: an in-memory object store seeded with a few objects
//! and a content pack, and the list-filter parser (private in `endpoint`, so its source
//! file is compiled in here unchanged).

use std::sync::OnceLock;

use endpoint::command::{ContentPack, Op, Request, Response};
use redb::backends::InMemoryBackend;
use redb::Database;
use serde_json::{json, Value};

/// `endpoint::api::filter` is a private module; compile the very same file here. It names
/// `super::error::ApiError` and `crate::flag`, which these re-exports provide.
pub use endpoint::api::error;
pub use endpoint::flag;
#[allow(dead_code)]
#[path = "../../endpoint/src/api/filter.rs"]
pub mod filter;

/// A fixed command clock: `apply` must not depend on anything but (state, command).
pub const AT_MS: u64 = 1_700_000_000_000;
pub const MACHINE: &str = "3f1d0c2e-8a9b-4c5d-9e6f-0a1b2c3d4e5f";
pub const PACK: &str = "fuzz-base";

pub fn request(op: Op) -> Request {
    Request {
        idempotency: None,
        at_ms: AT_MS,
        if_match: None,
        principal: None,
        op,
    }
}

fn create(collection: &str, key: &str, object: Value) -> Request {
    request(Op::Create {
        collection: collection.into(),
        key: key.into(),
        object,
    })
}

/// What every fuzzed command runs against: the built-in objects, a few writable objects that
/// reference each other, and one installed pack (so conflicts and read-only paths exist).
fn seed() -> Vec<Request> {
    let builtins = endpoint::model::builtins()
        .into_iter()
        .map(|(c, k, v)| (c.to_string(), k.to_string(), v))
        .collect();
    let pack = ContentPack {
        meta: json!({"Name": PACK, "Version": "v1.2.0", "Prerequisites": "BasicStore: >=4.6.0"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        sections: [(
            "profiles".to_string(),
            [(
                "pack-profile".to_string(),
                json!({"Name": "pack-profile", "Params": {"x": 1}}),
            )]
            .into_iter()
            .collect(),
        )]
        .into_iter()
        .collect(),
    };
    vec![
        request(Op::Seed { objects: builtins }),
        create("stages", "s1", json!({"Name": "s1"})),
        create("workflows", "w1", json!({"Name": "w1", "Stages": ["s1"]})),
        create(
            "profiles",
            "p1",
            json!({"Name": "p1", "Profiles": ["global"],
                   "Params": {"a": 1, "b": {"c": [1, 2.5, "3"], "d": null}, "site/rack": "r1"}}),
        ),
        create(
            "machines",
            MACHINE,
            json!({"Uuid": MACHINE, "Name": "m1", "Profiles": ["p1"], "Workflow": "w1",
                   "Params": {"k": "v", "n": [true, false]}}),
        ),
        create(
            "params",
            "a",
            json!({"Name": "a", "Schema": {"type": "number"}}),
        ),
        request(Op::InstallContent {
            pack: Box::new(pack),
            replace_writable: false,
            mode: endpoint::command::InstallMode::Upsert,
            features: Vec::new(),
        }),
    ]
}

/// The seeded in-memory database (built once per fuzzing process).
pub fn db() -> &'static Database {
    static DB: OnceLock<Database> = OnceLock::new();
    DB.get_or_init(|| {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .expect("in-memory redb");
        let tx = db.begin_write().expect("begin_write");
        for (i, req) in seed().iter().enumerate() {
            let resp = endpoint::store::apply(&tx, req, i as u64 + 1).expect("seed apply");
            assert!(
                resp.status < 300,
                "seeding {req}: {} {}",
                resp.status,
                resp.body
            );
        }
        tx.commit().expect("commit seed");
        db
    })
}

/// Applies `req` exactly as the state machine does (`endpoint::store::apply` inside a write
/// transaction), then aborts the transaction so every input sees the same seeded state.
///
/// A `StoreError` is treated as a finding: on valid storage it would stop the state machine.
pub fn apply_discarded(req: &Request) -> Response {
    let tx = db().begin_write().expect("begin_write");
    let resp = match endpoint::store::apply(&tx, req, 1_000) {
        Ok(resp) => resp,
        Err(e) => panic!("apply({req}) failed with a store error: {e}"),
    };
    tx.abort().expect("abort");
    resp
}

/// Whether a JSON value holds a float anywhere (serde_json does not round-trip every f64
/// bit-exactly without its `float_roundtrip` feature, so equality checks skip those).
pub fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}
