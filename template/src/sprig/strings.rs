//! sprig's string functions.

use crate::funcs::{exact, FResult};
use crate::gofmt::go_quote;
use crate::value::Val;

use super::convert::{
    is_go_space, is_nil, strs, strslice, strval, unary_str, want_int, want_str, MAX_BUILT_BYTES,
};

pub(super) const FUNCS: &[&str] = &[
    "trim",
    "upper",
    "lower",
    "nospace",
    "trimAll",
    "trimall",
    "trimPrefix",
    "trimSuffix",
    "hasPrefix",
    "hasSuffix",
    "contains",
    "replace",
    "repeat",
    "substr",
    "trunc",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "split",
    "splitn",
    "splitList",
    "join",
    "toString",
    "toStrings",
    "sortAlpha",
    "b64enc",
    "b64dec",
];

pub(super) fn call(name: &str, args: Vec<Val>) -> FResult {
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
            Ok(split_map(go_split(&s, &sep, None)))
        }
        "splitn" => {
            let [sep, n, s] = exact::<3>(name, args)?;
            let (sep, n, s) = (want_str(&sep)?, want_int(&n)?, want_str(&s)?);
            Ok(split_map(go_split(&s, &sep, Some(n))))
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
        other => Err(format!("function {other:?} not defined")),
    }
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

/// sprig's `split` result: `{"_0": first, "_1": second, ...}`.
fn split_map(parts: Vec<String>) -> Val {
    Val::map(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), Val::str(p)))
            .collect(),
    )
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
