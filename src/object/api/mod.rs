//! Swift v1 HTTP routes under `/object-storage`: `/info`, and account, container and
//! object routes under `/v1/AUTH_<project_id>`. Responses (and faults, as Swift's
//! small HTML bodies) are shaped here; authorization is in `access.rs`.

// Helpers here fail with the finished Swift response (`Result<_, Response>`): it is
// built once per refused request, so its size does not matter.
#![allow(clippy::result_large_err)]

pub(crate) mod access;
mod account;
mod bulk;
mod container;
mod formpost;
mod info;
mod object;
mod staticweb;
mod view;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::cloud::Cloud;
use crate::http::context::{Auth, RequestContext};
use crate::http::error::ApiError;

pub(crate) use info::info;

/// The routes below `/object-storage`; each handler dispatches on the method, so
/// Swift's `COPY` reaches the object handler too.
pub(crate) fn router() -> Router<Cloud> {
    Router::new()
        .route("/info", get(info::info))
        .route("/crossdomain.xml", get(info::crossdomain))
        .route("/healthcheck", get(info::healthcheck))
        .route(
            "/v1/{account}",
            get(account::account)
                .head(account::account)
                .put(account::account)
                .post(account::account)
                .delete(account::account),
        )
        // `/v1/AUTH_x/?format=json`: what clients that join the storage URL and a
        // query with a slash (tempest) send; Swift serves it as the account.
        .route(
            "/v1/{account}/",
            get(account::account)
                .head(account::account)
                .put(account::account)
                .post(account::account)
                .delete(account::account),
        )
        .route(
            "/v1/{account}/{container}",
            get(container::container)
                .head(container::container)
                .put(container::container)
                .post(container::container)
                .delete(container::container),
        )
        // `/v1/AUTH_x/c/`: the container (a static web site's root is asked so).
        .route(
            "/v1/{account}/{container}/",
            get(container::container)
                .head(container::container)
                .put(container::container)
                .post(container::container)
                .delete(container::container),
        )
        .route(
            "/v1/{account}/{container}/{*object}",
            get(object::object)
                .head(object::object)
                .put(object::object)
                .post(object::object)
                .delete(object::object)
                .fallback(object::object),
        )
        .fallback(not_found)
}

async fn not_found() -> Response {
    fault(StatusCode::NOT_FOUND, None, false)
}

/// One Swift request, taken apart.
pub(crate) struct Call {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub ctx: Option<std::sync::Arc<RequestContext>>,
    pub path: String,
    pub request_id: String,
    /// Taken once by the handler that streams it (`take_body`).
    pub body: std::sync::Mutex<Option<Body>>,
}

impl Call {
    pub(crate) fn from_request(req: Request) -> Call {
        let (parts, body) = req.into_parts();
        let ctx = match parts.extensions.get::<Auth>() {
            Some(Auth::Valid(c)) => Some(c.clone()),
            _ => None,
        };
        let query = parts
            .uri
            .query()
            .map(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default())
            .unwrap_or_default();
        let request_id = parts
            .extensions
            .get::<crate::http::RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        Call {
            method: parts.method,
            headers: parts.headers,
            query,
            ctx,
            path: parts.uri.path().to_owned(),
            request_id,
            body: std::sync::Mutex::new(Some(body)),
        }
    }

    pub(crate) fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
    }

    pub(crate) fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }
}

/// The account's project: `AUTH_<project_id>`.
pub(crate) fn project_of(account: &str) -> Option<&str> {
    account.strip_prefix("AUTH_").filter(|p| !p.is_empty())
}

/// A path whose account is not `AUTH_<project>`: 401 to an anonymous caller (who
/// learns nothing), 404 to a known one.
pub(crate) fn no_such_account(call: &Call) -> Response {
    let status = if call.ctx.is_some() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::UNAUTHORIZED
    };
    fault(status, None, call.is_head())
}

/// Swift's fault: its short HTML body (or a plain message) with `text/html`.
pub(crate) fn fault(status: StatusCode, message: Option<&str>, head: bool) -> Response {
    let body = match (status.as_u16(), message) {
        (400 | 413, Some(m)) => m.to_owned(),
        (401, _) => "<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized to access the document you requested.</p></html>".into(),
        (403, _) => "<html><h1>Forbidden</h1><p>Access was denied to this resource.</p></html>".into(),
        (404, _) => "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>".into(),
        (405, _) => "<html><h1>Method Not Allowed</h1><p>The method is not allowed for this resource.</p></html>".into(),
        (409, _) => "<html><h1>Conflict</h1><p>There was a conflict when trying to complete your request.</p></html>".into(),
        (411, _) => "<html><h1>Length Required</h1><p>Length Required</p></html>".into(),
        (412, Some(m)) if m != "Precondition Failed" => m.to_owned(),
        (412, _) => "<html><h1>Precondition Failed</h1><p>A precondition for this request was not met.</p></html>".into(),
        (416, _) => "<html><h1>Requested Range Not Satisfiable</h1><p>The Range requested is not available.</p></html>".into(),
        (422, _) => "<html><h1>Unprocessable Entity</h1><p>Unable to process the contained instructions</p></html>".into(),
        (499, _) => "<html><h1>Client Disconnect</h1><p>The client was disconnected during request.</p></html>".into(),
        (500, _) => "<html><h1>Internal Error</h1><p>The server has either erred or is incapable of performing the requested operation.</p></html>".into(),
        (_, Some(m)) => m.to_owned(),
        (_, None) => status.canonical_reason().unwrap_or("Error").to_owned(),
    };
    let len = body.len();
    let mut resp = if head {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(body))
    };
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

/// Renders a service error as Swift does.
pub(crate) fn error(e: ApiError, head: bool) -> Response {
    if let ApiError::Internal(err) = &e {
        tracing::error!(error = ?err, "object storage request failed");
    }
    let msg = e.to_string();
    fault(e.status(), Some(&msg), head)
}

/// Adds the headers every Swift response carries: `X-Trans-Id` in Swift's form
/// (`tx` + 21 hex digits + `-` + the time in hex), derived from the request id.
pub(crate) fn finish(mut resp: Response, call: &Call) -> Response {
    let hexid: String = call
        .request_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .skip(1)
        .take(21)
        .collect();
    let hexid = format!("{hexid:0<21}");
    let trans = format!("tx{hexid}-{:010x}", chrono::Utc::now().timestamp());
    if let Ok(v) = HeaderValue::from_str(&trans) {
        resp.headers_mut().insert("x-trans-id", v);
    }
    resp
}

/// A bodyless response with `Content-Length: 0` and Swift's `text/html` type.
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut r = StatusCode::into_response(status);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    r
}

/// The request body as the service's byte stream (empty when already taken).
pub(crate) fn take_body(call: &Call) -> crate::object::blobs::ByteStream {
    let body = call
        .body
        .lock()
        .ok()
        .and_then(|mut b| b.take())
        .unwrap_or_else(Body::empty);
    crate::bytestream::from_body(body)
}
