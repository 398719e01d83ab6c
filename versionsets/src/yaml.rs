//! A YAML tree that remembers where each node was written.
//!
//! serde_yaml reports the position of the first error only and keeps none for parsed values,
//! so reporting every problem of a file with its line and column needs a located tree. It is
//! built from yaml-rust2's marked events; scalars keep their source text and style so the
//! decoder can apply YAML 1.2 core-schema typing itself and say "quote it" when a bare
//! `4.8` lands in a string field.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::{Diagnostic, Pos};

/// Deeper nesting than this is refused: no VersionSet needs it and it bounds recursion.
const MAX_DEPTH: usize = 64;
/// Bound on nodes created by alias expansion ("billion laughs").
const MAX_NODES: usize = 200_000;

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
    if let Err(err) = parser.load(&mut builder, true) {
        let pos = Pos::from_marker(err.marker());
        // libyaml-style messages about block structure nearly always mean bad indentation.
        let hint = if err.info().contains("while parsing a block") {
            " (check the indentation)"
        } else {
            ""
        };
        let message = format!("YAML syntax error: {}{hint}", err.info());
        return Err(Diagnostic::new(pos, message));
    }
    match builder.error {
        Some(err) => Err(err),
        None => Ok(builder.documents),
    }
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
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    self.nodes += count_nodes(&node);
                    if self.nodes > MAX_NODES {
                        return self.fail(pos, "too many nodes after expanding aliases".into());
                    }
                    node.pos = pos;
                    self.finish(node, 0);
                }
                None => self.fail(pos, "alias refers to an unknown anchor".into()),
            },
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => {}
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

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar(_) => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
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
}
