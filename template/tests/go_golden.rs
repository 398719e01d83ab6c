//! Differential check against Go itself: `golden/cases.json` was run through Go's own
//! `text/template` by `golden/oracle.go` (see there), which recorded Go's output, or that Go
//! refused the template at parse or at execution, in `golden/go-text-template.json`. This
//! engine must print exactly what Go printed and refuse what Go refused, at the same stage.

use serde_json::Value;
use template::{render_json, NoTemplates, Template};

/// Where this engine differs from Go on purpose (see README "Templates").
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "eq-float-int",
        "ints and floats compare by value: JSON gives float64 where DRP's Go structs hold ints",
    ),
    ("lt-mixed", "the same, for lt"),
    (
        "index-float",
        "a whole float indexes (index, slice): DRP's int fields such as CurrentTask arrive as JSON numbers",
    ),
    ("imaginary", "complex constants are not supported (Go prints (0+1i))"),
    ("slice", "DRP's function map replaces Go's slice with sprig's: lists only"),
    ("b2-slice-str-full", "the same: sprig's slice refuses strings"),
];

fn load(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/");
    let text =
        std::fs::read_to_string(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn outputs_match_go_text_template() {
    let cases = load("cases.json");
    let golden = load("go-text-template.json");
    let cases = cases.as_array().expect("cases.json is a list");
    let results = golden["results"].as_array().expect("results");
    assert_eq!(
        cases.len(),
        results.len(),
        "regenerate go-text-template.json (see oracle.go)"
    );

    let mut mismatches = Vec::new();
    let mut agreed = 0;
    for (case, want) in cases.iter().zip(results) {
        let name = case["name"].as_str().unwrap_or_default();
        assert_eq!(
            want["name"].as_str(),
            Some(name),
            "golden file out of order"
        );
        let src = case["template"].as_str().unwrap_or_default();
        let parsed = Template::parse("t", src).map(|t| match case["option"].as_str() {
            Some("missingkey=error") => t.with_missing_key_error(),
            _ => t,
        });
        let got = match parsed {
            Err(e) => ("parse", e.to_string()),
            Ok(t) => match render_json(&t, &case["data"], &NoTemplates) {
                Err(e) => ("exec", e.to_string()),
                Ok(out) => ("", out),
            },
        };
        let want_stage = want["error"].as_str().unwrap_or("");
        let ok = match want_stage {
            "" => got.0.is_empty() && want["output"].as_str().unwrap_or("") == got.1,
            stage => got.0 == stage,
        };
        if ok {
            agreed += 1;
        } else if !KNOWN_DIFFERENCES.iter().any(|(n, _)| *n == name) {
            mismatches.push(format!(
                "{name}: {src:?}\n   go:   {} {:?}\n   ours: {} {:?}",
                if want_stage.is_empty() {
                    "ok"
                } else {
                    want_stage
                },
                want["output"]
                    .as_str()
                    .or(want["message"].as_str())
                    .unwrap_or(""),
                if got.0.is_empty() { "ok" } else { got.0 },
                got.1
            ));
        }
    }
    println!(
        "go text/template ({}): {agreed}/{} cases agree, {} known differences",
        golden["go"].as_str().unwrap_or("?"),
        cases.len(),
        KNOWN_DIFFERENCES.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} differ from Go:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
