//! The request body of an operation: what it is, in which media types, and its size limit.

use serde_json::{json, Value};

use super::names::{schema_name, schema_ref, singular};
use super::Documented;
use crate::api::request::MAX_BODY_DEPTH;
use crate::api::routes::{Body, Verb};

/// The same schema as JSON and as YAML (bodies are parsed as either).
fn json_or_yaml(schema: Value) -> Value {
    json!({
        "application/json": { "schema": schema.clone() },
        "application/yaml": { "schema": schema },
    })
}

/// Only as JSON.
fn json_only(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

pub(super) fn request_body(d: &Documented) -> Option<Value> {
    let (description, content) = described(d)?;
    let description = format!(
        "{description}. At most {} MiB (413 beyond){}.",
        d.route.body_limit.bytes() >> 20,
        depth_note(d.op.body)
    );
    Some(json!({ "required": true, "description": description, "content": content }))
}

/// An object of the route's collection; any object outside one.
fn object_schema(d: &Documented) -> Value {
    d.collection
        .map_or_else(|| json!({}), |c| schema_ref(&schema_name(c)))
}

/// What an object body is: a new one (its key generated or required), or the whole object.
fn object_description(d: &Documented) -> String {
    match (d.op.verb, d.collection) {
        (Verb::Post, Some(c)) if c.generated_key => format!(
            "The new {}; its {} is generated (a UUID) when absent",
            singular(c.model),
            c.key_field
        ),
        (Verb::Post, Some(c)) => format!(
            "The new {}; its {} is required",
            singular(c.model),
            c.key_field
        ),
        (_, Some(c)) => format!(
            "The whole {}; its {} is the path's",
            singular(c.model),
            c.key_field
        ),
        (_, None) => "The object".to_string(),
    }
}

/// What the body is and its content (one row per kind of body); `None`: no body.
fn described(d: &Documented) -> Option<(String, Value)> {
    let (description, content): (&str, Value) = match d.op.body {
        Body::None => return None,
        Body::Object => return Some((object_description(d), json_or_yaml(object_schema(d)))),
        Body::JsonPatch => (
            "An RFC 6902 JSON Patch (`test` ops included)",
            json!({
                "application/json-patch+json": { "schema": schema_ref("JsonPatch") },
                "application/json": { "schema": schema_ref("JsonPatch") },
            }),
        ),
        Body::AnyJson => ("The param's value: any JSON value", json_or_yaml(json!({}))),
        Body::Params => ("Param name to value", json_or_yaml(schema_ref("Params"))),
        Body::Password => (
            "DRP's UserPassword",
            json_only(json!({
                "type": "object",
                "required": ["Password"],
                "properties": { "Password": { "type": "string", "minLength": 1 } },
            })),
        ),
        Body::Whoami => (
            "DRP's Whoami: Fingerprint, MacAddrs, OnDiskUUID",
            json_only(json!({
                "type": "object",
                "properties": {
                    "Fingerprint": { "type": "object", "additionalProperties": true },
                    "MacAddrs": { "type": "array", "items": { "type": "string" } },
                    "OnDiskUUID": { "type": "string" },
                },
            })),
        ),
        Body::Prefs => (
            "Prefs to set, name to string value",
            json_or_yaml(schema_ref("Prefs")),
        ),
        Body::Enroll => ("The node to enrol", json_only(schema_ref("EnrollRequest"))),
        Body::CertificateRequest => (
            "The joining node's ConsensusID and certificate signing request",
            json_only(schema_ref("CertificateRequest")),
        ),
        Body::VersionSetApply => (
            "One merged, resolved VersionSet with the content packs and inline files it needs",
            json_or_yaml(schema_ref("VersionSetApplyRequest")),
        ),
        Body::ContentPack => (
            "A content pack document",
            json_or_yaml(schema_ref("ContentPack")),
        ),
        Body::Bytes => (
            "The file's bytes",
            json!({ "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } }),
        ),
    };
    Some((description.to_string(), content))
}

/// The nesting bound of the bodies `request::parse_json` reads.
fn depth_note(body: Body) -> String {
    match body {
        Body::Object
        | Body::JsonPatch
        | Body::AnyJson
        | Body::Prefs
        | Body::Params
        | Body::Password
        | Body::Whoami => format!(", nested at most {MAX_BODY_DEPTH} levels deep"),
        _ => String::new(),
    }
}
