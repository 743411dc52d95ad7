//! Block storage v3 HTTP routes under `/volume`: version discovery, the microversion
//! layer (`OpenStack-API-Version: volume 3.x`), the project segment of
//! `/volume/v3/{project_id}/...` (optional, as in Cinder since 3.0 on Yoga), and the
//! resource routes, one file per api-ref section.

mod attachments;
mod backends;
mod backups;
mod groups;
mod info;
mod manage;
mod messages;
mod qos;
mod quotas;
mod snapshots;
mod transfers;
mod types;
mod view;
mod volumes;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::http::context::Auth;
use crate::http::error::{ApiError, ApiResult};
use crate::http::microversion::{Spec, Version};

/// 3.0 to 3.70, what the SDK asks for; behaviours of later versions are not served.
pub(crate) const SPEC: Spec = Spec {
    service: "volume",
    min: Version(3, 0),
    max: Version(3, 70),
};

/// The routes under `/volume`; the caller adds the fault layer. The inner router
/// sees paths with the project segment taken off (see `project_segment`).
pub(crate) fn router(cloud: Cloud) -> Router<Cloud> {
    let v3 = Router::new()
        .route("/", get(version_v3))
        .merge(volumes::routes())
        .merge(attachments::routes())
        .merge(snapshots::routes())
        .merge(types::routes())
        .merge(quotas::routes())
        .merge(info::routes())
        .merge(backends::routes())
        .merge(transfers::routes())
        .merge(qos::routes())
        .merge(messages::routes())
        .merge(backups::routes())
        .merge(manage::routes())
        .merge(groups::routes())
        .fallback(not_found)
        .layer(from_fn(microversion_layer))
        .with_state(cloud);
    let v3 = tower::ServiceBuilder::new()
        .layer(from_fn(project_segment))
        .service(v3);
    Router::new()
        .route("/volume", get(versions))
        .route("/volume/", get(versions))
        .nest_service("/volume/v3", v3)
}

async fn not_found() -> ApiError {
    ApiError::Missing("The resource could not be found.".into())
}

/// The project segment of `/v3/{project_id}/...`: checked against the token (Cinder
/// answers "Malformed request url" when they differ) and taken off the path, so
/// routes are written once for both URL forms.
async fn project_segment(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let rest = path.trim_start_matches('/');
    let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let token_project = match req.extensions().get::<Auth>() {
        Some(Auth::Valid(ctx)) => ctx.project_id().map(str::to_owned),
        _ => None,
    };
    let looks_like_project = !first.is_empty()
        && (token_project.as_deref() == Some(first)
            || (first.len() >= 32 && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-')));
    if !looks_like_project {
        return next.run(req).await;
    }
    if let Some(p) = &token_project
        && p != first
    {
        return ApiError::bad_request("Malformed request url").into_response();
    }
    let new_path = format!("/{tail}");
    let pq = match req.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    let mut parts = req.uri().clone().into_parts();
    match pq.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(_) => return ApiError::bad_request("Malformed request url").into_response(),
    }
    match Uri::from_parts(parts) {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return ApiError::bad_request("Malformed request url").into_response(),
    }
    req.extensions_mut().insert(UrlProject(first.to_owned()));
    next.run(req).await
}

/// The project named in the URL, for links.
#[derive(Debug, Clone)]
pub(crate) struct UrlProject(pub String);

/// Negotiates the version, hands it to handlers and announces it on the response.
async fn microversion_layer(mut req: Request, next: Next) -> Response {
    let v = match SPEC.negotiate_headers(req.headers()) {
        Ok(v) => v,
        Err(refused) => {
            let mut r = ApiError::from(refused).into_response();
            SPEC.announce(r.headers_mut(), SPEC.min);
            return r;
        }
    };
    req.extensions_mut().insert(v);
    let mut resp = next.run(req).await;
    SPEC.announce(resp.headers_mut(), v);
    resp
}

/// The microversion of a block storage request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mv(pub Version);

impl Mv {
    pub(crate) fn at_least(self, minor: u32) -> bool {
        self.0.at_least(minor)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Mv {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Mv(parts
            .extensions
            .get::<Version>()
            .copied()
            .unwrap_or(SPEC.min)))
    }
}

fn version_doc(headers: &HeaderMap) -> Value {
    let base = crate::http::base_url(headers);
    json!({
        "id": "v3.0",
        "status": "CURRENT",
        "version": SPEC.max.to_string(),
        "min_version": SPEC.min.to_string(),
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": format!("{base}/volume/v3/")},
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    })
}

/// `GET /volume`: the API versions (300 Multiple Choices, as Cinder; no token).
async fn versions(headers: HeaderMap) -> Response {
    (
        StatusCode::MULTIPLE_CHOICES,
        axum::Json(json!({"versions": [version_doc(&headers)]})),
    )
        .into_response()
}

/// `GET /volume/v3/`: the v3 version document (keystoneauth reads the maximum).
async fn version_v3(headers: HeaderMap) -> axum::Json<Value> {
    axum::Json(json!({"versions": [version_doc(&headers)]}))
}

/// The query string as a map (the last value of a repeated key wins).
pub(crate) fn query(raw: Option<String>) -> ApiResult<HashMap<String, String>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}")))?;
    Ok(pairs.into_iter().collect())
}

/// Cinder's boolean strings (`True`, `1`, `yes`, ...); anything else is a 400.
pub(crate) fn parse_bool(field: &str, v: &str) -> ApiResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Invalid input received: {field}={v} is not a valid boolean."
        ))),
    }
}

/// A JSON boolean, or one of Cinder's boolean strings.
pub(crate) fn json_bool(field: &str, v: &Value) -> ApiResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => parse_bool(field, s),
        other => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {other}. {other} is not of type 'boolean', 'string'"
        ))),
    }
}

/// `http://host/volume/v3/<project>` or the project-less root, for links.
pub(crate) fn v3_root(h: &HeaderMap, project: &Option<UrlProject>) -> String {
    let base = crate::http::base_url(h);
    match project {
        Some(UrlProject(p)) => format!("{base}/volume/v3/{p}"),
        None => format!("{base}/volume/v3"),
    }
}

/// A `next` link carrying the marker (and the other query parameters).
pub(crate) fn next_link(
    root: &str,
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
    json!([{"rel": "next", "href": format!("{root}/{path}?{qs}")}])
}

/// The object under `key` of a request body (Cinder: "Missing required element").
pub(crate) fn envelope<'a>(
    body: &'a Value,
    key: &str,
) -> ApiResult<&'a serde_json::Map<String, Value>> {
    body.get(key).and_then(Value::as_object).ok_or_else(|| {
        ApiError::bad_request(format!("Missing required element '{key}' in request body."))
    })
}

/// A string-to-string map (metadata, extra specs); other value types are a 400.
pub(crate) fn string_map(
    field: &str,
    v: Option<&Value>,
) -> ApiResult<std::collections::BTreeMap<String, String>> {
    match v {
        None | Some(Value::Null) => Ok(Default::default()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), if *b { "True" } else { "False" }.into())),
                other => Err(ApiError::bad_request(format!(
                    "Invalid input for field/attribute {field}. Value: {other}. {other} is not of type 'string'"
                ))),
            })
            .collect(),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {other}. {other} is not of type 'object'"
        ))),
    }
}

/// An optional string field (null allowed).
pub(crate) fn opt_string(field: &str, v: Option<&Value>) -> ApiResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {other}. {other} is not of type 'string', 'null'"
        ))),
    }
}
