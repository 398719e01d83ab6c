//! The one reading of a boolean flag in a query string or header (`reverse`, `decode`,
//! `explode`, `replaceWritable`, `X-DRP-Stale-Read`): Go's `strconv.ParseBool`, which DRP uses, in any
//! case, since Python clients send `True`.

/// `Some(true)` for `1`, `t`, `true`; `Some(false)` for `0`, `f`, `false` (any case); `None`
/// for anything else, including the empty value (callers decide what a bare flag means).
pub fn parse(value: &str) -> Option<bool> {
    proto::query::parse_bool(value)
}

/// A flag that is off unless it reads as true: for opt-ins where a malformed value must
/// not switch anything on.
pub fn is_set(value: Option<&str>) -> bool {
    value.and_then(parse).unwrap_or(false)
}

/// A flag's value that is not a boolean (the value as sent), for a 400 naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not true or false")]
pub struct NotABool(pub String);

/// The flag `name` in a query string: false when absent, true when bare (`?explode`), else
/// its value read by [`parse`].
pub fn in_query(query: Option<&str>, name: &str) -> Result<bool, NotABool> {
    let pairs = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes());
    match pairs.filter(|(k, _)| k == name).last() {
        None => Ok(false),
        Some((_, v)) if v.is_empty() => Ok(true),
        Some((_, v)) => parse(&v).ok_or_else(|| NotABool(v.into_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_booleans_in_any_case() {
        for yes in ["1", "t", "T", "true", "True", "TRUE"] {
            assert_eq!(parse(yes), Some(true), "{yes}");
        }
        for no in ["0", "f", "F", "false", "False", "FALSE"] {
            assert_eq!(parse(no), Some(false), "{no}");
        }
        for neither in ["", "yes", "2", "truee"] {
            assert_eq!(parse(neither), None, "{neither}");
        }
        assert!(!is_set(None));
        assert!(!is_set(Some("nope")));
        assert!(is_set(Some("True")));
    }

    #[test]
    fn reads_a_flag_of_a_query_string() {
        assert_eq!(in_query(None, "explode"), Ok(false));
        assert_eq!(in_query(Some("a=1"), "explode"), Ok(false));
        assert_eq!(in_query(Some("explode"), "explode"), Ok(true));
        assert_eq!(in_query(Some("explode=True"), "explode"), Ok(true));
        assert_eq!(in_query(Some("explode=0"), "explode"), Ok(false));
        assert_eq!(
            in_query(Some("explode=%C2%A3"), "explode"),
            Err(NotABool("£".to_string()))
        );
    }
}
