//! JSON objects read strictly: a member name that appears twice in any object, at any depth,
//! is an error instead of "the last one wins".
//!
//! Two readers of one token must never see two different sets of claims (RFC 8725 3.x; RFC
//! 7515 4 and RFC 7519 4 require parsers to refuse or keep the last duplicate, and libraries
//! differ). A token whose `role` says `viewer` and then `admin` is refused here.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrictError {
    /// Not JSON, or not an object.
    Malformed,
    /// Some object holds a member name twice.
    Duplicate,
}

/// Starts the message of the error raised for a duplicate, to tell it from other errors.
const DUPLICATE: &str = "duplicate member";

/// Parses `bytes` as a JSON object, refusing duplicate member names at every depth.
pub(crate) fn object(bytes: &[u8]) -> Result<Map<String, Value>, StrictError> {
    match serde_json::from_slice::<StrictValue>(bytes) {
        Ok(StrictValue(Value::Object(map))) => Ok(map),
        Ok(_) => Err(StrictError::Malformed),
        Err(err) if err.is_data() && err.to_string().starts_with(DUPLICATE) => {
            Err(StrictError::Duplicate)
        }
        Err(_) => Err(StrictError::Malformed),
    }
}

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text never holds a non-finite number, so `from_f64` always succeeds here.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if object.contains_key(&name) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let StrictValue(value) = map.next_value()?;
            object.insert(name, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_every_depth() {
        for doc in [
            r#"{"role":"viewer","role":"admin"}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":[{"x":1},{"y":2,"y":3}]}"#,
            r#"{"\u0072ole":"viewer","role":"admin"}"#,
        ] {
            assert_eq!(object(doc.as_bytes()), Err(StrictError::Duplicate), "{doc}");
        }
    }

    #[test]
    fn same_names_in_different_objects_are_fine() {
        let map = object(br#"{"a":{"x":1},"b":{"x":2},"c":[{"x":3},{"x":4}]}"#).unwrap();
        assert_eq!(map["c"][1]["x"], 4);
    }

    #[test]
    fn values_read_as_serde_json_reads_them() {
        let doc = br#"{"n":-1,"u":18446744073709551615,"f":1.5,"s":"\u00e9","t":true,"z":null,"l":[1,"a"]}"#;
        let strict = object(doc).unwrap();
        let plain: Map<String, Value> = serde_json::from_slice(doc).unwrap();
        assert_eq!(strict, plain);
    }

    #[test]
    fn non_objects_and_broken_json_are_malformed() {
        for doc in ["[]", "1", "\"x\"", "{", "{\"a\":}", ""] {
            assert_eq!(object(doc.as_bytes()), Err(StrictError::Malformed), "{doc}");
        }
    }
}
