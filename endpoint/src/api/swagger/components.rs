//! `components`: security schemes, schemas, shared responses, parameters and headers.

use serde_json::{json, Value};

use super::responses::error_responses;
use super::schemas::schemas;
use crate::api::filter::{MAX_FILTERS, MAX_SORT_KEYS};
use crate::auth::token::MAX_TTL_SECS;

pub(super) fn components() -> Value {
    let mut parameters = header_parameters();
    if let (Some(all), Value::Object(query)) = (parameters.as_object_mut(), query_parameters()) {
        all.extend(query);
    }
    json!({
        "securitySchemes": {
            "basicAuth": { "type": "http", "scheme": "basic" },
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from GET /users/{name}/token; valid on every member",
            },
        },
        "schemas": schemas(),
        "responses": error_responses(),
        "parameters": parameters,
        "headers": headers(),
    })
}

/// The request headers operations refer to.
fn header_parameters() -> Value {
    json!({
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "description": "A retry with the same key (after a timeout or a lost leader) returns the first result and changes nothing; keys are kept for a day, across failovers",
            "schema": { "type": "string", "minLength": 1, "maxLength": 256 },
        },
        "RequiredIdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": true,
            "description": "Required: re-sending the same key returns the first result and changes nothing",
            "schema": { "type": "string", "minLength": 1, "maxLength": 256 },
        },
        "IfMatch": {
            "name": "If-Match",
            "in": "header",
            "description": "Only if the object's current ETag is this (`*`: only if it exists); else 412",
            "schema": { "type": "string" },
        },
        "StaleRead": {
            "name": "X-DRP-Stale-Read",
            "in": "header",
            "description": "`true` (any case) or `1`: a local read that may lag the leader, instead of a linearizable one; any other value, like none, asks for a linearizable read",
            "schema": { "type": "string", "example": "true" },
        },
        "Sha256Claim": {
            "name": "X-DRP-SHA256SUM",
            "in": "header",
            "description": "The body's sha256 (hex); the upload is refused (422) if it differs",
            "schema": { "type": "string" },
        },
    })
}

/// The query parameters operations refer to.
fn query_parameters() -> Value {
    json!({
        "Offset": {
            "name": "offset", "in": "query",
            "description": "Skip this many matching objects",
            "schema": { "type": "integer", "minimum": 0 },
        },
        "Limit": {
            "name": "limit", "in": "query",
            "description": "Return at most this many objects",
            "schema": { "type": "integer", "minimum": 0 },
        },
        "Sort": {
            "name": "sort", "in": "query",
            "description": format!("Sort by these fields (PascalCase) or params (any other name), in order; at most {MAX_SORT_KEYS}"),
            "schema": { "type": "array", "items": { "type": "string" }, "maxItems": MAX_SORT_KEYS },
            "style": "form",
            "explode": true,
        },
        "Reverse": {
            "name": "reverse", "in": "query",
            "description": "Reverse the order",
            "schema": { "type": "boolean" },
        },
        "Filters": {
            "name": "filters",
            "in": "query",
            "description": format!(
                "Filters, each `Field=Op(value)`: Eq, Ne, Lt, Lte, Gt, Gte, In(a,b,...), Nin(a,b,...), Between(low,high), Except(low,high), Re(RE2 regular expression, matched anywhere); a bare `Field=value` is Eq. PascalCase names are object fields, any other name a param. Numbers compare as numbers. A field may be filtered more than once (every filter must pass). At most {MAX_FILTERS} filters."
            ),
            // Any value: on the wire each is text (`Rank=5` is `Eq(5)`), and a repeated name
            // is a list.
            "schema": { "type": "object", "additionalProperties": {}, "maxProperties": MAX_FILTERS },
            "style": "form",
            "explode": true,
            "example": { "Name": "Eq(fred1)" },
        },
        "Aggregate": {
            "name": "aggregate", "in": "query",
            "description": "Params as the object sees them: its own, then its profiles', then the global profile's",
            "schema": { "type": "boolean" },
        },
        "ReplaceWritable": {
            "name": "replaceWritable", "in": "query",
            "description": "Let the pack take over writable objects it also defines (else 409)",
            "schema": { "type": "boolean" },
        },
        "Explode": {
            "name": "explode", "in": "query",
            "description": "Also unpack a tar or tgz upload beside it (never outside its folder)",
            "schema": { "type": "boolean" },
        },
        "Ttl": {
            "name": "ttl", "in": "query",
            "description": format!("Seconds the token is valid; more than {MAX_TTL_SECS} (30 days) is cut to that"),
            "schema": { "type": "integer", "minimum": 0, "default": 3600 },
        },
    })
}

/// The response headers responses refer to.
fn headers() -> Value {
    json!({
        "Leader": { "description": "The leader's ConsensusID, when known", "schema": { "type": "string" } },
        "CommitIndex": { "description": "The commit index this member knows", "schema": { "type": "integer" } },
        "ListTotalCount": { "description": "Objects in the collection", "schema": { "type": "integer" } },
        "ListFilterCount": { "description": "Objects that pass the filters", "schema": { "type": "integer" } },
        "ETag": { "description": "The object's version, for If-Match", "schema": { "type": "string" } },
        "Sha256Sum": { "description": "The file's sha256 (hex)", "schema": { "type": "string" } },
        "ContentLength": { "description": "The file's size", "schema": { "type": "integer" } },
        "WwwAuthenticate": { "description": "`Basic realm=\"drp\"`", "schema": { "type": "string" } },
    })
}
