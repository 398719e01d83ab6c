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

/// A socket's registrations, and the `register`/`deregister` commands that change them.
#[derive(Debug, Clone, Default)]
pub struct Registrations {
    patterns: Vec<Pattern>,
}

/// The answer to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Done: the verb and its pattern's text; `removed` registrations were dropped.
    Done {
        /// `register` or `deregister`.
        verb: String,
        /// The pattern as given.
        key: String,
        /// Registrations a `deregister` removed.
        removed: usize,
    },
    /// Refused, with the HTTP status that names the kind of problem.
    Refused {
        /// 400 for a malformed command, 422 past a limit.
        code: u16,
        /// What was wrong.
        message: String,
    },
}

impl Registrations {
    /// Whether an event of this type, action and key matches a registration.
    pub fn matches(&self, kind: &str, action: &str, key: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(kind, action, key))
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Applies one command. A new registration is kept only below `limit` registrations and
    /// once `admit` agrees (a wider quota; its error is the refusal's message).
    pub fn command(
        &mut self,
        text: &str,
        limit: usize,
        admit: impl FnOnce() -> Result<(), String>,
    ) -> Reply {
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let arg = arg.trim();
        let refused = |code, message| Reply::Refused { code, message };
        let pattern = match Pattern::parse(arg) {
            Ok(p) => p,
            Err(e) => return refused(400, format!("{verb}: {e}")),
        };
        let done = |removed| Reply::Done {
            verb: verb.to_string(),
            key: arg.to_string(),
            removed,
        };
        match verb {
            "register" if self.patterns.contains(&pattern) => done(0),
            "register" if self.patterns.len() >= limit => refused(
                422,
                format!("at most {limit} registrations per connection (the limit)"),
            ),
            "register" => match admit() {
                Ok(()) => {
                    self.patterns.push(pattern);
                    done(0)
                }
                Err(message) => refused(422, message),
            },
            "deregister" => {
                let before = self.patterns.len();
                self.patterns.retain(|p| *p != pattern);
                done(before - self.patterns.len())
            }
            other => refused(
                400,
                format!(
                    "unknown command {other:?}: use register or deregister <type>.<action>.<key>"
                ),
            ),
        }
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

    /// Registrations are kept once, up to the limit and the wider quota, and removed; bad
    /// commands are 400s naming the problem.
    #[test]
    fn commands_register_deregister_and_refuse() {
        let mut r = Registrations::default();
        let ok = || Ok(());
        let done = |verb: &str, removed| Reply::Done {
            verb: verb.into(),
            key: "machines.*.*".into(),
            removed,
        };
        assert_eq!(
            r.command("register machines.*.*", 1, ok),
            done("register", 0)
        );
        assert_eq!(
            r.command("register  machines.*.* ", 1, ok),
            done("register", 0)
        );
        assert!(r.matches("machines", "create", "x"));
        assert!(matches!(
            r.command("register profiles.*.*", 1, ok),
            Reply::Refused { code: 422, .. }
        ));
        assert_eq!(
            r.command("register profiles.*.*", 2, || Err("quota".into())),
            Reply::Refused {
                code: 422,
                message: "quota".into()
            }
        );
        assert!(
            matches!(r.command("register machines", 2, ok), Reply::Refused { code: 400, message } if message.contains("<type>.<action>.<key>"))
        );
        assert!(matches!(
            r.command("frob a.b.c", 2, ok),
            Reply::Refused { code: 400, .. }
        ));
        assert_eq!(
            r.command("deregister machines.*.*", 2, ok),
            done("deregister", 1)
        );
        assert!(r.is_empty());
    }
}
