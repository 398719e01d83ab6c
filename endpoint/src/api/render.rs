//! Rendering as the API answers it: `crate::render` with its errors in DRP's shape (422 for
//! a template problem, 500 for a store failure), for handlers that name the object at fault.

use serde_json::Value;
use template::drp::DrpContext;

use super::error::ApiError;
use crate::node::Node;
use crate::render::{self, RenderError};

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> Self {
        match e {
            RenderError::Store(e) => e.into(),
            RenderError::Template(message) => ApiError::new(422, message),
        }
    }
}

pub fn context(node: &Node, machine: &Value, task: Option<&Value>) -> Result<DrpContext, ApiError> {
    Ok(render::context(node, machine, task)?)
}

pub fn render_text(
    node: &Node,
    name: &str,
    source: &str,
    data: &DrpContext,
) -> Result<String, ApiError> {
    Ok(render::render_text(node, name, source, data)?)
}

pub fn task_actions(node: &Node, machine: &Value, task: &Value) -> Result<Vec<Value>, ApiError> {
    Ok(render::task_actions(node, machine, task)?)
}

pub fn check_templates(collection: &str, object: &Value) -> Result<(), ApiError> {
    Ok(render::check_templates(collection, object)?)
}
