//! A Go `text/template` compatible engine for DRP content packs.
//!
//! DRP renders task, bootenv and stage templates with Go's `text/template` plus the sprig
//! function library and DRP's own render data (`.Machine`, `.Param "x"`, `.ApiURL`, ...).
//! This crate is a pure library: it parses template text (errors carry the template name,
//! line and column) and renders a parsed template against a [`RenderData`] supplied by the
//! caller, resolving `{{template "name" .}}` through a [`TemplateSource`]. It knows nothing of
//! the store: the endpoint implements both traits over its replicated objects, or fills
//! [`drp::DrpContext`] with plain JSON.
//!
//! API contract (shared by the endpoint's runtime; keep these signatures stable):
//! - [`Template::parse`] → `Result<Template, ParseError>`
//! - [`render`] → `Result<String, RenderError>`
//! - [`RenderData::lookup`] resolves a field/method chain on the root data (`.Machine.Name`,
//!   `.Param "x"`, `.Env.PathFor "tftp" "/x"`), everything else is plain JSON.
//!
//! Also: [`render_json`] renders over plain JSON (Go's `map[string]interface{}` semantics);
//! [`RenderData::resolve`] lets render data answer "missing key", "render this string too" or
//! "an object with methods"; [`Template::with_missing_key_error`] is Go's `missingkey=error`.
//! A render is bounded by [`MAX_TEMPLATE_DEPTH`], [`MAX_OUTPUT_BYTES`] and [`MAX_STEPS`]; it is
//! CPU work (a hostile template runs into the step bound after about 0.1 s in a release
//! build, over a second in a debug one), so async callers should run it on a blocking thread.
//!
//! Layout: `lex` → `parse` (to `ast`) → `exec` (with `value` semantics, `funcs` builtins,
//! `gofmt` printf, `sprig`), and `drp` for DRP's render data.
#![warn(missing_docs)]

pub mod drp;

mod ast;
mod exec;
mod funcs;
mod gofmt;
mod lex;
mod parse;
mod sprig;
mod value;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

pub use exec::{MAX_OUTPUT_BYTES, MAX_STEPS, MAX_TEMPLATE_DEPTH};
pub use funcs::BUILTINS;
pub use sprig::names as sprig_functions;

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
    /// What went wrong, naming the param, function or field involved; prefixed with the
    /// `line:column:` of the action when known.
    pub message: String,
}

/// What a chain on the root data resolved to, for [`RenderData::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// A plain value.
    Value(Value),
    /// A missing map key: Go prints it as `<no value>` and field chains on it stay missing.
    Missing,
    /// A value whose strings are themselves templates to render with the same root data
    /// (DRP's `.ParamExpand`, `.BootParams`): the engine renders them, bounded like any
    /// `{{template}}` call.
    Expand(Value),
    /// An object with methods of its own (DRP's `.Machine`, `.Env`): its JSON is the value,
    /// and a later `.Field` on it (after `with`, or from a variable) resolves through
    /// [`RenderData::resolve`] with the chain that reached it plus that field.
    Object(Value),
}

/// What `.` (and `$`) is at the top of a render.
///
/// A chain of field or method names on the root (`.Machine.Name` is `["Machine", "Name"]` with no
/// args; `.Param "foo"` is `["Param"]` with one arg; `.Env.PathFor "tftp" "/x"` is
/// `["Env", "PathFor"]` with two args) is handed to [`RenderData::lookup`] whole, so the
/// implementor may treat any link of it as a method. An `Err` becomes a [`RenderError`] naming
/// the template and carrying the message (say which param is missing).
///
/// `.CallTemplate "name" data` never reaches the implementor: the engine runs it, since it
/// owns template lookup.
pub trait RenderData {
    /// Resolve `chain` (never empty) called with `args` on the root data.
    fn lookup(&self, chain: &[&str], args: &[Value]) -> Result<Value, String>;

    /// Like [`RenderData::lookup`], able to answer "missing" or "render this"; the engine
    /// calls this one. The default forwards to `lookup`.
    fn resolve(&self, chain: &[&str], args: &[Value]) -> Result<Resolved, String> {
        self.lookup(chain, args).map(Resolved::Value)
    }
}

/// Where `{{template "name" .}}` finds templates that are not `define`d in the one rendered.
pub trait TemplateSource {
    /// The parsed template stored under `name`, if any.
    fn template(&self, name: &str) -> Option<Arc<Template>>;
}

/// A [`TemplateSource`] with no templates.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTemplates;

impl TemplateSource for NoTemplates {
    fn template(&self, _name: &str) -> Option<Arc<Template>> {
        None
    }
}

/// A [`TemplateSource`] over parsed templates held in a map (tests, tools, the endpoint's
/// per-render snapshot).
impl TemplateSource for BTreeMap<String, Arc<Template>> {
    fn template(&self, name: &str) -> Option<Arc<Template>> {
        self.get(name).cloned()
    }
}

/// A parsed template, with every `{{define}}` it contains.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    source: Arc<str>,
    root: Arc<ast::List>,
    defines: BTreeMap<String, Arc<ast::List>>,
    missing_key_error: bool,
}

impl Template {
    /// Parse `source` as the template `name`. Unknown functions and undefined variables are
    /// errors here, as in Go.
    pub fn parse(name: &str, source: &str) -> Result<Template, ParseError> {
        let source: Arc<str> = Arc::from(source);
        match parse::parse(&source, &funcs::is_func) {
            Ok(parsed) => Ok(Template {
                name: name.to_string(),
                root: Arc::new(parsed.root),
                defines: parsed
                    .defines
                    .into_iter()
                    .map(|(k, v)| (k, Arc::new(v)))
                    .collect(),
                source,
                missing_key_error: false,
            }),
            Err(e) => {
                let (line, column) = line_col(&source, e.pos);
                Err(ParseError {
                    template: name.to_string(),
                    line,
                    column,
                    message: e.message,
                })
            }
        }
    }

    /// Go's `Option("missingkey=error")`: rendering this template fails on a missing map key
    /// (`map has no entry for key "x"`) instead of printing `<no value>`. DRP sets it on
    /// `TemplateInfo.Path` templates; `.ParamExpand` and `.BootParams` always render this way.
    pub fn with_missing_key_error(mut self) -> Template {
        self.missing_key_error = true;
        self
    }

    /// The name the template was parsed under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of the templates this one `define`s (or `block`s).
    pub fn defined_names(&self) -> impl Iterator<Item = &str> {
        self.defines.keys().map(String::as_str)
    }

    /// 1-based line and column (in characters) of a byte offset in this template's source.
    fn line_col(&self, pos: usize) -> (usize, usize) {
        line_col(&self.source, pos)
    }
}

fn line_col(source: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(source.len());
    while !source.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &source[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// Execute `template` with `data` as its root, resolving other templates through `source`.
pub fn render(
    template: &Template,
    data: &dyn RenderData,
    source: &dyn TemplateSource,
) -> Result<String, RenderError> {
    exec::execute(template, value::Val::Root, data, source)
}

/// Execute `template` with plain JSON as its root, as Go does with a decoded
/// `map[string]interface{}` (no methods; numbers are float64, missing keys `<no value>`).
pub fn render_json(
    template: &Template,
    data: &Value,
    source: &dyn TemplateSource,
) -> Result<String, RenderError> {
    // Nil data is Go's invalid value: fields of it are missing, not an error.
    let root = match data {
        Value::Null => value::Val::Missing,
        other => value::Val::from_json(other),
    };
    exec::execute(template, root, &NoMethods, source)
}

/// The render data of [`render_json`]: its root is a plain value, so nothing is looked up.
struct NoMethods;

impl RenderData for NoMethods {
    fn lookup(&self, chain: &[&str], _args: &[Value]) -> Result<Value, String> {
        Err(format!("can't evaluate field {}", chain.join(".")))
    }
}
