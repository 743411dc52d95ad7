//! Query strings and links shared by the compute catalog routes.

use std::collections::HashMap;

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::http::error::{ApiError, ApiResult};

/// The query string as a map (the last value of a repeated key wins).
pub(super) fn query(raw: Option<String>) -> ApiResult<HashMap<String, String>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}")))?;
    Ok(pairs.into_iter().collect())
}

/// Nova's boolean query values (`True`, `1`, `yes`...); absent = false.
pub(super) fn flag(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key).is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "1" | "t" | "true" | "on" | "y" | "yes" | ""
        )
    })
}

/// `http://host/compute`, the root of self and bookmark links.
pub(super) fn compute_root(h: &HeaderMap) -> String {
    format!("{}/compute", crate::http::base_url(h))
}

/// Nova's `links`: a versioned self link and an unversioned bookmark.
pub(super) fn links(h: &HeaderMap, collection: &str, id: &str) -> Value {
    let root = compute_root(h);
    json!([
        {"rel": "self", "href": format!("{root}/v2.1/{collection}/{id}")},
        {"rel": "bookmark", "href": format!("{root}/{collection}/{id}")},
    ])
}

/// A `next` link carrying the marker (and other query parameters but `marker`).
pub(super) fn next_link(
    h: &HeaderMap,
    path: &str,
    q: &HashMap<String, String>,
    marker: &str,
) -> Value {
    let mut params: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| *k != "marker")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    params.sort();
    params.push(("marker".into(), marker.into()));
    let qs = serde_urlencoded::to_string(&params).unwrap_or_default();
    json!([{"rel": "next", "href": format!("{}/v2.1/{path}?{qs}", compute_root(h))}])
}
