//! What a push event says: the ref pushed and the commit it now points at. GitHub, Gitea and
//! GitLab all send `ref` and `after` (GitLab also `checkout_sha`); other events (GitHub's
//! `ping`) carry no `ref` and simply refresh.

use serde_json::Value;

/// The parts of a push event the manager reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Push {
    /// The ref pushed (`refs/heads/main`), when the payload names one.
    pub git_ref: Option<String>,
    /// The commit the ref points at after the push.
    pub after: Option<String>,
}

/// Why a webhook's body is not a push event.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The body does not parse as JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// The body is JSON but not an object.
    #[error("the body must be a JSON object (a push event, or {{}})")]
    NotObject,
}

/// Reads the body: empty is a plain refresh, anything else must be a JSON object.
pub fn parse(body: &[u8]) -> Result<Push, PushError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Push::default());
    }
    let value: Value = serde_json::from_slice(body).map_err(PushError::NotJson)?;
    let Value::Object(map) = value else {
        return Err(PushError::NotObject);
    };
    let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(Push {
        git_ref: text("ref"),
        after: text("checkout_sha").or_else(|| text("after")),
    })
}

/// Whether a push of `git_ref` concerns the followed `branch`.
pub fn is_followed(git_ref: &str, branch: &str) -> bool {
    if branch.starts_with("refs/") {
        git_ref == branch
    } else {
        git_ref.strip_prefix("refs/heads/") == Some(branch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_events_of_each_forge() {
        let github = br#"{"ref":"refs/heads/main","before":"a","after":"b","repository":{}}"#;
        let p = parse(github).unwrap();
        assert_eq!(p.git_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(p.after.as_deref(), Some("b"));
        let gitlab =
            br#"{"object_kind":"push","ref":"refs/heads/x","after":"b","checkout_sha":"c"}"#;
        assert_eq!(parse(gitlab).unwrap().after.as_deref(), Some("c"));
        assert_eq!(parse(b"").unwrap(), Push::default());
        assert_eq!(parse(b"{}").unwrap(), Push::default());
        let not_object = parse(b"[1]").unwrap_err().to_string();
        assert_eq!(
            not_object,
            "the body must be a JSON object (a push event, or {})"
        );
        assert!(parse(b"{nope")
            .unwrap_err()
            .to_string()
            .starts_with("the body is not JSON: "));
        assert!(is_followed("refs/heads/main", "main"));
        assert!(!is_followed("refs/heads/main2", "main"));
        assert!(!is_followed("refs/tags/main", "main"));
        assert!(is_followed("refs/tags/v1", "refs/tags/v1"));
    }
}
