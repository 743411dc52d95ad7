//! How Neutron resources are shown and listed: `tenant_id` beside `project_id`,
//! admin-only attributes hidden from others, filters, `fields`, sorting and
//! marker/limit pages with `<collection>_links`.

use std::cmp::Ordering;

use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::network::model::Resource;

/// Query keys that are not attribute filters.
const RESERVED: &[&str] = &[
    "fields",
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "page_reverse",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
    "verbose",
];

pub(super) fn view<T: Resource>(r: &T, ctx: &RequestContext) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("tenant_id".into(), json!(r.std().project_id));
        if !ctx.allowed(crate::http::policy::NETWORK_SHOW_PRIVILEGED_ATTRIBUTES) {
            obj.retain(|k, _| !k.starts_with("provider:") && !k.starts_with("binding:"));
        }
    }
    v
}

fn matches_value(actual: &Value, want: &str) -> bool {
    match actual {
        Value::String(s) => s == want,
        Value::Bool(b) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => n.to_string() == want,
        Value::Null => want.is_empty() || want == "None",
        // fixed_ips=ip_address=10.0.0.5, security_groups=<id>, subnets=<id>
        Value::Array(items) => items.iter().any(|i| match (i, want.split_once('=')) {
            // fixed_ips=ip_address_substr=10.0.0 (the ip-substring-filtering extension)
            (Value::Object(o), Some(("ip_address_substr", v))) => o
                .get("ip_address")
                .and_then(Value::as_str)
                .is_some_and(|ip| ip.contains(v)),
            (Value::Object(o), Some((k, v))) => o.get(k).is_some_and(|x| matches_value(x, v)),
            (other, None) => matches_value(other, want),
            _ => false,
        }),
        Value::Object(_) => false,
    }
}

fn tag_list(q: &[(String, String)], key: &str) -> Option<Vec<String>> {
    let vals: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(',').map(str::to_owned))
        .collect();
    (!vals.is_empty()).then_some(vals)
}

fn tags_ok(item: &Value, q: &[(String, String)]) -> bool {
    let tags: Vec<&str> = item
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let has = |t: &String| tags.contains(&t.as_str());
    tag_list(q, "tags").is_none_or(|w| w.iter().all(has))
        && tag_list(q, "tags-any").is_none_or(|w| w.iter().any(has))
        && tag_list(q, "not-tags").is_none_or(|w| !w.iter().all(has))
        && tag_list(q, "not-tags-any").is_none_or(|w| !w.iter().any(has))
}

/// Keeps only the requested `fields`.
pub(super) fn select_fields(v: Value, q: &[(String, String)]) -> Value {
    let fields: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.as_str())
        .collect();
    match v {
        Value::Object(obj) if !fields.is_empty() => Value::Object(
            obj.into_iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

fn cmp_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

/// Filters, sorts, pages and wraps a collection as `{"<plural>": [...], "<plural>_links": [...]}`.
pub(super) fn list_body(
    headers: &HeaderMap,
    plural: &str,
    items: Vec<Value>,
    q: &[(String, String)],
) -> ApiResult<Value> {
    list_body_at(headers, plural, plural, items, q)
}

/// Neutron's attribute filters: every query key that is not paging, sorting or
/// fields must match one of its values (an item without the attribute passes).
fn attributes_match(item: &Value, q: &[(String, String)]) -> bool {
    let mut keys: Vec<&str> = q
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !RESERVED.contains(k))
        .collect();
    keys.dedup();
    keys.iter().all(|k| {
        let wants: Vec<&str> = q
            .iter()
            .filter(|(qk, _)| qk == k)
            .map(|(_, v)| v.as_str())
            .collect();
        match item.get(*k) {
            Some(actual) => wants.iter().any(|w| matches_value(actual, w)),
            None => true,
        }
    })
}

/// Sorts by the `sort_key`s, each with its `sort_dir` (ascending when it has
/// none); a direction other than asc or desc is a 400.
fn sort_items(items: &mut [Value], q: &[(String, String)]) -> ApiResult<()> {
    let keys: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "sort_key")
        .map(|(_, v)| v.as_str())
        .collect();
    let dirs: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "sort_dir")
        .map(|(_, v)| v.as_str())
        .collect();
    for d in &dirs {
        if !["asc", "desc"].contains(d) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for operation: sort_dir {d} is not asc or desc."
            )));
        }
    }
    if !keys.is_empty() {
        items.sort_by(|a, b| {
            for (i, k) in keys.iter().enumerate() {
                let ord = cmp_values(a.get(*k), b.get(*k));
                let ord = if dirs.get(i).copied() == Some("desc") {
                    ord.reverse()
                } else {
                    ord
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
    }
    Ok(())
}

/// `list_body` for a collection served under `path` (a sub-resource such as
/// `floatingips/{id}/port_forwardings`), which the next-page link points at.
pub(super) fn list_body_at(
    headers: &HeaderMap,
    plural: &str,
    path: &str,
    items: Vec<Value>,
    q: &[(String, String)],
) -> ApiResult<Value> {
    let mut items: Vec<Value> = items
        .into_iter()
        .filter(|item| attributes_match(item, q) && tags_ok(item, q))
        .collect();
    sort_items(&mut items, q)?;
    let get = |k: &str| {
        q.iter()
            .rev()
            .find(|(qk, _)| qk == k)
            .map(|(_, v)| v.clone())
    };
    let page = crate::http::pagination::PageQuery {
        limit: get("limit"),
        marker: get("marker"),
    };
    let page = page.apply_as(crate::http::pagination::Dialect::Neutron, items, |v| {
        v.get("id").and_then(Value::as_str).unwrap_or("")
    })?;
    let mut links = Vec::new();
    if let (true, Some(last)) = (page.has_more, page.items.last()) {
        let marker = last.get("id").and_then(Value::as_str).unwrap_or("");
        let limit = get("limit").unwrap_or_default();
        links.push(json!({"rel": "next", "href": format!("{}/networking/v2.0/{path}?limit={limit}&marker={marker}", crate::http::base_url(headers))}));
    }
    let items: Vec<Value> = page
        .items
        .into_iter()
        .map(|v| select_fields(v, q))
        .collect();
    let mut body = json!({ plural: items });
    if !links.is_empty() {
        body[format!("{plural}_links")] = json!(links);
    }
    Ok(body)
}
