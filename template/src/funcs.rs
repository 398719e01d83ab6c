//! Go's predefined template functions. `and`/`or` are evaluated lazily by the executor; the
//! rest are dispatched here, then to [`crate::sprig`].

use crate::gofmt::{sprint, sprintf, sprintln};
use crate::sprig;
use crate::value::Val;

/// Go's builtins (text/template `builtins()`). `slice` is listed but DRP's function map
/// replaces it with sprig's (see [`crate::sprig_functions`]).
pub const BUILTINS: &[&str] = &[
    "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "slice", "print",
    "printf", "println", "html", "js", "urlquery", "call",
];

/// Whether `name` is a function a template may call (checked at parse time, as Go does).
pub(crate) fn is_func(name: &str) -> bool {
    BUILTINS.contains(&name) || sprig::is_func(name)
}

pub(crate) type FResult = Result<Val, String>;

pub(crate) fn call(name: &str, args: Vec<Val>) -> FResult {
    match name {
        "not" => {
            let [a] = exact::<1>(name, args)?;
            Ok(Val::Bool(!a.truth()))
        }
        "eq" => eq(args),
        "ne" => {
            let [a, b] = exact::<2>(name, args)?;
            Ok(Val::Bool(!equal(&a, &b)?))
        }
        "lt" | "le" | "gt" | "ge" => {
            let [a, b] = exact::<2>(name, args)?;
            let ord = compare(&a, &b)?;
            Ok(Val::Bool(match name {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            }))
        }
        "len" => {
            let [a] = exact::<1>(name, args)?;
            length(&a).map(|n| Val::Int(n as i64))
        }
        "index" => index(args),
        "print" => Ok(Val::str(sprint(&args))),
        "println" => Ok(Val::str(sprintln(&args))),
        "printf" => {
            let Some((format, rest)) = args.split_first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            };
            let Val::Str(format) = format else {
                return Err(format!(
                    "wrong type for value; expected string; got {}",
                    format.type_name()
                ));
            };
            Ok(Val::str(sprintf(format, rest)))
        }
        "html" => Ok(Val::str(html_escape(&escaper_arg(&args)))),
        "js" => Ok(Val::str(js_escape(&escaper_arg(&args)))),
        "urlquery" => Ok(Val::str(query_escape(&escaper_arg(&args)))),
        "call" => match args.first() {
            Some(f) => Err(format!("non-function of type {}", f.type_name())),
            None => Err("wrong number of args for call: want at least 1 got 0".into()),
        },
        _ => sprig::call(name, args),
    }
}

/// Exactly `N` arguments, as Go checks a function's arity.
pub(crate) fn exact<const N: usize>(name: &str, args: Vec<Val>) -> Result<[Val; N], String> {
    let got = args.len();
    <[Val; N]>::try_from(args)
        .map_err(|_| format!("wrong number of args for {name}: want {N} got {got}"))
}

fn eq(args: Vec<Val>) -> FResult {
    let Some((first, rest)) = args.split_first() else {
        return Err("wrong number of args for eq: want at least 1 got 0".into());
    };
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    for other in rest {
        if equal(first, other)? {
            return Ok(Val::Bool(true));
        }
    }
    Ok(Val::Bool(false))
}

/// Go's `eq` for two values. Ints and floats compare by value: JSON gives this engine float64
/// where DRP's Go structs hold ints, and Go would refuse to compare those.
pub(crate) fn equal(a: &Val, b: &Val) -> Result<bool, String> {
    Ok(match (a, b) {
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Int(x), Val::Int(y)) => x == y,
        (x, y) if x.as_f64().is_some() && y.as_f64().is_some() => x.as_f64() == y.as_f64(),
        (Val::Nil | Val::Missing, Val::Nil | Val::Missing) => true,
        (Val::Nil | Val::Missing, _) | (_, Val::Nil | Val::Missing) => false,
        (Val::List(_) | Val::Map(_), _) | (_, Val::List(_) | Val::Map(_)) => {
            return Err(format!(
                "non-comparable type {}",
                if matches!(a, Val::List(_) | Val::Map(_)) {
                    a.type_name()
                } else {
                    b.type_name()
                }
            ));
        }
        _ => return Err("incompatible types for comparison".into()),
    })
}

fn compare(a: &Val, b: &Val) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Ok(x.cmp(y)),
        (Val::Int(x), Val::Int(y)) => Ok(x.cmp(y)),
        (x, y) if x.as_f64().is_some() && y.as_f64().is_some() => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y)
                .ok_or_else(|| "invalid type for comparison".to_string())
        }
        (Val::Str(_), _) | (_, Val::Str(_)) if a.as_f64().is_some() || b.as_f64().is_some() => {
            Err("incompatible types for comparison".into())
        }
        _ => Err("invalid type for comparison".into()),
    }
}

pub(crate) fn length(a: &Val) -> Result<usize, String> {
    match a {
        Val::Str(s) => Ok(s.len()),
        Val::List(l) => Ok(l.len()),
        Val::Map(m) => Ok(m.try_borrow().map(|m| m.len()).unwrap_or(0)),
        Val::Nil | Val::Missing => Err("len of nil pointer".into()),
        other => Err(format!("len of type {}", other.type_name())),
    }
}

fn index_int(v: &Val) -> Result<i64, String> {
    v.as_int()
        .ok_or_else(|| format!("cannot index slice/array with type {}", v.type_name()))
}

fn index(args: Vec<Val>) -> FResult {
    let mut iter = args.into_iter();
    let Some(mut item) = iter.next() else {
        return Err("wrong number of args for index: want at least 1 got 0".into());
    };
    for key in iter {
        item = match &item {
            Val::List(l) => {
                let i = index_int(&key)?;
                match usize::try_from(i).ok().and_then(|i| l.get(i)) {
                    Some(v) => v.clone(),
                    None => return Err(format!("index out of range: {i}")),
                }
            }
            Val::Str(s) => {
                let i = index_int(&key)?;
                match usize::try_from(i).ok().and_then(|i| s.as_bytes().get(i)) {
                    Some(b) => Val::Int(i64::from(*b)),
                    None => return Err(format!("index out of range: {i}")),
                }
            }
            Val::Map(m) => {
                let Val::Str(k) = &key else {
                    return Err(format!(
                        "value has type {}; should be string",
                        key.type_name()
                    ));
                };
                m.try_borrow()
                    .ok()
                    .and_then(|m| m.get(&**k).cloned())
                    .unwrap_or(Val::Nil)
            }
            Val::Nil | Val::Missing => return Err("index of untyped nil".into()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

/// The escapers take `fmt.Sprint` of their arguments (a lone string as is).
fn escaper_arg(args: &[Val]) -> String {
    match args {
        [Val::Str(s)] => s.to_string(),
        _ => sprint(args),
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 || (!c.is_ascii() && !is_go_printable(c)) => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `unicode.IsPrint` for non-ASCII: not a control, format, separator (other than the
/// ASCII space), private-use or non-character code point.
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    let format = matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB);
    let private = matches!(u, 0xE000..=0xF8FF | 0xF0000..=0x10FFFF);
    let nonchar = u & 0xFFFE == 0xFFFE || (0xFDD0..=0xFDEF).contains(&u);
    !(c.is_control() || c.is_whitespace() || format || private || nonchar)
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
