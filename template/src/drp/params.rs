//! `.Param` and `.ComposeParam`: DRP's param layers, then the param's schema default.

use serde_json::{Map, Value};

use super::DrpContext;

impl DrpContext {
    /// `.Param`: the first layer holding `key`, else its definition's schema default.
    pub fn param(&self, key: &str) -> Result<Value, String> {
        if let Some(v) = self.param_layers.iter().find_map(|layer| layer.get(key)) {
            return Ok(v.clone());
        }
        self.param_default(key)
            .ok_or_else(|| format!("error calling Param: No such machine parameter {key}"))
    }

    fn param_default(&self, key: &str) -> Option<Value> {
        self.param_defs
            .get(key)?
            .pointer("/Schema/default")
            .cloned()
    }

    /// `.ComposeParam`: the param across every layer and the default, highest priority first:
    /// lists are concatenated, objects merged (a higher layer's key wins), and for anything
    /// else the first value found stands.
    pub fn compose_param(&self, key: &str) -> Result<Value, String> {
        let mut found: Vec<Value> = self
            .param_layers
            .iter()
            .filter_map(|l| l.get(key).cloned())
            .collect();
        found.extend(self.param_default(key));
        let Some(first) = found.first().cloned() else {
            return Err(format!(
                "error calling ComposeParam: No such machine parameter {key}"
            ));
        };
        Ok(match first {
            Value::Array(_) => Value::Array(
                found
                    .iter()
                    .filter_map(Value::as_array)
                    .flat_map(|a| a.iter().cloned())
                    .collect(),
            ),
            Value::Object(_) => {
                let mut merged = Map::new();
                for layer in found.iter().rev().filter_map(Value::as_object) {
                    for (k, v) in layer {
                        merged.insert(k.clone(), v.clone());
                    }
                }
                Value::Object(merged)
            }
            other => other,
        })
    }
}
