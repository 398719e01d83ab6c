//! DRP's DHCP option values (`{Code, Value}` with `Value` a string) to wire bytes.
//!
//! DRP writes addresses as dotted quads (lists comma-separated), numbers in decimal and
//! booleans as `true`/`false`; everything else is text. A value holding `{{` is a Go
//! template rendered over the client's own options, as DRP does, e.g. the common option 67
//! `{{if (eq (index . 77) "iPXE")}}default.ipxe{{else}}ipxe.efi{{end}}`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::Value;

/// Codes whose value is one address.
const ONE_ADDR: &[u8] = &[1, 16, 28, 32, 50, 54, 118, 150];
/// Codes whose value is a list of addresses.
const ADDRS: &[u8] = &[
    3, 4, 5, 6, 7, 8, 9, 10, 11, 41, 42, 44, 45, 48, 49, 65, 68, 69, 70, 71, 72, 73, 74, 75, 76,
];
const U32: &[u8] = &[2, 24, 35, 38, 51, 58, 59];
const U16: &[u8] = &[13, 22, 26, 57];
const U8: &[u8] = &[23, 37, 46, 52];
const BOOL: &[u8] = &[19, 20, 27, 29, 30, 31, 34, 36, 39];
/// The most template text rendered per option (the engine bounds the render itself).
const MAX_TEMPLATE: usize = 4096;

/// Encodes one option value; `None` when it is not valid for its code.
pub fn encode(code: u8, value: &str) -> Option<Vec<u8>> {
    let v = value.trim();
    if ONE_ADDR.contains(&code) {
        return v.parse::<Ipv4Addr>().ok().map(|a| a.octets().to_vec());
    }
    if ADDRS.contains(&code) {
        let mut out = Vec::new();
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.extend_from_slice(&part.parse::<Ipv4Addr>().ok()?.octets());
        }
        return (!out.is_empty()).then_some(out);
    }
    if U32.contains(&code) {
        // Option 2 (time offset) is signed.
        return match code {
            2 => v.parse::<i32>().ok().map(|n| n.to_be_bytes().to_vec()),
            _ => v.parse::<u32>().ok().map(|n| n.to_be_bytes().to_vec()),
        };
    }
    if U16.contains(&code) {
        return v.parse::<u16>().ok().map(|n| n.to_be_bytes().to_vec());
    }
    if U8.contains(&code) {
        return v.parse::<u8>().ok().map(|n| vec![n]);
    }
    if BOOL.contains(&code) {
        return match v {
            "true" | "1" => Some(vec![1]),
            "false" | "0" => Some(vec![0]),
            _ => None,
        };
    }
    Some(value.as_bytes().to_vec())
}

/// The `{Code, Value}` entries of a subnet's or reservation's `Options`.
pub fn configured(object: &Value) -> Vec<(u8, String)> {
    object
        .get("Options")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let code = u8::try_from(o.get("Code")?.as_u64()?).ok()?;
            let value = o.get("Value")?.as_str()?.to_string();
            Some((code, value))
        })
        .collect()
}

/// Renders a templated value over the client's options (`index . 77`); plain values pass
/// through. `None` when the template fails: the option is then left out.
pub fn render(value: &str, client: &BTreeMap<u8, Vec<u8>>, arch: Option<u16>) -> Option<String> {
    if !value.contains("{{") {
        return Some(value.to_string());
    }
    if value.len() > MAX_TEMPLATE {
        return None;
    }
    // DRP's data is Go's map[int]string; JSON maps are keyed by strings, so integer
    // `index` keys are quoted before parsing.
    let source = quote_index_keys(value);
    let template = template::Template::parse("dhcp-option", &source).ok()?;
    let mut data = serde_json::Map::new();
    for (code, raw) in client {
        data.insert(
            code.to_string(),
            Value::String(String::from_utf8_lossy(raw).into_owned()),
        );
    }
    // Go's map index yields "" for a missing key; the classes templates test are always
    // present. Option 93 is shown as DRP does: the decimal architecture number.
    for code in [60u8, 77, 93] {
        data.entry(code.to_string())
            .or_insert(Value::String(String::new()));
    }
    if let Some(arch) = arch {
        data.insert("93".into(), Value::String(arch.to_string()));
    }
    template::render_json(&template, &Value::Object(data), &template::NoTemplates).ok()
}

/// `index . 77` → `index . "77"`.
fn quote_index_keys(source: &str) -> String {
    const PAT: &str = "index . ";
    let mut out = String::with_capacity(source.len() + 8);
    let mut rest = source;
    while let Some(at) = rest.find(PAT) {
        let (before, after) = rest.split_at(at + PAT.len());
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push('"');
            out.push_str(&after[..digits]);
            out.push('"');
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}
