//! Go's `fmt.Sprint`, `Sprintln` and `Sprintf` for template values: the verbs DRP content
//! uses (`%s %d %v %q %x %X %t %f %e %g %c %o %b %T %%`), flags, width and precision, and
//! Go's in-band error forms (`%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA ...)`).

use crate::value::{
    exp_form, format_float_v, non_finite, shortest_digits, Val, MAX_VALUE_DEPTH, MAX_VISITED,
};

/// `fmt.Sprint`: a space between operands when neither side is a string.
pub(crate) fn sprint(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Val::Str(_)) && !matches!(args[i - 1], Val::Str(_)) {
            out.push(' ');
        }
        a.write_go(&mut out, 0);
    }
    out
}

/// `fmt.Sprintln`: always spaces, and a final newline.
pub(crate) fn sprintln(args: &[Val]) -> String {
    let parts: Vec<String> = args.iter().map(Val::print).collect();
    let mut out = parts.join(" ");
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Widths and precisions past this are refused (Go would allocate them; we bound output).
const MAX_WIDTH: usize = 1 << 20;

/// `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut next_arg = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = read_num(&mut chars, args, &mut next_arg);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(read_num(&mut chars, args, &mut next_arg).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next_arg += 1;
        let body = format_one(verb, arg, &spec, 0, &mut MAX_VISITED.clone());
        out.push_str(&pad(
            &body,
            &spec,
            is_numeric_verb(verb) && arg.as_f64().is_some(),
        ));
    }
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.print()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn read_num(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    args: &[Val],
    next_arg: &mut usize,
) -> Option<usize> {
    if chars.peek() == Some(&'*') {
        chars.next();
        let n = args.get(*next_arg).and_then(Val::as_int);
        *next_arg += 1;
        return n.map(|n| (n.max(0) as usize).min(MAX_WIDTH));
    }
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        n = Some((n.unwrap_or(0) * 10 + d as usize).min(MAX_WIDTH));
    }
    n
}

fn is_numeric_verb(verb: char) -> bool {
    matches!(
        verb,
        'd' | 'f' | 'F' | 'e' | 'E' | 'g' | 'G' | 'x' | 'X' | 'o' | 'b' | 'v'
    )
}

fn pad(body: &str, spec: &Spec, numeric: bool) -> String {
    let Some(width) = spec.width else {
        return body.to_string();
    };
    let len = body.chars().count();
    if len >= width {
        return body.to_string();
    }
    let fill = width - len;
    if spec.minus {
        return format!("{body}{}", " ".repeat(fill));
    }
    if spec.zero && numeric {
        // Zeros go after the sign.
        let (sign, digits) = match body.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (c.to_string(), &body[1..]),
            _ => (String::new(), body),
        };
        return format!("{sign}{}{digits}", "0".repeat(fill));
    }
    if spec.zero {
        // Go (1.19) pads strings with zeros too.
        return format!("{}{body}", "0".repeat(fill));
    }
    format!("{}{body}", " ".repeat(fill))
}

/// `%!d(string=x)`: fmt prints the value with `%v` and the directive's flags and width.
fn bad_verb(verb: char, arg: &Val, spec: &Spec) -> String {
    match arg {
        Val::Nil | Val::Missing => format!("%!{verb}(<nil>)"),
        _ => {
            let inner = pad(
                &format_one('v', arg, spec, 1, &mut MAX_VISITED.clone()),
                spec,
                arg.as_f64().is_some(),
            );
            format!("%!{verb}({}={inner})", arg.type_name())
        }
    }
}

fn sign_prefix(negative: bool, spec: &Spec) -> &'static str {
    if negative {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    }
}

fn format_one(verb: char, arg: &Val, spec: &Spec, depth: usize, left: &mut usize) -> String {
    if depth > MAX_VALUE_DEPTH || *left == 0 {
        return "...".into();
    }
    *left -= 1;
    // fmt prints a nil element of a list or map as <nil> whatever the verb.
    if depth > 0 && matches!(arg, Val::Nil | Val::Missing) && verb != 'T' {
        return "<nil>".into();
    }
    // Lists and maps apply the verb to each element, as fmt does.
    match arg {
        Val::List(items) if verb != 'T' => {
            let parts: Vec<String> = items
                .iter()
                .map(|v| format_one(verb, v, spec, depth + 1, left))
                .collect();
            return format!("[{}]", parts.join(" "));
        }
        Val::Map(m) if verb != 'T' => {
            let parts: Vec<String> = m
                .try_borrow()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            format!(
                                "{}:{}",
                                format_one(verb, &Val::str(k.as_str()), spec, depth + 1, left),
                                format_one(verb, v, spec, depth + 1, left)
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            return format!("map[{}]", parts.join(" "));
        }
        _ => {}
    }
    match verb {
        // `%+v` asks for struct field names, so the plus flag adds no sign here.
        'v' => match arg {
            Val::Float(f) => format_float_v(*f),
            Val::Int(i) => i.to_string(),
            Val::Str(s) if spec.sharp => go_quote(s),
            _ => arg.print(),
        },
        'T' => arg.type_name().to_string(),
        's' => match arg {
            Val::Str(s) => truncate(s, spec.prec),
            _ => bad_verb(verb, arg, spec),
        },
        'q' => match arg {
            Val::Str(s) => {
                if spec.sharp && !s.contains('`') {
                    format!("`{s}`")
                } else {
                    go_quote(s)
                }
            }
            Val::Int(i) => match u32::try_from(*i).ok().and_then(char::from_u32) {
                Some('\'') => "'\\''".into(),
                Some('"') => "'\"'".into(),
                Some(c) => {
                    let quoted = go_quote(&c.to_string());
                    format!("'{}'", &quoted[1..quoted.len() - 1])
                }
                None => "'\u{FFFD}'".into(),
            },
            _ => bad_verb(verb, arg, spec),
        },
        't' => match arg {
            Val::Bool(b) => b.to_string(),
            _ => bad_verb(verb, arg, spec),
        },
        'd' => match arg {
            Val::Int(i) => {
                let digits = i.unsigned_abs().to_string();
                let digits = match spec.prec {
                    Some(p) if digits.len() < p => {
                        format!("{}{digits}", "0".repeat(p - digits.len()))
                    }
                    _ => digits,
                };
                format!("{}{digits}", sign_prefix(*i < 0, spec))
            }
            _ => bad_verb(verb, arg, spec),
        },
        'c' => match arg {
            Val::Int(i) => u32::try_from(*i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}')
                .to_string(),
            _ => bad_verb(verb, arg, spec),
        },
        'o' | 'b' | 'x' | 'X' => match arg {
            Val::Int(i) => {
                let n = i.unsigned_abs();
                let (body, prefix) = match verb {
                    'o' => (format!("{n:o}"), "0"),
                    'b' => (format!("{n:b}"), "0b"),
                    'x' => (format!("{n:x}"), "0x"),
                    _ => (format!("{n:X}"), "0X"),
                };
                let prefix = if spec.sharp { prefix } else { "" };
                format!("{}{prefix}{body}", sign_prefix(*i < 0, spec))
            }
            Val::Float(f) => {
                let s = hex_float(*f);
                if verb == 'X' {
                    s.to_uppercase()
                } else {
                    s
                }
            }
            Val::Str(s) if verb == 'x' || verb == 'X' => {
                let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                if verb == 'X' {
                    hex.to_uppercase()
                } else {
                    hex
                }
            }
            _ => bad_verb(verb, arg, spec),
        },
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => match arg {
            Val::Float(f) => format_float(*f, verb, spec),
            _ => bad_verb(verb, arg, spec),
        },
        _ => bad_verb(verb, arg, spec),
    }
}

fn truncate(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

fn format_float(f: f64, verb: char, spec: &Spec) -> String {
    if let Some(special) = non_finite(f) {
        return special.into();
    }
    let sign = sign_prefix(f.is_sign_negative(), spec);
    let a = f.abs();
    let body = match verb {
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), a),
        'e' | 'E' => {
            let s = rust_exp_to_go(&format!("{:.*e}", spec.prec.unwrap_or(6), a));
            if verb == 'E' {
                s.to_uppercase()
            } else {
                s
            }
        }
        _ => {
            let s = match spec.prec {
                None => format_float_v(a),
                Some(p) => {
                    let p = p.max(1);
                    let rounded: f64 = format!("{:.*e}", p - 1, a).parse().unwrap_or(a);
                    let (digits, dp) = shortest_digits(rounded);
                    let exp = dp - 1;
                    if rounded == 0.0 {
                        "0".into()
                    } else if exp < -4 || exp >= p as i32 {
                        exp_form(&digits, exp)
                    } else {
                        format_float_v(rounded)
                    }
                }
            };
            if verb == 'G' {
                s.to_uppercase()
            } else {
                s
            }
        }
    };
    format!("{sign}{body}")
}

/// Go's `%x` of a float64: `-0x1.e848p+19`, shortest hex mantissa, normalised.
fn hex_float(f: f64) -> String {
    if let Some(special) = non_finite(f) {
        return special.into();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0x0p+00");
    }
    let bits = f.abs().to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i32;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        // Subnormal: shift until the leading bit would be the implicit one.
        exp = 1;
        while mant & (1u64 << 52) == 0 {
            mant <<= 1;
            exp -= 1;
        }
        mant &= (1u64 << 52) - 1;
    }
    let exp = exp - 1023;
    let digits = format!("{mant:013x}");
    let digits = digits.trim_end_matches('0');
    let frac = if digits.is_empty() {
        String::new()
    } else {
        format!(".{digits}")
    };
    let esign = if exp < 0 { '-' } else { '+' };
    format!("{sign}0x1{frac}p{esign}{:02}", exp.abs())
}

/// Rust's `1.5e3` to Go's `1.5e+03`.
fn rust_exp_to_go(s: &str) -> String {
    let Some((m, e)) = s.split_once('e') else {
        return s.to_string();
    };
    let (sign, digits) = match e.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', e),
    };
    format!("{m}e{sign}{digits:0>2}")
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
