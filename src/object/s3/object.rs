//! Object operations: PutObject (streamed, `Content-MD5` checked), CopyObject,
//! GetObject and HeadObject (one range, conditional headers, `response-*`
//! overrides), DeleteObject. Metadata maps as s3api maps it: `x-amz-meta-k` is Swift's
//! `x-object-meta-k`, and the stored system headers are the same.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;

use super::bucket::s3_etag;
use super::xml::{self, Doc};
use super::{S3Error, S3Req, S3Result, SEGMENTS_SUFFIX, empty, multipart, put_header, xml_body};
use crate::cloud::Cloud;
use crate::http::error::{ApiError, ApiResult};
use crate::object::model::{self, Meta, Object};
use crate::object::objects::slice;
use crate::object::{ObjectBody, PutInput};

/// Headers an object keeps as they were sent (Swift's `allowed_headers`).
const STORED_HEADERS: &[&str] = &[
    "content-disposition",
    "content-encoding",
    "content-language",
    "cache-control",
    "expires",
];

pub(super) async fn dispatch(cloud: &Cloud, r: &S3Req, bucket: &str, key: &str) -> S3Result {
    if ["acl", "tagging", "retention", "legal-hold", "torrent"]
        .iter()
        .any(|s| r.has(s))
    {
        if r.method == Method::GET && r.has("acl") {
            object_found(cloud, r, bucket, key).await?;
            return Ok(xml_body(super::bucket::acl(&r.project)));
        }
        return Err(S3Error::not_implemented());
    }
    match r.method {
        Method::GET | Method::HEAD => object_get(cloud, r, bucket, key).await,
        Method::PUT if r.headers.contains_key("x-amz-copy-source") => {
            object_copy(cloud, r, bucket, key).await
        }
        Method::PUT => object_put(cloud, r, bucket, key).await,
        Method::DELETE => {
            delete_one(cloud, &r.account, bucket, key)
                .await
                .map_err(|e| S3Error::from_api(e, key))?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        _ => Err(S3Error::method_not_allowed()),
    }
}

async fn object_found(
    cloud: &Cloud,
    r: &S3Req,
    bucket: &str,
    key: &str,
) -> Result<Object, S3Error> {
    cloud
        .object
        .object_show(&r.account, bucket, key)
        .await
        .map_err(|e| S3Error::from_api(e, key))
}

/// `x-amz-meta-*` and the stored headers of a request, checked against Swift's limits.
pub(super) fn meta_of(r: &S3Req) -> Result<Meta, S3Error> {
    let mut meta = Meta::new();
    for (n, v) in &r.headers {
        let n = n.as_str();
        let v = String::from_utf8_lossy(v.as_bytes()).trim().to_owned();
        if let Some(k) = n.strip_prefix("x-amz-meta-") {
            meta.insert(format!("x-object-meta-{k}"), v);
        } else if STORED_HEADERS.contains(&n) {
            meta.insert(n.to_owned(), v);
        }
    }
    model::check_meta(&meta, "x-object-meta-")
        .map_err(|m| S3Error::new(StatusCode::BAD_REQUEST, "MetadataTooLarge", m))?;
    Ok(meta)
}

/// `Content-MD5` (base64) as the hex MD5 the store checks; a malformed one is
/// `InvalidDigest`.
pub(super) fn content_md5(r: &S3Req) -> Result<Option<String>, S3Error> {
    let Some(v) = r.header("content-md5") else {
        return Ok(None);
    };
    base64::engine::general_purpose::STANDARD
        .decode(v.as_bytes())
        .ok()
        .filter(|b| b.len() == 16)
        .map(|b| Some(hex::encode(b)))
        .ok_or_else(|| {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidDigest",
                "The Content-MD5 you specified was invalid.",
            )
        })
}

/// The declared length of the body's content (`x-amz-decoded-content-length` for
/// an `aws-chunked` body).
pub(super) fn content_length(r: &S3Req) -> Result<Option<u64>, S3Error> {
    let v = r
        .header("x-amz-decoded-content-length")
        .or_else(|| r.header("content-length"));
    match v {
        None if r
            .header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked")) =>
        {
            Ok(None)
        }
        None => Err(S3Error::new(
            StatusCode::LENGTH_REQUIRED,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.",
        )),
        Some(l) => l
            .parse()
            .map(Some)
            .map_err(|_| S3Error::invalid_argument("Invalid Content-Length")),
    }
}

pub(super) fn put_input(r: &S3Req, meta: Meta) -> Result<PutInput, S3Error> {
    Ok(PutInput {
        content_type: r
            .header("content-type")
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "binary/octet-stream".into()),
        meta,
        delete_at: None,
        dlo_manifest: None,
        etag: content_md5(r)?,
        content_length: content_length(r)?,
        if_none_match_star: r.header("if-none-match").as_deref() == Some("*"),
    })
}

/// PutObject: the same streamed, durable write as Swift's PUT.
async fn object_put(cloud: &Cloud, r: &S3Req, bucket: &str, key: &str) -> S3Result {
    let mut meta = meta_of(r)?;
    let declared = r.declared_checksum();
    if let Some((k, v)) = declared.clone() {
        meta.insert(k, v);
    }
    let input = put_input(r, meta)?;
    let old = cloud
        .object
        .object_find(&r.account, bucket, key)
        .await
        .map_err(|e| S3Error::from_api(e, key))?;
    let o = cloud
        .object
        .object_put(&r.account, bucket, key, input, r.body())
        .await
        .map_err(|e| r.put_error(e, key))?;
    reap_parts(cloud, &r.account, old).await;
    // A trailer's checksum is known only once the body ended: kept before the
    // reply, so a GetObject that asks for it gets it.
    if declared.is_none()
        && let Some(item) = r.verified_checksum()
    {
        cloud
            .object
            .object_sysmeta_set(&r.account, bucket, key, &o.etag, item)
            .await
            .map_err(|e| S3Error::from_api(e, key))?;
    }
    let mut resp = empty(StatusCode::OK);
    put_header(resp.headers_mut(), "etag", &format!("\"{}\"", o.etag));
    r.echo_checksum(resp.headers_mut());
    Ok(resp)
}

/// `x-amz-copy-source`: `bucket/key` (optionally with a leading `/`), URL-encoded.
pub(super) fn copy_source(r: &S3Req) -> Result<(String, String), S3Error> {
    let src = r.header("x-amz-copy-source").unwrap_or_default();
    let src = src.split('?').next().unwrap_or_default();
    let src = percent_encoding::percent_decode_str(src)
        .decode_utf8_lossy()
        .into_owned();
    let src = src.trim_start_matches('/');
    match src.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_owned(), k.to_owned())),
        _ => Err(S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )),
    }
}

/// CopyObject: within the caller's account; metadata copied unless
/// `x-amz-metadata-directive: REPLACE`.
async fn object_copy(cloud: &Cloud, r: &S3Req, bucket: &str, key: &str) -> S3Result {
    let (sb, sk) = copy_source(r)?;
    let svc = &cloud.object;
    super::bucket::require(cloud, r, &sb).await?;
    let src = svc
        .object_show(&r.account, &sb, &sk)
        .await
        .map_err(|e| S3Error::from_api(e, &sk))?;
    let replace = replaces_metadata(r)?;
    if !replace && sb == bucket && sk == key {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let body = svc
        .object_body(src.clone())
        .await
        .map_err(|e| S3Error::from_api(e, &sk))?;
    if let Some(resp) = copy_conditions(r, &body)? {
        return Ok(resp);
    }
    let input = copy_input(r, &src, replace, body.size)?;
    let old = svc
        .object_find(&r.account, bucket, key)
        .await
        .map_err(|e| S3Error::from_api(e, key))?;
    let stream = svc.stream(body.pieces.clone());
    let o = svc
        .object_put(&r.account, bucket, key, input, stream)
        .await
        .map_err(|e| S3Error::from_api(e, key))?;
    reap_parts(cloud, &r.account, old).await;
    let mut d = Doc::new("CopyObjectResult", true);
    d.leaf("LastModified", &xml::iso(o.ts));
    d.leaf("ETag", &format!("\"{}\"", o.etag));
    Ok(xml_body(d.finish()))
}

/// `x-amz-metadata-directive`: whether the copy takes the request's metadata
/// (`REPLACE`) rather than the source's (`COPY`, the default).
fn replaces_metadata(r: &S3Req) -> Result<bool, S3Error> {
    match r.header("x-amz-metadata-directive").as_deref() {
        None | Some("COPY") => Ok(false),
        Some("REPLACE") => Ok(true),
        Some(_) => Err(S3Error::invalid_argument("Unknown metadata directive.")),
    }
}

/// What CopyObject writes: the source's type and metadata, or the request's.
fn copy_input(r: &S3Req, src: &Object, replace: bool, size: u64) -> Result<PutInput, S3Error> {
    let (meta, content_type) = if replace {
        (
            meta_of(r)?,
            r.header("content-type")
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "binary/octet-stream".into()),
        )
    } else {
        let keep: Meta = src
            .meta
            .iter()
            .filter(|(k, _)| !k.starts_with("x-object-sysmeta-"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (keep, src.content_type.clone())
    };
    Ok(PutInput {
        content_type,
        meta,
        delete_at: None,
        dlo_manifest: None,
        etag: None,
        content_length: Some(size),
        if_none_match_star: false,
    })
}

/// `x-amz-copy-source-if-*`: 412 `PreconditionFailed` when one does not hold.
fn copy_conditions(r: &S3Req, b: &ObjectBody) -> Result<Option<Response>, S3Error> {
    let etag = s3_etag(&b.object);
    let failed = || {
        S3Error::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
    };
    if let Some(m) = r.header("x-amz-copy-source-if-match")
        && !etag_matches(&m, &etag)
    {
        return Err(failed());
    }
    if let Some(m) = r.header("x-amz-copy-source-if-none-match")
        && etag_matches(&m, &etag)
    {
        return Err(failed());
    }
    let last = b.object.ts.ceil() as i64;
    if let Some(t) = http_date(r, "x-amz-copy-source-if-unmodified-since")
        && last > t
    {
        return Err(failed());
    }
    if let Some(t) = http_date(r, "x-amz-copy-source-if-modified-since")
        && last <= t
    {
        return Err(failed());
    }
    Ok(None)
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|e| e.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|e| e == "*" || e == etag)
}

fn http_date(r: &S3Req, name: &str) -> Option<i64> {
    r.header(name)
        .and_then(|v| httpdate::parse_http_date(&v).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
}

/// S3's conditional GET: If-Match / If-Unmodified-Since (412), If-None-Match /
/// If-Modified-Since (304), with S3's precedence rules.
fn conditions(r: &S3Req, b: &ObjectBody) -> Result<Option<Response>, S3Error> {
    let etag = s3_etag(&b.object);
    let last = b.object.ts.ceil() as i64;
    let if_match = r.header("if-match");
    if let Some(m) = &if_match
        && !etag_matches(m, &etag)
    {
        return Err(S3Error::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
        .with("Condition", "If-Match"));
    }
    if if_match.is_none()
        && let Some(t) = http_date(r, "if-unmodified-since")
        && last > t
    {
        return Err(S3Error::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
        .with("Condition", "If-Unmodified-Since"));
    }
    let not_modified = || {
        let mut resp = empty(StatusCode::NOT_MODIFIED);
        put_header(resp.headers_mut(), "etag", &format!("\"{etag}\""));
        put_header(
            resp.headers_mut(),
            "last-modified",
            &model::http_date(b.object.ts),
        );
        Ok(Some(resp))
    };
    let if_none = r.header("if-none-match");
    if let Some(m) = &if_none
        && etag_matches(m, &etag)
    {
        return not_modified();
    }
    if if_none.is_none()
        && let Some(t) = http_date(r, "if-modified-since")
        && last <= t
    {
        return not_modified();
    }
    Ok(None)
}

/// A single `bytes=` range within `size` (inclusive); `None` for the whole object
/// (absent, malformed or multiple ranges, as S3 does), `Some(Err)` when unsatisfiable.
fn range(r: &S3Req, size: u64) -> Option<Result<(u64, u64), ()>> {
    let h = r.header("range")?;
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    match (a.trim(), b.trim()) {
        ("", "") => None,
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            if n == 0 || size == 0 {
                return Some(Err(()));
            }
            Some(Ok((size - n.min(size), size - 1)))
        }
        (s, e) => {
            let s: u64 = s.parse().ok()?;
            let e: Option<u64> = if e.is_empty() {
                None
            } else {
                Some(e.parse().ok()?)
            };
            if e.is_some_and(|e| e < s) {
                return None;
            }
            if s >= size {
                return Some(Err(()));
            }
            Some(Ok((s, e.map_or(size - 1, |e| e.min(size - 1)))))
        }
    }
}

/// GetObject and HeadObject.
async fn object_get(cloud: &Cloud, r: &S3Req, bucket: &str, key: &str) -> S3Result {
    let svc = &cloud.object;
    let obj = object_found(cloud, r, bucket, key).await?;
    let body = svc
        .object_body(obj)
        .await
        .map_err(|e| S3Error::from_api(e, key))?;
    if let Some(resp) = conditions(r, &body)? {
        return Ok(resp);
    }
    let size = body.size;
    let (status, pieces, len, crange) = match range(r, size) {
        None => (StatusCode::OK, body.pieces.clone(), size, None),
        Some(Err(())) => {
            return Err(S3Error::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
            )
            .with("ActualObjectSize", size.to_string()));
        }
        Some(Ok((s, e))) => (
            StatusCode::PARTIAL_CONTENT,
            slice(&body.pieces, s, e - s + 1),
            e - s + 1,
            Some(format!("bytes {s}-{e}/{size}")),
        ),
    };
    let mut resp = if r.is_head() {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from_stream(svc.stream(pieces)))
    };
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    object_headers(h, r, &body.object, crange.is_none());
    if let Some(c) = crange {
        put_header(h, "content-range", &c);
    }
    response_overrides(h, r);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(resp)
}

/// An object's headers on GetObject and HeadObject: type, ETag, date, user
/// metadata as `x-amz-meta-*`, parts count, and on a whole object its stored
/// checksum when the client asks for it.
fn object_headers(h: &mut HeaderMap, r: &S3Req, o: &Object, whole: bool) {
    put_header(h, "content-type", &o.content_type);
    put_header(h, "etag", &format!("\"{}\"", s3_etag(o)));
    put_header(h, "last-modified", &model::http_date(o.ts));
    put_header(h, "accept-ranges", "bytes");
    for (k, v) in &o.meta {
        if let Some(name) = k.strip_prefix("x-object-meta-") {
            put_header(h, &format!("x-amz-meta-{name}"), v);
        } else if STORED_HEADERS.contains(&k.as_str()) {
            put_header(h, k, v);
        }
    }
    if let Some(n) = o.meta.get(multipart::PARTS_SYSMETA) {
        put_header(h, "x-amz-mp-parts-count", n);
    }
    if whole
        && r.header("x-amz-checksum-mode")
            .is_some_and(|m| m.eq_ignore_ascii_case("enabled"))
        && let Some((name, value)) = o
            .meta
            .get(super::CHECKSUM_SYSMETA)
            .and_then(|v| v.split_once(' '))
    {
        put_header(h, name, value);
    }
}

/// The `response-*` query parameters, which override the stored headers.
fn response_overrides(h: &mut HeaderMap, r: &S3Req) {
    for (q, name) in [
        ("response-content-type", "content-type"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
        ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-encoding", "content-encoding"),
    ] {
        if let Some(v) = r.q(q) {
            put_header(h, name, v);
        }
    }
}

/// DeleteObject: a missing key is no error (S3's answer is 204 either way); the parts
/// of a completed multipart upload go with its manifest.
pub(super) async fn delete_one(
    cloud: &Cloud,
    account: &str,
    bucket: &str,
    key: &str,
) -> ApiResult<()> {
    let svc = &cloud.object;
    let found = svc.object_find(account, bucket, key).await?;
    let from_upload = found
        .as_ref()
        .is_some_and(|o| o.slo_manifest.is_some() && o.meta.contains_key(multipart::ETAG_SYSMETA));
    let r = if from_upload {
        svc.slo_delete(account, bucket, key).await.map(drop)
    } else {
        svc.object_delete(account, bucket, key).await
    };
    match r {
        Ok(()) | Err(ApiError::Missing(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// After `old` was replaced by a write: when it was a completed multipart upload,
/// its parts go too (nothing else refers to them). Failures only leave files behind.
pub(super) async fn reap_parts(cloud: &Cloud, account: &str, old: Option<Object>) {
    let Some(old) = old.filter(|o| o.meta.contains_key(multipart::ETAG_SYSMETA)) else {
        return;
    };
    let Some(m) = &old.slo_manifest else { return };
    let Ok(segs) = serde_json::from_str::<Vec<model::SloSegment>>(m) else {
        return;
    };
    for s in segs {
        let path = s.name.trim_start_matches('/');
        if let Some((c, o)) = path.split_once('/')
            && c.ends_with(SEGMENTS_SUFFIX)
            && let Err(e) = cloud.object.object_delete(account, c, o).await
        {
            tracing::info!(segment = %path, error = %e, "a replaced upload's part stays");
        }
    }
}

/// The container of a bucket's multipart parts.
pub(super) fn segments_of(bucket: &str) -> String {
    format!("{bucket}{SEGMENTS_SUFFIX}")
}
