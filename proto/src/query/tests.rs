//! The engine's behaviour, moved here with it from the endpoint's `api::filter`.

use serde_json::{json, Value};

use super::*;

/// `a=b&c=d` as pairs (the tests use no escapes, so no URL decoding is needed).
fn pairs(q: &str) -> Vec<(&str, &str)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

fn query(q: &str) -> Result<ListQuery, QueryError> {
    parse(pairs(q))
}

fn names(q: &str, items: &[Value]) -> Vec<String> {
    let q = query(q).expect("parse");
    q.page(q.select(items.to_vec()))
        .iter()
        .map(|o| o["Name"].as_str().unwrap_or("").to_string())
        .collect()
}

fn items() -> Vec<Value> {
    vec![
        json!({"Name": "a", "Rank": 3, "Params": {"site/rack": "r1"}}),
        json!({"Name": "b", "Rank": 10, "Params": {"site/rack": "r2"}}),
        json!({"Name": "c", "Rank": 7, "Params": {}}),
    ]
}

/// Regression (fuzz/regressions/list_filter): sorting a field that mixes numbers and
/// strings panicked in `sort_by` (not a total order) once there were more than 20 items.
#[test]
fn sorting_mixed_types_is_a_total_order() {
    let ranks = [
        json!(10),
        json!("9"),
        json!(9),
        json!("10"),
        json!(true),
        json!(null),
    ];
    let it: Vec<Value> = (0..60)
        .map(|i| json!({"Name": format!("n{i:02}"), "Rank": ranks[i % ranks.len()]}))
        .collect();
    let sorted = names("sort=Rank", &it);
    assert_eq!(sorted.len(), 60);
    let rank_of = |n: &String| {
        it.iter()
            .find(|o| o["Name"] == **n)
            .map(|o| o["Rank"].clone())
    };
    let order: Vec<Value> = sorted.iter().filter_map(rank_of).collect();
    // null, bools, numbers (numerically), then strings (as text).
    let firsts: Vec<Value> = order.iter().fold(Vec::new(), |mut v: Vec<Value>, r| {
        if v.last() != Some(r) {
            v.push(r.clone());
        }
        v
    });
    assert_eq!(
        firsts,
        [
            json!(null),
            json!(true),
            json!(9),
            json!(10),
            json!("10"),
            json!("9")
        ]
    );
}

#[test]
fn operators_fields_and_params() {
    let it = items();
    assert_eq!(names("Name=Eq(b)", &it), ["b"]);
    assert_eq!(names("Name=b", &it), ["b"]);
    assert_eq!(
        names("Rank=Gt(5)", &it),
        ["b", "c"],
        "numbers compare as numbers, not text"
    );
    assert_eq!(names("Rank=Between(3,7)", &it), ["a", "c"]);
    assert_eq!(names("Rank=Except(3,7)", &it), ["b"]);
    assert_eq!(names("Name=In(a,c)", &it), ["a", "c"]);
    assert_eq!(names("Name=Nin(a,c)", &it), ["b"]);
    assert_eq!(
        names("site/rack=Eq(r2)", &it),
        ["b"],
        "lowercase names are params"
    );
    assert_eq!(names("site/rack=Ne(r2)", &it), ["a", "c"]);
    assert_eq!(names("sort=Rank&reverse=true", &it), ["b", "c", "a"]);
    assert_eq!(names("sort=Rank&offset=1&limit=1", &it), ["c"]);
    assert_eq!(
        names("sort=Rank&limit=0", &it).len(),
        it.len(),
        "0 is no limit"
    );
}

/// The manager's federated lists filter on the `Endpoint` it sets on every object, as on any
/// other field, and sort across clusters by any key.
#[test]
fn endpoint_is_an_ordinary_field() {
    let it: Vec<Value> = ["e1", "e2", "e3"]
        .iter()
        .enumerate()
        .flat_map(|(i, e)| {
            (0..2).map(move |j| json!({"Name": format!("m{}", 2 * i + j), "Endpoint": e}))
        })
        .collect();
    assert_eq!(names("Endpoint=e2", &it), ["m2", "m3"]);
    assert_eq!(names("Endpoint=In(e1,e3)", &it), ["m0", "m1", "m4", "m5"]);
    assert_eq!(
        names(
            "Endpoint=Ne(e1)&sort=Name&reverse=true&offset=1&limit=2",
            &it
        ),
        ["m4", "m3"]
    );
}

#[test]
fn bad_queries_name_the_problem() {
    let e = query("Name=Like(x)").expect_err("unknown op");
    assert!(e.to_string().contains("unknown operator \"Like\""), "{e}");
    let e = query("Rank=Between(1)").expect_err("arity");
    assert!(e.to_string().contains("Between takes two values"), "{e}");
    let e = query("limit=ten").expect_err("limit");
    assert!(e.to_string().contains("limit \"ten\""), "{e}");
    assert!(query("offset=-1").is_err());
    assert!(query("reverse=null").is_err());
    assert!(query("reverse=TRUE").is_ok_and(|q| q.reverse));
    let huge = query("offset=99999999999999999999999&limit=99999999999999999999");
    let huge = huge.expect("counts past usize saturate");
    assert_eq!((huge.offset, huge.limit), (usize::MAX, Some(usize::MAX)));
    let many = (0..=MAX_FILTERS)
        .map(|i| format!("f{i}=1"))
        .collect::<Vec<_>>()
        .join("&");
    let e = query(&many).expect_err("too many filters");
    assert!(e.to_string().contains("at most 32"), "{e}");
    let sorts = (0..=MAX_SORT_KEYS)
        .map(|i| format!("sort=F{i}"))
        .collect::<Vec<_>>()
        .join("&");
    let e = query(&sorts).expect_err("too many sort keys");
    assert!(e.to_string().contains("at most 8"), "{e}");
}

#[test]
fn go_parse_bool() {
    for t in ["1", "t", "T", "true", "TRUE", "True"] {
        assert_eq!(parse_bool(t), Some(true), "{t}");
    }
    for f in ["0", "f", "F", "false", "FALSE"] {
        assert_eq!(parse_bool(f), Some(false), "{f}");
    }
    for x in ["", "yes", "2", "null"] {
        assert_eq!(parse_bool(x), None, "{x}");
    }
}

#[test]
fn pinned_values_come_from_eq_and_in_filters() {
    let q = query("Endpoint=In(a,b)&Name=x").expect("parse");
    assert_eq!(q.pinned("Endpoint"), Some(vec!["a", "b"]));
    assert_eq!(q.pinned("Name"), Some(vec!["x"]));
    let q = query("Endpoint=Eq(a)").expect("parse");
    assert_eq!(q.pinned("Endpoint"), Some(vec!["a"]));
    for unpinned in ["Endpoint=Ne(a)", "Endpoint=Nin(a)", "Name=x", ""] {
        assert_eq!(
            query(unpinned).expect("parse").pinned("Endpoint"),
            None,
            "{unpinned}"
        );
    }
}

#[test]
fn only_pins_means_one_text_pin_and_no_sort() {
    for only in [
        "",
        "Endpoint=a",
        "Endpoint=In(a,b)",
        "Endpoint=Eq(a)&reverse=true&limit=5",
    ] {
        assert!(query(only).expect("parse").only_pins("Endpoint"), "{only}");
    }
    for more in [
        "Endpoint=a&Name=x",
        "Name=x",
        "Endpoint=Ne(a)",
        "Endpoint=a&sort=Name",
        "Endpoint=a&Endpoint=b",
        "Endpoint=1",
        "Endpoint=In(a,2)",
    ] {
        assert!(!query(more).expect("parse").only_pins("Endpoint"), "{more}");
    }
    assert!(query("reverse=true").expect("parse").reversed());
}

/// DRP's `Re`: Go's RE2 syntax, matched anywhere in the value (numbers as their text).
#[test]
fn re_matches_anywhere_and_bad_patterns_are_refused() {
    let it = items();
    assert_eq!(names("Name=Re(^[ab]$)", &it), ["a", "b"]);
    assert_eq!(
        names("Rank=Re(0)", &it),
        ["b"],
        "a number matches as its text"
    );
    assert_eq!(names("site/rack=Re(r)", &it), ["a", "b"]);
    assert!(names("Name=Re(zz)", &it).is_empty());
    let e = query("Name=Re(a(b)").expect_err("unclosed group");
    assert!(
        e.to_string().contains("Re takes a regular expression"),
        "{e}"
    );
    let long = format!("Name=Re({})", "a".repeat(MAX_PATTERN_LEN + 1));
    assert!(query(&long).is_err());
    let e = query("Name=Re((((a{1000}){1000}){1000}))").expect_err("too large");
    assert!(e.to_string().contains("too large"), "{e}");
}
