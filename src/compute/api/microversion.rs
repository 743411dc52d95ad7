//! Compute microversions: `OpenStack-API-Version: compute X.Y` or the legacy
//! `X-OpenStack-Nova-API-Version`, echoed on every response with `Vary`.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;
use crate::http::microversion::{HEADER, Spec, Version};

/// What the compute API serves, negotiated by the one mechanism in
/// [`crate::http::microversion`]. The newest is the last version whose
/// behaviour onestack implements.
pub(crate) const SPEC: Spec = Spec {
    service: "compute",
    min: Version(2, 1),
    max: Version(2, 104),
};
pub(crate) const MIN: Microversion = Microversion(SPEC.min.0, SPEC.min.1);
pub(crate) const MAX: Microversion = Microversion(SPEC.max.0, SPEC.max.1);

/// The microversion a request asked for (2.1 when it named none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Microversion(pub u32, pub u32);

impl Microversion {
    /// Whether the request asked for at least `2.minor`.
    pub(crate) fn at_least(self, minor: u32) -> bool {
        self >= Microversion(2, minor)
    }

    pub(crate) fn label(self) -> String {
        format!("{}.{}", self.0, self.1)
    }
}

/// Reads the requested version from the headers: `OpenStack-API-Version: compute X.Y`
/// wins over Nova's legacy `X-OpenStack-Nova-API-Version: X.Y`.
pub(crate) fn requested(headers: &HeaderMap) -> Result<Microversion, ApiError> {
    let modern = SPEC.requested(
        headers
            .get_all(HEADER)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let legacy = headers
        .get("x-openstack-nova-api-version")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned());
    match modern.or(legacy) {
        Some(v) => {
            let Version(major, minor) = SPEC.parse(&v)?;
            Ok(Microversion(major, minor))
        }
        None => Ok(MIN),
    }
}

/// Middleware: rejects unsupported versions, stores the version for handlers and
/// announces it on the response.
pub(crate) async fn layer(mut req: Request, next: Next) -> Response {
    let mv = match requested(req.headers()) {
        Ok(mv) => mv,
        Err(e) => {
            let mut r = e.into_response();
            announce(r.headers_mut(), MIN);
            return r;
        }
    };
    req.extensions_mut().insert(mv);
    let mut resp = next.run(req).await;
    announce(resp.headers_mut(), mv);
    resp
}

fn announce(h: &mut HeaderMap, mv: Microversion) {
    if let Ok(v) = HeaderValue::from_str(&format!("compute {}", mv.label())) {
        h.insert(HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&mv.label()) {
        h.insert("x-openstack-nova-api-version", v);
    }
    h.insert(
        axum::http::header::VARY,
        HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
    );
}

impl<S: Send + Sync> FromRequestParts<S> for Microversion {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Microversion>()
            .copied()
            .unwrap_or(MIN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn parses_both_headers_and_latest() {
        assert_eq!(requested(&headers(&[])).ok(), Some(MIN));
        assert_eq!(
            requested(&headers(&[("OpenStack-API-Version", "compute 2.47")])).ok(),
            Some(Microversion(2, 47))
        );
        assert_eq!(
            requested(&headers(&[("X-OpenStack-Nova-API-Version", "2.10")])).ok(),
            Some(Microversion(2, 10))
        );
        assert_eq!(
            requested(&headers(&[("OpenStack-API-Version", "compute latest")])).ok(),
            Some(MAX)
        );
        assert_eq!(
            requested(&headers(&[(
                "OpenStack-API-Version",
                "volume 3.5, compute 2.3"
            )]))
            .ok(),
            Some(Microversion(2, 3))
        );
    }

    #[test]
    fn out_of_range_is_406_and_garbage_is_400() {
        let e = requested(&headers(&[("OpenStack-API-Version", "compute 2.999")]));
        assert!(matches!(e, Err(ApiError::NotAcceptable(_))));
        let e = requested(&headers(&[("OpenStack-API-Version", "compute 3.0")]));
        assert!(matches!(e, Err(ApiError::NotAcceptable(_))));
        let e = requested(&headers(&[("X-OpenStack-Nova-API-Version", "two")]));
        assert!(matches!(e, Err(ApiError::BadRequest(_))));
    }
}
