//! The parameters of an operation: its path's, its kind's headers, and its own.

use serde_json::{json, Value};

use super::names::{param_ref, singular};
use super::Documented;
use crate::api::routes::{Fence, Kind, Param};
use crate::model::{Collection, INDEXED_FIELDS};

/// The `{name}`s of an OpenAPI path, in order.
pub(super) fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

pub(super) fn path_param_doc(name: &str, path: &str, c: Option<&Collection>) -> String {
    match (name, c) {
        ("key", Some(c)) => format!(
            "The {}'s {}, or `Field:value` for a lookup on a unique field ({}), e.g. `Name:fred1`",
            singular(c.model),
            c.key_field,
            INDEXED_FIELDS.join(", ")
        ),
        ("field", _) => "The indexed field, e.g. `Name`".into(),
        ("param", _) => "The param's name (it may contain `/`)".into(),
        ("prefix", _) => "The collection (DRP's object prefix), e.g. `machines`".into(),
        ("path", _) => "The file's path (it may contain `/`; `..` is refused)".into(),
        ("id", _) => "The member's ConsensusID".into(),
        ("key", None) if path.starts_with("/jobs/") => "The job's Uuid".into(),
        ("key", None) if path.starts_with("/machines/") => "The machine's Uuid".into(),
        ("name", _) if path.starts_with("/contents/") => "The content pack's name".into(),
        ("name", _) if path.starts_with("/users/") => {
            "The user's Name (`{name}` itself: the caller, or `?name=` for a token, as DRP's generated clients send it)".into()
        }
        _ => String::new(),
    }
}

pub(super) fn parameters(d: &Documented) -> Vec<Value> {
    let mut params: Vec<Value> = path_params(&d.path)
        .into_iter()
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": path_param_doc(name, &d.path, d.collection),
                "schema": { "type": "string" },
            })
        })
        .collect();
    if d.op.fence == Fence::Read {
        params.push(param_ref("StaleRead"));
    }
    match d.op.kind {
        Kind::Write => params.push(param_ref("IdempotencyKey")),
        Kind::GuardedWrite => {
            params.push(param_ref("IdempotencyKey"));
            params.push(param_ref("IfMatch"));
        }
        Kind::KeyedWrite => params.push(param_ref("RequiredIdempotencyKey")),
        Kind::Open | Kind::Local | Kind::Read => {}
    }
    for p in d.op.params {
        match p {
            Param::ListQuery => {
                for name in ["Offset", "Limit", "Sort", "Reverse", "Filters"] {
                    params.push(param_ref(name));
                }
            }
            Param::Aggregate => params.push(param_ref("Aggregate")),
            Param::ReplaceWritable => params.push(param_ref("ReplaceWritable")),
            Param::Explode => params.push(param_ref("Explode")),
            Param::Ttl => params.push(param_ref("Ttl")),
            Param::Sha256Claim => params.push(param_ref("Sha256Claim")),
        }
    }
    params
}
