//! How every page acts: as the logged-in user, through the very API router clients
//! use (in process, no socket), so token validation and the services' policy decide
//! what the dashboard may show or do, exactly as for the CLI.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// A refusal or failure from a service, as the user should read it.
#[derive(Debug, Clone)]
pub(crate) struct ApiFailure {
    pub status: StatusCode,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status.as_u16())
    }
}

/// The API router, called in process.
#[derive(Clone)]
pub(crate) struct Backend {
    api: Router,
}

/// The microversions pages ask for: the serial console needs compute 2.6 (2.9 adds
/// a server's `locked`), and the
/// volume pages want the attachment fields of 3.27.
const VERSIONS: &str = "compute 2.9, volume 3.27";

impl Backend {
    pub(crate) fn new(api: Router) -> Self {
        Backend { api }
    }

    /// Sends one request with `token` (the session's; never logged) and returns the
    /// status, headers and JSON body (Null when there is none).
    pub(crate) async fn send(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, Value), ApiFailure> {
        let (parts, bytes) = self
            .exchange(token, method, path, &[], body, content_type)
            .await?;
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((parts.status, parts.headers, json))
    }

    /// Like `send`, with `extra` request headers (Swift's metadata and ACLs), and
    /// the answer's body as bytes, collected whole (for the small answers of
    /// bodiless calls; downloads use `stream`).
    pub(crate) async fn exchange(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        extra: &[(&str, &str)],
        body: Body,
        content_type: Option<&str>,
    ) -> Result<(axum::http::response::Parts, axum::body::Bytes), ApiFailure> {
        let (parts, body) = self
            .stream(token, method, path, extra, body, content_type)
            .await?;
        let bytes = body
            .collect()
            .await
            .map_err(|e| internal(format!("reading the API's answer: {e}")))?
            .to_bytes();
        Ok((parts, bytes))
    }

    /// Like `exchange`, but a successful answer's body is handed back unread, so a
    /// download (an object, an image) flows from the service's store to the
    /// browser a chunk at a time and the dashboard never holds a file in memory.
    /// A refusal's body is read (it is a small fault) to give its message.
    pub(crate) async fn stream(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        extra: &[(&str, &str)],
        body: Body,
        content_type: Option<&str>,
    ) -> Result<(axum::http::response::Parts, Body), ApiFailure> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("openstack-api-version", VERSIONS)
            .header(header::ACCEPT, "application/json");
        if let Some(t) = token {
            req = req.header(crate::http::AUTH_TOKEN_HEADER, t);
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body)
            .map_err(|e| internal(format!("building a request: {e}")))?;
        let resp = self
            .api
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| internal(format!("calling the API: {e}")))?;
        let (parts, body) = resp.into_parts();
        if parts.status.is_success() {
            return Ok((parts, body));
        }
        // A fault is small, but a misbehaving answer is cut at 64 KiB.
        let bytes = http_body_util::Limited::new(body, 64 * 1024)
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Err(ApiFailure {
            status: parts.status,
            message: fault_message(&json).unwrap_or_else(|| plain_text(&bytes)),
        })
    }

    /// Sends a request built by the caller (headers such as `X-Subject-Token`).
    pub(crate) async fn raw(&self, req: Request<Body>) -> Result<StatusCode, ApiFailure> {
        let resp = self
            .api
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| internal(format!("calling the API: {e}")))?;
        Ok(resp.status())
    }

    /// A JSON request as the user.
    pub(crate) async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiFailure> {
        let (b, ct) = match body {
            Some(v) => (Body::from(v.to_string()), Some("application/json")),
            None => (Body::empty(), None),
        };
        self.send(Some(token), method, path, b, ct)
            .await
            .map(|(_, _, v)| v)
    }

    /// A GET as the user. The path is owned by the future, so pages can join
    /// several reads built with `format!`.
    pub(crate) fn get<'a>(
        &'a self,
        token: &'a str,
        path: impl Into<String>,
    ) -> impl Future<Output = Result<Value, ApiFailure>> + 'a {
        let path = path.into();
        async move { self.call(token, Method::GET, &path, None).await }
    }

    pub(crate) async fn post(
        &self,
        token: &str,
        path: &str,
        body: Value,
    ) -> Result<Value, ApiFailure> {
        self.call(token, Method::POST, path, Some(body)).await
    }

    pub(crate) async fn delete(&self, token: &str, path: &str) -> Result<Value, ApiFailure> {
        self.call(token, Method::DELETE, path, None).await
    }
}

fn internal(message: String) -> ApiFailure {
    ApiFailure {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message,
    }
}

/// A fault body that is not JSON (Swift's small HTML pages) as one line of text:
/// tags dropped, whitespace folded, at most 300 characters.
fn plain_text(bytes: &[u8]) -> String {
    let raw = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut in_tag = false;
    for c in raw.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect()
}

/// The human message of any service's fault body: Nova's `{"itemNotFound": {...}}`,
/// Neutron's `{"NeutronError": {...}}`, Keystone's `{"error": {...}}`, Glance's and
/// Placement's `{"errors": [...]}`.
pub(crate) fn fault_message(body: &Value) -> Option<String> {
    let obj = body.as_object()?;
    if let Some(first) = obj
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return first
            .get("detail")
            .or_else(|| first.get("title"))
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    obj.values()
        .filter_map(|v| v.get("message").and_then(Value::as_str))
        .next()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fault_messages_of_every_shape() {
        let nova =
            json!({"itemNotFound": {"code": 404, "message": "Instance x could not be found."}});
        assert_eq!(
            fault_message(&nova).as_deref(),
            Some("Instance x could not be found.")
        );
        let neutron =
            json!({"NeutronError": {"type": "X", "message": "Network busy", "detail": ""}});
        assert_eq!(fault_message(&neutron).as_deref(), Some("Network busy"));
        let keystone = json!({"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}});
        assert!(fault_message(&keystone).is_some_and(|m| m.contains("authentication")));
        let placement = json!({"errors": [{"status": 409, "title": "Conflict", "detail": "busy"}]});
        assert_eq!(fault_message(&placement).as_deref(), Some("busy"));
        assert_eq!(fault_message(&json!("text")), None);
    }

    #[test]
    fn html_faults_read_as_text() {
        let swift = b"<html><h1>Not Found</h1><p>The resource could not be found.</p></html>";
        assert_eq!(
            plain_text(swift),
            "Not Found The resource could not be found."
        );
        assert_eq!(plain_text(b"  plain\n words "), "plain words");
    }
}
