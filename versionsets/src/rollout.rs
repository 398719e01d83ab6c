//! Progressive rollouts (`rollouts/*.yaml`): waves of endpoints selected by label, each
//! applied at most `MaxParallel` at a time, with a health gate between waves.
//!
//! The schema is small and fixed, so it is decoded straight from the located YAML tree:
//! every problem (an unknown field, a wrong type, a wave that selects nothing) keeps the
//! line and column of the node it concerns.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, ParseError, Pos};
use crate::model::Endpoint;
use crate::yaml::{self, Node, NodeKind};

/// The gate's settle time when a file does not say.
pub const DEFAULT_SETTLE_SECONDS: u64 = 10;
/// Bound on `SettleSeconds` (a day): a larger value is a typo, not a policy.
const MAX_SETTLE_SECONDS: u64 = 86_400;

/// A progressive rollout: the waves in order and the gate between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// The rollout's name.
    #[serde(rename = "Id")]
    pub id: String,
    /// Applied in order; an endpoint belongs to the first wave that selects it.
    #[serde(rename = "Waves")]
    pub waves: Vec<Wave>,
    /// The health gate a wave must pass before the next one starts.
    #[serde(rename = "Gate")]
    pub gate: Gate,
}

/// One wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wave {
    /// Unique within the rollout.
    #[serde(rename = "Name")]
    pub name: String,
    /// Labels an endpoint's `Meta` must all carry with these values; empty selects every
    /// endpoint no earlier wave took ("the rest").
    #[serde(rename = "Selector", default)]
    pub selector: BTreeMap<String, String>,
    /// How many of the wave's endpoints may be applying at once.
    #[serde(rename = "MaxParallel")]
    pub max_parallel: usize,
}

/// The health gate between waves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    /// Off: the next wave starts as soon as the previous one has applied.
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    /// How long every check must hold without a break before the next wave starts.
    #[serde(rename = "SettleSeconds")]
    pub settle_seconds: u64,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            enabled: true,
            settle_seconds: DEFAULT_SETTLE_SECONDS,
        }
    }
}

impl Wave {
    /// Whether `ep`'s labels satisfy this wave's selector.
    pub fn selects(&self, ep: &Endpoint) -> bool {
        self.selector
            .iter()
            .all(|(k, v)| ep.meta.get(k).is_some_and(|have| have == v))
    }
}

impl Rollout {
    /// The endpoint ids of each wave, in wave order: each endpoint in the first wave that
    /// selects it. Endpoints no wave selects are not governed by the rollout.
    pub fn assign<'e>(
        &self,
        endpoints: impl IntoIterator<Item = &'e Endpoint>,
    ) -> Vec<Vec<String>> {
        let mut waves = vec![Vec::new(); self.waves.len()];
        for ep in endpoints {
            if let Some(i) = self.waves.iter().position(|w| w.selects(ep)) {
                waves[i].push(ep.id.clone());
            }
        }
        for w in &mut waves {
            w.sort();
        }
        waves
    }
}

/// A parsed rollout and where each wave was written (to place later checks).
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutDoc {
    /// The rollout.
    pub rollout: Rollout,
    /// Where the file says it.
    pub pos: Pos,
    /// Each wave's `Selector` (or, without one, the wave itself), in wave order.
    pub wave_pos: Vec<Pos>,
}

/// Parses one rollout file: `None` for a file with no document (only comments).
pub fn parse_rollout(origin: &str, text: &str) -> Result<Option<RolloutDoc>, ParseError> {
    let fail = |diagnostics| ParseError {
        origin: origin.to_owned(),
        diagnostics,
    };
    let roots = yaml::parse_documents(text).map_err(|d| fail(vec![d]))?;
    let roots: Vec<&Node> = roots.iter().filter(|n| !is_null(n)).collect();
    let Some(root) = roots.first() else {
        return Ok(None);
    };
    let mut d = Vec::new();
    if let Some(extra) = roots.get(1) {
        d.push(Diagnostic::new(
            extra.pos,
            "a rollout file holds one Rollout document",
        ));
    }
    let doc = decode_rollout(root, &mut d);
    if !d.is_empty() {
        d.sort();
        return Err(fail(d));
    }
    Ok(doc)
}

/// Problems with waves that select no endpoint of `endpoints` (after earlier waves took
/// theirs): such a wave would never run, which is nearly always a mistyped label.
pub fn check_selectors<'e>(
    origin: &str,
    doc: &RolloutDoc,
    endpoints: impl IntoIterator<Item = &'e Endpoint>,
) -> Result<(), ParseError> {
    let waves = doc.rollout.assign(endpoints);
    let diagnostics: Vec<Diagnostic> = waves
        .iter()
        .zip(&doc.rollout.waves)
        .zip(&doc.wave_pos)
        .filter(|((members, _), _)| members.is_empty())
        .map(|((_, w), pos)| {
            Diagnostic::new(
                *pos,
                format!(
                    "Waves `{}`: the selector {} selects no endpoint (none left after earlier waves)",
                    w.name,
                    selector_text(&w.selector)
                ),
            )
        })
        .collect();
    if diagnostics.is_empty() {
        return Ok(());
    }
    Err(ParseError {
        origin: origin.to_owned(),
        diagnostics,
    })
}

fn selector_text(s: &BTreeMap<String, String>) -> String {
    if s.is_empty() {
        return "{} (the rest)".into();
    }
    let parts: Vec<String> = s.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", parts.join(", "))
}

fn is_null(n: &Node) -> bool {
    matches!(&n.kind, NodeKind::Scalar(s) if s.plain && matches!(s.text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
}

/// The map's entries as (key text, key position, value), problems for non-text keys and
/// fields not in `known`.
fn fields<'n>(
    node: &'n Node,
    what: &str,
    known: &[&str],
    d: &mut Vec<Diagnostic>,
) -> Option<Vec<(&'n str, &'n Node)>> {
    let NodeKind::Map(entries) = &node.kind else {
        d.push(Diagnostic::new(node.pos, format!("{what}: expected a map")));
        return None;
    };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (k, v) in entries {
        let NodeKind::Scalar(key) = &k.kind else {
            d.push(Diagnostic::new(
                k.pos,
                format!("{what}: a key must be text"),
            ));
            continue;
        };
        if !known.contains(&key.text.as_str()) {
            d.push(Diagnostic::new(
                k.pos,
                format!(
                    "{what}: unknown field `{}`, expected one of {}",
                    key.text,
                    known.join(", ")
                ),
            ));
            continue;
        }
        if !seen.insert(key.text.as_str()) {
            d.push(Diagnostic::new(
                k.pos,
                format!("{what}: field `{}` given twice", key.text),
            ));
            continue;
        }
        out.push((key.text.as_str(), v));
    }
    Some(out)
}

fn text(node: &Node, what: &str, d: &mut Vec<Diagnostic>) -> Option<String> {
    match &node.kind {
        NodeKind::Scalar(s) if !is_null(node) => Some(s.text.clone()),
        _ => {
            d.push(Diagnostic::new(node.pos, format!("{what}: expected text")));
            None
        }
    }
}

fn number(node: &Node, what: &str, max: u64, d: &mut Vec<Diagnostic>) -> Option<u64> {
    let parsed = match &node.kind {
        NodeKind::Scalar(s) if s.plain => s.text.parse::<u64>().ok(),
        _ => None,
    };
    match parsed {
        Some(n) if n <= max => Some(n),
        _ => {
            d.push(Diagnostic::new(
                node.pos,
                format!("{what}: expected a whole number from 0 to {max}"),
            ));
            None
        }
    }
}

fn boolean(node: &Node, what: &str, d: &mut Vec<Diagnostic>) -> Option<bool> {
    match &node.kind {
        NodeKind::Scalar(s) if s.plain && matches!(s.text.as_str(), "true" | "True" | "TRUE") => {
            Some(true)
        }
        NodeKind::Scalar(s)
            if s.plain && matches!(s.text.as_str(), "false" | "False" | "FALSE") =>
        {
            Some(false)
        }
        _ => {
            d.push(Diagnostic::new(
                node.pos,
                format!("{what}: expected true or false"),
            ));
            None
        }
    }
}

fn decode_rollout(root: &Node, d: &mut Vec<Diagnostic>) -> Option<RolloutDoc> {
    let entries = fields(root, "Rollout", &["Id", "Description", "Waves", "Gate"], d)?;
    let mut id = None;
    let mut waves = None;
    let mut gate = Some(Gate::default());
    for (key, v) in entries {
        match key {
            "Id" => id = text(v, "Id", d),
            "Waves" => waves = decode_waves(v, d),
            "Gate" => gate = decode_gate(v, d),
            _ => {} // Description: free text, not acted on
        }
    }
    let Some(id) = id else {
        if !d.iter().any(|p| p.message.starts_with("Id:")) {
            d.push(Diagnostic::new(root.pos, "Rollout: `Id` is required"));
        }
        return None;
    };
    let (waves, wave_pos) = match waves {
        Some(w) => w,
        None => {
            if !d.iter().any(|p| p.message.starts_with("Waves")) {
                d.push(Diagnostic::new(root.pos, "Rollout: `Waves` is required"));
            }
            return None;
        }
    };
    Some(RolloutDoc {
        rollout: Rollout {
            id,
            waves,
            gate: gate?,
        },
        pos: root.pos,
        wave_pos,
    })
}

fn decode_waves(node: &Node, d: &mut Vec<Diagnostic>) -> Option<(Vec<Wave>, Vec<Pos>)> {
    let NodeKind::Seq(items) = &node.kind else {
        d.push(Diagnostic::new(node.pos, "Waves: expected a list of waves"));
        return None;
    };
    if items.is_empty() {
        d.push(Diagnostic::new(
            node.pos,
            "Waves: at least one wave is needed",
        ));
        return None;
    }
    let mut waves = Vec::new();
    let mut positions = Vec::new();
    let mut names: BTreeMap<String, Pos> = BTreeMap::new();
    let before = d.len();
    for (i, item) in items.iter().enumerate() {
        let Some((wave, pos)) = decode_wave(item, i, d) else {
            continue;
        };
        if let Some(first) = names.get(&wave.name) {
            d.push(Diagnostic::new(
                item.pos,
                format!(
                    "Waves[{i}].Name: `{}` is already the name of the wave at line {}",
                    wave.name, first.line
                ),
            ));
        }
        names.insert(wave.name.clone(), item.pos);
        waves.push(wave);
        positions.push(pos);
    }
    (d.len() == before).then_some((waves, positions))
}

fn decode_wave(node: &Node, i: usize, d: &mut Vec<Diagnostic>) -> Option<(Wave, Pos)> {
    let what = format!("Waves[{i}]");
    let entries = fields(node, &what, &["Name", "Selector", "MaxParallel"], d)?;
    let mut name = None;
    let mut selector = BTreeMap::new();
    let mut pos = node.pos;
    let mut max_parallel = 1;
    for (key, v) in entries {
        match key {
            "Name" => name = text(v, &format!("{what}.Name"), d),
            "Selector" => {
                pos = v.pos;
                selector = labels(v, &format!("{what}.Selector"), d);
            }
            _ => {
                let n = number(v, &format!("{what}.MaxParallel"), 1_000, d)?;
                if n == 0 {
                    d.push(Diagnostic::new(
                        v.pos,
                        format!("{what}.MaxParallel: must be at least 1"),
                    ));
                }
                max_parallel = n.max(1) as usize;
            }
        }
    }
    let Some(name) = name else {
        d.push(Diagnostic::new(
            node.pos,
            format!("{what}: `Name` is required"),
        ));
        return None;
    };
    Some((
        Wave {
            name,
            selector,
            max_parallel,
        },
        pos,
    ))
}

/// A selector: a map of label to text value.
fn labels(node: &Node, what: &str, d: &mut Vec<Diagnostic>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if is_null(node) {
        return out;
    }
    let NodeKind::Map(entries) = &node.kind else {
        d.push(Diagnostic::new(
            node.pos,
            format!("{what}: expected a map of label: value"),
        ));
        return out;
    };
    for (k, v) in entries {
        let Some(key) = text(k, what, d) else {
            continue;
        };
        if let Some(value) = text(v, &format!("{what}.{key}"), d) {
            if out.insert(key.clone(), value).is_some() {
                d.push(Diagnostic::new(
                    k.pos,
                    format!("{what}: label `{key}` given twice"),
                ));
            }
        }
    }
    out
}

fn decode_gate(node: &Node, d: &mut Vec<Diagnostic>) -> Option<Gate> {
    let entries = fields(node, "Gate", &["Enabled", "SettleSeconds"], d)?;
    let mut gate = Gate::default();
    for (key, v) in entries {
        match key {
            "Enabled" => gate.enabled = boolean(v, "Gate.Enabled", d)?,
            _ => gate.settle_seconds = number(v, "Gate.SettleSeconds", MAX_SETTLE_SECONDS, d)?,
        }
    }
    Some(gate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(id: &str, ring: &str) -> Endpoint {
        Endpoint {
            id: id.into(),
            meta: [("ring".to_owned(), ring.to_owned())].into(),
            ..Endpoint::default()
        }
    }

    const GOOD: &str = "Id: r\nWaves:\n  - Name: canary\n    Selector: {ring: canary}\n  - Name: rest\n    MaxParallel: 2\nGate:\n  SettleSeconds: 3\n";

    #[test]
    fn waves_take_their_endpoints_in_order() {
        let doc = parse_rollout("r.yaml", GOOD).unwrap().unwrap();
        assert_eq!(doc.rollout.waves[1].max_parallel, 2);
        assert_eq!(doc.rollout.gate.settle_seconds, 3);
        assert!(doc.rollout.gate.enabled);
        let eps = [ep("a", "canary"), ep("b", "main"), ep("c", "main")];
        assert_eq!(
            doc.rollout.assign(&eps),
            vec![vec!["a".to_owned()], vec!["b".to_owned(), "c".to_owned()]]
        );
        check_selectors("r.yaml", &doc, &eps).unwrap();
    }

    #[test]
    fn an_unknown_field_is_placed() {
        let text = "Id: r\nWaves:\n  - Name: canary\n    Selectr: {ring: canary}\n";
        let err = parse_rollout("r.yaml", text).unwrap_err();
        assert_eq!(
            err.lines(),
            vec!["r.yaml:4:5: Waves[0]: unknown field `Selectr`, expected one of Name, Selector, MaxParallel".to_owned()]
        );
    }

    #[test]
    fn a_selector_that_selects_nothing_is_placed() {
        let doc = parse_rollout("r.yaml", GOOD).unwrap().unwrap();
        let err = check_selectors("r.yaml", &doc, &[ep("b", "main")]).unwrap_err();
        assert_eq!(err.diagnostics.len(), 1, "{err}");
        assert!(
            err.lines()[0].starts_with("r.yaml:4:15: Waves `canary`"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_all_reported() {
        let text = "Id: r\nWaves:\n  - Name: a\n    MaxParallel: 0\n  - Name: a\nGate:\n  Enabled: maybe\n";
        let err = parse_rollout("r.yaml", text).unwrap_err();
        let lines = err.lines().join("\n");
        assert!(
            lines.contains("r.yaml:4:18: Waves[0].MaxParallel"),
            "{lines}"
        );
        assert!(lines.contains("r.yaml:5:5: Waves[1].Name"), "{lines}");
        assert!(lines.contains("r.yaml:7:12: Gate.Enabled"), "{lines}");
    }
}
