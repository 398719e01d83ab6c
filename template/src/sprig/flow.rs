//! sprig's defaults, JSON encoding, type inspection and `fail`.

use crate::funcs::{exact, FResult};
use crate::value::Val;

use super::convert::{deep_equal, empty, go_json_escape, kind, strs, want_str};

pub(super) const FUNCS: &[&str] = &[
    "default",
    "empty",
    "coalesce",
    "ternary",
    "toJson",
    "toRawJson",
    "toPrettyJson",
    "kindOf",
    "typeOf",
    "kindIs",
    "typeIs",
    "deepEqual",
    "fail",
];

pub(super) fn call(name: &str, args: Vec<Val>) -> FResult {
    match name {
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
            Ok(Val::Bool(deep_equal(&a, &b)))
        }
        "fail" => {
            let [m] = strs::<1>(name, args)?;
            Err(m)
        }
        other => Err(format!("function {other:?} not defined")),
    }
}
