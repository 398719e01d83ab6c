//! The sprig (github.com/Masterminds/sprig) functions DRP content calls, with sprig's
//! semantics: `get` of a missing key is `""`, `add` works in int64 through `cast.ToInt64`,
//! `toJson` escapes `<>&` as Go's encoder does, `split` returns a `_0`, `_1`, ... map, and so on.
//! Non-deterministic sprig functions (time, random, uuid) are not provided: a template using
//! one fails to parse, naming it, rather than rendering something made up.

mod convert;
mod dicts;
mod flow;
mod lists;
mod numbers;
mod paths;
mod regexp;
mod strings;

pub(crate) use convert::go_json_escape;

use crate::funcs::FResult;
use crate::value::Val;
use convert::MAX_BUILT_BYTES;

/// The functions of one family, and how to call them.
type Group = (&'static [&'static str], fn(&str, Vec<Val>) -> FResult);

const GROUPS: &[Group] = &[
    (strings::FUNCS, strings::call),
    (regexp::FUNCS, regexp::call),
    (numbers::FUNCS, numbers::call),
    (lists::FUNCS, lists::call),
    (dicts::FUNCS, dicts::call),
    (flow::FUNCS, flow::call),
    (paths::FUNCS, paths::call),
];

/// Every sprig function this engine implements.
pub fn names() -> impl Iterator<Item = &'static str> {
    GROUPS.iter().flat_map(|(names, _)| names.iter().copied())
}

pub(crate) fn is_func(name: &str) -> bool {
    names().any(|n| n == name)
}

pub(crate) fn call(name: &str, args: Vec<Val>) -> FResult {
    let Some((_, call)) = GROUPS.iter().find(|(names, _)| names.contains(&name)) else {
        return Err(format!("function {name:?} not defined"));
    };
    let result = call(name, args)?;
    match &result {
        Val::Str(s) if s.len() > MAX_BUILT_BYTES => {
            Err(format!("result larger than {MAX_BUILT_BYTES} bytes"))
        }
        Val::List(l) if l.len() > MAX_BUILT_BYTES / 8 => Err("result list too long".into()),
        _ => Ok(result),
    }
}
