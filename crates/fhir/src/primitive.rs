//! Lexical checks of FHIR primitive values in JSON (R4 "Data Types" regular expressions).

use crate::datetime::{DateTime, Time};
use crate::error::ErrorKind;
use serde_json::Value;

/// A problem with one primitive value.
pub(crate) type Problem = (ErrorKind, String);

/// Check a JSON value against a primitive type. `xhtml` is checked elsewhere (narrative).
pub(crate) fn check(ty: &str, v: &Value) -> Result<(), Problem> {
    match ty {
        "boolean" => match v {
            Value::Bool(_) => Ok(()),
            _ => Err(wrong(ty, v)),
        },
        "integer" | "positiveInt" | "unsignedInt" => {
            let n = match v {
                Value::Number(n) => n,
                _ => return Err(wrong(ty, v)),
            };
            let Some(i) = n.as_i64() else {
                return Err((ErrorKind::InvalidValue, format!("not a valid {ty}: {n} (must be a whole number)")));
            };
            let min = match ty {
                "positiveInt" => 1,
                "unsignedInt" => 0,
                _ => i64::from(i32::MIN),
            };
            if i < min || i > i64::from(i32::MAX) {
                return Err((ErrorKind::InvalidValue, format!("{ty} value {i} out of range")));
            }
            Ok(())
        }
        "decimal" => match v {
            Value::Number(_) => Ok(()),
            _ => Err(wrong(ty, v)),
        },
        _ => {
            let Value::String(s) = v else {
                return Err(wrong(ty, v));
            };
            check_string(ty, s)
        }
    }
}

fn wrong(ty: &str, v: &Value) -> Problem {
    let found = match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let want = match ty {
        "boolean" => "a JSON boolean",
        "integer" | "positiveInt" | "unsignedInt" | "decimal" => "a JSON number",
        _ => "a JSON string",
    };
    (ErrorKind::WrongType, format!("{ty} value must be {want}, found {found}"))
}

fn invalid(ty: &str, s: &str) -> Problem {
    (ErrorKind::InvalidValue, format!("not a valid {ty}: '{}'", shorten(s)))
}

/// At most 80 characters of `s` for messages.
pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(77).collect();
        t.push_str("...");
        t
    }
}

fn check_string(ty: &str, s: &str) -> Result<(), Problem> {
    if s.is_empty() {
        return Err((ErrorKind::Empty, format!("{ty} value is empty (leave the property out instead)")));
    }
    if let Some(c) = s.chars().find(|c| (*c as u32) < 32 && !matches!(c, '\t' | '\r' | '\n')) {
        return Err((ErrorKind::InvalidValue, format!("{ty} value contains the control character U+{:04X}", c as u32)));
    }
    match ty {
        "string" | "markdown" | "xhtml" => {
            if s.trim().is_empty() && ty != "xhtml" {
                return Err((ErrorKind::Empty, format!("{ty} value has only whitespace")));
            }
            Ok(())
        }
        "id" => check_id(s).map_err(|m| (ErrorKind::InvalidId, m)),
        "code" => {
            // [^\s]+(\s[^\s]+)*
            let ok = !s.starts_with(char::is_whitespace)
                && !s.ends_with(char::is_whitespace)
                && !s.chars().zip(s.chars().skip(1)).any(|(a, b)| a.is_whitespace() && b.is_whitespace());
            if ok { Ok(()) } else { Err(invalid(ty, s)) }
        }
        "uri" | "url" | "canonical" => {
            if s.chars().any(char::is_whitespace) {
                Err(invalid(ty, s))
            } else {
                Ok(())
            }
        }
        "oid" => {
            let ok = s.strip_prefix("urn:oid:").is_some_and(|rest| {
                let mut parts = rest.split('.');
                let first_ok = matches!(parts.next(), Some("0" | "1" | "2"));
                let mut n = 0;
                let rest_ok = parts.all(|p| {
                    n += 1;
                    !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p == "0" || !p.starts_with('0'))
                });
                first_ok && rest_ok && n > 0
            });
            if ok { Ok(()) } else { Err(invalid(ty, s)) }
        }
        "uuid" => {
            if is_urn_uuid(s) {
                Ok(())
            } else {
                Err(invalid(ty, s))
            }
        }
        "base64Binary" => check_base64(s).map(|_| ()),
        "date" => DateTime::parse_date(s).map(|_| ()).map_err(|m| (ErrorKind::InvalidDate, m)),
        "dateTime" => DateTime::parse(s).map(|_| ()).map_err(|m| (ErrorKind::InvalidDate, m)),
        "instant" => DateTime::parse_instant(s).map(|_| ()).map_err(|m| (ErrorKind::InvalidDate, m)),
        "time" => Time::parse(s).map(|_| ()).map_err(|m| (ErrorKind::InvalidDate, m)),
        _ => Ok(()),
    }
}

/// Check a resource id: `[A-Za-z0-9\-.]{1,64}`.
pub(crate) fn check_id(s: &str) -> Result<(), String> {
    if s.len() > 64 {
        return Err(format!("invalid resource id: too long ({} chars)", s.chars().count()));
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        return Err(format!("invalid resource id: invalid characters ('{}')", shorten(s)));
    }
    Ok(())
}

/// `urn:uuid:` followed by a lower-case RFC 4122 textual UUID.
pub(crate) fn is_urn_uuid(s: &str) -> bool {
    let Some(u) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    let b = u.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// Validate base64 (whitespace allowed between groups) and return the decoded length.
pub(crate) fn check_base64(s: &str) -> Result<usize, Problem> {
    let bad = |why: &str| (ErrorKind::InvalidBase64, format!("the value '{}' is not valid base64 ({why})", shorten(s)));
    let mut n = 0usize;
    let mut pad = 0usize;
    for b in s.bytes() {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'=' => {
                pad += 1;
                n += 1;
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => {
                if pad > 0 {
                    return Err(bad("data after padding"));
                }
                n += 1;
            }
            _ => return Err(bad("illegal character")),
        }
    }
    if n == 0 {
        return Err(bad("empty"));
    }
    if !n.is_multiple_of(4) {
        return Err(bad("length is not a multiple of 4"));
    }
    if pad > 2 {
        return Err(bad("too much padding"));
    }
    Ok(n / 4 * 3 - pad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn primitives() {
        assert!(check("id", &json!("abc-1.2")).is_ok());
        assert_eq!(check("id", &json!("bad_id")).unwrap_err().0, ErrorKind::InvalidId);
        assert_eq!(check("id", &json!("a".repeat(65))).unwrap_err().0, ErrorKind::InvalidId);
        assert_eq!(check("string", &json!("")).unwrap_err().0, ErrorKind::Empty);
        assert_eq!(check("string", &json!(1)).unwrap_err().0, ErrorKind::WrongType);
        assert!(check("code", &json!("a b")).is_ok());
        assert!(check("code", &json!(" a")).is_err());
        assert!(check("positiveInt", &json!(0)).is_err());
        assert!(check("unsignedInt", &json!(0)).is_ok());
        assert!(check("integer", &json!(1.5)).is_err());
        assert!(check("integer", &json!(3_000_000_000u64)).is_err());
        assert!(check("decimal", &json!(1.5)).is_ok());
        assert!(check("boolean", &json!("true")).is_err());
        assert!(check("oid", &json!("urn:oid:1.2.840.10008")).is_ok());
        assert!(check("oid", &json!("urn:oid:1.02")).is_err());
        assert!(check("uuid", &json!("urn:uuid:550e8400-e29b-41d4-a716-446655440000")).is_ok());
        assert!(check("uri", &json!("a b")).is_err());
        assert_eq!(check_base64("Zm9v").unwrap(), 3);
        assert_eq!(check_base64("Zm8=").unwrap(), 2);
        assert_eq!(check_base64("Zm9v\nYmFy").unwrap(), 6);
        assert!(check_base64("...").is_err());
        assert!(check_base64("%%%2@()()").is_err());
        assert!(check_base64("Zm=v").is_err());
        assert_eq!(check("dateTime", &json!("2019-01-01T10:00")).unwrap_err().0, ErrorKind::InvalidDate);
    }
}
