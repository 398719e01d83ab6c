//! DRP list queries: `Field=Eq(x)` (also `Ne Lt Lte Gt Gte Between(a,b) Except(a,b) In(a,..)
//! Nin(a,..)`, and bare `Field=x` for Eq), `offset`, `limit`, `sort`, `reverse`.
//! PascalCase names are object fields; any other name filters by param value.

use std::cmp::Ordering;

use serde_json::Value;

use super::error::ApiError;

/// Filters per query (400 beyond): every object is tested against each, and no real query
/// needs more than a handful.
pub const MAX_FILTERS: usize = 32;
/// Sort keys per query (400 beyond): each comparison of the sort walks them all.
pub const MAX_SORT_KEYS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Eq(String),
    Ne(String),
    Lt(String),
    Lte(String),
    Gt(String),
    Gte(String),
    Between(String, String),
    Except(String, String),
    In(Vec<String>),
    Nin(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    field: String,
    test: Test,
}

#[derive(Debug, Default)]
pub struct ListQuery {
    filters: Vec<Filter>,
    pub offset: usize,
    pub limit: Option<usize>,
    sort: Vec<String>,
    reverse: bool,
}

/// Query names that are not filters.
const RESERVED: &[&str] = &[
    "offset",
    "limit",
    "sort",
    "reverse",
    "aggregate",
    "slim",
    "params",
    "decode",
    "expand",
];

fn bad(message: String) -> ApiError {
    ApiError::bad_request(message)
}

fn parse_test(field: &str, raw: &str) -> Result<Test, ApiError> {
    let Some((op, rest)) = raw.split_once('(') else {
        return Ok(Test::Eq(raw.to_string()));
    };
    let Some(args) = rest.strip_suffix(')') else {
        // Not of the form Op(...): a literal value that happens to contain '('.
        return Ok(Test::Eq(raw.to_string()));
    };
    let list = || {
        args.split(',')
            .map(|a| a.trim().to_string())
            .collect::<Vec<_>>()
    };
    let two = |name: &str| -> Result<(String, String), ApiError> {
        match list().as_slice() {
            [a, b] => Ok((a.clone(), b.clone())),
            _ => Err(bad(format!(
                "filter {field}={raw}: {name} takes two values: {name}(low,high)"
            ))),
        }
    };
    Ok(match op {
        "Eq" => Test::Eq(args.to_string()),
        "Ne" => Test::Ne(args.to_string()),
        "Lt" => Test::Lt(args.to_string()),
        "Lte" => Test::Lte(args.to_string()),
        "Gt" => Test::Gt(args.to_string()),
        "Gte" => Test::Gte(args.to_string()),
        "Between" => two("Between").map(|(a, b)| Test::Between(a, b))?,
        "Except" => two("Except").map(|(a, b)| Test::Except(a, b))?,
        "In" => Test::In(list()),
        "Nin" => Test::Nin(list()),
        other => {
            return Err(bad(format!(
                "filter {field}={raw}: unknown operator {other:?} (use Eq, Ne, Lt, Lte, Gt, Gte, Between, Except, In or Nin)"
            )))
        }
    })
}

/// A non-negative count; one too large for a `usize` means "all of them" (a huge offset is past
/// every object, a huge limit no limit), as the document's unbounded integer allows.
fn count(name: &str, value: &str) -> Result<usize, ApiError> {
    match value.parse::<usize>() {
        Ok(n) => Ok(n),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Ok(usize::MAX),
        Err(_) => Err(bad(format!(
            "{name} {value:?} is not a number (a count, 0 or more)"
        ))),
    }
}

pub fn parse(query: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery::default();
    let Some(query) = query else { return Ok(q) };
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "offset" => q.offset = count("offset", &value)?,
            // DRP's clients send `limit=0` for "no limit" (drppy-client documents it so).
            "limit" => q.limit = Some(count("limit", &value)?).filter(|&n| n > 0),
            "sort" => {
                if q.sort.len() == MAX_SORT_KEYS {
                    return Err(bad(format!(
                        "more than {MAX_SORT_KEYS} sort keys: a query may sort by at most {MAX_SORT_KEYS} (the limit)"
                    )));
                }
                q.sort.push(value.to_string())
            }
            "reverse" => {
                q.reverse = crate::flag::parse(&value).ok_or_else(|| {
                    bad(format!(
                        "reverse {value:?} is not a boolean (true or false)"
                    ))
                })?
            }
            n if RESERVED.contains(&n) => {}
            field => {
                if q.filters.len() == MAX_FILTERS {
                    return Err(bad(format!(
                        "more than {MAX_FILTERS} filters: a query may have at most {MAX_FILTERS} (the limit)"
                    )));
                }
                q.filters.push(Filter {
                    field: field.to_string(),
                    test: parse_test(field, &value)?,
                });
            }
        }
    }
    Ok(q)
}

/// The value a filter or sort key reads from an object.
fn lookup<'a>(object: &'a Value, field: &str) -> Option<&'a Value> {
    if field.starts_with(|c: char| c.is_ascii_uppercase()) {
        object.get(field)
    } else {
        object.get("Params").and_then(|p| p.get(field))
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Numbers compare as numbers, everything else as text.
fn compare(value: &Value, arg: &str) -> Ordering {
    if let (Some(a), Ok(b)) = (value.as_f64(), arg.parse::<f64>()) {
        return a.partial_cmp(&b).unwrap_or(Ordering::Equal);
    }
    as_text(value).as_str().cmp(arg)
}

fn passes(object: &Value, f: &Filter) -> bool {
    let Some(v) = lookup(object, &f.field) else {
        return matches!(f.test, Test::Ne(_) | Test::Nin(_) | Test::Except(..));
    };
    match &f.test {
        Test::Eq(a) => compare(v, a).is_eq(),
        Test::Ne(a) => !compare(v, a).is_eq(),
        Test::Lt(a) => compare(v, a).is_lt(),
        Test::Lte(a) => compare(v, a).is_le(),
        Test::Gt(a) => compare(v, a).is_gt(),
        Test::Gte(a) => compare(v, a).is_ge(),
        Test::Between(lo, hi) => compare(v, lo).is_ge() && compare(v, hi).is_le(),
        Test::Except(lo, hi) => compare(v, lo).is_lt() || compare(v, hi).is_gt(),
        Test::In(set) => set.iter().any(|a| compare(v, a).is_eq()),
        Test::Nin(set) => !set.iter().any(|a| compare(v, a).is_eq()),
    }
}

fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

fn order(a: &Value, b: &Value, fields: &[String]) -> Ordering {
    for field in fields {
        let ord = match (lookup(a, field), lookup(b, field)) {
            // A total order (sort_by may panic on anything less): values of different JSON
            // types order by type, numbers numerically, everything else by text. Mixing
            // numbers and strings used to compare 10 > 9 but "10" < "9" and 9 == "9" (found by
            // the `list_filter` fuzz target).
            (Some(x), Some(y)) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => type_rank(x)
                    .cmp(&type_rank(y))
                    .then_with(|| as_text(x).cmp(&as_text(y))),
            },
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

impl ListQuery {
    /// Filters, sorts (stable: key order breaks ties) and reverses; returns the matching items.
    pub fn select(&self, items: Vec<Value>) -> Vec<Value> {
        let mut items: Vec<Value> = items
            .into_iter()
            .filter(|o| self.filters.iter().all(|f| passes(o, f)))
            .collect();
        if !self.sort.is_empty() {
            items.sort_by(|a, b| order(a, b, &self.sort));
        }
        if self.reverse {
            items.reverse();
        }
        items
    }

    /// The page after `offset` and `limit`.
    pub fn page(&self, items: Vec<Value>) -> Vec<Value> {
        items
            .into_iter()
            .skip(self.offset)
            .take(self.limit.unwrap_or(usize::MAX))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names(q: &str, items: &[Value]) -> Vec<String> {
        let q = parse(Some(q)).expect("parse");
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

    #[test]
    fn bad_queries_name_the_problem() {
        let e = parse(Some("Name=Like(x)")).expect_err("unknown op");
        assert!(e.messages[0].contains("unknown operator \"Like\""), "{e}");
        let e = parse(Some("Rank=Between(1)")).expect_err("arity");
        assert!(e.messages[0].contains("Between takes two values"), "{e}");
        let e = parse(Some("limit=ten")).expect_err("limit");
        assert!(e.messages[0].contains("limit \"ten\""), "{e}");
        assert!(parse(Some("offset=-1")).is_err());
        assert!(parse(Some("reverse=null")).is_err());
        assert!(parse(Some("reverse=TRUE")).is_ok_and(|q| q.reverse));
        let huge = parse(Some(
            "offset=99999999999999999999999&limit=99999999999999999999",
        ));
        let huge = huge.expect("counts past usize saturate");
        assert_eq!((huge.offset, huge.limit), (usize::MAX, Some(usize::MAX)));
        let many = (0..=MAX_FILTERS)
            .map(|i| format!("f{i}=1"))
            .collect::<Vec<_>>()
            .join("&");
        let e = parse(Some(&many)).expect_err("too many filters");
        assert!(e.messages[0].contains("at most 32"), "{e}");
        let sorts = (0..=MAX_SORT_KEYS)
            .map(|i| format!("sort=F{i}"))
            .collect::<Vec<_>>()
            .join("&");
        let e = parse(Some(&sorts)).expect_err("too many sort keys");
        assert!(e.messages[0].contains("at most 8"), "{e}");
    }
}
