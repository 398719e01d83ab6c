//! List-filter parsing: `endpoint::api::filter` (`GET /<collection>?Name=Eq(x)&sort=..`),
//! `parse` of the raw query, then `select` (filter + sort + reverse) and `page` over a list
//! of objects.
//!
//! Input: the raw query string on the first line; the rest, if it is a JSON array, is the
//! list of stored objects to select from (objects are arbitrary JSON: DRP stores any
//! fields), else a fixed list with mixed-type fields is used.
//!
//! Checks: no panic, hang or unbounded memory; select never adds items; page respects
//! offset/limit.
#![no_main]

use drp_fuzz::filter;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn default_items() -> Vec<Value> {
    let mut items = vec![
        json!({"Name": "a", "Rank": 3, "Params": {"site/rack": "r1", "n": 1.5}}),
        json!({"Name": "b", "Rank": "10", "Params": {"site/rack": "r2"}}),
        json!({"Name": "c", "Rank": 10, "Params": {}}),
        json!({"Name": "d", "Rank": null, "Params": null}),
        json!({"Name": "e", "Rank": [1, 2], "Params": {"site/rack": 7}}),
        json!({"Name": "f", "Rank": "9"}),
        json!({"Name": "g", "Rank": 9, "Available": true}),
        json!({"Name": "h", "Rank": -1e300, "Available": false}),
        json!("not an object"),
    ];
    for i in 0..12 {
        items.push(json!({"Name": format!("n{i}"), "Rank": if i % 2 == 0 { json!(i) } else { json!(i.to_string()) }}));
    }
    items
}

fuzz_target!(|data: &[u8]| {
    // axum hands the handler the raw query as a `String`.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (query, rest) = text.split_once('\n').unwrap_or((text, ""));
    let items: Vec<Value> = serde_json::from_str(rest).unwrap_or_else(|_| default_items());
    let Ok(q) = filter::parse(Some(query)) else {
        return;
    };
    let total = items.len();
    let selected = q.select(items);
    let matched = selected.len();
    assert!(matched <= total);
    let page = q.page(selected);
    assert!(page.len() <= matched.saturating_sub(q.offset));
    if let Some(limit) = q.limit {
        assert!(page.len() <= limit);
    }
});
