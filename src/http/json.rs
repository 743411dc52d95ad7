//! A JSON body extractor whose failures are ordinary `ApiError::BadRequest`s, so a
//! malformed body gets the serving service's fault format and a 400, never a 422/500.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest JSON body accepted by any API (blobs use streaming routes instead).
pub(crate) const MAX_JSON_BODY: usize = 1 << 20;

pub(crate) struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("Request body is too large.".into())
            } else {
                ApiError::bad_request(format!("Could not read request body: {e}"))
            }
        })?;
        parse(&bytes).map(Json)
    }
}

/// A JSON body parsed as `T`, with the document too, for checks its type cannot
/// express (string lengths, see `http::validate`).
pub(crate) struct JsonDoc<T>(pub T, pub serde_json::Value);

impl<S, T> FromRequest<S> for JsonDoc<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("Request body is too large.".into())
            } else {
                ApiError::bad_request(format!("Could not read request body: {e}"))
            }
        })?;
        let typed = parse(&bytes)?;
        let doc = parse(&bytes)?;
        Ok(JsonDoc(typed, doc))
    }
}

/// A body sent with a Content-Type other than JSON is refused (415; Keystone's
/// fault layer makes it its 400), as the OpenStack services do; a body without
/// one is read as JSON.
pub(crate) fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = ct
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let (kind, sub) = essence.split_once('/').unwrap_or_default();
    if kind == "application" && (sub == "json" || sub.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "The media type {essence} is not supported, use application/json"
        )))
    }
}

/// Parses a request body, naming the offending field or position on failure.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "Malformed request body: the request body is empty.",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("Malformed request body: {inner}"))
        } else if path == "." || path.is_empty() {
            ApiError::bad_request(format!("Invalid input for request body: {inner}"))
        } else {
            ApiError::bad_request(format!("Invalid input for field '{path}': {inner}"))
        }
    })
}

/// For `#[serde(default, deserialize_with = "present")]` on an `Option<Option<T>>`:
/// `"field": null` becomes `Some(None)` (clear it), an absent field `None` (leave
/// it), which serde alone folds together.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        project: Project,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Project {
        name: String,
        enabled: Option<bool>,
    }

    fn msg(r: Result<Body, ApiError>) -> String {
        match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected BadRequest, got {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_bad_request() {
        assert!(msg(parse(b"{\"project\": ")).starts_with("Malformed request body"));
        assert!(msg(parse(b"not json")).starts_with("Malformed request body"));
        assert!(msg(parse(b"")).contains("empty"));
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        assert!(msg(parse(b"{\"project\": {}}")).contains("name"));
        let m = msg(parse(
            b"{\"project\": {\"name\": \"p\", \"enabled\": \"yes\"}}",
        ));
        assert!(m.contains("project.enabled"), "{m}");
    }

    #[test]
    fn only_json_media_types_pass() {
        let mut h = axum::http::HeaderMap::new();
        assert!(require_json(&h).is_ok());
        for ok in [
            "application/json",
            "application/json; charset=UTF-8",
            "application/vnd.openstack.compute+json",
        ] {
            h.insert(axum::http::header::CONTENT_TYPE, ok.parse().expect("value"));
            assert!(require_json(&h).is_ok(), "{ok}");
        }
        for bad in ["text/plain", "application/x-www-form-urlencoded", "json"] {
            h.insert(
                axum::http::header::CONTENT_TYPE,
                bad.parse().expect("value"),
            );
            assert!(
                matches!(require_json(&h), Err(ApiError::UnsupportedMediaType(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn good_body_parses() {
        let b: Body = parse(b"{\"project\": {\"name\": \"p\"}}").expect("valid body");
        assert_eq!(b.project.name, "p");
    }
}
