//! The pattern of a `Re(...)` filter: Go's RE2 syntax, as DRP's `Re` uses, matched anywhere in
//! the value (Go's `MatchString`). The `regex` crate matches in linear time, and the compiled
//! size is capped, so a hostile pattern costs a bounded amount of memory and time per object.

use regex::{Regex, RegexBuilder};

use super::MAX_PATTERN_LEN;

/// Compiled program size at most: plenty for any name or address pattern.
const SIZE_LIMIT: usize = 256 * 1024;

/// A compiled `Re(...)` pattern.
#[derive(Debug, Clone)]
pub(super) struct Pattern(Regex);

impl Pattern {
    /// Compiles `source`, or says why it cannot be used.
    pub(super) fn new(source: &str) -> Result<Self, String> {
        if source.chars().count() > MAX_PATTERN_LEN {
            return Err(format!(
                "the pattern is longer than {MAX_PATTERN_LEN} characters"
            ));
        }
        RegexBuilder::new(source)
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(SIZE_LIMIT)
            .build()
            .map(Pattern)
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(_) => {
                    "the pattern compiles too large (simplify its repetitions)".to_string()
                }
                // The syntax error's own text points at the offending part.
                other => other.to_string().replace('\n', " "),
            })
    }

    pub(super) fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

/// Two filters are the same when their patterns are written the same.
impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}
