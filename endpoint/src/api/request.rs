//! What every write handler needs from the HTTP request: an idempotency key, a body parsed
//! with an error naming the problem, and the read mode.

use axum::http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::clock::now_ms;
use crate::command::{Idempotency, Op, Request};

/// Client-supplied keys are remembered for a day (across failovers, in the replicated state).
const CLIENT_KEY_TTL_MS: u64 = 24 * 60 * 60 * 1000;
/// Keys the entry member assigns itself only protect its own retries.
const AUTO_KEY_TTL_MS: u64 = 10 * 60 * 1000;
const MAX_KEY_LEN: usize = 256;

/// Wraps an operation into a replicated request. Every request gets a key: the client's
/// `Idempotency-Key`, or one assigned here so this member can retry safely on its own.
pub fn build(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    op: Op,
) -> Result<Request, ApiError> {
    let idempotency = match headers.get(proto::headers::IDEMPOTENCY_KEY) {
        Some(v) => {
            let key = v
                .to_str()
                .map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?;
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                return Err(ApiError::bad_request(format!(
                    "Idempotency-Key must be 1 to {MAX_KEY_LEN} characters"
                )));
            }
            let mut digest = Sha256::new();
            digest.update(method.as_str().as_bytes());
            digest.update([0]);
            digest.update(path.as_bytes());
            digest.update([0]);
            digest.update(body);
            Idempotency {
                key: format!("client:{key}"),
                fingerprint: hex::encode(digest.finalize()),
                ttl_ms: CLIENT_KEY_TTL_MS,
            }
        }
        None => Idempotency {
            // Time-ordered: every write stores its record under this key, so v7 keeps the
            // inserts at the end of the table's B-tree (a random key dirtied a page each).
            key: format!("auto:{}", uuid::Uuid::now_v7()),
            fingerprint: String::new(),
            ttl_ms: AUTO_KEY_TTL_MS,
        },
    };
    let if_match = match headers.get("if-match") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::bad_request("If-Match must be visible ASCII"))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    Ok(Request {
        principal: crate::auth::current_user(),
        if_match,
        idempotency: Some(idempotency),
        at_ms: now_ms(),
        op,
    })
}

/// `X-DRP-Stale-Read: true` opts into a local read that may lag the leader.
pub fn wants_stale_read(headers: &HeaderMap) -> bool {
    crate::flag::is_set(
        headers
            .get(proto::headers::STALE_READ)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Deepest nesting of arrays and objects a request body may have. Well under serde_json's own
/// 128, which every Raft entry, stored object and idempotency record is decoded with: a body
/// is stored a few levels deeper than it was sent (a 124-deep body was accepted, and its Raft
/// entry then could not be read back: the node stopped serving and could not restart).
pub const MAX_BODY_DEPTH: usize = 64;
/// What a body may expand to when parsed, in nodes plus string bytes, per byte of body. A
/// document without YAML aliases stays under 2 (`{a,b}` is the worst case, 1.5), so this only
/// bounds alias expansion: 15 KB of aliases used to build 9 million values (1 GB).
pub const MAX_EXPANSION: usize = 2;
/// The expansion allowance of any body, however short: room for aliases in hand-written YAML.
const MIN_EXPANSION_BUDGET: usize = 64 << 10;

/// A request body as JSON, or as YAML (what people write by hand, as `drpcli` accepts).
/// Errors name the line and column, and a refused limit names the limit.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
    let start = text.trim_start();
    if start.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; a JSON or YAML document is required",
        ));
    }
    let allowance = body
        .len()
        .saturating_mul(MAX_EXPANSION)
        .max(MIN_EXPANSION_BUDGET);
    let budget = std::cell::Cell::new(allowance);
    let seed = || bounded::Seed {
        depth: 0,
        budget: &budget,
    };
    use serde::de::DeserializeSeed;
    let mut json = serde_json::Deserializer::from_str(text);
    let parsed = seed()
        .deserialize(&mut json)
        .and_then(|v| json.end().map(|()| v));
    match parsed {
        Ok(v) => Ok(v),
        Err(e) if bounded::is_limit(&e.to_string()) => Err(bounded::refused(e.to_string())),
        Err(e) if start.starts_with(['{', '[']) => {
            Err(ApiError::bad_request(format!("invalid JSON body: {e}")))
        }
        Err(_) => {
            budget.set(allowance);
            seed()
                .deserialize(serde_yaml::Deserializer::from_str(text))
                .map_err(|e| {
                    let e = e.to_string();
                    if bounded::is_limit(&e) {
                        bounded::refused(e)
                    } else {
                        ApiError::bad_request(format!("invalid body (neither JSON nor YAML): {e}"))
                    }
                })
        }
    }
}

/// Parsing into a `serde_json::Value` (as its own `Deserialize` does) that counts as it
/// builds: deeper than [`MAX_BODY_DEPTH`] or past the expansion budget is an error at once,
/// before the document is built any further.
mod bounded {
    use std::cell::Cell;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Number, Value};

    use super::{ApiError, MAX_BODY_DEPTH, MAX_EXPANSION};

    const DEPTH: &str = "the body nests deeper than the limit of";
    const EXPANSION: &str = "the body expands past the limit of";

    pub fn is_limit(message: &str) -> bool {
        // serde_yaml puts the path of the value first (`Params.a: ...`).
        message.contains(DEPTH) || message.contains(EXPANSION)
    }

    /// 413: the document is too large once parsed, though its text was within bounds.
    pub fn refused(message: String) -> ApiError {
        ApiError::new(413, message)
    }

    #[derive(Clone, Copy)]
    pub struct Seed<'a> {
        pub depth: usize,
        pub budget: &'a Cell<usize>,
    }

    impl Seed<'_> {
        fn spend<E: de::Error>(&self, cost: usize) -> Result<(), E> {
            match self.budget.get().checked_sub(cost) {
                Some(left) => {
                    self.budget.set(left);
                    Ok(())
                }
                None => Err(E::custom(format!(
                    "{EXPANSION} {MAX_EXPANSION} values and string bytes per byte of body \
                     (YAML aliases expanding too far?)"
                ))),
            }
        }

        fn nested<E: de::Error>(self) -> Result<Self, E> {
            if self.depth >= MAX_BODY_DEPTH {
                return Err(E::custom(format!(
                    "{DEPTH} {MAX_BODY_DEPTH} levels of arrays and objects"
                )));
            }
            Ok(Seed {
                depth: self.depth + 1,
                budget: self.budget,
            })
        }
    }

    impl<'de> DeserializeSeed<'de> for Seed<'_> {
        type Value = Value;

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Seed<'_> {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
            self.spend(1)?;
            Ok(Value::Bool(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
            self.spend(1)?;
            Ok(Value::Number(v.into()))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
            self.spend(1)?;
            Ok(Value::Number(v.into()))
        }

        fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
            self.spend(1)?;
            serde::Deserialize::deserialize(de::value::I128Deserializer::<E>::new(v))
                .map(Value::Number)
        }

        fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
            self.spend(1)?;
            serde::Deserialize::deserialize(de::value::U128Deserializer::<E>::new(v))
                .map(Value::Number)
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
            self.spend(1)?;
            Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
            self.spend(1 + v.len())?;
            Ok(Value::String(v.to_string()))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
            self.spend(1 + v.len())?;
            Ok(Value::String(v))
        }

        fn visit_none<E: de::Error>(self) -> Result<Value, E> {
            self.spend(1)?;
            Ok(Value::Null)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
            self.spend(1)?;
            Ok(Value::Null)
        }

        fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let inner = self.nested()?;
            self.spend(1)?;
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(inner)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let inner = self.nested()?;
            self.spend(1)?;
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                self.spend(key.len())?;
                let value = map.next_value_seed(inner)?;
                object.insert(key, value);
            }
            Ok(Value::Object(object))
        }
    }
}

/// Waits for a linearizable read unless the client opted into a stale one.
pub async fn fence(node: &crate::node::Node, headers: &HeaderMap) -> Result<(), ApiError> {
    if wants_stale_read(headers) {
        Ok(())
    } else {
        Ok(node.read_barrier().await?)
    }
}

/// A committed command's outcome as the HTTP response the client gets.
pub fn respond(outcome: crate::command::Response) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = axum::http::StatusCode::from_u16(outcome.status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, axum::Json(outcome.body)).into_response();
    if let Some(index) = outcome.index {
        // `api::cluster_headers` keeps the larger of this and the member's commit index.
        resp.headers_mut().insert(
            proto::headers::COMMIT_INDEX,
            axum::http::HeaderValue::from(index),
        );
    }
    resp
}
