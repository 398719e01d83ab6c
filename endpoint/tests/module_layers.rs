//! The endpoint's top-level modules form layers, not a circle: an HTTP change must not be
//! able to reach (or recompile into) the consensus layer through a back edge.
//!
//! Walks `endpoint/src`, collects every `crate::<module>` reference per top-level module
//! (outside comments, `#[cfg(test)]` items and test files), prints the graph, and fails
//! naming any cycle it finds (Tarjan's strongly connected components). The layers are
//! described in `endpoint/src/lib.rs`.
//!
//! Run: `cargo test -p endpoint --test module_layers -- --nocapture`

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Files that are the crate roots or binaries, not modules of the library.
const NOT_MODULES: [&str; 3] = ["lib", "main", "bin"];

#[test]
fn top_level_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(
        graph.len() > 10,
        "expected the endpoint's modules under {}, found {graph:?}",
        src.display()
    );
    println!("top-level module graph of {}:", src.display());
    for (module, uses) in &graph {
        let uses: Vec<&str> = uses.iter().map(String::as_str).collect();
        println!("  {module} -> {}", uses.join(", "));
    }
    let cycles = cycles(&graph);
    for cycle in &cycles {
        println!("CYCLE: {}", describe(&graph, cycle));
    }
    assert!(
        cycles.is_empty(),
        "the top-level modules of endpoint/src import each other in a circle: {}",
        cycles
            .iter()
            .map(|c| describe(&graph, c))
            .collect::<Vec<_>>()
            .join(" | ")
    );
}

/// The checker itself: a planted back edge is found, a clean layering passes, and references
/// in comments, strings and `#[cfg(test)]` items do not count.
#[test]
fn checker_finds_a_planted_cycle_and_ignores_test_code() {
    fn add(graph: &mut Graph, from: &str, to: &str) {
        graph
            .entry(from.to_string())
            .or_default()
            .insert(to.to_string());
    }
    let mut graph = Graph::new();
    add(&mut graph, "api", "node");
    add(&mut graph, "node", "raft");
    add(&mut graph, "raft", "store");
    assert!(cycles(&graph).is_empty());
    add(&mut graph, "store", "node");
    let found = cycles(&graph);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0],
        vec!["node".to_string(), "raft".to_string(), "store".to_string()]
    );
    assert_eq!(describe(&graph, &found[0]), "node -> raft -> store -> node");

    let source = r#"
        //! Uses `crate::api` in a doc comment only.
        use crate::store::ObjectStore;
        use crate::{model, events::Bus};
        fn f() { let s = "crate::serve"; let c = '{'; let l: &'static str = s; }
        /* crate::boot in a block comment */
        #[cfg(test)]
        mod tests {
            use crate::api::error::ApiError;
            fn g() { if true { crate::serve::run(); } }
        }
        #[cfg(test)]
        use crate::tls;
        fn h() -> u64 { crate::clock::now_ms() }
    "#;
    let refs = references(source);
    let expected: BTreeSet<String> = ["store", "model", "events", "clock"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(refs, expected);
}

/// `crate::<top>` references of each top-level module of `src`.
fn module_graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).unwrap_or(&file);
        let Some(top) = rel.components().next() else {
            continue;
        };
        let top = top.as_os_str().to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if NOT_MODULES.contains(&top.as_str()) || is_test_file(rel) {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let uses = graph.entry(top.clone()).or_default();
        for target in references(&text) {
            if target != top {
                uses.insert(target);
            }
        }
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Unit-test files (`tests.rs`, or anything under a `tests/` folder) are test code.
fn is_test_file(rel: &Path) -> bool {
    rel.components()
        .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "tests.rs")
}

/// The top-level modules `source` names as `crate::<top>` or in `crate::{a, b::c}`.
fn references(source: &str) -> BTreeSet<String> {
    let code = without_test_items(&code_only(source));
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `$crate::` or `other_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = ident(item.trim_start());
                if !name.is_empty() && name != "self" {
                    found.insert(name.to_string());
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name.to_string());
            }
        }
    }
    found
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// `source` with comments removed and string and char literals blanked (so neither a
/// `crate::` nor a brace inside them counts).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && matches!(next, Some('"') | Some('#')) && is_raw_string(&chars, i) {
            i = skip_raw_string(&chars, i);
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            match char_literal_end(&chars, i) {
                Some(end) => {
                    i = end;
                    out.push_str("' '");
                }
                None => {
                    out.push(c); // a lifetime
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_raw_string(chars: &[char], at: usize) -> bool {
    let before = at.checked_sub(1).map(|b| chars[b]);
    if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
        return false; // an identifier ending in `r`
    }
    let mut i = at + 1;
    while chars.get(i) == Some(&'#') {
        i += 1;
    }
    chars.get(i) == Some(&'"')
}

fn skip_raw_string(chars: &[char], at: usize) -> usize {
    let mut i = at + 1;
    let mut hashes = 0;
    while chars.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1; // the opening quote
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// The index after a char literal starting at `at` (`'x'`, `'\n'`, `'\u{..}'`), or None for
/// a lifetime.
fn char_literal_end(chars: &[char], at: usize) -> Option<usize> {
    match chars.get(at + 1)? {
        '\\' => {
            let close = (at + 3..chars.len().min(at + 14)).find(|&k| chars[k] == '\'')?;
            Some(close + 1)
        }
        _ => (chars.get(at + 2) == Some(&'\'')).then_some(at + 3),
    }
}

/// `code` without the items `#[cfg(test)]` marks (a `mod tests { .. }`, a `use`, a fn).
fn without_test_items(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let item = &rest[at + MARK.len()..];
        rest = &item[item_len(item)..];
    }
    out.push_str(rest);
    out
}

/// The length of the item at the start of `s`: up to its `;`, or its balanced `{ .. }`.
fn item_len(s: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            ';' if depth == 0 => return i + 1,
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// Each strongly connected component with more than one module, sorted (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low[v].min(lw);
                    self.low.insert(v, lv);
                } else if self.on_stack.contains(w) {
                    let lv = self.low[v].min(self.index[w]);
                    self.low.insert(v, lv);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.found
}

/// A strongly connected component as the shortest circle through each of its modules,
/// e.g. `raft -> upgrade -> node -> raft; api -> limits -> api`: each names edges to cut.
fn describe(graph: &Graph, component: &[String]) -> String {
    let members: BTreeSet<&str> = component.iter().map(String::as_str).collect();
    let mut circles: Vec<Vec<&str>> = Vec::new();
    for start in &members {
        let Some(circle) = shortest_circle(graph, &members, start) else {
            continue;
        };
        let mut seen = circle.clone();
        seen.sort();
        if !circles.iter().any(|c| {
            let mut other = c.clone();
            other.sort();
            other == seen
        }) {
            circles.push(circle);
        }
    }
    circles
        .iter()
        .map(|c| format!("{} -> {}", c.join(" -> "), c[0]))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The shortest path from `start` back to itself inside `members` (breadth first).
fn shortest_circle<'a>(
    graph: &'a Graph,
    members: &BTreeSet<&'a str>,
    start: &'a str,
) -> Option<Vec<&'a str>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        for next in graph.get(at).into_iter().flatten() {
            let next = next.as_str();
            if !members.contains(next) {
                continue;
            }
            if next == start {
                let mut path = vec![at];
                while let Some(&prev) = came_from.get(path[path.len() - 1]) {
                    path.push(prev);
                }
                path.reverse();
                return Some(path);
            }
            if next != start && !came_from.contains_key(next) {
                came_from.insert(next, at);
                queue.push_back(next);
            }
        }
    }
    None
}
