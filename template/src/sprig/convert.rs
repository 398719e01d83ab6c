//! Argument checks and conversions shared by the sprig functions: Go's template argument
//! typing (`want_*`), sprig's `strval` / `strslice` / `empty`, and `cast`'s number parsing.

use crate::funcs::{exact, length, FResult};
use crate::value::{Val, MAX_VALUE_DEPTH, MAX_VISITED};

/// Strings and lists built by functions stay under this size (a doubling loop would otherwise
/// exhaust memory before the output limit noticed).
pub(super) const MAX_BUILT_BYTES: usize = 16 << 20;

pub(super) fn is_go_space(c: char) -> bool {
    c.is_whitespace()
}

pub(super) fn is_nil(v: &Val) -> bool {
    matches!(v, Val::Nil | Val::Missing)
}

/// A `string` parameter: Go's template refuses anything else.
pub(super) fn want_str(v: &Val) -> Result<String, String> {
    match v {
        Val::Str(s) => Ok(s.to_string()),
        Val::Nil | Val::Missing => Err("invalid value; expected string".into()),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

pub(super) fn strs<const N: usize>(name: &str, args: Vec<Val>) -> Result<[String; N], String> {
    let vals = exact::<N>(name, args)?;
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, v) in out.iter_mut().zip(vals.iter()) {
        *slot = want_str(v)?;
    }
    Ok(out)
}

pub(super) fn unary_str(name: &str, args: Vec<Val>, f: impl Fn(&str) -> String) -> FResult {
    let [s] = strs::<1>(name, args)?;
    Ok(Val::str(f(&s)))
}

/// An `int` parameter (whole JSON numbers accepted, see [`Val::as_int`]).
pub(super) fn want_int(v: &Val) -> Result<i64, String> {
    v.as_int()
        .ok_or_else(|| format!("wrong type for value; expected int; got {}", v.type_name()))
}

pub(super) fn want_map(v: &Val) -> Result<crate::value::MapRef, String> {
    match v {
        Val::Map(m) => Ok(m.clone()),
        other => Err(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            other.type_name()
        )),
    }
}

pub(super) fn want_list<'v>(name: &str, v: &'v Val) -> Result<&'v [Val], String> {
    match v {
        Val::List(items) => Ok(items),
        other => Err(format!("Cannot find {name} on type {}", other.type_name())),
    }
}

/// sprig's `strval`: strings as they are, everything else as `%v`.
pub(super) fn strval(v: &Val) -> String {
    match v {
        Val::Missing | Val::Nil => "<nil>".into(),
        other => other.print(),
    }
}

/// sprig's `strslice`: a list's non-nil elements as strings, nil as empty, else one element.
pub(super) fn strslice(v: &Val) -> Vec<String> {
    match v {
        Val::List(items) => items.iter().filter(|i| !is_nil(i)).map(strval).collect(),
        Val::Nil | Val::Missing => Vec::new(),
        other => vec![strval(other)],
    }
}

/// sprig's `empty`.
pub(crate) fn empty(v: &Val) -> bool {
    match v {
        Val::Missing | Val::Nil => true,
        Val::Bool(b) => !b,
        Val::Int(i) => *i == 0,
        Val::Float(f) => *f == 0.0,
        Val::Str(_) | Val::List(_) | Val::Map(_) => length(v).map(|n| n == 0).unwrap_or(true),
        Val::Root => false,
        Val::Obj(o) => empty(&o.value),
    }
}

pub(super) fn kind(v: &Val) -> &'static str {
    match v {
        Val::Missing | Val::Nil => "invalid",
        Val::Bool(_) => "bool",
        Val::Int(_) => "int",
        Val::Float(_) => "float64",
        Val::Str(_) => "string",
        Val::List(_) => "slice",
        Val::Map(_) => "map",
        Val::Root => "ptr",
        Val::Obj(o) => kind(&o.value),
    }
}

/// `cast.ToInt64`: numbers truncate, strings parse (base prefixes allowed), bools are 0/1,
/// anything else is 0.
pub(super) fn to_int64(v: &Val) -> i64 {
    match v {
        Val::Int(i) => *i,
        Val::Float(f) => *f as i64,
        Val::Bool(b) => i64::from(*b),
        Val::Str(s) => {
            let t = s.trim_end_matches(".0").trim_end_matches('.');
            match crate::parse::parse_number(t) {
                Some(crate::ast::Const::Int(i)) => i,
                _ => 0,
            }
        }
        _ => 0,
    }
}

/// `cast.ToFloat64`.
pub(super) fn to_float64(v: &Val) -> f64 {
    match v {
        Val::Int(i) => *i as f64,
        Val::Float(f) => *f,
        Val::Bool(b) => f64::from(u8::from(*b)),
        Val::Str(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// `reflect.DeepEqual` for template values (sprig's `uniq`, `has`, `without`).
pub(super) fn deep_equal(a: &Val, b: &Val) -> bool {
    deep_equal_at(a, b, 0, &mut MAX_VISITED.clone())
}

fn deep_equal_at(a: &Val, b: &Val, depth: usize, left: &mut usize) -> bool {
    if depth > MAX_VALUE_DEPTH || *left == 0 {
        return false;
    }
    *left -= 1;
    match (a, b) {
        (Val::Missing | Val::Nil, Val::Missing | Val::Nil) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Float(x), Val::Float(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::List(x), Val::List(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| deep_equal_at(p, q, depth + 1, left))
        }
        (Val::Map(x), Val::Map(y)) => match (x.try_borrow(), y.try_borrow()) {
            (Ok(x), Ok(y)) => {
                x.len() == y.len()
                    && x.iter().all(|(k, v)| {
                        y.get(k)
                            .is_some_and(|w| deep_equal_at(v, w, depth + 1, left))
                    })
            }
            _ => false,
        },
        (Val::Root, Val::Root) => true,
        _ => false,
    }
}

/// Go's `json.Marshal` escapes HTML characters and the JS line separators inside strings.
pub(crate) fn go_json_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}
