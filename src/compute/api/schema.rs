//! The few JSON-schema checks Nova's request schemas make, with Nova's messages.

use serde_json::{Map, Value};

use crate::http::error::{ApiError, ApiResult};

fn bad(msg: String) -> ApiError {
    ApiError::bad_request(msg)
}

/// `body[key]` as an object whose keys are all in `known`.
pub(super) fn object<'a>(
    body: &'a Value,
    key: &str,
    known: &[&str],
) -> ApiResult<&'a Map<String, Value>> {
    let o = body
        .get(key)
        .ok_or_else(|| bad(format!("'{key}' is a required property")))?
        .as_object()
        .ok_or_else(|| {
            bad(format!(
                "Invalid input for field/attribute {key}. Value: {}. It is not of type 'object'",
                body[key]
            ))
        })?;
    if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(bad(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    Ok(o)
}

/// A string of `min..=max` characters; with `trimmed`, no leading or trailing
/// whitespace (Nova's `parameter_types.name`).
pub(super) fn string(
    name: &str,
    v: &Value,
    min: usize,
    max: usize,
    trimmed: bool,
) -> ApiResult<String> {
    let s = v.as_str().ok_or_else(|| {
        bad(format!(
            "Invalid input for field/attribute {name}. Value: {v}. {v} is not of type 'string'"
        ))
    })?;
    let n = s.chars().count();
    if n < min {
        return Err(bad(format!(
            "Invalid input for field/attribute {name}. Value: {s}. '{s}' is too short"
        )));
    }
    if n > max {
        return Err(bad(format!(
            "Invalid input for field/attribute {name}. Value: {s}. '{s}' is too long"
        )));
    }
    if trimmed && s.trim() != s {
        return Err(bad(format!(
            "Invalid input for field/attribute {name}. Value: {s}. '{s}' does not match the pattern of a name without leading or trailing whitespace"
        )));
    }
    Ok(s.to_owned())
}

/// A required string field of `o`.
pub(super) fn required(
    o: &Map<String, Value>,
    name: &str,
    min: usize,
    max: usize,
) -> ApiResult<String> {
    let v = o
        .get(name)
        .ok_or_else(|| bad(format!("'{name}' is a required property")))?;
    string(name, v, min, max, true)
}

/// An optional string field that may also be `null` (`Some(None)`).
pub(super) fn nullable(
    o: &Map<String, Value>,
    name: &str,
    min: usize,
    max: usize,
) -> ApiResult<Option<Option<String>>> {
    match o.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => string(name, v, min, max, true).map(|s| Some(Some(s))),
    }
}
