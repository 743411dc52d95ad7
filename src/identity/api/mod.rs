//! Keystone v3 HTTP routes under `/identity`, with version discovery.

mod assignments;
mod auth;
mod catalog;
mod credentials;
mod crud;
mod domains;
mod extensions;
mod groups;
mod oauth1;
mod projects;
mod roles;
mod trusts;
mod users;

use std::collections::HashMap;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::http::error::ApiResult;
use crate::http::pagination::PageQuery;

/// Version advertised in discovery: the Identity API v3.14 (Ussuri and later).
const VERSION_ID: &str = "v3.14";
const VERSION_UPDATED: &str = "2020-04-07T00:00:00Z";

pub(crate) fn router() -> Router<Cloud> {
    Router::new()
        .route("/", get(versions))
        .route("/v3", get(version_v3))
        .route("/v3/", get(version_v3))
        .merge(auth::routes())
        .merge(domains::routes())
        .merge(projects::routes())
        .merge(users::routes())
        .merge(groups::routes())
        .merge(roles::routes())
        .merge(assignments::routes())
        .merge(catalog::routes())
        .merge(credentials::routes())
        .merge(extensions::routes())
        .merge(trusts::routes())
        .merge(oauth1::routes())
}

fn version_doc(headers: &HeaderMap) -> Value {
    json!({
        "id": VERSION_ID,
        "status": "stable",
        "updated": VERSION_UPDATED,
        "links": [{"rel": "self", "href": format!("{}/", v3_url(headers))}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

/// `GET /identity`: 300 Multiple Choices listing v3, as Keystone answers.
pub(crate) async fn versions(headers: HeaderMap) -> Response {
    let body = json!({"versions": {"values": [version_doc(&headers)]}});
    (StatusCode::MULTIPLE_CHOICES, axum::Json(body)).into_response()
}

/// `GET /identity/v3`.
async fn version_v3(headers: HeaderMap) -> Response {
    axum::Json(json!({"version": version_doc(&headers)})).into_response()
}

/// Absolute URL of `/identity/v3` as the client reached it.
pub(crate) fn v3_url(headers: &HeaderMap) -> String {
    format!("{}/identity/v3", crate::http::base_url(headers))
}

/// `{"self": ...}` link of one resource.
fn self_link(headers: &HeaderMap, path: &str) -> Value {
    json!({"self": format!("{}/{path}", v3_url(headers))})
}

/// Filters (exact match on the named fields), paginates and wraps a collection as
/// Keystone does: `{"<key>": [...], "links": {"self", "previous", "next"}}`.
fn list_response(
    headers: &HeaderMap,
    key: &str,
    path: &str,
    items: Vec<Value>,
    query: &HashMap<String, String>,
    filters: &[&str],
) -> ApiResult<Response> {
    let mut items = items;
    for f in filters {
        if let Some(want) = query.get(*f) {
            items.retain(|item| field_matches(item.get(*f), want));
        }
    }
    let page = PageQuery {
        limit: query.get("limit").cloned(),
        marker: query.get("marker").cloned(),
    };
    let page = page.apply(items, |v| v.get("id").and_then(Value::as_str).unwrap_or(""))?;
    let base = format!("{}/{path}", v3_url(headers));
    let next = match (page.has_more, page.items.last()) {
        (true, Some(last)) => {
            let marker = last.get("id").and_then(Value::as_str).unwrap_or("");
            let limit = query.get("limit").map(String::as_str).unwrap_or("");
            Value::String(format!("{base}?limit={limit}&marker={marker}"))
        }
        _ => Value::Null,
    };
    let body = json!({key: page.items, "links": {"self": base, "previous": null, "next": next}});
    Ok(axum::Json(body).into_response())
}

fn field_matches(v: Option<&Value>, want: &str) -> bool {
    match v {
        Some(Value::String(s)) => s == want,
        Some(Value::Bool(b)) => match want.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => *b,
            "false" | "0" | "no" => !*b,
            _ => false,
        },
        Some(Value::Null) | None => want.is_empty(),
        Some(other) => *other == want,
    }
}

fn created(body: Value) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
