//! Reading a list query from its decoded `(name, value)` pairs.

use super::{Filter, ListQuery, QueryError, Test, MAX_FILTERS, MAX_SORT_KEYS};

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

/// Go's `strconv.ParseBool`, which DRP uses for its flags, in any case (Python clients send
/// `True`): `Some(true)` for `1`, `t`, `true`; `Some(false)` for `0`, `f`, `false`; `None` for
/// anything else, including the empty value.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Some(true),
        "0" | "f" | "false" => Some(false),
        _ => None,
    }
}

fn parse_test(field: &str, raw: &str) -> Result<Test, QueryError> {
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
    let two = |op: &'static str| -> Result<(String, String), QueryError> {
        match list().as_slice() {
            [a, b] => Ok((a.clone(), b.clone())),
            _ => Err(QueryError::TwoValues {
                field: field.to_string(),
                raw: raw.to_string(),
                op,
            }),
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
        "Re" => Test::Re(super::pattern::Pattern::new(args).map_err(|reason| {
            QueryError::BadPattern {
                field: field.to_string(),
                raw: raw.to_string(),
                reason,
            }
        })?),
        other => {
            return Err(QueryError::UnknownOperator {
                field: field.to_string(),
                raw: raw.to_string(),
                op: other.to_string(),
            })
        }
    })
}

/// A non-negative count; one too large for a `usize` means "all of them" (a huge offset is past
/// every object, a huge limit no limit), as the document's unbounded integer allows.
fn count(name: &'static str, value: &str) -> Result<usize, QueryError> {
    match value.parse::<usize>() {
        Ok(n) => Ok(n),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Ok(usize::MAX),
        Err(_) => Err(QueryError::NotACount {
            name,
            value: value.to_string(),
        }),
    }
}

/// The list query of decoded `(name, value)` pairs, in the order they came.
pub fn parse<I, K, V>(pairs: I) -> Result<ListQuery, QueryError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut q = ListQuery::default();
    for (name, value) in pairs {
        let value = value.as_ref();
        match name.as_ref() {
            "offset" => q.offset = count("offset", value)?,
            // DRP's clients send `limit=0` for "no limit" (drppy-client documents it so).
            "limit" => q.limit = Some(count("limit", value)?).filter(|&n| n > 0),
            "sort" => {
                if q.sort.len() == MAX_SORT_KEYS {
                    return Err(QueryError::TooManySortKeys);
                }
                q.sort.push(value.to_string())
            }
            "reverse" => {
                q.reverse =
                    parse_bool(value).ok_or_else(|| QueryError::NotABool(value.to_string()))?
            }
            n if RESERVED.contains(&n) => {}
            field => {
                if q.filters.len() == MAX_FILTERS {
                    return Err(QueryError::TooManyFilters);
                }
                q.filters.push(Filter {
                    field: field.to_string(),
                    test: parse_test(field, value)?,
                });
            }
        }
    }
    Ok(q)
}
