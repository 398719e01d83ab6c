//! sprig's integer math and conversions (`cast`-like: JSON numbers and numeric strings work).

use crate::funcs::{exact, FResult};
use crate::value::Val;

use super::convert::{strs, to_float64, to_int64, want_int, MAX_BUILT_BYTES};

pub(super) const FUNCS: &[&str] = &[
    "add", "add1", "mul", "sub", "div", "mod", "max", "min", "int", "int64", "atoi", "float64",
    "until",
];

pub(super) fn call(name: &str, args: Vec<Val>) -> FResult {
    match name {
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
        other => Err(format!("function {other:?} not defined")),
    }
}
