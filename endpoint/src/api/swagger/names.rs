//! Names and references in the document: schema names of collections, `$ref`s, and the
//! `{C}`-style placeholders of the route table's texts.

use serde_json::{json, Value};

use crate::model::Collection;

/// `machine_params` -> `MachineParams`.
pub(super) fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// DRP's model names are the collection names without the plural `s`.
pub(super) fn singular(name: &str) -> &str {
    name.strip_suffix('s').unwrap_or(name)
}

/// The schema name of a collection's objects (`Machine`, `CatalogItem`).
pub(super) fn schema_name(c: &Collection) -> String {
    pascal(singular(c.model))
}

/// Fills a table text's `{Cs}`, `{C}`, `{c}` and `{m}` for a collection.
pub(super) fn fill(text: &str, c: Option<&Collection>) -> String {
    match c {
        Some(c) => text
            .replace("{Cs}", &pascal(c.name))
            .replace("{C}", &schema_name(c))
            .replace("{c}", c.name)
            .replace("{m}", singular(c.model)),
        None => text.to_string(),
    }
}

pub(super) fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

pub(super) fn param_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

pub(super) fn header_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/headers/{name}") })
}
