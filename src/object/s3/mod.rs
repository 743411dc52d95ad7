//! The S3 front-end on object storage's data, as Swift's s3api middleware offers it:
//! path-style requests under `/s3` (catalog type `s3`), signed with Keystone EC2
//! credentials (SigV4 or V2, header or presigned query). A bucket is a container of
//! the credential's project account (`AUTH_<project_id>`), an object is the same row
//! and file Swift serves, so either API reads what the other wrote. Multipart uploads
//! keep their parts as objects in `<bucket>+segments` and complete into a static
//! large object, as s3api does. Faults are S3's XML `<Error>` documents.
//!
//! Rooms: `auth.rs` (signatures), `payload.rs` (body checks and `aws-chunked`),
//! `xml.rs` (documents in and out), `bucket.rs`, `object.rs`, `multipart.rs` (the
//! operations).

mod auth;
mod bucket;
mod checksum;
mod multipart;
mod object;
mod payload;
mod uploads;
mod xml;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::get;

use crate::cloud::Cloud;
use crate::http::error::ApiError;
use crate::object::blobs::ByteStream;

/// Where the S3 API is mounted; the catalog lists it as service type `s3`.
pub(crate) const PREFIX: &str = "/s3";

/// The suffix of the container holding a bucket's multipart parts (s3api's name).
pub(crate) const SEGMENTS_SUFFIX: &str = "+segments";

/// Every path below the prefix goes to one handler: S3 names its operations by
/// method, path depth and query sub-resource, not by route. The methods S3 uses are
/// named (tests/routes.txt lists them); any other reaches the handler too, which
/// answers S3's `MethodNotAllowed`.
pub(crate) fn router() -> Router<Cloud> {
    Router::new()
        .route(
            "/",
            get(entry)
                .head(entry)
                .put(entry)
                .post(entry)
                .delete(entry)
                .fallback(entry),
        )
        .route(
            "/{*rest}",
            get(entry)
                .head(entry)
                .put(entry)
                .post(entry)
                .delete(entry)
                .fallback(entry),
        )
}

/// An S3 fault: status, S3's code and message, and extra elements of `<Error>`.
#[derive(Debug)]
pub(crate) struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub extra: Vec<(&'static str, String)>,
}

impl S3Error {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> S3Error {
        S3Error {
            status,
            code,
            message: message.into(),
            extra: Vec::new(),
        }
    }
    fn with(mut self, k: &'static str, v: impl Into<String>) -> S3Error {
        self.extra.push((k, v.into()));
        self
    }
    pub(crate) fn access_denied(m: &str) -> S3Error {
        S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", m)
    }
    pub(crate) fn authorization_header_malformed() -> S3Error {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed.",
        )
    }
    pub(crate) fn authorization_query_malformed(m: &str) -> S3Error {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            m,
        )
    }
    pub(crate) fn invalid_argument(m: &str) -> S3Error {
        S3Error::new(StatusCode::BAD_REQUEST, "InvalidArgument", m)
    }
    pub(crate) fn request_time_too_skewed() -> S3Error {
        S3Error::new(
            StatusCode::FORBIDDEN,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
    }
    pub(crate) fn signature_does_not_match(sts: &str, creq: &str) -> S3Error {
        let e = S3Error::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
        .with("StringToSign", sts);
        if creq.is_empty() {
            e
        } else {
            e.with("CanonicalRequest", creq)
        }
    }
    pub(crate) fn no_such_bucket(b: &str) -> S3Error {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
        .with("BucketName", b)
    }
    pub(crate) fn no_such_key(k: &str) -> S3Error {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", k)
    }
    pub(crate) fn no_such_upload(id: &str) -> S3Error {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.",
        )
        .with("UploadId", id)
    }
    pub(crate) fn malformed_xml() -> S3Error {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    }
    pub(crate) fn not_implemented() -> S3Error {
        S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "A header you provided implies functionality that is not implemented",
        )
    }
    pub(crate) fn method_not_allowed() -> S3Error {
        S3Error::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
    }

    /// A service error from the shared object storage logic, in S3's terms; a 404
    /// there means the key (callers check the bucket first).
    pub(crate) fn from_api(e: ApiError, key: &str) -> S3Error {
        match e {
            ApiError::Missing(_) | ApiError::NotFound { .. } => S3Error::no_such_key(key),
            ApiError::OverQuota(m) => S3Error::new(StatusCode::FORBIDDEN, "QuotaExceeded", m),
            ApiError::PayloadTooLarge(_) => S3Error::new(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed object size.",
            ),
            ApiError::PreconditionFailed(_) => S3Error::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            ),
            ApiError::BadRequest(m) => S3Error::new(StatusCode::BAD_REQUEST, "InvalidArgument", m),
            ApiError::Internal(err) => {
                tracing::error!(error = ?err, "S3 request failed");
                S3Error::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                )
            }
            other => match other.status().as_u16() {
                422 => S3Error::new(
                    StatusCode::BAD_REQUEST,
                    "BadDigest",
                    "The Content-MD5 you specified did not match what we received.",
                ),
                499 => S3Error::new(
                    StatusCode::BAD_REQUEST,
                    "IncompleteBody",
                    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                ),
                409 => S3Error::new(StatusCode::CONFLICT, "OperationAborted", other.to_string()),
                _ => S3Error::new(other.status(), "InvalidRequest", other.to_string()),
            },
        }
    }
}

/// An S3 request, taken apart and authenticated.
pub(crate) struct S3Req {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// `AUTH_<project_id>` of the signing credential.
    pub account: String,
    pub project: String,
    /// The signing user's roles on the project, for the policy check.
    pub roles: Vec<String>,
    payload: auth::Payload,
    /// Set by the body check when the body does not match what was signed.
    pub payload_bad: Arc<AtomicBool>,
    /// The `x-amz-checksum-*` the request declares (header or trailer).
    checksum: Option<checksum::Expected>,
    /// Set when the body does not match that checksum.
    pub checksum_bad: Arc<AtomicBool>,
    /// The checksum, once the whole body matched it.
    checksum_verified: payload::Verified,
    body: std::sync::Mutex<Option<Body>>,
}

impl S3Req {
    pub(crate) fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn has(&self, key: &str) -> bool {
        self.query.iter().any(|(k, _)| k == key)
    }
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
    }
    pub(crate) fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }
    /// The body as a stream checked against what the signature declared.
    pub(crate) fn body(&self) -> ByteStream {
        let body = self
            .body
            .lock()
            .ok()
            .and_then(|mut b| b.take())
            .unwrap_or_else(Body::empty);
        let raw: ByteStream = crate::bytestream::from_body(body);
        payload::checked(
            raw,
            self.payload.clone(),
            self.payload_bad.clone(),
            self.checksum
                .clone()
                .map(|expected| payload::ChecksumCheck {
                    expected,
                    bad: self.checksum_bad.clone(),
                    verified: self.checksum_verified.clone(),
                }),
        )
    }
    /// A small body (an XML document) read whole, up to `limit` bytes.
    pub(crate) async fn body_bytes(&self, limit: usize) -> Result<Vec<u8>, S3Error> {
        use futures_util::StreamExt;
        let mut s = self.body();
        let mut out = Vec::new();
        while let Some(chunk) = s.next().await {
            let chunk = chunk.map_err(|_| self.body_error())?;
            out.extend_from_slice(&chunk);
            if out.len() > limit {
                return Err(S3Error::malformed_xml());
            }
        }
        Ok(out)
    }
    /// The fault of a body that failed while read: a checksum mismatch or a cut.
    pub(crate) fn body_error(&self) -> S3Error {
        if self.checksum_bad.load(Ordering::Acquire) {
            let label = self.checksum.as_ref().map_or("checksum", |c| c.alg.label());
            return S3Error::new(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                format!("The {label} you specified did not match the calculated checksum."),
            );
        }
        if self.payload_bad.load(Ordering::Acquire) {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        } else {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "The request body terminated unexpectedly",
            )
        }
    }
    /// Echoes a checksum the request declared in a header (and that the body
    /// matched) on the response, as S3 does.
    pub(crate) fn echo_checksum(&self, h: &mut HeaderMap) {
        if let Some(c) = &self.checksum
            && let Some(v) = &c.value
        {
            put_header(h, c.alg.header(), v);
        }
    }
    /// The body's checksum as stored with the object (system metadata), once the
    /// whole body matched it: from a header or an `aws-chunked` trailer.
    pub(crate) fn verified_checksum(&self) -> Option<(String, String)> {
        let alg = self.checksum.as_ref()?.alg;
        let value = self.checksum_verified.lock().ok()?.clone()?;
        Some((
            CHECKSUM_SYSMETA.to_owned(),
            format!("{} {value}", alg.header()),
        ))
    }
    /// The checksum a header declared, as stored with the object: known before
    /// the body, so it is written with the object (which is only stored when the
    /// body matched it). A trailer's comes from `verified_checksum` afterwards.
    pub(crate) fn declared_checksum(&self) -> Option<(String, String)> {
        let c = self.checksum.as_ref()?;
        let value = c.value.as_ref()?;
        Some((
            CHECKSUM_SYSMETA.to_owned(),
            format!("{} {value}", c.alg.header()),
        ))
    }
    /// A service error from a call that consumed the body.
    pub(crate) fn put_error(&self, e: ApiError, key: &str) -> S3Error {
        if self.payload_bad.load(Ordering::Acquire) || self.checksum_bad.load(Ordering::Acquire) {
            return self.body_error();
        }
        S3Error::from_api(e, key)
    }
}

pub(crate) type S3Result = Result<Response, S3Error>;

/// Where an object keeps the `x-amz-checksum-*` it was written with, as
/// `<header> <base64 value>`; GetObject and HeadObject return it when asked with
/// `x-amz-checksum-mode: ENABLED`.
pub(crate) const CHECKSUM_SYSMETA: &str = "x-object-sysmeta-s3api-checksum";

async fn entry(State(cloud): State<Cloud>, req: Request) -> Response {
    let request_id = req
        .extensions()
        .get::<crate::http::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let head = req.method() == Method::HEAD;
    let resource = req.uri().path().to_owned();
    let resp = match authenticate(&cloud, req).await {
        Ok(r) => dispatch(&cloud, &r).await,
        Err(e) => Err(e),
    };
    let mut resp = resp.unwrap_or_else(|e| render(e, &resource, &request_id, head));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amz-request-id", v.clone());
        resp.headers_mut().insert("x-amz-id-2", v);
    }
    resp
}

/// Splits the request, reads the signature's claim, looks up the key through
/// identity's facade and checks the signature.
async fn authenticate(cloud: &Cloud, req: Request) -> Result<S3Req, S3Error> {
    let (parts, body) = req.into_parts();
    let raw_path = signed_path(&parts);
    let query = query_pairs(parts.uri.query());
    let (bucket, key) = bucket_and_key(parts.uri.path());
    let signed = auth::Signed {
        method: parts.method.as_str(),
        raw_path: &raw_path,
        query: &query,
        headers: &parts.headers,
    };
    let claim = auth::claim(&signed)?
        .ok_or_else(|| S3Error::access_denied("Anonymous access is not allowed here."))?;
    let key_pair = ec2_key(cloud, claim.access()).await?;
    let payload = auth::verify(&signed, &claim, &key_pair.secret)?;
    let checksum = checksum::expected(&parts.headers)
        .map_err(|m| S3Error::new(StatusCode::BAD_REQUEST, "InvalidRequest", m))?;
    tracing::debug!(user = %key_pair.user_id, project = %key_pair.project_id, "S3 request signed");
    Ok(S3Req {
        method: parts.method,
        headers: parts.headers,
        query,
        bucket,
        key,
        account: format!("AUTH_{}", key_pair.project_id),
        project: key_pair.project_id,
        roles: key_pair.roles,
        payload,
        payload_bad: Arc::new(AtomicBool::new(false)),
        checksum,
        checksum_bad: Arc::new(AtomicBool::new(false)),
        checksum_verified: payload::Verified::default(),
        body: std::sync::Mutex::new(Some(body)),
    })
}

/// The path as the client sent (and signed) it, before any rewriting.
fn signed_path(parts: &axum::http::request::Parts) -> String {
    parts
        .extensions
        .get::<crate::http::SentPath>()
        .map(|p| p.0.clone())
        .or_else(|| {
            parts
                .extensions
                .get::<OriginalUri>()
                .map(|u| u.0.path().to_owned())
        })
        .unwrap_or_else(|| parts.uri.path().to_owned())
}

/// The query string's decoded pairs, in order.
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The bucket and key a path-style request names, decoded; either may be absent.
fn bucket_and_key(path: &str) -> (Option<String>, Option<String>) {
    let nested = path.trim_start_matches('/');
    let (bucket, key) = match nested.split_once('/') {
        Some((b, k)) => (b, Some(k)),
        None => (nested, None),
    };
    let bucket = (!bucket.is_empty()).then(|| decode(bucket));
    let key = key.filter(|k| !k.is_empty()).map(decode);
    (bucket, key)
}

/// The EC2 credential of an access key, through identity's facade.
async fn ec2_key(cloud: &Cloud, access: &str) -> Result<crate::identity::facade::Ec2Key, S3Error> {
    cloud
        .identity
        .ec2_key(access)
        .await
        .map_err(|e| S3Error::from_api(e, ""))?
        .ok_or_else(|| {
            S3Error::new(
                StatusCode::FORBIDDEN,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        })
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The policy layer's rule for the request: reads need a reader of the project,
/// anything else an operator (member). S3 has no ACL here: buckets are the
/// credential's project's containers.
fn enforce(r: &S3Req) -> Result<(), S3Error> {
    let rule = if matches!(r.method, Method::GET | Method::HEAD) {
        crate::http::policy::OBJECT_READ
    } else {
        crate::http::policy::OBJECT_WRITE
    };
    if rule.allows_roles(&r.roles, &r.project, Some(&r.project)) {
        Ok(())
    } else {
        Err(S3Error::access_denied("Access Denied"))
    }
}

async fn dispatch(cloud: &Cloud, r: &S3Req) -> S3Result {
    enforce(r)?;
    match (&r.bucket, &r.key) {
        (None, _) => match r.method {
            Method::GET => bucket::list_buckets(cloud, r).await,
            _ => Err(S3Error::method_not_allowed()),
        },
        (Some(b), None) => bucket::dispatch(cloud, r, b).await,
        (Some(b), Some(k)) => {
            bucket::require(cloud, r, b).await?;
            if r.has("uploadId") || r.has("uploads") {
                multipart::dispatch(cloud, r, b, k).await
            } else {
                object::dispatch(cloud, r, b, k).await
            }
        }
    }
}

/// The `<Error>` document of a fault (no body for HEAD).
fn render(e: S3Error, resource: &str, request_id: &str, head: bool) -> Response {
    let mut doc = xml::Doc::new("Error", false);
    doc.leaf("Code", e.code);
    doc.leaf("Message", &e.message);
    for (k, v) in &e.extra {
        doc.leaf(k, v);
    }
    doc.leaf("Resource", resource);
    doc.leaf("RequestId", request_id);
    let mut r = if head {
        Response::new(Body::empty())
    } else {
        xml_body(doc.finish())
    };
    *r.status_mut() = e.status;
    r
}

/// A 200 with an XML document.
pub(crate) fn xml_body(text: String) -> Response {
    let mut r = Response::new(Body::from(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// An empty response with `status`.
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

pub(crate) fn put_header(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        axum::http::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        h.insert(n, v);
    }
}
