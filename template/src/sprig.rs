//! The sprig (github.com/Masterminds/sprig) functions DRP content calls, with sprig's
//! semantics: `get` of a missing key is `""`, `add` works in int64 through `cast.ToInt64`,
//! `toJson` escapes `<>&` as Go's encoder does, `split` returns a `_0`, `_1`, ... map, and so on.
//! Non-deterministic sprig functions (time, random, uuid) are not provided: a template using
//! one fails to parse, naming it, rather than rendering something made up.

use std::collections::BTreeMap;

use crate::funcs::{exact, length, FResult};
use crate::gofmt::go_quote;
use crate::value::{Val, MAX_VALUE_DEPTH};

/// Every sprig function this engine implements.
pub const FUNCS: &[&str] = &[
    // strings
    "trim",
    "trimAll",
    "trimall",
    "trimPrefix",
    "trimSuffix",
    "upper",
    "lower",
    "repeat",
    "substr",
    "trunc",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "replace",
    "split",
    "splitList",
    "splitn",
    "join",
    "toString",
    "toStrings",
    "nospace",
    "sortAlpha",
    "b64enc",
    "b64dec",
    // regular expressions
    "regexMatch",
    "regexFind",
    "regexFindAll",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexSplit",
    // numbers
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "int",
    "int64",
    "float64",
    "atoi",
    "until",
    // lists
    "list",
    "tuple",
    "slice",
    "first",
    "last",
    "rest",
    "initial",
    "append",
    "push",
    "prepend",
    "concat",
    "uniq",
    "has",
    "without",
    "compact",
    "reverse",
    // dicts
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "keys",
    "values",
    "pluck",
    "pick",
    "omit",
    // flow and types
    "default",
    "empty",
    "coalesce",
    "ternary",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "kindOf",
    "typeOf",
    "kindIs",
    "typeIs",
    "deepEqual",
    "fail",
    // paths and digests
    "base",
    "dir",
    "clean",
    "ext",
    "isAbs",
    "sha256sum",
];

/// Strings and lists built by functions stay under this size (a doubling loop would otherwise
/// exhaust memory before the output limit noticed).
const MAX_BUILT_BYTES: usize = 16 << 20;

pub(crate) fn call(name: &str, args: Vec<Val>) -> FResult {
    let result = dispatch(name, args)?;
    match &result {
        Val::Str(s) if s.len() > MAX_BUILT_BYTES => {
            Err(format!("result larger than {MAX_BUILT_BYTES} bytes"))
        }
        Val::List(l) if l.len() > MAX_BUILT_BYTES / 8 => Err("result list too long".into()),
        _ => Ok(result),
    }
}

fn dispatch(name: &str, args: Vec<Val>) -> FResult {
    match name {
        "trim" => unary_str(name, args, |s| s.trim_matches(is_go_space).to_string()),
        "upper" => unary_str(name, args, str::to_uppercase),
        "lower" => unary_str(name, args, str::to_lowercase),
        "nospace" => unary_str(name, args, |s| {
            s.chars().filter(|c| !c.is_whitespace()).collect()
        }),
        "trimAll" | "trimall" => {
            let [cut, s] = strs::<2>(name, args)?;
            Ok(Val::str(s.trim_matches(|c| cut.contains(c))))
        }
        "trimPrefix" => {
            let [p, s] = strs::<2>(name, args)?;
            Ok(Val::str(s.strip_prefix(p.as_str()).unwrap_or(&s)))
        }
        "trimSuffix" => {
            let [p, s] = strs::<2>(name, args)?;
            Ok(Val::str(s.strip_suffix(p.as_str()).unwrap_or(&s)))
        }
        "hasPrefix" => {
            let [p, s] = strs::<2>(name, args)?;
            Ok(Val::Bool(s.starts_with(p.as_str())))
        }
        "hasSuffix" => {
            let [p, s] = strs::<2>(name, args)?;
            Ok(Val::Bool(s.ends_with(p.as_str())))
        }
        "contains" => {
            let [sub, s] = strs::<2>(name, args)?;
            Ok(Val::Bool(s.contains(sub.as_str())))
        }
        "replace" => {
            let [old, new, s] = strs::<3>(name, args)?;
            Ok(Val::str(go_replace_all(&s, &old, &new)?))
        }
        "repeat" => {
            let [n, s] = exact::<2>(name, args)?;
            let n = want_int(&n)?.max(0) as usize;
            let s = want_str(&s)?;
            if s.len().saturating_mul(n) > MAX_BUILT_BYTES {
                return Err(format!("result larger than {MAX_BUILT_BYTES} bytes"));
            }
            Ok(Val::str(s.repeat(n)))
        }
        "substr" => {
            // sprig's substring, panics (here errors) included.
            let [start, end, s] = exact::<3>(name, args)?;
            let (start, end, s) = (want_int(&start)?, want_int(&end)?, want_str(&s)?);
            let len = s.len() as i64;
            let range = if start < 0 {
                0..end
            } else if end < 0 || end > len {
                start..len
            } else {
                start..end
            };
            match s.get(range.start.max(0) as usize..range.end.max(0) as usize) {
                Some(sub) if range.start <= range.end => Ok(Val::str(sub)),
                _ => Err(format!(
                    "slice bounds out of range [{}:{}] with length {len}",
                    range.start, range.end
                )),
            }
        }
        "trunc" => {
            let [n, s] = exact::<2>(name, args)?;
            let (n, s) = (want_int(&n)?, want_str(&s)?);
            let len = s.len() as i64;
            let out = if n < 0 && -n < len {
                s.get((len + n) as usize..).unwrap_or("")
            } else if n >= 0 && n < len {
                s.get(..n as usize).unwrap_or("")
            } else {
                s.as_str()
            };
            Ok(Val::str(out))
        }
        "quote" => Ok(Val::str(
            args.iter()
                .filter(|v| !is_nil(v))
                .map(|v| go_quote(&strval(v)))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "squote" => Ok(Val::str(
            args.iter()
                .filter(|v| !is_nil(v))
                .map(|v| format!("'{}'", strval(v)))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "cat" => Ok(Val::str(
            args.iter()
                .filter(|v| !is_nil(v))
                .map(Val::print)
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "indent" | "nindent" => {
            let [n, s] = exact::<2>(name, args)?;
            let (n, s) = (want_int(&n)?.max(0) as usize, want_str(&s)?);
            if n > MAX_BUILT_BYTES || s.len().saturating_mul(n / 8 + 1) > MAX_BUILT_BYTES {
                return Err(format!("result larger than {MAX_BUILT_BYTES} bytes"));
            }
            let pad = " ".repeat(n);
            let body = format!("{pad}{}", s.replace('\n', &format!("\n{pad}")));
            Ok(Val::str(if name == "nindent" {
                format!("\n{body}")
            } else {
                body
            }))
        }
        "split" => {
            let [sep, s] = strs::<2>(name, args)?;
            let parts = go_split(&s, &sep, None);
            Ok(Val::map(
                parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| (format!("_{i}"), Val::str(p)))
                    .collect(),
            ))
        }
        "splitn" => {
            let [sep, n, s] = exact::<3>(name, args)?;
            let (sep, n, s) = (want_str(&sep)?, want_int(&n)?, want_str(&s)?);
            let parts = go_split(&s, &sep, Some(n));
            Ok(Val::map(
                parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| (format!("_{i}"), Val::str(p)))
                    .collect(),
            ))
        }
        "splitList" => {
            let [sep, s] = strs::<2>(name, args)?;
            Ok(Val::list(
                go_split(&s, &sep, None).into_iter().map(Val::str).collect(),
            ))
        }
        "join" => {
            let [sep, v] = exact::<2>(name, args)?;
            let sep = want_str(&sep)?;
            Ok(Val::str(strslice(&v).join(&sep)))
        }
        "toString" => {
            let [v] = exact::<1>(name, args)?;
            Ok(Val::str(strval(&v)))
        }
        "toStrings" => {
            let [v] = exact::<1>(name, args)?;
            Ok(Val::list(strslice(&v).into_iter().map(Val::str).collect()))
        }
        "sortAlpha" => {
            let [v] = exact::<1>(name, args)?;
            let mut items = strslice(&v);
            items.sort();
            Ok(Val::list(items.into_iter().map(Val::str).collect()))
        }
        "b64enc" => {
            use base64::Engine;
            let [s] = strs::<1>(name, args)?;
            Ok(Val::str(
                base64::engine::general_purpose::STANDARD.encode(s.as_bytes()),
            ))
        }
        "b64dec" => {
            use base64::Engine;
            let [s] = strs::<1>(name, args)?;
            // sprig returns the decoder's error text in place of the value.
            Ok(Val::str(
                match base64::engine::general_purpose::STANDARD.decode(s.as_bytes()) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(e) => e.to_string(),
                },
            ))
        }
        "regexMatch" => {
            let [re, s] = strs::<2>(name, args)?;
            // sprig's regexMatch ignores a bad expression and answers false.
            Ok(Val::Bool(
                compile(&re).map(|re| re.is_match(&s)).unwrap_or(false),
            ))
        }
        "regexFind" => {
            let [re, s] = strs::<2>(name, args)?;
            let re = compile(&re)?;
            Ok(Val::str(re.find(&s).map(|m| m.as_str()).unwrap_or("")))
        }
        "regexFindAll" => {
            let [re, s, n] = exact::<3>(name, args)?;
            let (re, s, n) = (compile(&want_str(&re)?)?, want_str(&s)?, want_int(&n)?);
            let limit = if n < 0 { usize::MAX } else { n as usize };
            Ok(Val::list(
                re.find_iter(&s)
                    .take(limit)
                    .map(|m| Val::str(m.as_str()))
                    .collect(),
            ))
        }
        "regexReplaceAll" => {
            let [re, s, repl] = strs::<3>(name, args)?;
            Ok(Val::str(
                compile(&re)?.replace_all(&s, repl.as_str()).into_owned(),
            ))
        }
        "regexReplaceAllLiteral" => {
            let [re, s, repl] = strs::<3>(name, args)?;
            Ok(Val::str(
                compile(&re)?
                    .replace_all(&s, regex::NoExpand(&repl))
                    .into_owned(),
            ))
        }
        "regexSplit" => {
            let [re, s, n] = exact::<3>(name, args)?;
            let (re, s, n) = (compile(&want_str(&re)?)?, want_str(&s)?, want_int(&n)?);
            let parts: Vec<Val> = if n < 0 {
                re.split(&s).map(Val::str).collect()
            } else {
                re.splitn(&s, n as usize).map(Val::str).collect()
            };
            Ok(Val::list(parts))
        }
        "add" => Ok(Val::Int(
            args.iter().map(to_int64).fold(0i64, i64::wrapping_add),
        )),
        "add1" => {
            let [a] = exact::<1>(name, args)?;
            Ok(Val::Int(to_int64(&a).wrapping_add(1)))
        }
        "mul" => {
            let Some((first, rest)) = args.split_first() else {
                return Err("wrong number of args for mul: want at least 1 got 0".into());
            };
            Ok(Val::Int(
                rest.iter()
                    .map(to_int64)
                    .fold(to_int64(first), i64::wrapping_mul),
            ))
        }
        "sub" | "div" | "mod" => {
            let [a, b] = exact::<2>(name, args)?;
            let (a, b) = (to_int64(&a), to_int64(&b));
            Ok(Val::Int(match name {
                "sub" => a.wrapping_sub(b),
                "div" => a.checked_div(b).ok_or("integer divide by zero")?,
                _ => a.checked_rem(b).ok_or("integer divide by zero")?,
            }))
        }
        "max" | "min" => {
            let Some((first, rest)) = args.split_first() else {
                return Err(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                ));
            };
            let mut acc = to_int64(first);
            for v in rest {
                let v = to_int64(v);
                acc = if name == "max" {
                    acc.max(v)
                } else {
                    acc.min(v)
                };
            }
            Ok(Val::Int(acc))
        }
        "int" | "int64" => {
            let [a] = exact::<1>(name, args)?;
            Ok(Val::Int(to_int64(&a)))
        }
        "atoi" => {
            let [s] = strs::<1>(name, args)?;
            Ok(Val::Int(s.parse().unwrap_or(0)))
        }
        "float64" => {
            let [a] = exact::<1>(name, args)?;
            Ok(Val::Float(to_float64(&a)))
        }
        "until" => {
            let [n] = exact::<1>(name, args)?;
            let n = want_int(&n)?;
            if n.unsigned_abs() as usize > MAX_BUILT_BYTES / 8 {
                return Err("result list too long".into());
            }
            let items: Vec<Val> = if n >= 0 {
                (0..n).map(Val::Int).collect()
            } else {
                (n + 1..=0).rev().map(Val::Int).collect()
            };
            Ok(Val::list(items))
        }
        "list" | "tuple" => Ok(Val::list(args)),
        "slice" => sprig_slice(args),
        "first" | "last" | "rest" | "initial" | "reverse" | "compact" | "uniq" => {
            let [l] = exact::<1>(name, args)?;
            let items = want_list(name, &l)?;
            Ok(match name {
                "first" => items.first().cloned().unwrap_or(Val::Nil),
                "last" => items.last().cloned().unwrap_or(Val::Nil),
                "rest" => Val::list(items.get(1..).map(<[Val]>::to_vec).unwrap_or_default()),
                "initial" => Val::list(items[..items.len().saturating_sub(1)].to_vec()),
                "reverse" => Val::list(items.iter().rev().cloned().collect()),
                "compact" => Val::list(items.iter().filter(|v| !empty(v)).cloned().collect()),
                _ => {
                    let mut out: Vec<Val> = Vec::new();
                    for item in items.iter() {
                        if !out.iter().any(|o| deep_equal(o, item, 0)) {
                            out.push(item.clone());
                        }
                    }
                    Val::list(out)
                }
            })
        }
        "append" | "push" => {
            let [l, v] = exact::<2>(name, args)?;
            let mut items = want_list(name, &l)?.to_vec();
            items.push(v);
            Ok(Val::list(items))
        }
        "prepend" => {
            let [l, v] = exact::<2>(name, args)?;
            let mut items = vec![v];
            items.extend(want_list(name, &l)?.iter().cloned());
            Ok(Val::list(items))
        }
        "concat" => {
            let mut out = Vec::new();
            for l in &args {
                match l {
                    Val::List(items) => out.extend(items.iter().cloned()),
                    other => {
                        return Err(format!("Cannot concat type {} as list", other.type_name()))
                    }
                }
            }
            Ok(Val::list(out))
        }
        "has" => {
            let [needle, l] = exact::<2>(name, args)?;
            Ok(Val::Bool(match &l {
                Val::List(items) => items.iter().any(|i| deep_equal(i, &needle, 0)),
                Val::Nil | Val::Missing => false,
                other => return Err(format!("Cannot find has on type {}", other.type_name())),
            }))
        }
        "without" => {
            let Some((l, omit)) = args.split_first() else {
                return Err("wrong number of args for without: want at least 1 got 0".into());
            };
            let items = want_list(name, l)?;
            Ok(Val::list(
                items
                    .iter()
                    .filter(|i| !omit.iter().any(|o| deep_equal(i, o, 0)))
                    .cloned()
                    .collect(),
            ))
        }
        "dict" => {
            let mut map = BTreeMap::new();
            for pair in args.chunks(2) {
                let key = strval(&pair[0]);
                map.insert(key, pair.get(1).cloned().unwrap_or_else(|| Val::str("")));
            }
            Ok(Val::map(map))
        }
        "get" => {
            let [d, k] = exact::<2>(name, args)?;
            let (d, k) = (want_map(&d)?, want_str(&k)?);
            let found = d.try_borrow().ok().and_then(|m| m.get(&k).cloned());
            Ok(found.unwrap_or_else(|| Val::str("")))
        }
        "set" => {
            let [d, k, v] = exact::<3>(name, args)?;
            let (map, k) = (want_map(&d)?, want_str(&k)?);
            map.try_borrow_mut()
                .map_err(|_| "map in use".to_string())?
                .insert(k, v);
            Ok(d)
        }
        "unset" => {
            let [d, k] = exact::<2>(name, args)?;
            let (map, k) = (want_map(&d)?, want_str(&k)?);
            map.try_borrow_mut()
                .map_err(|_| "map in use".to_string())?
                .remove(&k);
            Ok(d)
        }
        "hasKey" => {
            let [d, k] = exact::<2>(name, args)?;
            let (d, k) = (want_map(&d)?, want_str(&k)?);
            Ok(Val::Bool(
                d.try_borrow().map(|m| m.contains_key(&k)).unwrap_or(false),
            ))
        }
        "keys" => {
            // sprig returns Go map order (random); sorted is one of its possible answers and
            // keeps renders deterministic, as replicated state needs.
            let mut keys = Vec::new();
            for d in &args {
                let d = want_map(d)?;
                let names: Vec<String> = d
                    .try_borrow()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                keys.extend(names);
            }
            keys.sort();
            Ok(Val::list(keys.into_iter().map(Val::str).collect()))
        }
        "values" => {
            let [d] = exact::<1>(name, args)?;
            let d = want_map(&d)?;
            let values: Vec<Val> = d
                .try_borrow()
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            Ok(Val::list(values))
        }
        "pluck" => {
            let Some((k, maps)) = args.split_first() else {
                return Err("wrong number of args for pluck: want at least 1 got 0".into());
            };
            let k = want_str(k)?;
            let mut out = Vec::new();
            for d in maps {
                if let Some(v) = want_map(d)?
                    .try_borrow()
                    .ok()
                    .and_then(|m| m.get(&k).cloned())
                {
                    out.push(v);
                }
            }
            Ok(Val::list(out))
        }
        "pick" | "omit" => {
            let Some((d, names)) = args.split_first() else {
                return Err(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                ));
            };
            let d = want_map(d)?;
            let names: Vec<String> = names.iter().map(strval).collect();
            let keep = |k: &String| names.contains(k) == (name == "pick");
            let out: BTreeMap<String, Val> = d
                .try_borrow()
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| keep(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            Ok(Val::map(out))
        }
        "default" => {
            let Some((d, given)) = args.split_first() else {
                return Err("wrong number of args for default: want at least 1 got 0".into());
            };
            match given.first() {
                Some(v) if !empty(v) => Ok(v.clone()),
                _ => Ok(d.clone()),
            }
        }
        "empty" => {
            let [v] = exact::<1>(name, args)?;
            Ok(Val::Bool(empty(&v)))
        }
        "coalesce" => Ok(args.into_iter().find(|v| !empty(v)).unwrap_or(Val::Nil)),
        "ternary" => {
            let [t, f, c] = exact::<3>(name, args)?;
            match c {
                Val::Bool(true) => Ok(t),
                Val::Bool(false) => Ok(f),
                other => Err(format!(
                    "wrong type for value; expected bool; got {}",
                    other.type_name()
                )),
            }
        }
        "toJson" | "toRawJson" | "toPrettyJson" => {
            let [v] = exact::<1>(name, args)?;
            let json = v.to_json().unwrap_or(serde_json::Value::Null);
            let text = if name == "toPrettyJson" {
                serde_json::to_string_pretty(&json)
            } else {
                serde_json::to_string(&json)
            }
            .unwrap_or_default();
            Ok(Val::str(if name == "toRawJson" {
                text
            } else {
                go_json_escape(&text)
            }))
        }
        "kindOf" => {
            let [v] = exact::<1>(name, args)?;
            Ok(Val::str(kind(&v)))
        }
        "typeOf" => {
            let [v] = exact::<1>(name, args)?;
            Ok(Val::str(v.type_name()))
        }
        "kindIs" => {
            let [k, v] = exact::<2>(name, args)?;
            Ok(Val::Bool(want_str(&k)? == kind(&v)))
        }
        "typeIs" => {
            let [t, v] = exact::<2>(name, args)?;
            Ok(Val::Bool(want_str(&t)? == v.type_name()))
        }
        "deepEqual" => {
            let [a, b] = exact::<2>(name, args)?;
            Ok(Val::Bool(deep_equal(&a, &b, 0)))
        }
        "base" | "dir" | "clean" | "ext" | "isAbs" => {
            let [p] = strs::<1>(name, args)?;
            Ok(match name {
                "base" => Val::str(go_path_base(&p)),
                "dir" => Val::str(go_path_dir(&p)),
                "clean" => Val::str(go_path_clean(&p)),
                "ext" => Val::str(go_path_ext(&p)),
                _ => Val::Bool(p.starts_with('/')),
            })
        }
        "sha256sum" => {
            use sha2::Digest;
            let [s] = strs::<1>(name, args)?;
            Ok(Val::str(hex::encode(sha2::Sha256::digest(s.as_bytes()))))
        }
        "fail" => {
            let [m] = strs::<1>(name, args)?;
            Err(m)
        }
        other => Err(format!("function {other:?} not defined")),
    }
}

fn is_go_space(c: char) -> bool {
    c.is_whitespace()
}

fn is_nil(v: &Val) -> bool {
    matches!(v, Val::Nil | Val::Missing)
}

/// A `string` parameter: Go's template refuses anything else.
fn want_str(v: &Val) -> Result<String, String> {
    match v {
        Val::Str(s) => Ok(s.to_string()),
        Val::Nil | Val::Missing => Err("invalid value; expected string".into()),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

fn strs<const N: usize>(name: &str, args: Vec<Val>) -> Result<[String; N], String> {
    let vals = exact::<N>(name, args)?;
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, v) in out.iter_mut().zip(vals.iter()) {
        *slot = want_str(v)?;
    }
    Ok(out)
}

fn unary_str(name: &str, args: Vec<Val>, f: impl Fn(&str) -> String) -> FResult {
    let [s] = strs::<1>(name, args)?;
    Ok(Val::str(f(&s)))
}

/// An `int` parameter (whole JSON numbers accepted, see [`Val::as_int`]).
fn want_int(v: &Val) -> Result<i64, String> {
    v.as_int()
        .ok_or_else(|| format!("wrong type for value; expected int; got {}", v.type_name()))
}

fn want_map(v: &Val) -> Result<crate::value::MapRef, String> {
    match v {
        Val::Map(m) => Ok(m.clone()),
        other => Err(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            other.type_name()
        )),
    }
}

fn want_list<'v>(name: &str, v: &'v Val) -> Result<&'v [Val], String> {
    match v {
        Val::List(items) => Ok(items),
        other => Err(format!("Cannot find {name} on type {}", other.type_name())),
    }
}

/// sprig's `strval`: strings as they are, everything else as `%v`.
fn strval(v: &Val) -> String {
    match v {
        Val::Missing | Val::Nil => "<nil>".into(),
        other => other.print(),
    }
}

/// sprig's `strslice`: a list's non-nil elements as strings, nil as empty, else one element.
fn strslice(v: &Val) -> Vec<String> {
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

fn kind(v: &Val) -> &'static str {
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
fn to_int64(v: &Val) -> i64 {
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
fn to_float64(v: &Val) -> f64 {
    match v {
        Val::Int(i) => *i as f64,
        Val::Float(f) => *f,
        Val::Bool(b) => f64::from(u8::from(*b)),
        Val::Str(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// sprig's `slice list [start [end]]`, which replaces Go's builtin in DRP's function map:
/// lists only, indexes through `cast.ToInt` (so JSON numbers work), an empty list gives nil.
fn sprig_slice(args: Vec<Val>) -> FResult {
    let Some((list, idx)) = args.split_first() else {
        return Err("wrong number of args for slice: want at least 1 got 0".into());
    };
    let items = match list {
        Val::List(items) => items,
        Val::Nil | Val::Missing => {
            return Err("list should be type of slice or array but <nil>".into())
        }
        other => {
            return Err(format!(
                "list should be type of slice or array but {}",
                kind(other)
            ))
        }
    };
    if items.is_empty() {
        return Ok(Val::Nil);
    }
    let len = items.len() as i64;
    let start = idx.first().map(to_int64).unwrap_or(0);
    let end = idx.get(1).map(to_int64).unwrap_or(len);
    if start < 0 || end > len || start > end {
        return Err(format!(
            "slice bounds out of range [{start}:{end}] with capacity {len}"
        ));
    }
    Ok(Val::list(items[start as usize..end as usize].to_vec()))
}

/// Go's `path.Clean`.
fn go_path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Base`.
fn go_path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `path.Dir`.
fn go_path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    go_path_clean(dir)
}

/// Go's `path.Ext`.
fn go_path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        match c {
            '/' => break,
            '.' => return p[i..].to_string(),
            _ => {}
        }
    }
    String::new()
}

/// `reflect.DeepEqual` for template values (sprig's `uniq`, `has`, `without`).
fn deep_equal(a: &Val, b: &Val, depth: usize) -> bool {
    if depth > MAX_VALUE_DEPTH {
        return false;
    }
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
                    .all(|(p, q)| deep_equal(p, q, depth + 1))
        }
        (Val::Map(x), Val::Map(y)) => match (x.try_borrow(), y.try_borrow()) {
            (Ok(x), Ok(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w, depth + 1)))
            }
            _ => false,
        },
        (Val::Root, Val::Root) => true,
        _ => false,
    }
}

fn compile(re: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(re)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("regexp: Compile({}): {e}", go_quote(re)))
}

/// Go's `strings.Replace(s, old, new, -1)`: an empty `old` inserts `new` around every char.
fn go_replace_all(s: &str, old: &str, new: &str) -> Result<String, String> {
    if old.is_empty() {
        let n = s.chars().count() + 1;
        if new.len().saturating_mul(n).saturating_add(s.len()) > MAX_BUILT_BYTES {
            return Err(format!("result larger than {MAX_BUILT_BYTES} bytes"));
        }
        let mut out = String::from(new);
        for c in s.chars() {
            out.push(c);
            out.push_str(new);
        }
        return Ok(out);
    }
    let count = s.matches(old).count();
    if new.len().saturating_mul(count).saturating_add(s.len()) > MAX_BUILT_BYTES {
        return Err(format!("result larger than {MAX_BUILT_BYTES} bytes"));
    }
    Ok(s.replace(old, new))
}

/// Go's `strings.Split` / `SplitN`: an empty separator splits into UTF-8 characters.
fn go_split(s: &str, sep: &str, n: Option<i64>) -> Vec<String> {
    match n {
        Some(0) => Vec::new(),
        Some(n) if n > 0 => {
            if sep.is_empty() {
                let chars: Vec<String> = s.chars().map(String::from).collect();
                let n = n as usize;
                if chars.len() <= n {
                    return chars;
                }
                let mut out: Vec<String> = chars[..n - 1].to_vec();
                out.push(chars[n - 1..].concat());
                return out;
            }
            s.splitn(n as usize, sep).map(String::from).collect()
        }
        _ => {
            if sep.is_empty() {
                return s.chars().map(String::from).collect();
            }
            s.split(sep).map(String::from).collect()
        }
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
