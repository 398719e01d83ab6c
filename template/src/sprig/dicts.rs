//! sprig's dict functions; dicts are shared, so `set` changes the map every holder sees.

use std::collections::BTreeMap;

use crate::funcs::{exact, FResult};
use crate::value::Val;

use super::convert::{strval, want_map, want_str};

pub(super) const FUNCS: &[&str] = &[
    "dict", "get", "set", "unset", "hasKey", "keys", "values", "pluck", "pick", "omit",
];

pub(super) fn call(name: &str, args: Vec<Val>) -> FResult {
    match name {
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
        other => Err(format!("function {other:?} not defined")),
    }
}
