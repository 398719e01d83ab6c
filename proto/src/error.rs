//! DRP's error body, `{"Model","Key","Type","Messages":[...],"Code"}`, and the one table of
//! `Type` names by status that the endpoint and the manager both answer with.
//!
//! DRP fills `Type` with `ValidationError` for a rejected body and leaves its other names to
//! each handler; neither `AuthError` nor `Unauthorized` appears in DRP's published client code.
//! The endpoint's names were the older and the ones its clients already saw, so they are the
//! contract: 401 and 403 are both `AuthError`.

use serde::{Deserialize, Serialize};

/// The body of every error reply. Reading is lenient (every field defaults) so a body from an
/// older or a foreign server still parses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// The collection (or area) at fault, e.g. `machines`; empty when none.
    #[serde(rename = "Model")]
    pub model: String,
    /// The object's key within [`Self::model`]; empty when none.
    #[serde(rename = "Key")]
    pub key: String,
    /// The kind of error, from [`error_type`].
    #[serde(rename = "Type")]
    pub kind: String,
    /// What went wrong, one line each.
    #[serde(rename = "Messages")]
    pub messages: Vec<String>,
    /// The HTTP status, repeated in the body.
    #[serde(rename = "Code")]
    pub code: u16,
}

impl ErrorBody {
    /// The body for `status`, its `Type` taken from [`error_type`].
    pub fn new(status: u16, model: &str, key: &str, messages: Vec<String>) -> Self {
        Self {
            model: model.to_owned(),
            key: key.to_owned(),
            kind: error_type(status).to_owned(),
            messages,
            code: status,
        }
    }

    /// The messages on one line each joined by `sep`, for a client's error text.
    pub fn joined(&self, sep: &str) -> String {
        self.messages.join(sep)
    }
}

/// DRP's `Type` for an error status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "ValidationError",
        401 | 403 => "AuthError",
        404 => "NotFound",
        409 => "Conflict",
        412 => "PreconditionFailed",
        413 => "TooLarge",
        502..=504 => "Unavailable",
        _ => "API_ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_types() {
        let body = ErrorBody::new(401, "", "", vec!["who are you".into()]);
        let v = serde_json::to_value(&body).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"Model": "", "Key": "", "Type": "AuthError",
                "Messages": ["who are you"], "Code": 401})
        );
        assert_eq!(error_type(403), "AuthError");
        assert_eq!(error_type(422), "ValidationError");
        assert_eq!(error_type(502), "Unavailable");
        assert_eq!(error_type(500), "API_ERROR");
    }

    #[test]
    fn reading_is_lenient() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"Messages":["a","b"],"Extra":1}"#).unwrap_or_default();
        assert_eq!(body.joined("; "), "a; b");
        assert_eq!(body.code, 0);
    }
}
