//! Strict JSON parsing: RFC 8259 only (no comments, trailing commas or unquoted names, as
//! serde_json), plus rejection of duplicate property names, which serde_json's `Value` would
//! silently collapse (a classic way to make two parsers disagree about a document).
//! A leading UTF-8 byte-order mark is tolerated, as FHIR servers do.

use crate::error::{ErrorKind, ValidationError};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Parse bytes as strict JSON (see the module docs).
pub fn parse_json(bytes: &[u8]) -> Result<Value, ValidationError> {
    let bytes = strip_bom(bytes);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = StrictValue
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| ValidationError::new(ErrorKind::Json, "", format!("error parsing JSON: {e}")))?;
    Ok(v)
}

/// Without a leading UTF-8 BOM.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

pub(crate) struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
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
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
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
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format!("duplicate property '{}'", crate::primitive::shorten(&k))));
            }
            let v = map.next_value_seed(StrictValue)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict() {
        assert!(parse_json(br#"{"a":1,"b":[1,2.5,"x",null,true]}"#).is_ok());
        assert!(parse_json(b"\xEF\xBB\xBF{}").is_ok());
        let e = parse_json(br#"{"a":1,"a":2}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Json);
        assert!(e.message.contains("duplicate"), "{e}");
        assert!(parse_json(b"{\"a\":1} x").is_err());
        assert!(parse_json(b"// c\n{}").is_err());
        assert!(parse_json(b"{a:1}").is_err());
        assert!(parse_json(b"[1,]").is_err());
        assert!(parse_json(b"\xff").is_err());
        let deep = "[".repeat(10_000);
        assert!(parse_json(deep.as_bytes()).is_err());
    }
}
