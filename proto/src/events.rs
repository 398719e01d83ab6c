//! DRP's event registrations (`register <type>.<action>.<key>` on `/api/v3/ws`): the pattern
//! and its match, shared by the endpoint's and the manager's event websockets.

/// A `register`ed pattern `<type>.<action>.<key>`, each part a literal or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: [String; 3],
}

/// A `register` argument that is not `<type>.<action>.<key>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not <type>.<action>.<key> (use * for any)")]
pub struct BadPattern(pub String);

impl Pattern {
    /// Parses `<type>.<action>.<key>`; the key may itself contain dots.
    pub fn parse(text: &str) -> Result<Pattern, BadPattern> {
        let mut it = text.splitn(3, '.');
        match (it.next(), it.next(), it.next()) {
            (Some(t), Some(a), Some(k)) if !t.is_empty() && !a.is_empty() && !k.is_empty() => {
                Ok(Pattern {
                    parts: [t.to_string(), a.to_string(), k.to_string()],
                })
            }
            _ => Err(BadPattern(text.to_string())),
        }
    }

    /// Whether an event of this type, action and key matches.
    pub fn matches(&self, kind: &str, action: &str, key: &str) -> bool {
        let ok = |p: &str, v: &str| p == "*" || p == v;
        ok(&self.parts[0], kind) && ok(&self.parts[1], action) && ok(&self.parts[2], key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_with_wildcards() {
        let m = |p: &str| {
            Pattern::parse(p)
                .expect("p")
                .matches("machines", "update", "a.b")
        };
        assert!(m("machines.*.*"));
        assert!(m("*.update.a.b"), "the key may contain dots");
        assert!(!m("profiles.*.*"));
        assert_eq!(
            Pattern::parse("machines.update").unwrap_err().to_string(),
            "\"machines.update\" is not <type>.<action>.<key> (use * for any)"
        );
    }
}
