//! The evaluator: walks a parsed template the way Go's `text/template/exec.go` does, with
//! bounds on template-call depth, output size and steps so hostile templates stop with an
//! error instead of running away.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::ast::{Arg, Branch, Command, Const, List, Node, Pipe};
use crate::funcs;
use crate::value::Val;
use crate::{RenderData, RenderError, Resolved, Template, TemplateSource};

/// Nested `{{template}}` / `.CallTemplate` / `.ParamExpand` invocations allowed.
pub const MAX_TEMPLATE_DEPTH: usize = 64;
/// Largest output of one render.
pub const MAX_OUTPUT_BYTES: usize = 16 << 20;
/// Evaluation steps (nodes walked, commands run, loop iterations) allowed in one render.
pub const MAX_STEPS: u64 = 2_000_000;
/// Nested evaluation (blocks, parenthesised pipelines, template calls together), so the
/// native stack stays small whatever the input.
const MAX_EVAL_NESTING: usize = 512;

enum Flow {
    Normal,
    Break,
    Continue,
}

/// The template being executed: its name (a define's name when in one) and the parsed
/// template it came from, for positions and `define` lookups.
struct Frame {
    name: String,
    tmpl: Arc<Template>,
}

pub(crate) struct Exec<'a> {
    data: &'a dyn RenderData,
    source: &'a dyn TemplateSource,
    out: String,
    vars: Vec<(String, Val)>,
    steps: u64,
    nesting: usize,
    frames: Vec<Frame>,
    /// Go's `missingkey=error`: a missing map key is an error instead of `<no value>`.
    missing_key_error: bool,
}

type R<T> = Result<T, RenderError>;

pub(crate) fn execute(
    tmpl: &Template,
    root: Val,
    data: &dyn RenderData,
    source: &dyn TemplateSource,
) -> Result<String, RenderError> {
    let mut exec = Exec {
        data,
        source,
        out: String::new(),
        vars: Vec::new(),
        steps: 0,
        nesting: 0,
        frames: Vec::new(),
        missing_key_error: tmpl.missing_key_error,
    };
    let tmpl = Arc::new(tmpl.clone());
    let body = tmpl.root.clone();
    exec.run_body(tmpl.name.clone(), tmpl, &body, root)?;
    Ok(exec.out)
}

impl Exec<'_> {
    fn frame(&self) -> Option<&Frame> {
        self.frames.last()
    }

    fn fail<T>(&self, pos: usize, message: impl std::fmt::Display) -> R<T> {
        let (name, position) = match self.frame() {
            Some(f) => {
                let (line, col) = f.tmpl.line_col(pos);
                (f.name.clone(), format!("{line}:{col}: "))
            }
            None => (String::new(), String::new()),
        };
        Err(RenderError {
            template: name,
            message: format!("{position}{message}"),
        })
    }

    fn step(&mut self, pos: usize) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return self.fail(pos, format!("render stopped after {MAX_STEPS} steps"));
        }
        Ok(())
    }

    fn nest<T>(&mut self, pos: usize, f: impl FnOnce(&mut Self) -> R<T>) -> R<T> {
        if self.nesting >= MAX_EVAL_NESTING {
            return self.fail(
                pos,
                format!("render nested deeper than {MAX_EVAL_NESTING} levels"),
            );
        }
        self.nesting += 1;
        let result = f(self);
        self.nesting -= 1;
        result
    }

    fn write(&mut self, pos: usize, s: &str) -> R<()> {
        if self.out.len() + s.len() > MAX_OUTPUT_BYTES {
            return self.fail(
                pos,
                format!("render output exceeds {MAX_OUTPUT_BYTES} bytes"),
            );
        }
        self.out.push_str(s);
        Ok(())
    }

    /// Execute `body` as template `name` with `dot`, in a fresh variable scope (`$` = dot).
    fn run_body(&mut self, name: String, tmpl: Arc<Template>, body: &List, dot: Val) -> R<()> {
        if self.frames.len() >= MAX_TEMPLATE_DEPTH {
            return self.fail(
                0,
                format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"),
            );
        }
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".to_string(), dot.clone())]);
        self.frames.push(Frame { name, tmpl });
        let result = self.walk_list(&dot, body);
        self.frames.pop();
        self.vars = saved_vars;
        match result? {
            Flow::Normal => Ok(()),
            // The parser only allows break/continue inside range.
            Flow::Break | Flow::Continue => Ok(()),
        }
    }

    fn walk_list(&mut self, dot: &Val, list: &List) -> R<Flow> {
        for node in list {
            match self.walk(dot, node)? {
                Flow::Normal => {}
                flow => return Ok(flow),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Val, node: &Node) -> R<Flow> {
        match node {
            Node::Text(t) => {
                self.write(0, t)?;
            }
            Node::Action(pipe) => {
                self.step(pipe.pos)?;
                let value = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    let text = self.printable(pipe.pos, &value)?;
                    self.write(pipe.pos, &text)?;
                }
            }
            Node::If(b) => return self.nest(b.pos, |e| e.walk_if_or_with(dot, b, false)),
            Node::With(b) => return self.nest(b.pos, |e| e.walk_if_or_with(dot, b, true)),
            Node::Range(b) => return self.nest(b.pos, |e| e.walk_range(dot, b)),
            Node::Template { pos, name, pipe } => {
                self.step(*pos)?;
                let value = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Val::Missing,
                };
                self.nest(*pos, |e| e.call_template(*pos, name, value))?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    /// How `{{value}}` prints; the root data cannot be printed meaningfully.
    fn printable(&self, pos: usize, value: &Val) -> R<String> {
        match value {
            Val::Root => self.fail(pos, "can't print the render data itself; name a field"),
            v => Ok(v.print()),
        }
    }

    fn walk_if_or_with(&mut self, dot: &Val, b: &Branch, is_with: bool) -> R<Flow> {
        self.step(b.pos)?;
        let mark = self.vars.len();
        let result = (|| {
            let value = self.eval_pipeline(dot, &b.pipe)?;
            if value.truth() {
                if is_with {
                    self.walk_list(&value, &b.list)
                } else {
                    self.walk_list(dot, &b.list)
                }
            } else if let Some(else_list) = &b.else_list {
                self.walk_list(dot, else_list)
            } else {
                Ok(Flow::Normal)
            }
        })();
        self.vars.truncate(mark);
        result
    }

    fn walk_range(&mut self, dot: &Val, b: &Branch) -> R<Flow> {
        self.step(b.pos)?;
        let mark = self.vars.len();
        let result = self.walk_range_inner(dot, b);
        self.vars.truncate(mark);
        result
    }

    fn walk_range_inner(&mut self, dot: &Val, b: &Branch) -> R<Flow> {
        let value = self.eval_pipeline(dot, &b.pipe)?;
        let items: Vec<(Val, Val)> = match value.plain() {
            Val::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, v)| (Val::Int(i as i64), v.clone()))
                .collect(),
            Val::Map(m) => match m.try_borrow() {
                Ok(m) => m
                    .iter()
                    .map(|(k, v)| (Val::str(k.as_str()), v.clone()))
                    .collect(),
                Err(_) => return self.fail(b.pos, "map changed during range"),
            },
            Val::Int(n) => {
                if b.pipe.decl.len() > 1 {
                    return self.fail(
                        b.pos,
                        format!("can't use {n} to iterate over more than one variable"),
                    );
                }
                return self.range_int(dot, b, *n);
            }
            Val::Nil | Val::Missing => Vec::new(),
            other => {
                return self.fail(b.pos, format!("range can't iterate over {}", other.print()));
            }
        };
        if items.is_empty() {
            if let Some(else_list) = &b.else_list {
                return self.walk_list(dot, else_list);
            }
            return Ok(Flow::Normal);
        }
        for (index, elem) in items {
            self.step(b.pos)?;
            if let Flow::Break = self.range_iteration(b, index, elem)? {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn range_int(&mut self, dot: &Val, b: &Branch, n: i64) -> R<Flow> {
        if n <= 0 {
            if let Some(else_list) = &b.else_list {
                return self.walk_list(dot, else_list);
            }
            return Ok(Flow::Normal);
        }
        for i in 0..n {
            self.step(b.pos)?;
            if let Flow::Break = self.range_iteration(b, Val::Int(i), Val::Int(i))? {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    /// One pass of a range body: the declared variables are the top ones (`$e`, or `$i, $e`).
    fn range_iteration(&mut self, b: &Branch, index: Val, elem: Val) -> R<Flow> {
        let top = self.vars.len();
        match b.pipe.decl.len() {
            1 if top >= 1 => self.vars[top - 1].1 = elem.clone(),
            2 if top >= 2 => {
                self.vars[top - 1].1 = elem.clone();
                self.vars[top - 2].1 = index;
            }
            _ => {}
        }
        let mark = self.vars.len();
        let flow = self.walk_list(&elem, &b.list);
        self.vars.truncate(mark);
        match flow? {
            Flow::Break => Ok(Flow::Break),
            Flow::Normal | Flow::Continue => Ok(Flow::Normal),
        }
    }

    /// `{{template "name" value}}`: a `define` in a template being executed, else the source.
    pub(crate) fn call_template(&mut self, pos: usize, name: &str, dot: Val) -> R<()> {
        let local = self.frames.iter().rev().find_map(|f| {
            f.tmpl
                .defines
                .get(name)
                .map(|body| (f.tmpl.clone(), body.clone()))
        });
        if let Some((tmpl, body)) = local {
            return self.run_body(name.to_string(), tmpl, &body, dot);
        }
        match self.source.template(name) {
            Some(tmpl) => {
                let body = tmpl.root.clone();
                self.run_body(name.to_string(), tmpl, &body, dot)
            }
            None => self.fail(pos, format!("template {name:?} not defined")),
        }
    }

    /// Render `text` as a template with the root data (`.ParamExpand`, `.BootParams`).
    fn expand_string(&mut self, pos: usize, what: &str, text: &str) -> R<String> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        let tmpl = match Template::parse(what, text) {
            Ok(t) => Arc::new(t),
            Err(e) => return self.fail(pos, format!("error compiling {what}: {e}")),
        };
        let body = tmpl.root.clone();
        let saved = std::mem::take(&mut self.out);
        // DRP renders expanded params and boot params with missingkey=error.
        let strict = std::mem::replace(&mut self.missing_key_error, true);
        let result = self.nest(pos, |e| {
            e.run_body(what.to_string(), tmpl, &body, Val::Root)
        });
        self.missing_key_error = strict;
        let rendered = std::mem::replace(&mut self.out, saved);
        result?;
        Ok(rendered)
    }

    fn expand_value(&mut self, pos: usize, what: &str, value: &Value, depth: usize) -> R<Val> {
        if depth > crate::value::MAX_VALUE_DEPTH {
            return self.fail(pos, format!("{what} nested too deeply to expand"));
        }
        Ok(match value {
            Value::String(s) => Val::str(self.expand_string(pos, what, s)?),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.expand_value(pos, what, item, depth + 1)?);
                }
                Val::list(out)
            }
            Value::Object(map) => {
                let mut out = BTreeMap::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.expand_value(pos, what, v, depth + 1)?);
                }
                Val::map(out)
            }
            other => Val::from_json(other),
        })
    }

    fn eval_pipeline(&mut self, dot: &Val, pipe: &Pipe) -> R<Val> {
        let mut value: Option<Val> = None;
        for cmd in &pipe.cmds {
            self.step(cmd.pos)?;
            // Go unwraps a nil interface{} result to the invalid value after every command:
            // `{{.nullKey}}` and `{{first (list)}}` print `<no value>`, like a missing key.
            value = Some(match self.eval_command(dot, cmd, value)? {
                Val::Nil => Val::Missing,
                v => v,
            });
        }
        let value = value.unwrap_or(Val::Missing);
        for name in &pipe.decl {
            if pipe.is_assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = value.clone(),
                    None => return self.fail(pipe.pos, format!("undefined variable: {name}")),
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn eval_command(&mut self, dot: &Val, cmd: &Command, fin: Option<Val>) -> R<Val> {
        let first = &cmd.args[0];
        let rest = &cmd.args[1..];
        match first {
            Arg::Field { pos, chain } => self.eval_chain(*pos, dot.clone(), chain, rest, dot, fin),
            Arg::Variable { pos, name, chain } => {
                let base = self.var(*pos, name)?;
                if chain.is_empty() {
                    self.not_a_function(cmd, fin.as_ref())?;
                    return Ok(base);
                }
                self.eval_chain(*pos, base, chain, rest, dot, fin)
            }
            Arg::Pipe { pos, pipe, chain } => {
                if chain.is_empty() {
                    self.not_a_function(cmd, fin.as_ref())?;
                    return self.nest(*pos, |e| e.eval_pipeline(dot, pipe));
                }
                let base = self.nest(*pos, |e| e.eval_pipeline(dot, pipe))?;
                self.eval_chain(*pos, base, chain, rest, dot, fin)
            }
            Arg::Ident { pos, name } => self.eval_function(*pos, name, dot, rest, fin),
            Arg::Dot(_) => {
                self.not_a_function(cmd, fin.as_ref())?;
                Ok(dot.clone())
            }
            Arg::Nil(pos) => self.fail(*pos, "nil is not a command"),
            Arg::Const(pos, c) => {
                self.not_a_function(cmd, fin.as_ref())?;
                const_val(c).or_else(|m| self.fail(*pos, m))
            }
        }
    }

    fn not_a_function(&self, cmd: &Command, fin: Option<&Val>) -> R<()> {
        if cmd.args.len() > 1 || fin.is_some() {
            return self.fail(cmd.pos, "can't give argument to non-function");
        }
        Ok(())
    }

    fn var(&self, pos: usize, name: &str) -> R<Val> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.fail(pos, format!("undefined variable: {name}")),
        }
    }

    /// Evaluate an operand that is not the command's first word.
    fn eval_arg(&mut self, dot: &Val, arg: &Arg) -> R<Val> {
        self.step(arg.pos())?;
        match arg {
            Arg::Field { pos, chain } => self.eval_chain(*pos, dot.clone(), chain, &[], dot, None),
            Arg::Variable { pos, name, chain } => {
                let base = self.var(*pos, name)?;
                if chain.is_empty() {
                    return Ok(base);
                }
                self.eval_chain(*pos, base, chain, &[], dot, None)
            }
            Arg::Pipe { pos, pipe, chain } => {
                let base = self.nest(*pos, |e| e.eval_pipeline(dot, pipe))?;
                if chain.is_empty() {
                    return Ok(base);
                }
                self.eval_chain(*pos, base, chain, &[], dot, None)
            }
            Arg::Ident { pos, name } => self.eval_function(*pos, name, dot, &[], None),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Ok(Val::Nil),
            Arg::Const(pos, c) => const_val(c).or_else(|m| self.fail(*pos, m)),
        }
    }

    /// A function argument: Go hands a missing value to an `interface{}` parameter as nil.
    fn eval_func_arg(&mut self, dot: &Val, arg: &Arg) -> R<Val> {
        Ok(match self.eval_arg(dot, arg)? {
            Val::Missing => Val::Nil,
            Val::Obj(ref o) => o.value.clone(),
            v => v,
        })
    }

    /// `.a.b.c args...` on `base`: on the root data the whole chain goes to [`RenderData`];
    /// on plain values each link is a map key.
    fn eval_chain(
        &mut self,
        pos: usize,
        base: Val,
        chain: &[String],
        args: &[Arg],
        dot: &Val,
        fin: Option<Val>,
    ) -> R<Val> {
        let has_args = !args.is_empty() || fin.is_some();
        let root_chain: Option<Vec<String>> = match &base {
            Val::Root => Some(chain.to_vec()),
            Val::Obj(o) => Some(o.chain.iter().chain(chain).cloned().collect()),
            _ => None,
        };
        if let Some(full) = root_chain {
            let mut values = Vec::with_capacity(args.len() + 1);
            for a in args {
                values.push(self.eval_func_arg(dot, a)?);
            }
            if let Some(f) = fin {
                values.push(f);
            }
            return self.call_root(pos, &full, values);
        }
        let mut receiver = base;
        for (i, name) in chain.iter().enumerate() {
            let last = i + 1 == chain.len();
            receiver = match &receiver {
                Val::Missing if self.missing_key_error => {
                    return self.fail(pos, format!("nil data; no entry for key {name:?}"));
                }
                Val::Missing => Val::Missing,
                Val::Nil => {
                    return self.fail(pos, format!("nil pointer evaluating interface {{}}.{name}"))
                }
                Val::Map(m) => {
                    if last && has_args {
                        return self.fail(pos, format!("{name} is not a method but has arguments"));
                    }
                    let found = m.try_borrow().ok().and_then(|m| m.get(name).cloned());
                    match found {
                        Some(v) => v,
                        None if self.missing_key_error => {
                            return self.fail(pos, format!("map has no entry for key {name:?}"));
                        }
                        None => Val::Missing,
                    }
                }
                Val::Root => {
                    // A chain that came back to the root (`(.).Machine`): resolve the remainder.
                    let mut values = Vec::new();
                    if last {
                        for a in args {
                            values.push(self.eval_func_arg(dot, a)?);
                        }
                        if let Some(f) = fin.clone() {
                            values.push(f);
                        }
                    }
                    return self.call_root(pos, &chain[i..], values);
                }
                other => {
                    return self.fail(
                        pos,
                        format!("can't evaluate field {name} in type {}", other.type_name()),
                    );
                }
            };
        }
        Ok(receiver)
    }

    fn call_root(&mut self, pos: usize, chain: &[String], args: Vec<Val>) -> R<Val> {
        // `.CallTemplate name data` needs the engine's template lookup, so the engine owns it.
        if chain.len() == 1 && chain[0] == "CallTemplate" {
            let [name, data] = <[Val; 2]>::try_from(args).map_err(|a| RenderError {
                template: self.frame().map(|f| f.name.clone()).unwrap_or_default(),
                message: format!(
                    "wrong number of args for CallTemplate: want 2 got {}",
                    a.len()
                ),
            })?;
            let Val::Str(name) = &name else {
                return self.fail(pos, "CallTemplate: template name must be a string");
            };
            let saved = std::mem::take(&mut self.out);
            let name = name.to_string();
            let result = self.nest(pos, |e| e.call_template(pos, &name, data));
            let rendered = std::mem::replace(&mut self.out, saved);
            result?;
            return Ok(Val::str(rendered));
        }
        let json_args: Vec<Value> = match args.iter().map(Val::to_json).collect() {
            Ok(a) => a,
            Err(e) => return self.fail(pos, e),
        };
        let names: Vec<&str> = chain.iter().map(String::as_str).collect();
        match self.data.resolve(&names, &json_args) {
            Ok(Resolved::Value(v)) => Ok(Val::from_json(&v)),
            Ok(Resolved::Object(v)) => Ok(Val::Obj(std::rc::Rc::new(crate::value::ObjRef {
                chain: chain.to_vec(),
                value: Val::from_json(&v),
            }))),
            Ok(Resolved::Missing) if self.missing_key_error => {
                let last = names.last().copied().unwrap_or_default();
                self.fail(pos, format!("map has no entry for key {last:?}"))
            }
            Ok(Resolved::Missing) => Ok(Val::Missing),
            Ok(Resolved::Expand(v)) => {
                // Errors inside the expansion name the template that asked for it.
                let caller = self.frame().map(|f| f.name.clone()).unwrap_or_default();
                let shown: Vec<String> = json_args.iter().map(Value::to_string).collect();
                let what = format!("{caller} (.{} {})", names.join("."), shown.join(" "));
                self.expand_value(pos, &what, &v, 0)
            }
            Err(message) => self.fail(pos, message),
        }
    }

    fn eval_function(
        &mut self,
        pos: usize,
        name: &str,
        dot: &Val,
        args: &[Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        // `and` / `or` stop evaluating at the first deciding argument, as Go does since 1.18.
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(fin.is_some());
            if total == 0 {
                return self.fail(
                    pos,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                );
            }
            let mut last = Val::Nil;
            for (i, a) in args.iter().enumerate() {
                last = self.eval_func_arg(dot, a)?;
                let decided = if name == "and" {
                    !last.truth()
                } else {
                    last.truth()
                };
                if decided || (i + 1 == total) {
                    return Ok(last);
                }
            }
            return Ok(fin.unwrap_or(last));
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        for a in args {
            values.push(self.eval_func_arg(dot, a)?);
        }
        if let Some(f) = fin {
            values.push(match f {
                Val::Missing => Val::Nil,
                Val::Obj(ref o) => o.value.clone(),
                v => v,
            });
        }
        match funcs::call(name, values) {
            Ok(v) => Ok(v),
            Err(message) => self.fail(pos, format!("error calling {name}: {message}")),
        }
    }
}

fn const_val(c: &Const) -> Result<Val, String> {
    Ok(match c {
        Const::Bool(b) => Val::Bool(*b),
        Const::Int(i) => Val::Int(*i),
        Const::Float(f) => Val::Float(*f),
        Const::Str(s) => Val::str(s.as_str()),
        Const::Overflow(text) => return Err(format!("{text} overflows int")),
    })
}
