//! Field access for the JSON formats. Keys may be nested (`{"winlog":{"event_id":4624}}`) or
//! flattened with literal dots (`{"id.orig_h":…}`, Zeek, ECS exports); both are found by one path.

use crate::{DecodeError, Reason};
use serde_json::Value;
use std::borrow::Cow;

/// Parses one JSON object.
pub fn object(line: &[u8]) -> Result<Value, DecodeError> {
    let v: Value = serde_json::from_slice(line).map_err(|e| {
        let reason = if e.is_data() {
            Reason::WrongType
        } else {
            Reason::BadJson
        };
        DecodeError::new(reason, e.to_string())
    })?;
    if !v.is_object() {
        return Err(DecodeError::new(
            Reason::WrongType,
            "record is not a JSON object",
        ));
    }
    Ok(v)
}

/// The value at a dotted path, nested or flattened; JSON `null` counts as absent.
pub fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    if let Some(x) = obj.get(path) {
        return (!x.is_null()).then_some(x);
    }
    for (i, _) in path.match_indices('.') {
        if let Some(inner) = obj.get(&path[..i]) {
            if let Some(x) = get(inner, &path[i + 1..]) {
                return Some(x);
            }
        }
    }
    None
}

fn wrong_type(path: &str, expected: &str) -> DecodeError {
    DecodeError::new(Reason::WrongType, format!("`{path}` is not {expected}"))
}

/// A text field (numbers and booleans are given as text); the first present of `paths`.
pub fn text<'a>(v: &'a Value, paths: &[&str]) -> Result<Option<Cow<'a, str>>, DecodeError> {
    for p in paths {
        match get(v, p) {
            None => continue,
            Some(Value::String(s)) => return Ok(Some(Cow::Borrowed(s.as_str()))),
            Some(Value::Number(n)) => return Ok(Some(Cow::Owned(n.to_string()))),
            Some(Value::Bool(b)) => return Ok(Some(Cow::Owned(b.to_string()))),
            Some(_) => return Err(wrong_type(p, "text")),
        }
    }
    Ok(None)
}

/// A numeric field given as a JSON number or numeric text; the first present of `paths`.
pub fn number(v: &Value, paths: &[&str]) -> Result<Option<f64>, DecodeError> {
    for p in paths {
        match get(v, p) {
            None => continue,
            Some(Value::Number(n)) => return Ok(n.as_f64()),
            Some(Value::String(s)) if crate::norm::unset(s) => return Ok(None),
            Some(Value::String(s)) => {
                return s
                    .trim()
                    .parse::<f64>()
                    .map(Some)
                    .map_err(|_| crate::norm::bad_number(p, s, "a number"))
            }
            Some(_) => return Err(wrong_type(p, "a number")),
        }
    }
    Ok(None)
}

/// A non-negative integer field (`u64`); fractions and negatives are rejected.
pub fn unsigned(v: &Value, paths: &[&str]) -> Result<Option<u64>, DecodeError> {
    match number(v, paths)? {
        None => Ok(None),
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n < 1.8e19 => Ok(Some(n as u64)),
        Some(n) => Err(crate::norm::bad_number(
            paths[0],
            &n.to_string(),
            "a non-negative integer",
        )),
    }
}

/// A port field.
pub fn port(v: &Value, paths: &[&str]) -> Result<u16, DecodeError> {
    match unsigned(v, paths)? {
        None => Ok(0),
        Some(p) if p <= 65535 => Ok(p as u16),
        Some(p) => Err(crate::norm::bad_number(
            paths[0],
            &p.to_string(),
            "a port number",
        )),
    }
}

/// A time field: epoch seconds as a number, or epoch seconds / RFC 3339 as text.
pub fn time(v: &Value, paths: &[&str]) -> Result<i64, DecodeError> {
    for p in paths {
        match get(v, p) {
            None => continue,
            Some(Value::Number(n)) => {
                return crate::norm::seconds_to_ms(n.as_f64().unwrap_or(f64::NAN))
            }
            Some(Value::String(s)) => return crate::norm::time_text(s),
            Some(_) => return Err(wrong_type(p, "a time")),
        }
    }
    Err(DecodeError::new(
        Reason::BadTime,
        format!("missing time (`{}`)", paths.join("` or `")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_and_dotted_keys() {
        let v = object(
            br#"{"id.orig_h":"10.0.0.1","winlog":{"event_data":{"X":"y"}},"n":null,"p":"445"}"#,
        )
        .unwrap();
        assert_eq!(get(&v, "id.orig_h").unwrap(), "10.0.0.1");
        assert_eq!(text(&v, &["winlog.event_data.X"]).unwrap().unwrap(), "y");
        assert!(get(&v, "n").is_none());
        assert_eq!(port(&v, &["p"]).unwrap(), 445);
        assert_eq!(object(b"[1]").unwrap_err().reason, Reason::WrongType);
        assert_eq!(object(b"{").unwrap_err().reason, Reason::BadJson);
    }
}
