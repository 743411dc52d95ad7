//! Checks of request fields that a Rust type cannot express: the api-ref's string
//! length limits and JSON types of free-form attributes, with the services' 400s.

use serde_json::Value;

use super::error::{ApiError, ApiResult};

/// A string field longer than `max` characters (the api-ref's `maxLength`) is a 400
/// naming the field (the value itself is not echoed: it may be huge).
pub(crate) fn max_len(field: &str, value: Option<&str>, max: usize) -> ApiResult<()> {
    match value {
        Some(v) if v.chars().count() > max => Err(ApiError::bad_request(format!(
            "Invalid input for {field}. Reason: the value exceeds maximum length of {max}."
        ))),
        _ => Ok(()),
    }
}

/// The `maxLength` checks of the object under `key` in a JSON document, for each
/// `(field, max)` present as a string.
pub(crate) fn max_lens(doc: &Value, key: &str, limits: &[(&str, usize)]) -> ApiResult<()> {
    for (field, max) in limits {
        max_len(field, doc[key][field].as_str(), *max)?;
    }
    Ok(())
}

/// A free-form attribute that the api-ref types as a string (or null).
pub(crate) fn nullable_string(field: &str, value: Option<&Value>) -> ApiResult<()> {
    match value {
        None | Some(Value::Null | Value::String(_)) => Ok(()),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field '{field}': {other} is not of type 'string', 'null'"
        ))),
    }
}

/// A query schema with `additionalProperties: false`: every parameter must be one
/// of `allowed` or start with one of `prefixes`; otherwise the JSON-schema 400
/// the services answer ("Additional properties are not allowed").
pub(crate) fn known_query_params<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    allowed: &[&str],
    prefixes: &[&str],
) -> ApiResult<()> {
    let mut unknown: Vec<&str> = keys
        .into_iter()
        .filter(|k| !allowed.contains(k) && !prefixes.iter().any(|p| k.starts_with(p)))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    unknown.dedup();
    let list: Vec<String> = unknown.iter().map(|k| format!("'{k}'")).collect();
    let verb = if unknown.len() == 1 { "was" } else { "were" };
    Err(ApiError::bad_request(format!(
        "Additional properties are not allowed ({} {verb} unexpected)",
        list.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_query_params_are_named() {
        assert!(known_query_params(["limit", "_x"], &["limit"], &["_"]).is_ok());
        let e = known_query_params(["limit", "foo", "bar"], &["limit"], &[]);
        assert!(
            matches!(&e, Err(ApiError::BadRequest(m)) if m.contains("'bar', 'foo' were unexpected")),
            "{e:?}"
        );
    }
    use serde_json::json;

    #[test]
    fn lengths_count_characters() {
        assert!(max_len("name", Some(&"é".repeat(255)), 255).is_ok());
        assert!(max_len("name", Some(&"n".repeat(256)), 255).is_err());
        assert!(max_len("name", None, 255).is_ok());
        let doc = json!({"port": {"name": "n".repeat(300), "description": 5}});
        assert!(max_lens(&doc, "port", &[("description", 255)]).is_ok());
        assert!(max_lens(&doc, "port", &[("name", 255)]).is_err());
    }

    #[test]
    fn nullable_string_refuses_other_types() {
        assert!(nullable_string("description", Some(&json!("x"))).is_ok());
        assert!(nullable_string("description", Some(&Value::Null)).is_ok());
        assert!(nullable_string("description", None).is_ok());
        assert!(nullable_string("description", Some(&json!(5))).is_err());
        assert!(nullable_string("description", Some(&json!({}))).is_err());
    }
}
