//! `components/schemas`: the wire types of the API, in groups, then one per collection.

use serde_json::{json, Map, Value};

use super::names::{schema_name, schema_ref};
use super::object_schema::object_schema;
use crate::model::COLLECTIONS;

type Schemas = Vec<(&'static str, Value)>;

pub(super) fn schemas() -> Map<String, Value> {
    let mut schemas: Map<String, Value> = [basics(), cluster(), content(), versionsets()]
        .into_iter()
        .flatten()
        .map(|(name, schema)| (name.to_string(), schema))
        .collect();
    for c in COLLECTIONS {
        schemas.insert(schema_name(c), object_schema(c));
    }
    schemas
}

/// The shapes every part of the API shares: errors, patches, params, prefs, info.
fn basics() -> Schemas {
    vec![
        (
            "Error",
            json!({
                "type": "object",
                "description": "DRP's error shape; Code is the HTTP status",
                "required": ["Model", "Key", "Type", "Messages", "Code"],
                "properties": {
                    "Model": { "type": "string" },
                    "Key": { "type": "string" },
                    "Type": { "type": "string", "example": "NotFound" },
                    "Messages": { "type": "array", "items": { "type": "string" } },
                    "Code": { "type": "integer" },
                },
            }),
        ),
        (
            "JsonPatch",
            json!({ "type": "array", "items": schema_ref("JsonPatchOperation") }),
        ),
        (
            "JsonPatchOperation",
            json!({
                "type": "object",
                "required": ["op", "path"],
                "properties": {
                    "op": { "type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"] },
                    "path": { "type": "string", "description": "A JSON Pointer" },
                    "from": { "type": "string", "description": "A JSON Pointer (move, copy)" },
                    "value": { "description": "Any JSON value (add, replace, test)" },
                },
            }),
        ),
        (
            "Params",
            json!({ "type": "object", "additionalProperties": true, "description": "Param name to value" }),
        ),
        (
            "Prefs",
            json!({ "type": "object", "additionalProperties": { "type": "string" }, "description": "Pref name to value" }),
        ),
        (
            "Info",
            json!({
                "type": "object",
                "additionalProperties": true,
                "properties": {
                    "id": { "type": "string" },
                    "version": { "type": "string" },
                    "ha_id": { "type": "string" },
                    "ha_enabled": { "type": "boolean" },
                    "ha_is_active": { "type": "boolean", "description": "Whether this member leads" },
                    "ha_active_id": { "type": "string", "description": "The leader's ConsensusID" },
                    "ha_consensus_id": { "type": "string" },
                    "api_port": { "type": "integer" },
                    "features": { "type": "array", "items": { "type": "string" } },
                },
            }),
        ),
    ]
}

/// The cluster: its state, membership changes and member certificates.
fn cluster() -> Schemas {
    vec![
        (
            "ClusterNode",
            json!({
                "type": "object",
                "properties": {
                    "ConsensusID": { "type": "string" },
                    "ConsensusAddr": { "type": "string" },
                    "ApiUrl": { "type": "string" },
                    "Role": { "type": "string", "enum": ["leader", "follower", "learner"] },
                    "Voter": { "type": "boolean" },
                    "Observer": { "type": "boolean" },
                    "MatchIndex": { "type": "integer", "nullable": true },
                    "Online": { "type": "boolean" },
                },
            }),
        ),
        (
            "ClusterState",
            json!({
                "type": "object",
                "properties": {
                    "HaID": { "type": "string" },
                    "LeaderID": { "type": "string" },
                    "ActiveUri": { "type": "string" },
                    "Term": { "type": "integer" },
                    "CommitIndex": { "type": "integer" },
                    "AppliedIndex": { "type": "integer" },
                    "Nodes": { "type": "array", "items": schema_ref("ClusterNode") },
                },
            }),
        ),
        (
            "FailOverSafe",
            json!({ "type": "object", "properties": { "Safe": { "type": "boolean" } } }),
        ),
        (
            "EnrollRequest",
            json!({
                "type": "object",
                "required": ["ConsensusAddr", "ApiUrl"],
                "additionalProperties": false,
                "properties": {
                    "ConsensusAddr": { "type": "string", "description": "host:port of the node's consensus listener" },
                    "ApiUrl": { "type": "string", "description": "The node's API URL" },
                    "Observer": { "type": "boolean", "default": false },
                },
            }),
        ),
        (
            "CertificateRequest",
            json!({
                "type": "object",
                "required": ["ConsensusID", "Csr"],
                "properties": {
                    "ConsensusID": { "type": "string", "format": "uuid" },
                    "Csr": { "type": "string", "description": "A PEM certificate signing request" },
                },
            }),
        ),
        (
            "CertificateReply",
            json!({
                "type": "object",
                "properties": {
                    "Ca": { "type": "string", "description": "The cluster CA certificate (PEM)" },
                    "Certificate": { "type": "string", "description": "The member certificate (PEM)" },
                    "ApiCertificate": { "type": "string", "description": "The API certificate every member serves (PEM)" },
                    "ApiKey": { "type": "string", "description": "Its private key (PEM)" },
                },
            }),
        ),
    ]
}

/// Content packs and files.
fn content() -> Schemas {
    vec![
        (
            "ContentPack",
            json!({
                "type": "object",
                "required": ["meta"],
                "properties": {
                    "meta": {
                        "type": "object",
                        "additionalProperties": true,
                        "required": ["Name"],
                        "properties": {
                            "Name": { "type": "string" },
                            "Version": { "type": "string" },
                            "Prerequisites": { "type": "string" },
                        },
                    },
                    "sections": {
                        "type": "object",
                        "description": "Collection name to (key to object)",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": { "type": "object", "additionalProperties": true },
                        },
                    },
                },
            }),
        ),
        (
            "ContentSummary",
            json!({
                "type": "object",
                "properties": {
                    "meta": { "type": "object", "additionalProperties": true },
                    "Counts": { "type": "object", "additionalProperties": { "type": "integer" } },
                },
            }),
        ),
        (
            "FileMeta",
            json!({
                "type": "object",
                "properties": {
                    "Path": { "type": "string" },
                    "Sha256Sum": { "type": "string" },
                    "Size": { "type": "integer" },
                    "Exploded": { "type": "array", "items": { "type": "string" }, "description": "With ?explode=true: the unpacked paths" },
                },
            }),
        ),
    ]
}

/// VersionSets, and the token reply.
fn versionsets() -> Schemas {
    vec![
        (
            "VersionSetApplyRequest",
            json!({
                "type": "object",
                "required": ["VersionSet"],
                "additionalProperties": false,
                "properties": {
                    "VersionSet": { "type": "object", "additionalProperties": true },
                    "Contents": { "type": "array", "items": schema_ref("ContentPack") },
                    "Files": {
                        "type": "object",
                        "description": "Path to base64 bytes, for the VersionSet's self:// files (others are fetched by the leader)",
                        "additionalProperties": { "type": "string", "format": "byte" },
                    },
                },
            }),
        ),
        (
            "VersionSetApplied",
            json!({
                "type": "object",
                "properties": {
                    "Index": { "type": "integer", "description": "The Raft log index it committed at" },
                    "Hash": { "type": "string" },
                    "Key": { "type": "string", "description": "The Idempotency-Key" },
                    "At": { "type": "string", "format": "date-time" },
                },
            }),
        ),
        (
            "VersionSetRecord",
            json!({
                "allOf": [
                    schema_ref("VersionSetApplied"),
                    { "type": "object", "properties": { "VersionSet": { "type": "object", "additionalProperties": true } } },
                ],
            }),
        ),
        (
            "Token",
            json!({
                "type": "object",
                "properties": {
                    "Token": { "type": "string" },
                    "Info": {
                        "type": "object",
                        "properties": {
                            "User": { "type": "string" },
                            "Expires": { "type": "integer", "description": "Unix seconds" },
                            "Ttl": { "type": "integer" },
                        },
                    },
                },
            }),
        ),
    ]
}
