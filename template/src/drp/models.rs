//! DRP's model structs as JSON: fields the JSON omits read as Go's zero values.

use serde_json::{Map, Value};

use super::{json_type, value, Cursor, Step};

/// The zero value a Go struct field has when the stored JSON omits it.
#[derive(Clone, Copy)]
pub(super) enum Zero {
    Str,
    Int,
    Bool,
    List,
    Map,
}

impl Zero {
    fn value(self) -> Value {
        match self {
            Zero::Str => Value::String(String::new()),
            Zero::Int => Value::from(0),
            Zero::Bool => Value::Bool(false),
            Zero::List => Value::Array(Vec::new()),
            Zero::Map => Value::Object(Map::new()),
        }
    }
}

/// Fields of DRP's `models.Machine` that templates may read even when the JSON omits them.
pub(super) const MACHINE_FIELDS: &[(&str, Zero)] = &[
    ("Name", Zero::Str),
    ("Description", Zero::Str),
    ("Uuid", Zero::Str),
    ("Address", Zero::Str),
    ("BootEnv", Zero::Str),
    ("Stage", Zero::Str),
    ("Workflow", Zero::Str),
    ("OS", Zero::Str),
    ("Arch", Zero::Str),
    ("Context", Zero::Str),
    ("Pool", Zero::Str),
    ("CurrentJob", Zero::Str),
    ("CurrentTask", Zero::Int),
    ("Runnable", Zero::Bool),
    ("WorkflowComplete", Zero::Bool),
    ("Locked", Zero::Bool),
    ("Profiles", Zero::List),
    ("Tasks", Zero::List),
    ("HardwareAddrs", Zero::List),
    ("Params", Zero::Map),
    ("Meta", Zero::Map),
];

/// Fields of DRP's `models.BootEnv`.
pub(super) const BOOTENV_FIELDS: &[(&str, Zero)] = &[
    ("Name", Zero::Str),
    ("Description", Zero::Str),
    ("Documentation", Zero::Str),
    ("Kernel", Zero::Str),
    ("BootParams", Zero::Str),
    ("Initrds", Zero::List),
    ("RequiredParams", Zero::List),
    ("OptionalParams", Zero::List),
    ("Templates", Zero::List),
    ("OnlyUnknown", Zero::Bool),
    ("Available", Zero::Bool),
    ("Meta", Zero::Map),
    ("Loaders", Zero::Map),
];

/// Fields of DRP's `models.OsInfo`.
pub(super) const OS_FIELDS: &[(&str, Zero)] = &[
    ("Name", Zero::Str),
    ("Family", Zero::Str),
    ("Codename", Zero::Str),
    ("Version", Zero::Str),
    ("IsoFile", Zero::Str),
    ("IsoSha256", Zero::Str),
    ("IsoUrl", Zero::Str),
    ("SupportedArchitectures", Zero::Map),
];

/// A member of a DRP model held as JSON: a struct field the JSON omits reads as Go's zero
/// value, as it would on the Go struct; any other missing key is missing.
pub(super) fn model_member(
    v: &Value,
    name: &str,
    args: &[Value],
    fields: &[(&str, Zero)],
) -> Result<Step, String> {
    if v.get(name).is_none() && args.is_empty() {
        if let Some((_, zero)) = fields.iter().find(|(f, _)| *f == name) {
            return value(zero.value());
        }
    }
    json_member(v, name, args)
}

/// A plain JSON member: a map key (missing keys are Go's `<no value>`).
pub(super) fn json_member(v: &Value, name: &str, args: &[Value]) -> Result<Step, String> {
    match v {
        Value::Object(map) => {
            if !args.is_empty() {
                return Err(format!("{name} is not a method but has arguments"));
            }
            Ok(Step::Cursor(match map.get(name) {
                Some(v) => Cursor::Json(v.clone()),
                None => Cursor::Missing,
            }))
        }
        Value::Null => Err(format!("nil pointer evaluating interface {{}}.{name}")),
        other => Err(format!(
            "can't evaluate field {name} in type {}",
            json_type(other)
        )),
    }
}
