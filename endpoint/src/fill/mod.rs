//! DRP's server-side defaults ("Fill") and wire types, in one place. Every object the store
//! writes (create, replace, patch, params, content packs, VersionSet plugins) passes through
//! [`defaults`] or [`stored`] inside `apply`, and every object a client sends is checked by
//! [`type_problems`] (through `model::validate`), so a reader such as drppy-client, which
//! refuses a null required field or a string where an integer belongs, can read anything
//! stored.

mod table;

use serde_json::{Map, Value};
pub use table::{fields, Field, Fill, Ty, COMMON};

/// Who made a change and when, from the replicated command: every member stamps alike.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    pub at_ms: u64,
    /// The authenticated user; empty for a member's own commands.
    pub by: &'a str,
}

/// `at_ms` as DRP writes times (RFC 3339, UTC, milliseconds).
pub fn rfc3339(at_ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms);
    humantime::format_rfc3339_millis(at).to_string()
}

/// The zero of a type, `None` for types never filled (times, free-form values).
fn zero(ty: Ty) -> Option<Value> {
    Some(match ty {
        Ty::Str => Value::String(String::new()),
        Ty::Bool => Value::Bool(false),
        Ty::Int => Value::from(0),
        Ty::Time | Ty::Any => return None,
        Ty::StrList | Ty::StructList(_) => Value::Array(Vec::new()),
        Ty::StrMap | Ty::Map | Ty::ListMap | Ty::StructMap(_) => Value::Object(Map::new()),
        Ty::Struct(fields) => {
            let mut map = Map::new();
            fill_fields(&mut map, fields);
            Value::Object(map)
        }
    })
}

fn default_value(field: &Field) -> Option<Value> {
    match field.fill {
        Fill::No => None,
        Fill::Zero => zero(field.ty),
        Fill::Int(n) => Some(Value::from(n)),
        Fill::Bool(b) => Some(Value::Bool(b)),
        Fill::Str(s) => Some(Value::String(s.to_string())),
        Fill::Strs(list) => Some(Value::Array(
            list.iter().map(|s| Value::String(s.to_string())).collect(),
        )),
    }
}

/// Fills the nested objects a present value holds (a task's `Templates`, a bootenv's `OS`).
fn fill_nested(value: &mut Value, ty: Ty) {
    match (ty, value) {
        (Ty::Struct(fields), Value::Object(map)) => fill_fields(map, fields),
        (Ty::StructList(fields), Value::Array(items)) => {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                fill_fields(item, fields);
            }
        }
        (Ty::StructMap(fields), Value::Object(map)) => {
            for item in map.values_mut().filter_map(Value::as_object_mut) {
                fill_fields(item, fields);
            }
        }
        _ => {}
    }
}

fn fill_fields(map: &mut Map<String, Value>, fields: &[Field]) {
    for field in fields {
        // Absent and null both mean the default (DRP's clients send nulls for empty fields).
        let slot = map.get_mut(field.name).filter(|v| !v.is_null());
        match slot {
            Some(value) => fill_nested(value, field.ty),
            None => match default_value(field) {
                Some(value) => {
                    map.insert(field.name.to_string(), value);
                }
                None => {
                    // A null DRP would have omitted: readers treat absent as "not set".
                    if map.get(field.name).is_some_and(Value::is_null) {
                        map.remove(field.name);
                    }
                }
            },
        }
    }
}

/// DRP's defaults for every absent or null field of a `collection` object, and the server's
/// verdict fields (`Validated`, `Available`, `Errors`; references are checked after this).
pub fn defaults(collection: &str, object: Value) -> Value {
    let Value::Object(mut map) = object else {
        return object;
    };
    fill_fields(&mut map, COMMON);
    fill_fields(&mut map, fields(collection));
    map.insert("Validated".into(), Value::Bool(true));
    map.insert("Available".into(), Value::Bool(true));
    map.insert("Errors".into(), Value::Array(Vec::new()));
    Value::Object(map)
}

/// [`defaults`], plus the creation and modification stamps: `CreatedAt`/`CreatedBy` kept
/// from `previous` (the stored object this write replaces) or set now, `LastModifiedAt`/
/// `LastModifiedBy` set now. What a client sent in these fields is ignored.
pub fn stored(collection: &str, object: Value, previous: Option<&Value>, stamp: Stamp) -> Value {
    let mut object = defaults(collection, object);
    let Some(map) = object.as_object_mut() else {
        return object;
    };
    let now = Value::String(rfc3339(stamp.at_ms));
    let by = Value::String(stamp.by.to_string());
    for (field, fresh) in [("CreatedAt", &now), ("CreatedBy", &by)] {
        let kept = previous.and_then(|p| p.get(field)).filter(|v| !v.is_null());
        map.insert(field.into(), kept.unwrap_or(fresh).clone());
    }
    map.insert("LastModifiedAt".into(), now);
    map.insert("LastModifiedBy".into(), by);
    object
}

/// Moves `LastModifiedAt`/`LastModifiedBy` of a stored object changed in place (a param set
/// or removed), leaving the rest of it, including its reference verdict, as it was.
pub fn touch(object: &mut Value, stamp: Stamp) {
    if let Some(map) = object.as_object_mut() {
        map.insert("LastModifiedAt".into(), Value::String(rfc3339(stamp.at_ms)));
        map.insert("LastModifiedBy".into(), Value::String(stamp.by.to_string()));
    }
}

/// Whether `s` has the shape of an RFC 3339 time (`2024-01-02T03:04:05` and more).
fn looks_like_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
}

/// What a type is called in an error message.
fn type_name(ty: Ty) -> &'static str {
    match ty {
        Ty::Str => "a string",
        Ty::Bool => "true or false",
        Ty::Int => "an integer",
        Ty::Time => "an RFC 3339 time",
        Ty::Any => "any value",
        Ty::StrList => "a list of strings",
        Ty::StrMap => "an object of name to string",
        Ty::Map => "an object of name to value",
        Ty::ListMap => "an object of name to a list of strings",
        Ty::Struct(_) => "an object",
        Ty::StructList(_) => "a list of objects",
        Ty::StructMap(_) => "an object of name to object",
    }
}

fn check(path: &str, value: &Value, ty: Ty, problems: &mut Vec<String>) {
    if value.is_null() {
        return;
    }
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    let ok = match ty {
        Ty::Str => value.is_string(),
        Ty::Bool => value.is_boolean(),
        Ty::Int => value.is_i64() || value.is_u64(),
        Ty::Time => value.as_str().is_some_and(looks_like_time),
        Ty::Any => true,
        Ty::StrList => strings(value),
        Ty::StrMap => value
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string)),
        Ty::Map => value.is_object(),
        Ty::ListMap => value
            .as_object()
            .is_some_and(|m| m.values().all(|v| v.is_null() || strings(v))),
        Ty::Struct(fields) => match value.as_object() {
            Some(map) => {
                check_fields(&format!("{path}."), map, fields, problems);
                true
            }
            None => false,
        },
        Ty::StructList(fields) => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_object() {
                        Some(map) => check_fields(&format!("{path}[{i}]."), map, fields, problems),
                        None => problems.push(format!("{path}[{i}] must be an object")),
                    }
                }
                true
            }
            None => false,
        },
        Ty::StructMap(fields) => match value.as_object() {
            Some(map) => {
                for (name, item) in map {
                    match item.as_object() {
                        Some(inner) => {
                            check_fields(&format!("{path}.{name}."), inner, fields, problems)
                        }
                        None => problems.push(format!("{path}.{name} must be an object")),
                    }
                }
                true
            }
            None => false,
        },
    };
    if !ok {
        problems.push(format!("{path} must be {}", type_name(ty)));
    }
}

fn check_fields(prefix: &str, map: &Map<String, Value>, fields: &[Field], out: &mut Vec<String>) {
    for field in fields {
        if let Some(value) = map.get(field.name) {
            check(&format!("{prefix}{}", field.name), value, field.ty, out);
        }
    }
}

/// Each field of a client's `collection` object whose JSON type is not DRP's, named with the
/// type it must have (`CurrentTask must be an integer`). Unknown fields are kept as sent.
pub fn type_problems(collection: &str, object: &Map<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    check_fields("", object, COMMON, &mut problems);
    check_fields("", object, fields(collection), &mut problems);
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bare_task_gets_every_list_a_reader_requires() {
        let task = defaults("tasks", json!({"Name": "t", "Templates": [{"Name": "x"}]}));
        for field in [
            "RequiredParams",
            "OptionalParams",
            "OutputParams",
            "Prerequisites",
        ] {
            assert_eq!(task[field], json!([]), "{field}");
        }
        assert_eq!(task["Templates"][0]["Path"], json!(""));
        assert_eq!(task["Meta"], json!({}));
        assert_eq!(task["ReadOnly"], json!(false));
        assert_eq!(task["Bundle"], json!(""));
    }

    #[test]
    fn machines_get_drp_defaults_and_keep_what_was_sent() {
        let m = defaults(
            "machines",
            json!({"Name": "m", "Tasks": null, "Runnable": false}),
        );
        assert_eq!(m["CurrentTask"], json!(-1));
        assert_eq!(m["Tasks"], json!([]));
        assert_eq!(m["Runnable"], json!(false), "a sent value is kept");
        assert!(
            m.get("Fingerprint").is_none(),
            "optional objects stay absent"
        );
        let p = defaults("params", json!({"Name": "p"}));
        assert_eq!(p["Secure"], json!(false));
    }

    #[test]
    fn nested_required_fields_are_filled() {
        let b = defaults(
            "bootenvs",
            json!({"Name": "b", "OS": {"SupportedArchitectures": {"x86_64": {"Kernel": "k"}}}}),
        );
        assert_eq!(b["OS"]["Name"], json!(""));
        let arch = &b["OS"]["SupportedArchitectures"]["x86_64"];
        assert_eq!(arch["Initrds"], json!([]));
        assert_eq!(arch["BootParams"], json!(""));
        assert_eq!(arch["Kernel"], json!("k"));
    }

    #[test]
    fn stamps_keep_the_creation_and_move_the_modification() {
        let first = stored(
            "profiles",
            json!({"Name": "p"}),
            None,
            Stamp {
                at_ms: 1_000,
                by: "alice",
            },
        );
        assert_eq!(first["CreatedAt"], json!("1970-01-01T00:00:01.000Z"));
        assert_eq!(first["CreatedBy"], json!("alice"));
        let second = stored(
            "profiles",
            json!({"Name": "p", "CreatedBy": "mallory"}),
            Some(&first),
            Stamp {
                at_ms: 2_000,
                by: "bob",
            },
        );
        assert_eq!(second["CreatedBy"], json!("alice"));
        assert_eq!(second["CreatedAt"], first["CreatedAt"]);
        assert_eq!(second["LastModifiedBy"], json!("bob"));
        assert_eq!(second["LastModifiedAt"], json!("1970-01-01T00:00:02.000Z"));
    }

    #[test]
    fn wrong_types_are_named() {
        let bad = json!({"Name": "m", "CurrentTask": "3", "Tasks": [1], "Meta": [],
                         "OS": "linux", "Runnable": null});
        let problems = type_problems("machines", bad.as_object().expect("object"));
        assert!(problems.contains(&"CurrentTask must be an integer".to_string()));
        assert!(problems.contains(&"Tasks must be a list of strings".to_string()));
        assert!(problems.contains(&"Meta must be an object of name to value".to_string()));
        assert_eq!(problems.len(), 3, "{problems:?}");
        let task = json!({"Name": "t", "Templates": [{"Name": 3}]});
        assert_eq!(
            type_problems("tasks", task.as_object().expect("object")),
            vec!["Templates[0].Name must be a string".to_string()]
        );
    }
}
