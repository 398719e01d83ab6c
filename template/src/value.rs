//! Values during execution, with Go's semantics for the types JSON decodes into
//! (`interface{}` holding `string`, `float64`, `bool`, `nil`, `[]interface{}`,
//! `map[string]interface{}`) plus the `int` that template constants and sprig math produce.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::Value;

/// Maps are shared and mutable, as Go maps are: sprig's `set` changes the map every holder sees.
pub(crate) type MapRef = Rc<RefCell<BTreeMap<String, Val>>>;

#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// Go's invalid `reflect.Value`: a missing map key. Prints as `<no value>`.
    Missing,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    List(Rc<Vec<Val>>),
    Map(MapRef),
    /// The render data itself (`.` and `$` at the top of a render): field chains on it go to
    /// [`crate::RenderData`].
    Root,
    /// An object of the render data that has methods (`.Machine`, `.Env`): as a value it is
    /// its JSON, while `.Field` / `.Method args` on it resolve through the root data with the
    /// chain that reached it, so `{{with .Machine}}{{.ShortName}}{{end}}` works as in DRP.
    Obj(Rc<ObjRef>),
}

#[derive(Debug)]
pub(crate) struct ObjRef {
    pub chain: Vec<String>,
    pub value: Val,
}

/// Containers are unwound iteratively on drop, so a value nested a million levels deep (built
/// by `{{$l = list $l}}` in a loop) cannot overflow the stack when it goes away.
impl Drop for Val {
    fn drop(&mut self) {
        let mut pending: Vec<Val> = Vec::new();
        take_children(self, &mut pending);
        while let Some(mut v) = pending.pop() {
            take_children(&mut v, &mut pending);
        }
    }
}

/// Move out the children of a container this handle solely owns.
fn take_children(v: &mut Val, pending: &mut Vec<Val>) {
    match v {
        Val::List(rc) => {
            if let Some(items) = Rc::get_mut(rc) {
                pending.append(items);
            }
        }
        Val::Map(rc) => {
            if let Some(map) = Rc::get_mut(rc) {
                pending.extend(std::mem::take(map.get_mut()).into_values());
            }
        }
        _ => {}
    }
}

/// Printing and conversion stop descending past this depth (a map can be made to hold itself).
pub(crate) const MAX_VALUE_DEPTH: usize = 64;
/// The most elements one walk over a value (conversion, printing, comparison) visits. Maps are
/// shared references: a map set into itself, or into a chain of maps each holding the last
/// twice, has a tree form that doubles with every level, so the depth bound alone leaves a
/// walk of 2^64 steps.
pub(crate) const MAX_VISITED: usize = 1 << 20;

impl Val {
    pub(crate) fn str(s: impl Into<Rc<str>>) -> Val {
        Val::Str(s.into())
    }

    pub(crate) fn list(v: Vec<Val>) -> Val {
        Val::List(Rc::new(v))
    }

    pub(crate) fn map(m: BTreeMap<String, Val>) -> Val {
        Val::Map(Rc::new(RefCell::new(m)))
    }

    /// The plain value: an object's JSON, anything else itself.
    pub(crate) fn plain(&self) -> &Val {
        match self {
            Val::Obj(o) => &o.value,
            other => other,
        }
    }

    /// Go's type name, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Obj(o) => o.value.type_name(),
            Val::Missing => "<no value>",
            Val::Nil => "<nil>",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Float(_) => "float64",
            Val::Str(_) => "string",
            Val::List(_) => "[]interface {}",
            Val::Map(_) => "map[string]interface {}",
            Val::Root => "*RenderData",
        }
    }

    /// Go's `template.IsTrue`.
    pub(crate) fn truth(&self) -> bool {
        match self {
            Val::Obj(o) => o.value.truth(),
            Val::Missing | Val::Nil => false,
            Val::Bool(b) => *b,
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::List(l) => !l.is_empty(),
            Val::Map(m) => m.try_borrow().map(|m| !m.is_empty()).unwrap_or(true),
            Val::Root => true,
        }
    }

    /// A number as f64, if it is one.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// An integer argument (index, length, count). JSON numbers arrive as float64 here while
    /// DRP's Go structs hold ints, so a whole float is accepted.
    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            _ => None,
        }
    }

    /// Go's JSON decoding: every number is a float64.
    pub(crate) fn from_json(v: &Value) -> Val {
        match v {
            Value::Null => Val::Nil,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Float(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => Val::str(s.as_str()),
            Value::Array(a) => Val::list(a.iter().map(Val::from_json).collect()),
            Value::Object(o) => Val::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Val::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Back to JSON for the render data and `toJson`; whole floats become integers, as Go's
    /// encoder prints them. The root data has no JSON form and becomes null.
    pub(crate) fn to_json(&self) -> Result<Value, String> {
        self.to_json_at(0, &mut MAX_VISITED.clone())
    }

    fn to_json_at(&self, depth: usize, left: &mut usize) -> Result<Value, String> {
        if depth > MAX_VALUE_DEPTH {
            return Err(format!("value nested deeper than {MAX_VALUE_DEPTH} levels"));
        }
        if *left == 0 {
            return Err(format!("value has more than {MAX_VISITED} elements"));
        }
        *left -= 1;
        Ok(match self {
            Val::Missing | Val::Nil | Val::Root => Value::Null,
            Val::Obj(o) => o.value.to_json_at(depth, left)?,
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::from(*i),
            Val::Float(f) => float_to_json(*f),
            Val::Str(s) => Value::String(s.to_string()),
            Val::List(l) => Value::Array(
                l.iter()
                    .map(|v| v.to_json_at(depth + 1, left))
                    .collect::<Result<_, _>>()?,
            ),
            Val::Map(m) => {
                let m = m.try_borrow().map_err(|_| "map in use".to_string())?;
                let mut out = serde_json::Map::new();
                for (k, v) in m.iter() {
                    out.insert(k.clone(), v.to_json_at(depth + 1, left)?);
                }
                Value::Object(out)
            }
        })
    }

    /// What `{{.}}` prints: Go's `fmt.Print` of the value (`<no value>` for a missing key).
    pub(crate) fn print(&self) -> String {
        let mut out = String::new();
        self.write_go(&mut out, 0);
        out
    }

    /// Go's `%v`.
    pub(crate) fn write_go(&self, out: &mut String, depth: usize) {
        // Each element prints at least one byte, so the output's size bounds the walk.
        if depth > MAX_VALUE_DEPTH || out.len() > MAX_VISITED {
            out.push_str("...");
            return;
        }
        match self {
            Val::Missing => out.push_str("<no value>"),
            Val::Nil => out.push_str("<nil>"),
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Int(i) => out.push_str(&i.to_string()),
            Val::Float(f) => out.push_str(&format_float_v(*f)),
            Val::Str(s) => out.push_str(s),
            Val::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_go(out, depth + 1);
                }
                out.push(']');
            }
            Val::Map(m) => {
                out.push_str("map[");
                if let Ok(m) = m.try_borrow() {
                    for (i, (k, v)) in m.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        out.push_str(k);
                        out.push(':');
                        v.write_go(out, depth + 1);
                    }
                }
                out.push(']');
            }
            Val::Root => out.push_str("&{RenderData}"),
            Val::Obj(o) => o.value.write_go(out, depth),
        }
    }
}

fn float_to_json(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// The shortest decimal digits of `f` (no sign) and its decimal exponent: `f = 0.d1d2... * 10^dp`.
pub(crate) fn shortest_digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    (digits.to_string(), exp + 1)
}

/// How Go prints NaN and the infinities, if `f` is one of them.
pub(crate) fn non_finite(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        None
    }
}

/// Go's `%v` for a float64: `strconv.FormatFloat(f, 'g', -1, 64)`.
pub(crate) fn format_float_v(f: f64) -> String {
    if let Some(special) = non_finite(f) {
        return special.into();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0");
    }
    let (digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    // Go: %v is %g with the shortest precision, and %g switches to %e when the exponent is
    // below -4 or at least the precision, which is taken as 6 for the shortest form. So
    // float64(1000000) prints 1e+06, as every Go template user has met.
    if !(-4..6).contains(&exp) {
        return format!("{sign}{}", exp_form(&digits, exp));
    }
    format!("{sign}{}", fixed_form(&digits, dp))
}

/// `d.ddde+XX` from shortest digits.
pub(crate) fn exp_form(digits: &str, exp: i32) -> String {
    let (first, rest) = digits.split_at(1);
    let mut s = first.to_string();
    if !rest.is_empty() {
        s.push('.');
        s.push_str(rest);
    }
    s.push('e');
    s.push(if exp < 0 { '-' } else { '+' });
    s.push_str(&format!("{:02}", exp.abs()));
    s
}

/// Plain decimal from shortest digits with decimal point position `dp`.
fn fixed_form(digits: &str, dp: i32) -> String {
    if dp <= 0 {
        return format!("0.{}{}", "0".repeat((-dp) as usize), digits);
    }
    let dp = dp as usize;
    if digits.len() <= dp {
        return format!("{}{}", digits, "0".repeat(dp - digits.len()));
    }
    format!("{}.{}", &digits[..dp], &digits[dp..])
}
