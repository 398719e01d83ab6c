//! One operation of the document: a row of the route table at one concrete path.

use serde_json::{json, Value};

use super::names::fill;
use super::parameters::parameters;
use super::request_body::request_body;
use super::responses::responses;
use super::Documented;
use crate::api::routes::Kind;

pub(super) fn operation(d: &Documented) -> Value {
    let mut description = fill(d.op.notes, d.collection);
    if d.op.kind == Kind::Open {
        description.push_str(if description.is_empty() { "" } else { " " });
        description.push_str("Served without credentials.");
    }
    let mut op = json!({
        "operationId": fill(d.op.id, d.collection),
        "summary": fill(d.op.summary, d.collection),
        "tags": [fill(d.route.tag, d.collection)],
        "parameters": parameters(d),
        "responses": responses(d),
    });
    if !description.is_empty() {
        op["description"] = Value::String(description);
    }
    if let Some(body) = request_body(d) {
        op["requestBody"] = body;
    }
    if d.op.kind == Kind::Open {
        op["security"] = json!([]);
    }
    // A client (or a test probing every operation) must not wait for such a body to end.
    if d.op.streaming {
        op["x-streaming"] = json!(true);
    }
    op
}
