//! YAML/JSON text to models, reporting every problem of a file at once with its position.
//!
//! Steps: a located tree (`yaml.rs`); a decoder that checks each node against the model's
//! field list and value checks (`schema.rs`, `validate.rs`), recording every problem with
//! the position of the node it concerns and going on with the rest; then, for a document
//! with no problem, serde builds the typed model from the checked JSON value.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

use crate::diagnostic::{Diagnostic, ParseError, Pos, Problem};
use crate::model::{Endpoint, VersionSet};
use crate::schema::{Choice, Shape, StructShape, ENDPOINT, VERSION_SET};
use crate::validate;
use crate::yaml::{self, Node, NodeKind, Scalar};

/// Which model a document holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// A `VersionSet` document.
    VersionSet,
    /// An `Endpoint` document.
    Endpoint,
}

impl DocumentKind {
    fn label(self) -> &'static str {
        match self {
            Self::VersionSet => "VersionSet",
            Self::Endpoint => "Endpoint",
        }
    }
}

/// One parsed and validated document.
#[derive(Debug, Clone, PartialEq)]
// A file holds a handful of documents; boxing would only make matching clumsier.
#[allow(clippy::large_enum_variant)]
pub enum Document {
    /// A parsed VersionSet.
    VersionSet(VersionSet),
    /// A parsed Endpoint.
    Endpoint(Endpoint),
}

impl Document {
    /// The document's `Id`.
    pub fn id(&self) -> &str {
        match self {
            Self::VersionSet(vs) => &vs.id,
            Self::Endpoint(ep) => &ep.id,
        }
    }

    /// Which model the document holds.
    pub fn kind(&self) -> DocumentKind {
        match self {
            Self::VersionSet(_) => DocumentKind::VersionSet,
            Self::Endpoint(_) => DocumentKind::Endpoint,
        }
    }
}

/// Parses and validates every VersionSet in `text` (YAML or JSON, several `---` documents or
/// a top-level list). `origin` names the text in messages (a file name, `request body`).
pub fn parse_version_sets(origin: &str, text: &str) -> Result<Vec<VersionSet>, ParseError> {
    let docs = parse_documents(origin, text, Some(DocumentKind::VersionSet))?;
    Ok(docs
        .into_iter()
        .filter_map(|doc| match doc {
            Document::VersionSet(vs) => Some(vs),
            Document::Endpoint(_) => None,
        })
        .collect())
}

/// Parses and validates every Endpoint in `text`; see [`parse_version_sets`].
pub fn parse_endpoints(origin: &str, text: &str) -> Result<Vec<Endpoint>, ParseError> {
    let docs = parse_documents(origin, text, Some(DocumentKind::Endpoint))?;
    Ok(docs
        .into_iter()
        .filter_map(|doc| match doc {
            Document::Endpoint(ep) => Some(ep),
            Document::VersionSet(_) => None,
        })
        .collect())
}

/// Parses and validates every document in `text`. With `kind` = `None` each document's kind
/// is guessed from its keys: one with `VersionSets`, `VersionSet`, `Params` or `HaId` (fields
/// only an Endpoint has) is an Endpoint, anything else a VersionSet.
///
/// Empty documents (a lone `---`, a file of comments) are skipped, so an empty text gives an
/// empty list. Duplicate `Id`s of the same kind within the text are an error.
pub fn parse_documents(
    origin: &str,
    text: &str,
    kind: Option<DocumentKind>,
) -> Result<Vec<Document>, ParseError> {
    let fail = |diagnostics| ParseError {
        origin: origin.to_owned(),
        diagnostics,
    };
    let text = prepare(text);
    let roots = yaml::parse_documents(&text).map_err(|d| fail(vec![d]))?;

    let mut diagnostics = Vec::new();
    let mut docs = Vec::new();
    let mut first_seen: HashMap<(&'static str, &str), Pos> = HashMap::new();
    for (node, prefix) in document_nodes(&roots) {
        let kind = kind.unwrap_or_else(|| guess_kind(node));
        // Read from the tree so a duplicate shows even when either document has problems.
        if let Some((id, pos)) = key_text(node, Some("Id")) {
            match first_seen.get(&(kind.label(), id)) {
                Some(first) => diagnostics.push(Diagnostic::new(
                    pos,
                    format!(
                        "duplicate {} Id `{id}` (first at line {})",
                        kind.label(),
                        first.line
                    ),
                )),
                None => {
                    first_seen.insert((kind.label(), id), pos);
                }
            }
        }
        docs.extend(decode_document(node, &prefix, kind, &mut diagnostics));
    }
    if diagnostics.is_empty() {
        Ok(docs)
    } else {
        diagnostics.sort();
        Err(fail(diagnostics))
    }
}

/// Strips a BOM, and makes valid JSON acceptable to the YAML parser: YAML refuses a tab
/// after `:` that JSON allows, and valid JSON has no raw tab inside strings, so tabs can be
/// spaces without moving any column.
fn prepare(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let looks_json = matches!(text.trim_start().chars().next(), Some('{' | '['));
    if looks_json && text.contains('\t') && serde_json::from_str::<Value>(text).is_ok() {
        text.replace('\t', " ")
    } else {
        text.to_owned()
    }
}

/// The document roots, with a top-level list's items as documents of their own (DRP's list
/// API shape). Null documents are skipped.
fn document_nodes(roots: &[Node]) -> Vec<(&Node, String)> {
    let mut out = Vec::new();
    for root in roots {
        match &root.kind {
            NodeKind::Seq(items) => {
                out.extend(items.iter().enumerate().map(|(i, n)| (n, format!("[{i}]"))))
            }
            NodeKind::Scalar(s) if matches!(typed(s), Ok(Typed::Null)) => {}
            _ => out.push((root, String::new())),
        }
    }
    out
}

fn guess_kind(node: &Node) -> DocumentKind {
    const ENDPOINT_ONLY: [&str; 4] = ["VersionSets", "VersionSet", "Params", "HaId"];
    let is_endpoint = match &node.kind {
        NodeKind::Map(entries) => entries.iter().any(|(k, _)| match &k.kind {
            NodeKind::Scalar(s) => ENDPOINT_ONLY.contains(&s.text.as_str()),
            _ => false,
        }),
        _ => false,
    };
    if is_endpoint {
        DocumentKind::Endpoint
    } else {
        DocumentKind::VersionSet
    }
}

fn decode_document(
    node: &Node,
    prefix: &str,
    kind: DocumentKind,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Document> {
    let shape = match kind {
        DocumentKind::VersionSet => &VERSION_SET,
        DocumentKind::Endpoint => &ENDPOINT,
    };
    let mut decoder = Decoder::default();
    let value = if matches!(node.kind, NodeKind::Map(_)) {
        decoder.decode(node, Shape::Struct(shape), prefix)
    } else {
        let message = format!(
            "expected a mapping (a {}), found {}",
            kind.label(),
            describe(node)
        );
        decoder.error(node.pos, prefix, message);
        None
    };
    let doc = match (value, decoder.problems.is_empty()) {
        (Some(value), true) => match kind {
            DocumentKind::VersionSet => typed_model(value).map(Document::VersionSet),
            DocumentKind::Endpoint => typed_model(value).map(Document::Endpoint),
        }
        .map_err(|message| decoder.error(node.pos, prefix, message))
        .ok(),
        _ => None,
    };
    if let Some(Document::Endpoint(ep)) = &doc {
        for problem in validate::endpoint_params(ep) {
            let path = join(prefix, &problem.path);
            let pos = decoder.position_of(&path).unwrap_or(node.pos);
            decoder.error(pos, &path, problem.message);
        }
    }
    let clean = decoder.problems.is_empty();
    diagnostics.extend(
        decoder
            .problems
            .into_iter()
            .map(|(pos, problem)| Diagnostic::new(pos, problem.to_string())),
    );
    doc.filter(|_| clean)
}

/// The decoder has checked every field, so serde failing here would be a schema/model
/// mismatch; it is still reported rather than trusted away.
fn typed_model<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|err| err.to_string())
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (_, true) => prefix.to_owned(),
        _ if path.starts_with('[') => format!("{prefix}{path}"),
        _ => format!("{prefix}.{path}"),
    }
}

type Entries<'n> = Vec<(String, Pos, &'n Node)>;

/// Bound on the field paths one decode builds and keeps (every node's path is recorded):
/// long keys above many nodes multiply, so 8 KB of YAML with nested 1000-character keys
/// above an alias-expanded list made ~1 GiB of paths. Real documents use well under 1 MiB.
const MAX_PATH_BYTES: usize = 32 << 20;

/// Walks the located tree against a shape, collecting every problem and the position of
/// every field path it passes.
#[derive(Default)]
pub(crate) struct Decoder {
    pub problems: Vec<(Pos, Problem)>,
    positions: HashMap<String, Pos>,
    /// Total length of the paths passed to `decode`; see `MAX_PATH_BYTES`.
    path_bytes: usize,
}

impl Decoder {
    fn error(&mut self, pos: Pos, path: &str, message: String) {
        self.problems.push((pos, Problem::new(path, message)));
    }

    /// The position of `path`, or of its nearest recorded parent.
    fn position_of(&self, path: &str) -> Option<Pos> {
        let mut path = path;
        loop {
            if let Some(pos) = self.positions.get(path) {
                return Some(*pos);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    /// Returns `None` when the node has a problem (already recorded). Null is `Value::Null`
    /// for the caller to treat as "not set".
    pub fn decode(&mut self, node: &Node, shape: Shape, path: &str) -> Option<Value> {
        if self.exhausted() {
            return None;
        }
        self.path_bytes += path.len();
        if self.exhausted() {
            let message = format!(
                "too large to check: the field paths of this document add up to more than {} MiB \
                 (very long keys above many values?)",
                MAX_PATH_BYTES >> 20
            );
            self.error(node.pos, path, message);
            return None;
        }
        self.positions.insert(path.to_owned(), node.pos);
        if let NodeKind::Scalar(s) = &node.kind {
            if matches!(typed(s), Ok(Typed::Null)) && !matches!(shape, Shape::Any) {
                return Some(Value::Null);
            }
        }
        match shape {
            Shape::Str => self.string(node, path).map(Value::String),
            Shape::Text(check) => {
                let text = self.string(node, path)?;
                match check(&text) {
                    Ok(()) => Some(Value::String(text)),
                    Err(message) => {
                        self.error(node.pos, path, message);
                        None
                    }
                }
            }
            Shape::Bool => match self.scalar(node, path)? {
                Typed::Bool(b) => Some(Value::Bool(b)),
                other => self.mismatch(node, path, "true or false", &other),
            },
            Shape::UInt => match self.scalar(node, path)? {
                Typed::Int(n) if n >= 0 => Some(Value::Number(Number::from(n as u64))),
                Typed::UInt(n) => Some(Value::Number(Number::from(n))),
                other => self.mismatch(node, path, "a non-negative integer", &other),
            },
            Shape::Any => self.any(node, path),
            Shape::Choice(choice) => {
                let text = self.string(node, path)?;
                match resolve_choice(choice, &text) {
                    Some(name) => Some(Value::String(name.to_owned())),
                    None => {
                        self.error(node.pos, path, choice_message(choice, &text));
                        None
                    }
                }
            }
            Shape::List(item) => self.list(node, *item, path),
            Shape::UniqueList { item, key, what } => {
                let value = self.list(node, *item, path);
                self.check_unique(node, key, what, path);
                value
            }
            Shape::Map(value_shape) => {
                let (entries, mut ok) = self.mapping(node, path)?;
                let mut out = Map::new();
                for (key, key_pos, value) in entries {
                    if self.exhausted() {
                        return None;
                    }
                    let value_path = join(path, &key);
                    match self.decode(value, *value_shape, &value_path) {
                        Some(Value::Null) if matches!(value_shape, Shape::Str) => {
                            let message = "expected a string, found an empty value".to_owned();
                            self.error(value.pos, &value_path, message);
                            ok = false;
                        }
                        Some(v) => {
                            out.insert(key, v);
                        }
                        None => ok = false,
                    }
                    self.positions.entry(value_path).or_insert(key_pos);
                }
                ok.then_some(Value::Object(out))
            }
            Shape::Struct(fields) => self.structure(node, fields, path),
        }
    }

    /// Whether the path budget is spent: decoding stops (one problem says why).
    fn exhausted(&self) -> bool {
        self.path_bytes > MAX_PATH_BYTES
    }

    fn list(&mut self, node: &Node, item: Shape, path: &str) -> Option<Value> {
        let NodeKind::Seq(items) = &node.kind else {
            let hint = match &node.kind {
                NodeKind::Scalar(_) => "; write a list, e.g. `[item]` or `- item` lines",
                _ => "",
            };
            let message = format!("expected a list, found {}{hint}", describe(node));
            self.error(node.pos, path, message);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, n) in items.iter().enumerate() {
            if self.exhausted() {
                return None;
            }
            let item_path = format!("{path}[{i}]");
            match self.decode(n, item, &item_path) {
                Some(Value::Null) if !matches!(item, Shape::Any) => {
                    self.error(n.pos, &item_path, "empty list item".into());
                    ok = false;
                }
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(Value::Array(out))
    }

    /// Reports the second and later items with the same key. Reads the key straight from
    /// the tree, so an item with other problems still counts.
    fn check_unique(&mut self, node: &Node, key: Option<&str>, what: &str, path: &str) {
        let NodeKind::Seq(items) = &node.kind else {
            return;
        };
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let Some((text, pos)) = key_text(item, key) else {
                continue;
            };
            if let Some(earlier) = first.get(text) {
                let item_path = match key {
                    Some(field) => format!("{path}[{i}].{field}"),
                    None => format!("{path}[{i}]"),
                };
                let message = format!("duplicate {what} `{text}` (also {path}[{earlier}])");
                self.error(pos, &item_path, message);
            } else {
                first.insert(text, i);
            }
        }
    }

    fn structure(&mut self, node: &Node, shape: &StructShape, path: &str) -> Option<Value> {
        let (entries, mut ok) = self.mapping(node, path)?;
        let written: HashSet<&str> = entries.iter().map(|(k, _, _)| k.as_str()).collect();
        let mut out = Map::new();
        for (key, key_pos, value) in &entries {
            if self.exhausted() {
                return None;
            }
            let (key_pos, value) = (*key_pos, *value);
            let Some(field) = shape.field(key) else {
                if shape.drp_object && crate::schema::DRP_BOOKKEEPING.contains(&key.as_str()) {
                    continue;
                }
                self.error(key_pos, path, unknown_field_message(key, shape));
                ok = false;
                continue;
            };
            let field_path = join(path, field.name);
            match self.decode(value, field.shape, &field_path) {
                Some(Value::Null) if field.required => {
                    let message = format!("`{}` needs a value", field.name);
                    self.error(value.pos, &field_path, message);
                    ok = false;
                }
                Some(Value::Null) => {}
                Some(v) => {
                    out.insert(field.name.to_owned(), v);
                }
                None => ok = false,
            }
        }
        for field in shape.fields.iter().filter(|f| f.required) {
            // A present key with a bad value was reported above; only absent keys count here.
            if !written.contains(field.name) {
                let message = format!("missing required field `{}`", field.name);
                self.error(node.pos, path, message);
                ok = false;
            }
        }
        ok.then_some(Value::Object(out))
    }

    /// The entries of a mapping with scalar keys, and whether all keys were fine: duplicate
    /// and non-scalar keys are reported and left out, so the other entries still get checked.
    fn mapping<'n>(&mut self, node: &'n Node, path: &str) -> Option<(Entries<'n>, bool)> {
        let NodeKind::Map(entries) = &node.kind else {
            let message = format!("expected a mapping, found {}", describe(node));
            self.error(node.pos, path, message);
            return None;
        };
        let mut seen: BTreeMap<&str, Pos> = BTreeMap::new();
        let mut out = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (key, value) in entries {
            let NodeKind::Scalar(k) = &key.kind else {
                let message = format!("keys must be text, found {}", describe(key));
                self.error(key.pos, path, message);
                ok = false;
                continue;
            };
            if let Some(first) = seen.get(k.text.as_str()) {
                let message = format!("duplicate key `{}` (first at line {})", k.text, first.line);
                self.error(key.pos, path, message);
                ok = false;
                continue;
            }
            seen.insert(&k.text, key.pos);
            if k.text.trim().is_empty() {
                self.error(key.pos, path, "keys must not be empty".into());
                ok = false;
                continue;
            }
            out.push((k.text.clone(), key.pos, value));
        }
        Some((out, ok))
    }

    fn scalar(&mut self, node: &Node, path: &str) -> Option<Typed> {
        let NodeKind::Scalar(s) = &node.kind else {
            let message = format!("expected a single value, found {}", describe(node));
            self.error(node.pos, path, message);
            return None;
        };
        match typed(s) {
            Ok(t) => Some(t),
            Err(message) => {
                self.error(node.pos, path, message);
                None
            }
        }
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match self.scalar(node, path)? {
            Typed::Str(s) => Some(s),
            other => {
                let mut message = format!("expected a string, found {}", other.describe());
                if let NodeKind::Scalar(s) = &node.kind {
                    message.push_str(&format!("; quote it to keep it as text: \"{}\"", s.text));
                }
                self.error(node.pos, path, message);
                None
            }
        }
    }

    fn mismatch(
        &mut self,
        node: &Node,
        path: &str,
        expected: &str,
        found: &Typed,
    ) -> Option<Value> {
        let message = format!("expected {expected}, found {}", found.describe());
        self.error(node.pos, path, message);
        None
    }

    fn any(&mut self, node: &Node, path: &str) -> Option<Value> {
        match &node.kind {
            NodeKind::Scalar(_) => match self.scalar(node, path)? {
                Typed::Null => Some(Value::Null),
                Typed::Bool(b) => Some(Value::Bool(b)),
                Typed::Int(n) => Some(Value::Number(Number::from(n))),
                Typed::UInt(n) => Some(Value::Number(Number::from(n))),
                Typed::Float(f) => match Number::from_f64(f) {
                    Some(n) => Some(Value::Number(n)),
                    None => {
                        let message = format!("{f} cannot be represented in JSON");
                        self.error(node.pos, path, message);
                        None
                    }
                },
                Typed::Str(s) => Some(Value::String(s)),
            },
            NodeKind::Seq(_) => self.decode(node, Shape::List(&Shape::Any), path),
            NodeKind::Map(_) => self.decode(node, Shape::Map(&Shape::Any), path),
        }
    }
}

/// The text of a list item's key (`key` field of a mapping item, or the item itself).
fn key_text<'n>(item: &'n Node, key: Option<&str>) -> Option<(&'n str, Pos)> {
    let node = match (key, &item.kind) {
        (None, _) => item,
        (Some(field), NodeKind::Map(entries)) => {
            entries.iter().find_map(|(k, v)| match &k.kind {
                NodeKind::Scalar(s) if s.text == field => Some(v),
                _ => None,
            })?
        }
        _ => return None,
    };
    match &node.kind {
        NodeKind::Scalar(s) if matches!(typed(s), Ok(Typed::Str(_))) => Some((&s.text, node.pos)),
        _ => None,
    }
}

fn resolve_choice(choice: &Choice, text: &str) -> Option<&'static str> {
    choice
        .names
        .iter()
        .copied()
        .find(|n| *n == text)
        .or_else(|| {
            choice
                .aliases
                .iter()
                .find(|(alias, _)| *alias == text)
                .map(|(_, name)| *name)
        })
}

fn choice_message(choice: &Choice, text: &str) -> String {
    let mut message = format!(
        "unknown {} `{text}`, expected {}",
        choice.what,
        one_of(choice.names)
    );
    if !choice.aliases.is_empty() {
        let short: Vec<String> = choice
            .aliases
            .iter()
            .map(|(a, _)| format!("`{a}`"))
            .collect();
        message.push_str(&format!(" (or the short forms {})", short.join(", ")));
    }
    message
}

fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [a, b] => format!("{a} or {b}"),
        _ => format!("one of {}", quoted.join(", ")),
    }
}

fn unknown_field_message(key: &str, shape: &StructShape) -> String {
    let names: Vec<&str> = shape.fields.iter().map(|f| f.name).collect();
    // Lengths more than 2 apart are more than 2 edits apart: skips the quadratic distance
    // for long keys.
    let key_chars = key.chars().count();
    let hint = names
        .iter()
        .find(|n| {
            n.eq_ignore_ascii_case(key)
                || (n.chars().count().abs_diff(key_chars) <= 2 && edit_distance(n, key) <= 2)
        })
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default();
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!(
        "unknown field `{key}`{hint}, expected one of {}",
        quoted.join(", ")
    )
}

/// Levenshtein distance, case-insensitive; fields are short, so the quadratic cost is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn describe(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar(s) => match typed(s) {
            Ok(t) => t.describe(),
            Err(_) => format!("`{}`", s.text),
        },
        NodeKind::Seq(_) => "a list".to_owned(),
        NodeKind::Map(_) => "a mapping".to_owned(),
    }
}

/// A scalar typed by the YAML 1.2 core schema (what serde_yaml 0.9 uses too).
#[derive(Debug, Clone, PartialEq)]
enum Typed {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
}

impl Typed {
    fn describe(&self) -> String {
        match self {
            Self::Null => "an empty value".to_owned(),
            Self::Bool(b) => format!("the boolean {b}"),
            Self::Int(n) => format!("the number {n}"),
            Self::UInt(n) => format!("the number {n}"),
            Self::Float(f) => format!("the number {f}"),
            Self::Str(s) => format!("the string \"{s}\""),
        }
    }
}

fn typed(s: &Scalar) -> Result<Typed, String> {
    match s.tag.as_deref() {
        Some("str") => return Ok(Typed::Str(s.text.clone())),
        None if !s.plain => return Ok(Typed::Str(s.text.clone())),
        None => return Ok(core_schema(&s.text)),
        Some(_) => {}
    }
    let tag = s.tag.as_deref().unwrap_or_default();
    let value = core_schema(&s.text);
    let fits = matches!(
        (tag, &value),
        ("null", Typed::Null)
            | ("bool", Typed::Bool(_))
            | ("int", Typed::Int(_) | Typed::UInt(_))
            | ("float", Typed::Float(_) | Typed::Int(_) | Typed::UInt(_))
    );
    match (tag, value) {
        ("float", Typed::Int(n)) => Ok(Typed::Float(n as f64)),
        ("float", Typed::UInt(n)) => Ok(Typed::Float(n as f64)),
        (_, value) if fits => Ok(value),
        ("null" | "bool" | "int" | "float", _) => {
            Err(format!("`{}` is not a valid `!!{tag}`", s.text))
        }
        _ => Err(format!("unsupported tag `!!{tag}`")),
    }
}

fn core_schema(text: &str) -> Typed {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Typed::Null,
        "true" | "True" | "TRUE" => return Typed::Bool(true),
        "false" | "False" | "FALSE" => return Typed::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Typed::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Typed::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Typed::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(n) = u64::from_str_radix(hex, 16) {
            return Typed::UInt(n);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(n) = u64::from_str_radix(oct, 8) {
            return Typed::UInt(n);
        }
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Typed::Int(n);
        }
        if let Ok(n) = text.trim_start_matches('+').parse::<u64>() {
            return Typed::UInt(n);
        }
        if let Ok(f) = text.parse::<f64>() {
            return Typed::Float(f);
        }
    }
    if is_core_float(unsigned) {
        if let Ok(f) = text.parse::<f64>() {
            return Typed::Float(f);
        }
    }
    Typed::Str(text.to_owned())
}

/// `[0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)?` with at least one digit in the mantissa.
fn is_core_float(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && digits(e)
        }
    };
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema_types_bare_scalars() {
        assert_eq!(core_schema("4.8"), Typed::Float(4.8));
        assert_eq!(core_schema("30"), Typed::Int(30));
        assert_eq!(core_schema("-3"), Typed::Int(-3));
        assert_eq!(core_schema("1e3"), Typed::Float(1000.0));
        assert_eq!(core_schema("0x1f"), Typed::UInt(31));
        assert_eq!(core_schema("True"), Typed::Bool(true));
        assert_eq!(core_schema("~"), Typed::Null);
        assert_eq!(core_schema("yes"), Typed::Str("yes".into()));
        assert_eq!(core_schema("v4.8.0"), Typed::Str("v4.8.0".into()));
        assert_eq!(core_schema("1.2.3"), Typed::Str("1.2.3".into()));
        assert_eq!(core_schema("."), Typed::Str(".".into()));
        assert_eq!(core_schema("e5"), Typed::Str("e5".into()));
    }

    #[test]
    fn edit_distance_finds_typos() {
        assert_eq!(edit_distance("Components", "Componets"), 1);
        assert_eq!(edit_distance("Id", "id"), 0);
        assert!(edit_distance("Files", "Components") > 2);
    }

    /// Regression found by `cargo fuzz` (fuzz/regressions/versionset_yaml/): 8 KB of YAML,
    /// nested 1000-character keys above an alias-expanded list, built ~1 GiB of field paths.
    #[test]
    fn long_keys_above_many_values_are_bounded() {
        let mut text = String::from("Id: a\nGlobal:\n");
        let mut indent = 2;
        for level in 0..8 {
            let key = format!("k{level}{}", "k".repeat(1000));
            text.push_str(&format!("{:indent$}{key}:\n", ""));
            indent += 2;
        }
        text.push_str(&format!(
            "{:indent$}l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n",
            ""
        ));
        for i in 1..4 {
            let items = vec![format!("*l{}", i - 1); 10].join(", ");
            text.push_str(&format!("{:indent$}l{i}: &l{i} [{items}]\n", ""));
        }
        let err = parse_documents("f", &text, None).unwrap_err();
        assert_eq!(err.diagnostics.len(), 1, "{err}");
        assert!(err.to_string().contains("too large to check"), "{err}");
    }

    #[test]
    fn unknown_long_keys_get_no_hint() {
        let key = "x".repeat(5000);
        let err = parse_documents("f", &format!("Id: a\n? {key}\n: 1\n"), None).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn guessing_the_kind_uses_endpoint_only_fields() {
        let docs = parse_documents(
            "f",
            "Id: a\nPrefs: {x: y}\n---\nId: b\nVersionSets: [a]\n",
            None,
        )
        .unwrap();
        let kinds: Vec<_> = docs.iter().map(Document::kind).collect();
        assert_eq!(kinds, [DocumentKind::VersionSet, DocumentKind::Endpoint]);
    }
}
