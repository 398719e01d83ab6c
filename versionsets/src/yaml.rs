//! A YAML tree that remembers where each node was written.
//!
//! serde_yaml reports the position of the first error only and keeps none for parsed values,
//! so reporting every problem of a file with its line and column needs a located tree. It is
//! built from yaml-rust2's marked events; scalars keep their source text and style so the
//! decoder can apply YAML 1.2 core-schema typing itself and say "quote it" when a bare
//! `4.8` lands in a string field.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

use crate::diagnostic::{Diagnostic, Pos};

/// Deeper nesting than this is refused: no VersionSet needs it and it bounds recursion.
const MAX_DEPTH: usize = 64;
/// Bound on nodes created by alias expansion ("billion laughs").
const MAX_NODES: usize = 200_000;
/// Bound on the scalar text alias expansion copies: without it a few aliases of a long
/// string reach `MAX_NODES` copies of it (4 KiB of YAML became ~1 GiB).
const MAX_ALIAS_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    pub text: String,
    /// Plain (bare) scalars are typed by the core schema; quoted and block ones are strings.
    pub plain: bool,
    /// A standard tag's suffix (`str`, `int`, ...); `None` when untagged.
    pub tag: Option<String>,
}

/// Parses every document of `text`. A syntax error stops parsing (later text is unreliable)
/// and is the only diagnostic returned.
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Node>, Diagnostic> {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    // Events are pulled one by one rather than with `Parser::load`, which recurses once per
    // nesting level (block nesting has no limit: 200 KB of `- - - ...` overflowed the stack)
    // and goes on reading after the builder has given up.
    loop {
        let (event, marker) = parser.next_token().map_err(|err| syntax_error(&err))?;
        let end = matches!(event, Event::StreamEnd);
        builder.on_event(event, marker);
        if let Some(err) = builder.error.take() {
            return Err(err);
        }
        if end {
            return Ok(builder.documents);
        }
    }
}

fn syntax_error(err: &ScanError) -> Diagnostic {
    let pos = Pos::from_marker(err.marker());
    // libyaml-style messages about block structure nearly always mean bad indentation.
    let hint = if err.info().contains("while parsing a block") {
        " (check the indentation)"
    } else {
        ""
    };
    Diagnostic::new(pos, format!("YAML syntax error: {}{hint}", err.info()))
}

impl Pos {
    fn from_marker(marker: &Marker) -> Self {
        // yaml-rust2 lines are 1-based, columns 0-based.
        Pos {
            line: marker.line().max(1),
            column: marker.col() + 1,
        }
    }
}

enum Open {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Option<Pos>,
        start: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    documents: Vec<Node>,
    nodes: usize,
    /// Scalar text copied by alias expansion so far.
    alias_bytes: usize,
    error: Option<Diagnostic>,
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = Pos::from_marker(&marker);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = match standard_tag(tag) {
                    Ok(tag) => tag,
                    Err(message) => return self.fail(pos, message),
                };
                let plain = matches!(style, TScalarStyle::Plain);
                let node = Node {
                    pos,
                    kind: NodeKind::Scalar(Scalar { text, plain, tag }),
                };
                self.finish(node, anchor);
            }
            Event::SequenceStart(anchor, tag) => {
                if let Err(message) = standard_tag(tag) {
                    return self.fail(pos, message);
                }
                self.open(
                    pos,
                    Open::Seq {
                        pos,
                        anchor,
                        items: Vec::new(),
                    },
                );
            }
            Event::MappingStart(anchor, tag) => {
                if let Err(message) = standard_tag(tag) {
                    return self.fail(pos, message);
                }
                self.open(
                    pos,
                    Open::Map {
                        pos: None,
                        start: pos,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                    },
                );
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Seq { pos, anchor, items }) => (
                        Node {
                            pos,
                            kind: NodeKind::Seq(items),
                        },
                        anchor,
                    ),
                    Some(Open::Map {
                        pos,
                        start,
                        anchor,
                        entries,
                        ..
                    }) => (
                        Node {
                            // yaml-rust2 marks a block mapping one column past its first key.
                            pos: pos.unwrap_or(start),
                            kind: NodeKind::Map(entries),
                        },
                        anchor,
                    ),
                    None => return,
                };
                self.finish(node, anchor);
            }
            Event::Alias(id) => {
                let Some(anchored) = self.anchors.get(&id) else {
                    return self.fail(pos, "alias refers to an unknown anchor".into());
                };
                // Counted before copying, so a refused expansion costs nothing.
                let Size {
                    nodes,
                    bytes,
                    height,
                } = size(anchored);
                self.nodes += nodes;
                self.alias_bytes += bytes;
                // Each alias of a deep anchor nests deeper still: bound the tree, not just
                // the text, or decoding it recurses without limit.
                if self.stack.len() + height > MAX_DEPTH + 1 {
                    let message =
                        format!("nesting deeper than {MAX_DEPTH} levels (through an alias)");
                    return self.fail(pos, message);
                }
                if self.nodes > MAX_NODES {
                    return self.fail(pos, "too many nodes after expanding aliases".into());
                }
                if self.alias_bytes > MAX_ALIAS_BYTES {
                    let message = format!(
                        "aliases expand to more than {} MiB of text",
                        MAX_ALIAS_BYTES >> 20
                    );
                    return self.fail(pos, message);
                }
                let mut node = anchored.clone();
                node.pos = pos;
                self.finish(node, 0);
            }
            // Anchors belong to their document (`Parser::load` forgot them between documents
            // too), so an alias to an earlier document's anchor is unknown.
            Event::DocumentStart => self.anchors.clear(),
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
}

impl TreeBuilder {
    fn fail(&mut self, pos: Pos, message: String) {
        self.error = Some(Diagnostic::new(pos, message));
    }

    fn open(&mut self, pos: Pos, open: Open) {
        if self.stack.len() >= MAX_DEPTH {
            return self.fail(pos, format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        self.stack.push(open);
    }

    /// Attaches a completed node to its parent, or ends the document.
    fn finish(&mut self, node: Node, anchor: usize) {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return self.fail(node.pos, "too many nodes".into());
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map {
                pos,
                start,
                entries,
                key,
                ..
            }) => match key.take() {
                None => {
                    if pos.is_none() {
                        // A flow mapping starts at its `{`, a block one at its first key.
                        *pos = Some(node.pos.min(*start));
                    }
                    *key = Some(node);
                }
                Some(k) => {
                    // An empty value (`key:`) is marked at the next token; the key is clearer.
                    let mut node = node;
                    if matches!(&node.kind, NodeKind::Scalar(s) if s.plain && s.text.is_empty()) {
                        node.pos = k.pos;
                    }
                    entries.push((k, node))
                }
            },
        }
    }
}

impl Node {
    /// A tree for a JSON value, so models that arrived as JSON go through the same checks.
    /// Every node sits at the start: JSON bodies have no useful positions here.
    pub(crate) fn from_json(value: &serde_json::Value) -> Node {
        use serde_json::Value;
        let scalar = |text: String, plain: bool| {
            NodeKind::Scalar(Scalar {
                text,
                plain,
                tag: None,
            })
        };
        let kind = match value {
            Value::Null => scalar(String::new(), true),
            Value::Bool(b) => scalar(b.to_string(), true),
            Value::Number(n) => scalar(n.to_string(), true),
            Value::String(s) => scalar(s.clone(), false),
            Value::Array(items) => NodeKind::Seq(items.iter().map(Node::from_json).collect()),
            Value::Object(map) => NodeKind::Map(
                map.iter()
                    .map(|(k, v)| {
                        let key = Node {
                            pos: Pos::START,
                            kind: scalar(k.clone(), false),
                        };
                        (key, Node::from_json(v))
                    })
                    .collect(),
            ),
        };
        Node {
            pos: Pos::START,
            kind,
        }
    }
}

/// Accepts the YAML standard tags (`!!str`, `!!int`, ...) and refuses application tags, which
/// nothing in a VersionSet gives a meaning to.
fn standard_tag(tag: Option<Tag>) -> Result<Option<String>, String> {
    match tag {
        None => Ok(None),
        Some(tag) if tag.handle == "tag:yaml.org,2002:" => Ok(Some(tag.suffix)),
        Some(tag) if tag.handle == "!" && tag.suffix.is_empty() => Ok(None),
        Some(tag) => Err(format!(
            "unsupported tag `{}{}`",
            if tag.handle == "tag:yaml.org,2002:" {
                "!!"
            } else {
                &tag.handle
            },
            tag.suffix
        )),
    }
}

/// What copying a tree for an alias costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Size {
    nodes: usize,
    /// Scalar text, keys included.
    bytes: usize,
    /// Levels: 1 for a scalar.
    height: usize,
}

impl Size {
    fn and(self, other: Size) -> Size {
        Size {
            nodes: self.nodes + other.nodes,
            bytes: self.bytes + other.bytes,
            height: self.height.max(other.height),
        }
    }
}

fn size(node: &Node) -> Size {
    let children = match &node.kind {
        NodeKind::Scalar(s) => {
            return Size {
                nodes: 1,
                bytes: s.text.len(),
                height: 1,
            }
        }
        NodeKind::Seq(items) => items.iter().map(size).fold(Size::default(), Size::and),
        NodeKind::Map(entries) => entries
            .iter()
            .map(|(k, v)| size(k).and(size(v)))
            .fold(Size::default(), Size::and),
    };
    Size {
        nodes: children.nodes + 1,
        bytes: children.bytes,
        height: children.height + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar_at(node: &Node, key: &str) -> Option<Pos> {
        match &node.kind {
            NodeKind::Map(entries) => entries.iter().find_map(|(k, v)| match &k.kind {
                NodeKind::Scalar(s) if s.text == key => Some(v.pos),
                _ => None,
            }),
            _ => None,
        }
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let docs = parse_documents("# comment\nId: a\nPrefs: {x: \"1\"}\n").unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].pos, Pos { line: 2, column: 1 });
        assert_eq!(scalar_at(&docs[0], "Id"), Some(Pos { line: 2, column: 5 }));
        assert_eq!(
            scalar_at(&docs[0], "Prefs"),
            Some(Pos { line: 3, column: 8 })
        );
    }

    #[test]
    fn several_documents_and_aliases() {
        let docs = parse_documents("a: &x [1]\nb: *x\n---\nc: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(scalar_at(&docs[0], "b"), Some(Pos { line: 2, column: 4 }));
    }

    #[test]
    fn syntax_error_has_its_position() {
        let err = parse_documents("a: b: c\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "1:5: YAML syntax error: mapping values are not allowed in this context"
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(500) + &"]".repeat(500);
        assert!(parse_documents(&text).is_err());
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = parse_documents(&text).unwrap_err();
        assert!(err.message.contains("too many nodes"), "{err}");
    }

    // Regressions found by `cargo fuzz` (fuzz/regressions/versionset_yaml/).

    #[test]
    fn deep_block_nesting_is_refused_not_overflowed() {
        // `Parser::load` recursed once per level: 200 KB of this overflowed the stack.
        let text = "- ".repeat(200_000) + "x\n";
        let err = parse_documents(&text).unwrap_err();
        assert!(
            err.message.contains("nesting deeper than 64 levels"),
            "{err}"
        );
    }

    #[test]
    fn aliases_of_long_text_are_bounded() {
        // 4 KB that expanded to ~1 GiB: 11 110 copies of a 4000-byte string.
        let mut text = format!("s: &s {}\n", "v".repeat(4000));
        text.push_str("l0: &l0 [*s, *s, *s, *s, *s, *s, *s, *s, *s, *s]\n");
        for i in 1..5 {
            let prev = format!("*l{}", i - 1);
            text.push_str(&format!("l{i}: &l{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let err = parse_documents(&text).unwrap_err();
        assert!(err.message.contains("MiB of text"), "{err}");
    }

    #[test]
    fn aliases_cannot_nest_past_the_depth_limit() {
        let (open, close) = ("[".repeat(40), "]".repeat(40));
        let text = format!("a0: &a0 {open}x{close}\na1: &a1 {open}*a0{close}\n");
        let err = parse_documents(&text).unwrap_err();
        assert!(err.message.contains("through an alias"), "{err}");
    }

    #[test]
    fn anchors_belong_to_their_document() {
        let err = parse_documents("a: &x 1\n---\nb: *x\n").unwrap_err();
        assert!(err.message.contains("unknown anchor"), "{err}");
    }
}
