//! The Go text/template engine (`template` crate): `Template::parse` of any text (what a
//! template create/update or a task's inline `Contents` submits), then a render of every
//! template that parses, against plain JSON and against DRP's render data.
//!
//! Checks: no panic, hang or unbounded memory on any text; a parse error points inside the
//! text (1-based line and column within it); a render stays under the output bound.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use template::drp::DrpContext;
use template::{render, render_json, NoTemplates, Template, MAX_OUTPUT_BYTES};

fuzz_target!(|data: &[u8]| {
    // Templates arrive as JSON/YAML strings, so always UTF-8.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let tmpl = match Template::parse("fuzz", text) {
        Ok(t) => t,
        Err(e) => {
            let lines = text.split('\n').count();
            assert!(
                e.line >= 1 && e.line <= lines,
                "line {} outside 1..={lines}",
                e.line
            );
            assert!(e.column >= 1, "column {}", e.column);
            return;
        }
    };
    let plain = json!({"a": [1, "x", {"b": null}], "m": {"k": "v"}, "n": 1.5, "s": "str"});
    if let Ok(out) = render_json(&tmpl, &plain, &NoTemplates) {
        assert!(out.len() <= MAX_OUTPUT_BYTES);
    }
    let ctx = DrpContext {
        machine: Some(json!({"Name": "m.example", "Uuid": "u-1", "Address": "10.0.0.2"})),
        env: Some(json!({"Name": "x-install", "OS": {"Name": "centos-7"}})),
        param_layers: vec![json!({"p": "{{.Machine.Name}}", "l": [1, 2]})
            .as_object()
            .cloned()
            .unwrap_or_default()],
        ..Default::default()
    };
    // The template can call itself by name: recursion must stop at the depth bound.
    let own: std::collections::BTreeMap<String, Arc<Template>> =
        [("fuzz".to_string(), Arc::new(tmpl.clone()))]
            .into_iter()
            .collect();
    if let Ok(out) = render(&tmpl, &ctx, &own) {
        assert!(out.len() <= MAX_OUTPUT_BYTES);
    }
});
