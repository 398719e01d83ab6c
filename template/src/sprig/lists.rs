//! sprig's list functions (`slice` is sprig's, which DRP's function map puts in place of Go's).

use crate::funcs::{exact, FResult};
use crate::value::Val;

use super::convert::{deep_equal, empty, kind, to_int64, want_list};

pub(super) const FUNCS: &[&str] = &[
    "list", "tuple", "slice", "first", "last", "rest", "initial", "reverse", "compact", "uniq",
    "append", "push", "prepend", "concat", "has", "without",
];

pub(super) fn call(name: &str, args: Vec<Val>) -> FResult {
    match name {
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
                        if !out.iter().any(|o| deep_equal(o, item)) {
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
                Val::List(items) => items.iter().any(|i| deep_equal(i, &needle)),
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
                    .filter(|i| !omit.iter().any(|o| deep_equal(i, o)))
                    .cloned()
                    .collect(),
            ))
        }
        other => Err(format!("function {other:?} not defined")),
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
