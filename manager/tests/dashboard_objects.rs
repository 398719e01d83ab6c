//! The dashboard's federated object view (`/ui/objects`, issue 14) in a real headless
//! Chromium: two single-node clusters under a manager, machines created on each (one named
//! with markup, which must show as text); the page lists both clusters' machines with the
//! right Endpoint, narrows by endpoint and by name, pages server-side, shows a row's JSON,
//! and marks a stopped cluster's rows stale with a banner naming it.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use browser::*;
use common::*;
use serde_json::{json, Value};

const A: &str = "objs-a";
const B: &str = "objs-b";
/// A machine name that would run script or add elements if the page used it as HTML.
const MARKUP: &str = "web-<script>window.__pwned=1</script><img src=x id=pwned>";
const LONG: Duration = Duration::from_secs(90);

fn create_machine(node: &Node, name: &str) -> String {
    let (st, body) = call(
        "POST",
        &format!("{}/api/v3/machines", node.url),
        Some(json!({"Name": name, "Address": "10.0.0.9"})),
    );
    assert_eq!(st, 201, "creating {name}: {body}");
    body["Uuid"].as_str().expect("a Uuid").to_owned()
}

/// `(Endpoint, Name)` of every machine row on the page once it shows exactly `n` rows
/// satisfying `js_ok` (a JS expression over the rows' array `r`).
fn rows_when(br: &mut Browser, n: usize, js_ok: &str) -> BTreeSet<(String, String)> {
    let js = format!(
        "const r = [...document.querySelectorAll('#rows tr[data-key]')];
         if (r.length !== {n} || !({js_ok})) return null;
         return r.map(t => [t.dataset.endpoint, t.querySelector('[data-col=Name]').textContent]);"
    );
    let v = br.run(json!({"op": "wait_js", "js": js, "timeout": 30}));
    serde_json::from_value::<Vec<(String, String)>>(v)
        .unwrap()
        .into_iter()
        .collect()
}

fn set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(e, n)| ((*e).to_owned(), (*n).to_owned()))
        .collect()
}

/// Types a name search and applies it (the form's submit, not only the debounced input).
fn search(br: &mut Browser, text: &str) {
    br.run(json!({"op": "type", "css": "#search", "text": text}));
    br.run(json!({"op": "click", "timeout": 30, "css": "#apply"}));
}

#[test]
fn dashboard_lists_the_fleets_objects_filters_pages_and_marks_stale() {
    if let Some(why) = missing_browser() {
        println!("SKIPPED: {why}");
        return;
    }
    let _g = serial();
    let a = Cluster::start(A, 1);
    let mut b = Cluster::start(B, 1);
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(&mdir.path().join("m"), &[]);
    m.register(&a, &[], false);
    m.register(&b, &[], false);

    let mut uuids = Vec::new();
    for name in ["web-a1", "web-a2", "db-a1"] {
        uuids.push(create_machine(&a.nodes[0], name));
    }
    for name in ["web-b1", "db-b1", MARKUP] {
        uuids.push(create_machine(&b.nodes[0], name));
    }
    // The replica holds all six and both endpoints are current.
    wait(LONG, || {
        let (st, v) = m.call("GET", "/api/v3/machines", None);
        let current = [A, B]
            .iter()
            .all(|id| m.endpoint(id)["Replica"]["Current"] == true);
        (st == 200 && v.as_array().is_some_and(|l| l.len() == 6) && current).then_some(())
    })
    .unwrap_or_else(|| panic!("replica: {}", m.call("GET", "/api/v3/machines", None).1));
    let everyone = set(&[
        (A, "web-a1"),
        (A, "web-a2"),
        (A, "db-a1"),
        (B, "web-b1"),
        (B, "db-b1"),
        (B, MARKUP),
    ]);

    // Signed out, the objects page is the sign-in form; signed in, the fleet page links to it.
    let mut br = Browser::start();
    br.run(json!({"op": "open", "url": format!("{}/ui/objects", m.url)}));
    br.run(json!({"op": "type", "css": "#password", "text": PASSWORD}));
    br.run(json!({"op": "click", "timeout": 30, "css": "#signin"}));
    br.run(json!({"op": "click", "css": "#nav-objects", "timeout": 15}));

    // Both clusters' machines, each with its own Endpoint, the markup shown as text.
    let all = rows_when(&mut br, 6, "true");
    assert_eq!(all, everyone, "the union of both clusters");
    let page_text = br.run(json!({"op": "eval", "js": "return {
        scripts: document.querySelectorAll('#rows script, #rows img, #pwned').length,
        pwned: window.__pwned === undefined ? null : window.__pwned,
    };"}));
    assert_eq!(page_text, json!({"scripts": 0, "pwned": null}), "escaped");
    br.run(
        json!({"op": "wait_text", "timeout": 30, "css": "#page-info", "contains": "of 6 matching"}),
    );
    br.run(
        json!({"op": "wait_count", "timeout": 30, "css": "#stale-banner:not([hidden])", "n": 0}),
    );
    br.screenshot("objects-1-all");

    // The endpoint choice comes from the registered endpoints and narrows to one cluster.
    br.run(json!({"op": "wait_count", "css": "#endpoint option", "n": 3, "timeout": 15}));
    br.run(json!({"op": "select", "timeout": 30, "css": "#endpoint", "value": B}));
    let only_b = rows_when(
        &mut br,
        3,
        &format!("r.every(t => t.dataset.endpoint === '{B}')"),
    );
    assert_eq!(
        only_b,
        set(&[(B, "web-b1"), (B, "db-b1"), (B, MARKUP)]),
        "Endpoint={B}"
    );

    // The name filter (a substring, applied by the server) narrows, alone and with the endpoint.
    search(&mut br, "web-");
    let web_b = rows_when(&mut br, 2, "true");
    assert_eq!(web_b, set(&[(B, "web-b1"), (B, MARKUP)]), "web- on {B}");
    br.run(json!({"op": "select", "timeout": 30, "css": "#endpoint", "value": ""}));
    let web = rows_when(&mut br, 4, "true");
    assert_eq!(
        web,
        set(&[(A, "web-a1"), (A, "web-a2"), (B, "web-b1"), (B, MARKUP)]),
        "web- everywhere"
    );
    search(&mut br, "web-a");
    let web_a = rows_when(&mut br, 2, "true");
    assert_eq!(web_a, set(&[(A, "web-a1"), (A, "web-a2")]), "web-a");
    // Anywhere in the name, and taken literally: "." is no wildcard.
    search(&mut br, "a1");
    let a1 = rows_when(&mut br, 2, "true");
    assert_eq!(a1, set(&[(A, "web-a1"), (A, "db-a1")]), "a1 anywhere");
    search(&mut br, "web.");
    br.run(
        json!({"op": "wait_text", "timeout": 30, "css": "#page-info", "contains": "of 0 matching"}),
    );
    search(&mut br, "");
    rows_when(&mut br, 6, "true");
    br.screenshot("objects-2-filtered");

    // Paging is the server's: five on the first page, the sixth on the next, none twice.
    br.run(json!({"op": "select", "timeout": 30, "css": "#limit", "value": "5"}));
    let first = rows_when(&mut br, 5, "document.getElementById('prev').disabled");
    br.run(json!({"op": "wait_text", "timeout": 30, "css": "#page-info", "contains": "1–5 of 6 matching"}));
    br.run(json!({"op": "click", "timeout": 30, "css": "#next"}));
    let second = rows_when(&mut br, 1, "document.getElementById('next').disabled");
    br.run(json!({"op": "wait_text", "timeout": 30, "css": "#page-info", "contains": "6–6 of 6 matching"}));
    assert!(first.is_disjoint(&second), "{first:?} {second:?}");
    let both: BTreeSet<_> = first.union(&second).cloned().collect();
    assert_eq!(both, everyone, "two pages cover the fleet");
    br.run(json!({"op": "click", "timeout": 30, "css": "#prev"}));
    assert_eq!(
        rows_when(&mut br, 5, "true"),
        first,
        "back to the first page"
    );
    br.run(json!({"op": "select", "timeout": 30, "css": "#limit", "value": "25"}));
    rows_when(&mut br, 6, "true");

    // A row opens the object's JSON as the manager serves it, markup and all.
    let markup_uuid = &uuids[5];
    br.run(json!({"op": "click", "timeout": 30, "css": format!("#rows tr[data-key='{markup_uuid}'] td[data-col=Name]")}));
    let detail = br.run(json!({"op": "wait_js", "timeout": 30, "js": "
        const p = document.getElementById('detail-json');
        return p.hidden ? null : p.textContent;"}));
    let obj: Value = serde_json::from_str(detail.as_str().unwrap()).unwrap();
    assert_eq!(obj["Name"], MARKUP, "{obj}");
    assert_eq!(obj["Endpoint"], B, "{obj}");
    assert_eq!(obj["Uuid"], markup_uuid.as_str(), "{obj}");
    br.run(
        json!({"op": "wait_text", "timeout": 30, "css": "#detail-title", "contains": markup_uuid}),
    );
    br.screenshot("objects-3-detail");

    // Another collection brings its own columns, and back.
    br.run(json!({"op": "select", "timeout": 30, "css": "#collection", "value": "jobs"}));
    br.run(json!({"op": "wait_text", "timeout": 30, "css": "#columns", "contains": "Machine"}));
    let cols = br
        .run(json!({"op": "eval", "js": "return document.getElementById('columns').textContent;"}));
    for c in ["Endpoint", "Uuid", "Machine", "Task", "State"] {
        assert!(cols.as_str().unwrap().contains(c), "jobs columns: {cols}");
    }
    br.run(json!({"op": "select", "timeout": 30, "css": "#collection", "value": "machines"}));
    rows_when(&mut br, 6, "true");

    // A stopped cluster: its rows stay listed, marked stale, and the banner names it.
    b.nodes[0].kill();
    let banner = br.run(json!({"op": "wait_js", "timeout": 60, "js": "
        const b = document.getElementById('stale-banner');
        return !b.hidden && b.textContent.includes('objs-b') ? b.textContent : null;"}));
    let banner = banner.as_str().unwrap().to_owned();
    assert!(
        !banner.contains(A),
        "only the stopped cluster is named: {banner}"
    );
    let marks = br.run(json!({"op": "wait_js", "timeout": 30, "js": "
        const r = [...document.querySelectorAll('#rows tr[data-key]')];
        if (r.length !== 6) return null;
        const m = r.map(t => [t.dataset.endpoint, t.dataset.stale === 'true',
                              t.classList.contains('stale'), !!t.querySelector('.endpoint .badge')]);
        return m.every(([e, s]) => s === (e === 'objs-b')) ? m : null;"}));
    for row in marks.as_array().unwrap() {
        let stale = row[0] == B;
        assert_eq!(row[2], stale, "class stale matches: {row}");
        assert_eq!(
            row[3], stale,
            "a stale badge exactly on the stopped cluster's rows: {row}"
        );
    }
    // The page agrees with the API's header.
    let resp = http()
        .get(format!("{}/api/v3/machines", m.url))
        .basic_auth("rocketskates", Some(PASSWORD))
        .send()
        .unwrap();
    let header = resp
        .headers()
        .get("x-drp-stale-endpoints")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(header, B, "the API names the same stale endpoint");
    br.screenshot("objects-4-stale");

    // The session guards the data route too.
    let resp = http()
        .get(format!("{}/ui/api/machines", m.url))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401, "no session, no objects");
}
