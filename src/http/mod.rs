//! Plumbing shared by every API: request ids, token authentication, fault rendering,
//! JSON bodies, pagination and the public base URL.

pub mod context;
pub mod error;
pub mod json;
pub mod microversion;
pub mod pagination;
pub mod time;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::cloud::Cloud;
use context::Auth;
use error::FaultFormat;

pub const REQUEST_ID_HEADER: &str = "x-openstack-request-id";
pub const AUTH_TOKEN_HEADER: &str = "x-auth-token";
pub const SUBJECT_TOKEN_HEADER: &str = "x-subject-token";

/// The id of the request being served (os-instance-actions record it).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(format!("req-{}", uuid::Uuid::new_v4()))))
    }
}

/// Gives every request an id (`req-<uuid>`), a tracing span carrying it, and the
/// `x-openstack-request-id` response header.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = format!("req-{}", uuid::Uuid::new_v4());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", id = %id);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            %method, %path, status = resp.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0, "handled"
        )
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

/// Validates `X-Auth-Token` once for all services and records the outcome for the
/// handlers' `Ctx` extractor.
pub async fn authenticate(State(cloud): State<Cloud>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(AUTH_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(token) = token {
        let auth = match cloud.identity.validate_token(&token).await {
            Ok(ctx) => Auth::Valid(ctx),
            Err(e) => {
                tracing::debug!(error = %e, "X-Auth-Token rejected");
                Auth::Invalid
            }
        };
        req.extensions_mut().insert(auth);
    }
    next.run(req).await
}

/// Renders the faults of one service (`/identity`, `/compute`, ...) in its format.
pub async fn render_faults(
    State(format): State<FaultFormat>,
    req: Request,
    next: Next,
) -> Response {
    let www = format!("Keystone uri=\"{}/identity\"", base_url(req.headers()));
    let rid = req.extensions().get::<RequestId>().cloned();
    let mut resp = next.run(req).await;
    if let Some(rid) = rid {
        resp.extensions_mut().insert(rid);
    }
    format.render(resp, Some(&www))
}

/// The scheme and authority clients used to reach us, for absolute links.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{proto}://{host}")
}
