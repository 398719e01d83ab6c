//! DRP list queries on the endpoint's collections. The engine is `proto::query`, shared with
//! the manager's federated lists; this module decodes the raw query string and answers a bad
//! query with a 400 naming what is wrong.

use super::error::ApiError;

pub use proto::query::{ListQuery, MAX_FILTERS, MAX_SORT_KEYS};

/// The list query of a raw query string (`None`: no query, everything).
pub fn parse(query: Option<&str>) -> Result<ListQuery, ApiError> {
    let pairs = query
        .map(|q| url::form_urlencoded::parse(q.as_bytes()))
        .into_iter()
        .flatten();
    proto::query::parse(pairs).map_err(|e| ApiError::bad_request(e.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The engine's own tests live in `proto::query`; here, the decoding and the 400.
    #[test]
    fn decodes_the_query_and_answers_400() {
        let q = parse(Some("Name=In(c,a%20b)&sort=Name")).expect("parse");
        let items = vec![
            json!({"Name": "c"}),
            json!({"Name": "a"}),
            json!({"Name": "a b"}),
        ];
        let names: Vec<_> = q.select(items).iter().map(|o| o["Name"].clone()).collect();
        assert_eq!(names, [json!("a b"), json!("c")]);
        let e = parse(Some("Name=Like(x)")).expect_err("unknown op");
        assert_eq!(e.status, 400);
        assert!(e.messages[0].contains("unknown operator \"Like\""), "{e}");
        assert!(parse(None).is_ok_and(|q| q.offset == 0 && q.limit.is_none()));
    }
}
