//! A Go `text/template` compatible engine for DRP content packs.
//!
//! DRP renders task, bootenv and stage templates with Go's `text/template` plus the sprig
//! function library and DRP's own render data (`.Machine`, `.Param "x"`, `.ApiURL`, ...).
//! This crate is a pure library: it parses template text (errors carry the template name,
//! line and column) and renders a parsed template against a [`RenderData`] supplied by the
//! caller, resolving `{{template "name" .}}` through a [`TemplateSource`]. It knows nothing of
//! the store: the endpoint implements both traits over its replicated objects.
//!
//! API contract (shared by the endpoint's runtime; keep these signatures stable):
//! - [`Template::parse`] → `Result<Template, ParseError>`
//! - [`render`] → `Result<String, RenderError>`
//! - [`RenderData::lookup`] resolves a field/method chain on the root data (`.Machine.Name`,
//!   `.Param "x"`, `.Env.PathFor "tftp" "/x"`), everything else is plain JSON.

pub mod drp;

use std::sync::Arc;

use serde_json::Value;

/// A template that failed to parse: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{template}:{line}:{column}: {message}")]
pub struct ParseError {
    /// The template's name (its ID, or the task template's `Name`).
    pub template: String,
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// What is wrong, e.g. `unexpected "}" in operand`.
    pub message: String,
}

/// A render that failed: the template it failed in, and why (e.g. a missing param's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template}: {message}")]
pub struct RenderError {
    /// The template being executed when the error happened.
    pub template: String,
    /// What went wrong, naming the param, function or field involved.
    pub message: String,
}

/// What `.` (and `$`) is at the top of a render.
///
/// A chain of field or method names on the root (`.Machine.Name` is `["Machine", "Name"]` with no
/// args; `.Param "foo"` is `["Param"]` with one arg; `.Env.PathFor "tftp" "/x"` is
/// `["Env", "PathFor"]` with two args) is handed to [`RenderData::lookup`] whole, so the
/// implementor may treat any link of it as a method. An `Err` becomes a [`RenderError`] naming
/// the template and carrying the message (say which param is missing).
pub trait RenderData {
    /// Resolve `chain` (never empty) called with `args` on the root data.
    fn lookup(&self, chain: &[&str], args: &[Value]) -> Result<Value, String>;
}

/// Where `{{template "name" .}}` finds templates that are not `define`d in the one rendered.
pub trait TemplateSource {
    /// The parsed template stored under `name`, if any.
    fn template(&self, name: &str) -> Option<Arc<Template>>;
}

/// A parsed template, with every `{{define}}` it contains.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    source: String,
}

impl Template {
    /// Parse `source` as the template `name`.
    pub fn parse(name: &str, source: &str) -> Result<Template, ParseError> {
        // Placeholder until the engine lands: accepts everything, see `render`.
        Ok(Template {
            name: name.to_string(),
            source: source.to_string(),
        })
    }

    /// The name the template was parsed under.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Execute `template` with `data` as its root, resolving other templates through `source`.
pub fn render(
    template: &Template,
    _data: &dyn RenderData,
    _source: &dyn TemplateSource,
) -> Result<String, RenderError> {
    if template.source.contains("{{") {
        return Err(RenderError {
            template: template.name.clone(),
            message: "template engine not implemented yet".into(),
        });
    }
    Ok(template.source.clone())
}
