//! How an [`Op`] is read from a log entry, a forwarded write or an `AppendEntries` request.
//!
//! A kind this build knows is decoded strictly: a malformed one (a missing field, a wrong type)
//! is an error, as it was before `Op::Unknown` existed. Only a kind this build does not know (a
//! newer build's command) becomes `Op::Unknown`, kept verbatim so it re-encodes to the same
//! value. Letting a malformed known kind fall through to `Unknown` made it decode differently
//! once re-encoded (the fuzzer found a duplicated field that collapsed to one), so one member
//! could stop on an entry another applies. The text is read into a `Value` first, so a field
//! given twice keeps its last value, on every member alike.

use std::sync::OnceLock;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::Op;

impl Serialize for Op {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            // Verbatim, as it was read.
            Op::Unknown(raw) => raw.serialize(serializer),
            // The derived (remote = "Self") serializer: externally tagged.
            known => Op::serialize(known, serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Op, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        if names_known_kind(&raw) {
            // The derived (remote = "Self") deserializer, which knows no `Unknown`; from the
            // owned value, so its strings and objects move into the op instead of being copied.
            Op::deserialize(raw).map_err(de::Error::custom)
        } else {
            Ok(Op::Unknown(raw))
        }
    }
}

/// Whether `raw` is tagged with a kind this build decodes: `{"Kind": {...}}` or `"Kind"`.
fn names_known_kind(raw: &Value) -> bool {
    let tag = match raw {
        Value::String(tag) => tag.as_str(),
        Value::Object(map) if map.len() == 1 => match map.keys().next() {
            Some(tag) => tag.as_str(),
            None => return false,
        },
        _ => return false,
    };
    known_kinds().contains(&tag)
}

/// The kinds the derived deserializer accepts, read from serde's own variant list (so a new
/// variant is known the moment it is added).
fn known_kinds() -> &'static [&'static str] {
    static KINDS: OnceLock<&'static [&'static str]> = OnceLock::new();
    KINDS.get_or_init(|| {
        let mut kinds: &'static [&'static str] = &[];
        // It always fails: `VariantNames` only records the list it is handed.
        let _ = Op::deserialize(VariantNames(&mut kinds));
        kinds
    })
}

/// A deserializer that records the variant names an enum's derived `Deserialize` passes to
/// `deserialize_enum`, and decodes nothing.
struct VariantNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for VariantNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not an enum"))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = variants;
        Err(de::Error::custom("variant names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_this_build_builds_is_known() {
        let kinds = known_kinds();
        for kind in ["Create", "Delete", "ApplyVersionSet", "SetUpgradeTarget"] {
            assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
        }
        assert!(
            !kinds.contains(&"Unknown"),
            "Unknown is never decoded by name"
        );
    }

    #[test]
    fn a_known_kind_decodes_strictly() {
        let op: Op =
            serde_json::from_value(json!({"Delete": {"collection": "machines", "key": "m1"}}))
                .expect("a well-formed Delete");
        assert!(matches!(op, Op::Delete { .. }));
        let missing = serde_json::from_value::<Op>(json!({"Delete": {"collection": "machines"}}));
        let err = missing.expect_err("a Delete without its key is refused");
        assert!(err.to_string().contains("key"), "{err}");
        // A field given twice keeps its last value, and is not read as an unknown command.
        let twice = r#"{"Delete": {"collection": "a", "key": "k", "key": "j"}}"#;
        let op: Op = serde_json::from_str(twice).expect("the last key wins");
        assert_eq!(
            op,
            Op::Delete {
                collection: "a".into(),
                key: "j".into()
            }
        );
        // A known kind of the wrong shape is refused, not read as an unknown command.
        assert!(serde_json::from_value::<Op>(json!({"Delete": [1]})).is_err());
        assert!(serde_json::from_value::<Op>(json!("Delete")).is_err());
    }

    #[test]
    fn an_unknown_kind_is_kept_verbatim_and_round_trips() {
        let raw = json!({"FutureThing": {"a": [1, 2], "b": "c"}});
        let op: Op = serde_json::from_value(raw.clone()).expect("an unknown kind decodes");
        assert_eq!(op, Op::Unknown(raw.clone()));
        assert_eq!(op.kind(), "FutureThing");
        let again: Op = serde_json::from_slice(&serde_json::to_vec(&op).expect("encode"))
            .expect("decode again");
        assert_eq!(again, op);
        assert_eq!(serde_json::to_value(&op).expect("to value"), raw);
    }
}
