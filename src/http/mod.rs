//! Plumbing shared by every API: request ids, token authentication, fault rendering,
//! JSON bodies, pagination and the public base URL.

pub(crate) mod context;
pub(crate) mod crud;
pub(crate) mod error;
pub(crate) mod json;
pub(crate) mod listener;
pub(crate) mod microversion;
pub(crate) mod pagination;
pub(crate) mod policy;
pub(crate) mod time;
pub(crate) mod validate;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::cloud::Cloud;
use context::Auth;
use error::FaultFormat;

pub(crate) const REQUEST_ID_HEADER: &str = "x-openstack-request-id";
pub(crate) const AUTH_TOKEN_HEADER: &str = "x-auth-token";
pub(crate) const SUBJECT_TOKEN_HEADER: &str = "x-subject-token";

/// The id of the request being served (os-instance-actions record it).
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

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
pub(crate) async fn request_id(mut req: Request, next: Next) -> Response {
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
pub(crate) async fn authenticate(
    State(cloud): State<Cloud>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = req
        .headers()
        .get(AUTH_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(token) = token {
        let auth = match cloud.identity.validate_token(&token).await {
            Ok(ctx) if !access_rules_permit(&ctx, req.method().as_str(), req.uri().path()) => {
                tracing::info!(path = %req.uri().path(), "refused by the application credential's access rules");
                Auth::Invalid
            }
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

/// Access rules of an application credential (keystonemiddleware's check in each
/// service): the request's service is the one whose URL prefix the path is under, the
/// path is what follows that prefix. Keystone itself does not apply them to its own
/// API (it does not run keystonemiddleware), so `/identity` is always let through.
fn access_rules_permit(ctx: &context::RequestContext, method: &str, path: &str) -> bool {
    let Some(ac) = ctx
        .application_credential
        .as_ref()
        .filter(|a| !a.access_rules.is_empty())
    else {
        return true;
    };
    let first = |p: &str| -> String {
        let rest = p.trim_start_matches('/');
        format!("/{}", rest.split('/').next().unwrap_or_default())
    };
    let prefix = first(path);
    if prefix == "/identity" {
        return true;
    }
    let types: Vec<&str> = crate::services::SERVICES
        .iter()
        .filter(|s| s.endpoint_path.is_some_and(|e| first(e) == prefix))
        .map(|s| s.catalog_type)
        .collect();
    let rest = &path[prefix.len().min(path.len())..];
    ac.permits(&types, method, if rest.is_empty() { "/" } else { rest })
}

/// Renders the faults of one service (`/identity`, `/compute`, ...) in its format,
/// including the rejections no handler shaped (axum's extractor and routing errors:
/// a bad path, query or body, a wrong method, an over-long body).
pub(crate) async fn render_faults(
    State(format): State<FaultFormat>,
    req: Request,
    next: Next,
) -> Response {
    let www = format!("Keystone uri=\"{}/identity\"", base_url(req.headers()));
    let rid = req.extensions().get::<RequestId>().cloned();
    let mut resp = error::shape_rejection(next.run(req).await).await;
    if let Some(rid) = rid {
        resp.extensions_mut().insert(rid);
    }
    format.render(resp, Some(&www))
}

/// The service whose fault format a path falls under (by its URL prefix); paths
/// outside every service get Keystone's, as the root of the catalog.
pub(crate) fn format_for_path(path: &str) -> FaultFormat {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    // Cinder's faults have Nova's shape ({"itemNotFound": {"code", "message"}}).
    if under("/compute") || under("/volume") {
        FaultFormat::Nova
    } else if under("/networking") {
        FaultFormat::Neutron
    } else if under("/image") {
        FaultFormat::Plain
    } else if under("/placement") {
        FaultFormat::Placement
    } else {
        FaultFormat::Keystone
    }
}

/// The fallback of the whole API: an unknown path, answered in the fault format of
/// the service whose prefix it is under.
pub(crate) async fn unknown_route(uri: axum::extract::OriginalUri, rid: RequestId) -> Response {
    let fault = error::Fault {
        status: axum::http::StatusCode::NOT_FOUND,
        message: "The resource could not be found.".into(),
    };
    let mut resp = axum::response::IntoResponse::into_response(axum::http::StatusCode::NOT_FOUND);
    resp.extensions_mut().insert(fault);
    resp.extensions_mut().insert(rid);
    format_for_path(uri.path()).render(resp, None)
}

/// The Host header as the client sent it, before `public_links` replaced it: what
/// an OAuth1 signature covers (the client signs the URL it addressed).
#[derive(Debug, Clone)]
pub(crate) struct SentHost(pub Option<String>);

/// Unless the profile trusts the request's Host and X-Forwarded-Proto headers
/// (`http.links_from_request`, behind a proxy that sets them), replaces them with
/// the configured public URL, so every link in a response points there.
pub(crate) async fn public_links(
    State(cloud): State<Cloud>,
    mut req: Request,
    next: Next,
) -> Response {
    let sent = SentHost(
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned),
    );
    req.extensions_mut().insert(sent);
    if !cloud.profile.http.links_from_request {
        let public = cloud.profile.public_url();
        let authority = public.strip_prefix("http://").unwrap_or(&public);
        match HeaderValue::from_str(authority) {
            Ok(v) => {
                req.headers_mut().insert(header::HOST, v);
            }
            Err(_) => {
                req.headers_mut().remove(header::HOST);
            }
        }
        req.headers_mut().remove("x-forwarded-proto");
    }
    next.run(req).await
}

/// The scheme and authority clients used to reach us, for absolute links.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
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

/// The request path exactly as the client sent it, kept before
/// `normalize_service_root` rewrites it: what an S3 signature covers (`/s3/` for a
/// ListBuckets some clients sign with the slash).
#[derive(Debug, Clone)]
pub(crate) struct SentPath(pub String);

/// Before routing: a service root with a trailing slash (`/identity/`,
/// `/networking/`, ...: keystoneauth's form of a catalog URL) is the service root
/// itself, whose version document every service serves.
pub(crate) fn normalize_service_root(uri: &mut axum::http::Uri) {
    let path = uri.path();
    let Some(name) = path.strip_prefix('/').and_then(|p| p.strip_suffix('/')) else {
        return;
    };
    if name.is_empty() || name.contains('/') {
        return;
    }
    let rebuilt = match uri.query() {
        Some(q) => format!("/{name}?{q}"),
        None => format!("/{name}"),
    };
    if let Ok(pq) = axum::http::uri::PathAndQuery::try_from(rebuilt) {
        let mut parts = std::mem::take(uri).into_parts();
        parts.path_and_query = Some(pq);
        if let Ok(u) = axum::http::Uri::from_parts(parts) {
            *uri = u;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_roots_lose_their_trailing_slash_only() {
        for (given, want) in [
            ("/identity/", "/identity"),
            ("/networking/?x=1", "/networking?x=1"),
            ("/", "/"),
            ("/identity/v3/", "/identity/v3/"),
            ("/image", "/image"),
        ] {
            let mut u: axum::http::Uri = given.parse().expect("uri");
            normalize_service_root(&mut u);
            assert_eq!(u.to_string(), want);
        }
    }

    #[test]
    fn faults_follow_the_service_prefix() {
        assert_eq!(format_for_path("/networking/v2.0/x"), FaultFormat::Neutron);
        assert_eq!(format_for_path("/compute"), FaultFormat::Nova);
        assert_eq!(format_for_path("/volume/nothing"), FaultFormat::Nova);
        assert_eq!(format_for_path("/computer"), FaultFormat::Keystone);
        assert_eq!(format_for_path("/image/v2/x"), FaultFormat::Plain);
        assert_eq!(format_for_path("/nothing"), FaultFormat::Keystone);
    }
}
