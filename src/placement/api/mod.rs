//! Placement HTTP routes under `/placement`: version discovery, the microversion
//! layer, and the resource routes split by api-ref section.

mod allocations;
mod catalog;
mod providers;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::microversion::{self, HEADER, MAX, MIN, Refused, Version};
use crate::cloud::Cloud;
use crate::http::RequestId;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy;

/// Prefix of the links Placement puts in its bodies.
const PREFIX: &str = "/placement";

/// Everything under `/placement` (with and without the trailing slash on the root),
/// behind the microversion layer; the caller adds the fault layer.
pub(crate) fn router() -> Router<Cloud> {
    let inner = Router::new()
        .route("/", get(root))
        .merge(providers::routes())
        .merge(catalog::routes())
        .merge(allocations::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest(PREFIX, inner)
        .route("/placement/", get(root))
        .layer(from_fn(microversion_layer))
}

async fn not_found() -> ApiError {
    ApiError::Missing("The resource could not be found.".into())
}

async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "The method specified is not allowed for this resource: {method}."
    ))
}

/// `GET /placement/`: the one version document; no token needed, as in Placement.
async fn root() -> axum::Json<Value> {
    axum::Json(json!({"versions": [{
        "id": "v1.0",
        "min_version": MIN.to_string(),
        "max_version": MAX.to_string(),
        "status": "CURRENT",
        "links": [{"rel": "self", "href": ""}],
    }]}))
}

/// Reads `OpenStack-API-Version` for every request and stamps the version served on
/// every response (with `Vary`), as Placement's microversion middleware does.
async fn microversion_layer(mut req: Request, next: Next) -> Response {
    let values = req
        .headers()
        .get_all(HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let version = match microversion::negotiate(values.iter().map(String::as_str)) {
        Ok(v) => v,
        Err(refused) => {
            let rid = req.extensions().get::<RequestId>().cloned();
            return refusal(refused, rid);
        }
    };
    let is_get = req.method() == axum::http::Method::GET;
    req.extensions_mut().insert(version);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{} {version}", microversion::SERVICE)) {
        h.insert(HEADER, v);
    }
    h.insert(header::VARY, HeaderValue::from_static(HEADER));
    // 1.15: GETs say they may not be cached; the representation is built now.
    if version.at_least(15) && is_get && resp.status() == StatusCode::OK {
        let now = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        if let Ok(v) = HeaderValue::from_str(&now) {
            resp.headers_mut().insert(header::LAST_MODIFIED, v);
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    resp
}

/// A refused version header: 400, or 406 carrying the supported range, which
/// osc-placement reads (`errors[0].max_version`) to fall back.
fn refusal(refused: Refused, rid: Option<RequestId>) -> Response {
    let (status, detail) = match refused {
        Refused::Invalid(m) => (StatusCode::BAD_REQUEST, m),
        Refused::Unacceptable(m) => (StatusCode::NOT_ACCEPTABLE, m),
    };
    let body = json!({"errors": [{
        "status": status.as_u16(),
        "title": status.canonical_reason().unwrap_or("Error"),
        "detail": detail,
        "code": "placement.undefined_code",
        "request_id": rid.map(|r| r.0).unwrap_or_default(),
        "min_version": MIN.to_string(),
        "max_version": MAX.to_string(),
    }]});
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static(HEADER));
    resp
}

/// The microversion of this request (set by the layer; MIN if absent).
#[derive(Clone, Copy)]
pub(crate) struct Mv(pub Version);

impl<S: Send + Sync> FromRequestParts<S> for Mv {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Mv(parts
            .extensions
            .get::<Version>()
            .copied()
            .unwrap_or(MIN)))
    }
}

impl Mv {
    pub(crate) fn at_least(self, minor: u32) -> bool {
        self.0.at_least(minor)
    }

    /// 404 for a route that only exists from `1.minor`, as Placement answers.
    pub(crate) fn require(self, minor: u32) -> ApiResult<()> {
        if self.at_least(minor) {
            Ok(())
        } else {
            Err(ApiError::Missing("The resource could not be found.".into()))
        }
    }
}

/// An authenticated administrator: Placement's default policy for every route
/// (`role:admin`); the compute service uses the Rust API instead.
pub(crate) struct Admin(#[allow(dead_code)] pub Arc<RequestContext>);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        let Ctx(ctx) = Ctx::from_request_parts(parts, s).await?;
        if !policy::PLACEMENT_ADMIN.allows(&ctx, None) {
            let action = format!("{} {}", parts.method, parts.uri.path());
            return Err(ApiError::Forbidden(format!(
                "Policy does not allow {action} to be performed."
            )));
        }
        Ok(Admin(ctx))
    }
}

/// Query pairs of a request, for parameters that may repeat (`member_of`).
pub(crate) fn query_pairs(raw: Option<String>) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(&raw.unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("Invalid query string parameters: {e}")))
}

/// Refuses parameters the schema of this microversion does not know.
pub(crate) fn check_params(pairs: &[(String, String)], allowed: &[&str]) -> ApiResult<()> {
    match pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((k, _)) => Err(ApiError::bad_request(format!(
            "Invalid query string parameters: Additional properties are not allowed \
             ('{k}' was unexpected)"
        ))),
        None => Ok(()),
    }
}

/// The single value of a parameter; a repeated one is a 400.
pub(crate) fn single<'a>(pairs: &'a [(String, String)], key: &str) -> ApiResult<Option<&'a str>> {
    let mut it = pairs.iter().filter(|(k, _)| k == key);
    let first = it.next().map(|(_, v)| v.as_str());
    if it.next().is_some() {
        return Err(ApiError::bad_request(format!(
            "Invalid query string parameters: '{key}' may be given only once"
        )));
    }
    Ok(first)
}

/// An absolute `Location` (clients GET it as is), as WebOb makes Placement's.
pub(crate) fn location(
    headers: &axum::http::HeaderMap,
    path: &str,
) -> [(header::HeaderName, String); 1] {
    [(
        header::LOCATION,
        format!("{}{path}", crate::http::base_url(headers)),
    )]
}

fn link(rel: &str, href: String) -> Value {
    json!({"rel": rel, "href": href})
}
