//! The fleet dashboard in a real headless Chromium (Selenium, `tests/browser/driver.py`):
//! sign in, see three clusters, kill a leader and see the new one without reloading, push a
//! commit and see it applied, push a bad one and see its error with line and column.
//! Screenshots go to `<target>/tmp/dashboard/` (not committed).
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use std::time::{Duration, Instant};

use browser::*;
use common::*;
use serde_json::{json, Value};

#[test]
fn dashboard_shows_the_fleet_live_in_a_real_browser() {
    if let Some(why) = missing_browser() {
        println!("SKIPPED: {why}");
        return;
    }
    let _g = serial();
    let mut a = Cluster::start("site-a", 3);
    let b = Cluster::start("site-b", 1);
    let c = Cluster::start("site-c", 1);
    let repo = Repo::new();
    let sha1 = repo.commit(&[("version_sets/base.yaml", &base_set("one"))]);
    let mdir = tempfile::tempdir().unwrap();
    let m = Manager::start(
        &mdir.path().join("m"),
        &[
            "--git-repo",
            repo.path(),
            "--git-branch",
            "main",
            "--git-poll-seconds",
            "1",
        ],
    );
    for cl in [&a, &b, &c] {
        m.register(cl, &["base"], true);
    }
    for id in ["site-a", "site-b", "site-c"] {
        m.wait_applied(id, &sha1, Duration::from_secs(60));
    }

    let mut br = Browser::start();
    let ui = format!("{}/ui/", m.url);
    // Signed out, the page is the sign-in form; a wrong password keeps it there.
    br.run(json!({"op": "open", "url": ui}));
    br.run(json!({"op": "type", "css": "#password", "text": "wrong"}));
    br.run(json!({"op": "click", "css": "#signin"}));
    br.run(json!({"op": "count", "css": "#login", "at_least": 1}));
    br.screenshot("1-sign-in");
    br.run(json!({"op": "type", "css": "#password", "text": PASSWORD}));
    br.run(json!({"op": "click", "css": "#signin"}));
    let n = br.run(json!({"op": "count", "css": "article.cluster", "at_least": 3, "timeout": 15}));
    assert_eq!(n, 3, "three clusters on the page");
    br.run(json!({"op": "wait_text", "css": "#live", "contains": "live"}));
    for id in ["site-a", "site-b", "site-c"] {
        br.run(
            json!({"op": "wait_attr", "css": format!("#cluster-{id} [data-field=applied]"),
                      "attr": "data-commit", "value": sha1, "timeout": 15}),
        );
    }
    // Page weight and time to first render, from the browser's own timing.
    let perf = br.run(json!({"op": "eval", "js": "
        const nav = performance.getEntriesByType('navigation')[0];
        const res = performance.getEntriesByType('resource');
        const paint = performance.getEntriesByType('paint').find(p => p.name === 'first-contentful-paint');
        return {
          bytes: nav.transferSize + res.reduce((s, r) => s + r.transferSize, 0),
          decoded: nav.decodedBodySize + res.reduce((s, r) => s + r.decodedBodySize, 0),
          requests: 1 + res.length,
          fcp_ms: paint ? paint.startTime : null,
          dom_ms: nav.domContentLoadedEventEnd,
        };"}));
    eprintln!("dashboard page weight and first render: {perf}");
    br.screenshot("2-fleet");

    // Kill site-a's leader: the page shows the new one, with no reload.
    let marker =
        br.run(json!({"op": "eval", "js": "window.__noReload = 1; return window.__noReload;"}));
    assert_eq!(marker, 1);
    let leader_css = "#cluster-site-a [data-field=leader]";
    let old = br.run(json!({"op": "text", "css": leader_css}));
    let old = old.as_str().unwrap_or_default().to_owned();
    let dead = a.leader().expect("site-a leader");
    assert_eq!(a.nodes[dead].url, old, "the page names the real leader");
    a.nodes[dead].kill();
    let killed = Instant::now();
    let new = br.run(json!({"op": "wait_text", "css": leader_css, "not": old, "timeout": 15}));
    eprintln!(
        "new leader {new} on the page {:?} after the kill",
        killed.elapsed()
    );
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "failover shown too late"
    );
    let still = br.run(json!({"op": "eval", "js": "return window.__noReload;"}));
    assert_eq!(still, 1, "the page reloaded");
    br.run(json!({"op": "wait_text", "css": "#events", "contains": "site-a: new leader"}));
    br.screenshot("3-failover");

    // A new commit: applied everywhere, shown as it lands.
    let sha2 = repo.commit(&[("version_sets/base.yaml", &base_set("two"))]);
    for id in ["site-a", "site-b", "site-c"] {
        br.run(
            json!({"op": "wait_attr", "css": format!("#cluster-{id} [data-field=applied]"),
                      "attr": "data-commit", "value": sha2, "timeout": 40}),
        );
    }
    br.run(json!({"op": "wait_attr", "css": "[data-field=good]", "attr": "data-commit", "value": sha2}));
    br.screenshot("4-applied");

    // A bad commit: rejected, its error shown with file, line and column.
    let bad = repo.commit(&[(
        "version_sets/base.yaml",
        "Id: base\nApply: true\nPrefs:\n  test/pref: [\n",
    )]);
    let (_, git) = m.call("POST", "/api/v3/git/refresh", Some(json!({})));
    assert_eq!(git["Rejected"]["Commit"], bad.as_str(), "{git}");
    let positioned = git["Rejected"]["Errors"]
        .as_array()
        .and_then(|errs| {
            errs.iter().filter_map(Value::as_str).find(|e| {
                let mut p = e.splitn(4, ':');
                p.next() == Some("version_sets/base.yaml")
                    && p.next().is_some_and(|l| l.parse::<u32>().is_ok())
                    && p.next().is_some_and(|c| c.parse::<u32>().is_ok())
            })
        })
        .unwrap_or_else(|| panic!("no FILE:LINE:COLUMN error: {git}"))
        .to_owned();
    let shown = br.run(json!({"op": "wait_text", "css": "#git-errors",
                              "contains": positioned, "timeout": 15}));
    eprintln!("the page shows: {shown}");
    br.run(json!({"op": "wait_text", "css": "[data-field=rejected]", "contains": &bad[..12]}));
    br.screenshot("5-rejected");
}
