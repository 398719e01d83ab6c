//! sprig's regular-expression functions (Go's RE2 syntax; Rust's `regex` is the same family).

use crate::funcs::{exact, FResult};
use crate::gofmt::go_quote;
use crate::value::Val;

use super::convert::{strs, want_int, want_str};

pub(super) const FUNCS: &[&str] = &[
    "regexMatch",
    "regexFind",
    "regexFindAll",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexSplit",
];

pub(super) fn call(name: &str, args: Vec<Val>) -> FResult {
    match name {
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
        other => Err(format!("function {other:?} not defined")),
    }
}

fn compile(re: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(re)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("regexp: Compile({}): {e}", go_quote(re)))
}
