//! Object routes (`/v1/AUTH_<project>/<container>/<object>`): GET and HEAD (ranges,
//! conditional requests, large objects, temp URLs), PUT (streamed, `X-Copy-From`,
//! static large object manifests), COPY, POST (metadata, expiry) and DELETE.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use futures_util::TryStreamExt;
use serde_json::json;

use super::access::{Op, authorize, tempurl_grants};
use super::view::{Format, put_header};
use super::{Call, error, fault, finish, project_of, take_body};
use crate::cloud::Cloud;
use crate::object::model::{self, Meta, Object};
use crate::object::objects::{DeleteAt, ObjectUpdate, SloPutSegment, slice};
use crate::object::{ObjectBody, Piece, PutInput};

/// System headers an object keeps beside its user metadata (Swift's
/// `allowed_headers`).
const STORED_HEADERS: &[&str] = &[
    "content-disposition",
    "content-encoding",
    "content-language",
    "cache-control",
    "expires",
    "x-robots-tag",
];

/// Every method on an object (COPY included).
pub(super) async fn object(
    State(cloud): State<Cloud>,
    Path((account, container, name)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    let call = Call::from_request(req);
    if super::bulk::is_extract(&call) {
        return super::bulk::extract(&cloud, &account, &format!("{container}/{name}"), call);
    }
    let resp = handle(&cloud, &account, &container, &name, &call).await;
    finish(resp, &call)
}

async fn handle(
    cloud: &Cloud,
    account: &str,
    container: &str,
    name: &str,
    call: &Call,
) -> Response {
    let head = call.is_head();
    let Some(project) = project_of(account) else {
        return super::no_such_account(call);
    };
    let svc = &cloud.object;
    let ct = match svc.container_find(account, container).await {
        Ok(c) => c,
        Err(e) => return error(e, head),
    };
    if ct.is_some() && super::formpost::is_formpost(call) {
        return super::formpost::formpost(cloud, account, container, name, call).await;
    }
    let tempurl = call.q("temp_url_sig").is_some();
    if !tempurl
        && let Some(c) = &ct
        && super::staticweb::applies(call)
        && let Some(r) = super::staticweb::object(cloud, account, project, c, name, call).await
    {
        return r;
    }
    if tempurl {
        let names = (account, container, name);
        if !tempurl_valid(cloud, names, ct.as_ref(), call).await {
            return fault(StatusCode::UNAUTHORIZED, None, head);
        }
    } else {
        let op = match call.method {
            Method::GET | Method::HEAD => Op::ObjectRead,
            ref m if m.as_str() == "COPY" => Op::ObjectRead,
            _ => Op::ObjectWrite,
        };
        if let Err(r) = authorize(call, project, ct.as_ref().map(|c| &c.meta), op) {
            return r;
        }
    }
    if ct.is_none() {
        return fault(StatusCode::NOT_FOUND, None, head);
    }
    let r = match call.method {
        Method::GET | Method::HEAD => get(cloud, account, container, name, call, tempurl).await,
        Method::PUT => put(cloud, account, container, name, call).await,
        Method::POST => post(cloud, account, container, name, call).await,
        Method::DELETE => delete(cloud, account, container, name, call).await,
        ref m if m.as_str() == "COPY" => copy(cloud, account, project, container, name, call).await,
        _ => Err(fault(StatusCode::METHOD_NOT_ALLOWED, None, head)),
    };
    r.unwrap_or_else(|e| e)
}

/// Whether the request's temp URL signature holds for one of the account's or
/// the container's temp URL keys, over any of the paths the object is reached by.
async fn tempurl_valid(
    cloud: &Cloud,
    (account, container, name): (&str, &str, &str),
    ct: Option<&model::Container>,
    call: &Call,
) -> bool {
    let mut keys = Vec::new();
    if let Ok(a) = cloud.object.account_show(account).await {
        keys.extend(
            [
                "x-account-meta-temp-url-key",
                "x-account-meta-temp-url-key-2",
            ]
            .iter()
            .filter_map(|k| a.meta.get(*k).cloned()),
        );
    }
    if let Some(c) = ct {
        keys.extend(
            [
                "x-container-meta-temp-url-key",
                "x-container-meta-temp-url-key-2",
            ]
            .iter()
            .filter_map(|k| c.meta.get(*k).cloned()),
        );
    }
    let tail = format!("/v1/{account}/{container}/{name}");
    let paths = [
        tail.clone(),
        format!("/object-storage{tail}"),
        call.path.clone(),
    ];
    tempurl_grants(call, &paths, name, &keys)
}

type Res = Result<Response, Response>;

fn err(call: &Call) -> impl Fn(crate::http::error::ApiError) -> Response + '_ {
    move |e| error(e, call.is_head())
}

fn bad(call: &Call, msg: &str) -> Response {
    fault(StatusCode::BAD_REQUEST, Some(msg), call.is_head())
}

/// The object's headers on a GET or HEAD.
fn object_headers(h: &mut HeaderMap, b: &ObjectBody, tempurl: bool) {
    let o = &b.object;
    put_header(h, "content-type", &o.content_type);
    put_header(h, "etag", &b.etag);
    put_header(h, "last-modified", &model::http_date(o.ts));
    put_header(h, "x-timestamp", &model::ts_header(o.ts));
    put_header(h, "accept-ranges", "bytes");
    for (k, v) in &o.meta {
        if tempurl && k.starts_with("x-object-meta-") && !k.starts_with("x-object-meta-public-") {
            continue;
        }
        // System metadata (s3api's ETag of a multipart upload) is for the server.
        if k.starts_with("x-object-sysmeta-") {
            continue;
        }
        put_header(h, k, v);
    }
    if let Some(d) = o.delete_at {
        put_header(h, "x-delete-at", &d.to_string());
    }
    if let Some(m) = &o.dlo_manifest {
        put_header(h, "x-object-manifest", m);
    }
    if o.slo_manifest.is_some() {
        put_header(h, "x-static-large-object", "True");
    }
}

fn etag_list_matches(list: &str, etag: &str) -> bool {
    let etag = etag.trim_matches('"');
    list.split(',')
        .map(|e| e.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|e| e == "*" || e == etag)
}

/// If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since.
fn conditional(call: &Call, b: &ObjectBody) -> Option<Response> {
    let head = call.is_head();
    let last = b.object.ts.ceil() as i64;
    let not_modified = || {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        put_header(r.headers_mut(), "etag", &b.etag);
        put_header(
            r.headers_mut(),
            "last-modified",
            &model::http_date(b.object.ts),
        );
        put_header(r.headers_mut(), "content-type", &b.object.content_type);
        r
    };
    if let Some(m) = call.header("if-match")
        && !etag_list_matches(&m, &b.etag)
    {
        let mut r = fault(StatusCode::PRECONDITION_FAILED, None, head);
        put_header(r.headers_mut(), "etag", &b.etag);
        return Some(r);
    }
    if let Some(m) = call.header("if-none-match")
        && etag_list_matches(&m, &b.etag)
    {
        return Some(not_modified());
    }
    let date = |h: &str| {
        call.header(h)
            .and_then(|v| httpdate::parse_http_date(&v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
    };
    if let Some(t) = date("if-unmodified-since")
        && last > t
    {
        return Some(fault(StatusCode::PRECONDITION_FAILED, None, head));
    }
    if call.header("if-none-match").is_none()
        && let Some(t) = date("if-modified-since")
        && last <= t
    {
        return Some(not_modified());
    }
    None
}

/// A `Range` header: `None` when absent or malformed (the whole object is sent),
/// `Some(Err)` when nothing in it is satisfiable (416).
fn parse_ranges(h: &str, size: u64) -> Option<Result<Vec<(u64, u64)>, ()>> {
    let specs = h.trim().strip_prefix("bytes=")?;
    let mut out = Vec::new();
    for spec in specs.split(',').map(str::trim) {
        let (a, b) = spec.split_once('-')?;
        match (a.trim(), b.trim()) {
            ("", "") => return None,
            ("", n) => {
                let n: u64 = n.parse().ok()?;
                if n > 0 && size > 0 {
                    out.push((size - n.min(size), size - 1));
                }
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
                if s < size {
                    out.push((s, e.map_or(size - 1, |e| e.min(size - 1))));
                }
            }
        }
    }
    Some(if out.is_empty() { Err(()) } else { Ok(out) })
}

pub(super) async fn get(
    cloud: &Cloud,
    account: &str,
    container: &str,
    name: &str,
    call: &Call,
    tempurl: bool,
) -> Res {
    let svc = &cloud.object;
    let head = call.is_head();
    let obj = svc
        .object_show(account, container, name)
        .await
        .map_err(err(call))?;
    if call.q("multipart-manifest") == Some("get") && obj.slo_manifest.is_some() {
        return Ok(manifest_get(call, &obj));
    }
    let body = svc.object_body(obj).await.map_err(err(call))?;
    if let Some(r) = conditional(call, &body) {
        return Ok(r);
    }
    let size = body.size;
    let (status, pieces, len, ctype) = ranged(call, &body, head)?;
    let mut resp = if head {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from_stream(svc.stream(pieces)))
    };
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    object_headers(h, &body, tempurl);
    if let Some(ct) = ctype {
        put_header(h, "content-type", &ct);
    } else if status == StatusCode::PARTIAL_CONTENT
        && let Some(Some(Ok(rs))) = call.header("range").map(|r| parse_ranges(&r, size))
    {
        let (s, e) = rs[0];
        put_header(h, "content-range", &format!("bytes {s}-{e}/{size}"));
    }
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(if status == StatusCode::OK { size } else { len }),
    );
    if tempurl && call.method == Method::GET {
        put_header(h, "content-disposition", &tempurl_disposition(call, name));
    }
    Ok(resp)
}

/// The part of an object a GET asks for (`Range`): the status, pieces and
/// length of the body, and its content type when it is several ranges; an
/// unsatisfiable range is refused.
#[allow(clippy::type_complexity)]
fn ranged(
    call: &Call,
    body: &ObjectBody,
    head: bool,
) -> Result<(StatusCode, Vec<Piece>, u64, Option<String>), Response> {
    let size = body.size;
    let range = call.header("range").and_then(|h| parse_ranges(&h, size));
    Ok(match range {
        None => (StatusCode::OK, body.pieces.clone(), size, None),
        Some(Err(())) => {
            let mut r = fault(StatusCode::RANGE_NOT_SATISFIABLE, None, head);
            put_header(r.headers_mut(), "content-range", &format!("bytes */{size}"));
            return Err(r);
        }
        Some(Ok(rs)) if rs.len() == 1 => {
            let (s, e) = rs[0];
            let pieces = slice(&body.pieces, s, e - s + 1);
            (StatusCode::PARTIAL_CONTENT, pieces, e - s + 1, None)
        }
        Some(Ok(rs)) => {
            let (pieces, len, ctype) = byteranges(body, &rs);
            (StatusCode::PARTIAL_CONTENT, pieces, len, Some(ctype))
        }
    })
}

/// Several ranges as one `multipart/byteranges` body: its pieces, length and
/// content type.
fn byteranges(body: &ObjectBody, rs: &[(u64, u64)]) -> (Vec<Piece>, u64, String) {
    let size = body.size;
    let boundary = uuid::Uuid::new_v4().simple().to_string();
    let mut pieces = Vec::new();
    for (s, e) in rs {
        let part = format!(
            "--{boundary}\r\nContent-Type: {}\r\nContent-Range: bytes {s}-{e}/{size}\r\n\r\n",
            body.object.content_type
        );
        pieces.push(Piece::Bytes(part.into()));
        pieces.extend(slice(&body.pieces, *s, e - s + 1));
        pieces.push(Piece::Bytes("\r\n".into()));
    }
    pieces.push(Piece::Bytes(format!("--{boundary}--").into()));
    let len = pieces
        .iter()
        .map(|p| match p {
            Piece::Bytes(b) => b.len() as u64,
            Piece::File { len, .. } => *len,
        })
        .sum();
    let ctype = format!("multipart/byteranges;boundary={boundary}");
    (pieces, len, ctype)
}

/// A temp URL GET's `Content-Disposition`: `&inline` (with or without a value)
/// shows the object in the browser, a `filename` then only named, not forced
/// as a download.
fn tempurl_disposition(call: &Call, name: &str) -> String {
    match (call.q("inline").is_some(), call.q("filename")) {
        (true, None) => "inline".to_owned(),
        (true, Some(f)) => format!("inline; filename=\"{}\"", f.replace('"', "\\\"")),
        (false, f) => {
            let file = f
                .map(str::to_owned)
                .unwrap_or_else(|| name.rsplit('/').next().unwrap_or(name).to_owned());
            format!("attachment; filename=\"{}\"", file.replace('"', "\\\""))
        }
    }
}

/// `?multipart-manifest=get`: the stored segment list (or, with `format=raw`, the
/// form a client PUTs).
fn manifest_get(call: &Call, obj: &Object) -> Response {
    let segs: Vec<crate::object::model::SloSegment> =
        serde_json::from_str(obj.slo_manifest.as_deref().unwrap_or("[]")).unwrap_or_default();
    let raw = call.q("format") == Some("raw");
    let v: Vec<serde_json::Value> = segs
        .iter()
        .map(|s| {
            if raw {
                let mut v = json!({"path": s.name, "etag": s.hash, "size_bytes": s.bytes});
                if let Some(r) = &s.range {
                    v["range"] = json!(r);
                }
                v
            } else {
                serde_json::to_value(s).unwrap_or_default()
            }
        })
        .collect();
    let text = serde_json::Value::Array(v).to_string();
    let len = text.len();
    let mut r = Response::new(if call.is_head() {
        Body::empty()
    } else {
        Body::from(text)
    });
    let h = r.headers_mut();
    put_header(h, "content-type", "application/json; charset=utf-8");
    put_header(
        h,
        "etag",
        &hex::encode(<md5::Md5 as md5::Digest>::digest(
            obj.slo_manifest.as_deref().unwrap_or("").as_bytes(),
        )),
    );
    put_header(h, "x-static-large-object", "True");
    put_header(h, "last-modified", &model::http_date(obj.ts));
    put_header(h, "x-timestamp", &model::ts_header(obj.ts));
    for (k, v) in &obj.meta {
        put_header(h, k, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// A content type from the object name's extension (Swift guesses when the client
/// sends none).
pub(super) fn guess_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt") => "text/plain",
        Some("html" | "htm") => "text/html",
        Some("css") => "text/css",
        Some("js") => "application/javascript",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("gz" | "tgz") => "application/gzip",
        Some("tar") => "application/x-tar",
        Some("iso") => "application/x-iso9660-image",
        _ => "application/octet-stream",
    }
}

/// `X-Delete-At` / `X-Delete-After` of a PUT or POST.
pub(super) fn delete_at(call: &Call) -> Result<DeleteAt, Response> {
    let now = chrono::Utc::now().timestamp();
    if let Some(v) = call.header("x-delete-at") {
        let t: i64 = v
            .parse()
            .map_err(|_| bad(call, "Non-integer X-Delete-At"))?;
        if t <= now {
            return Err(bad(call, "X-Delete-At in past"));
        }
        return Ok(DeleteAt::Set(t));
    }
    if let Some(v) = call.header("x-delete-after") {
        let n: i64 = v
            .parse()
            .map_err(|_| bad(call, "Non-integer X-Delete-After"))?;
        if n <= 0 {
            return Err(bad(call, "X-Delete-After in past"));
        }
        return Ok(DeleteAt::Set(now + n));
    }
    if call.headers.contains_key("x-remove-delete-at") {
        return Ok(DeleteAt::Remove);
    }
    Ok(DeleteAt::Keep)
}

/// User metadata and stored system headers of a PUT or POST.
pub(super) fn object_meta(call: &Call) -> Result<Meta, Response> {
    let mut meta = Meta::new();
    for (n, v) in &call.headers {
        let n = n.as_str();
        if n.starts_with("x-object-meta-") || STORED_HEADERS.contains(&n) {
            let v = String::from_utf8_lossy(v.as_bytes()).trim().to_owned();
            meta.insert(n.to_owned(), v);
        }
    }
    model::check_meta(&meta, "x-object-meta-").map_err(|m| bad(call, &m))?;
    Ok(meta)
}

/// A dynamic large object's `X-Object-Manifest` names `<container>/<prefix>`.
fn check_dlo_manifest(call: &Call, manifest: &str) -> Result<(), Response> {
    let m = percent_encoding::percent_decode_str(manifest).decode_utf8_lossy();
    if !m.contains('/') || m.starts_with('/') {
        return Err(bad(
            call,
            "X-Object-Manifest must be in the format container/prefix",
        ));
    }
    Ok(())
}

fn put_input(call: &Call, name: &str) -> Result<PutInput, Response> {
    let content_type = match call.header("content-type") {
        Some(c)
            if !c.is_empty() && call.header("x-detect-content-type").as_deref() != Some("true") =>
        {
            c
        }
        _ => guess_type(name).to_owned(),
    };
    let delete_at = match delete_at(call)? {
        DeleteAt::Set(t) => Some(t),
        _ => None,
    };
    let dlo_manifest = call.header("x-object-manifest").filter(|m| !m.is_empty());
    if let Some(m) = &dlo_manifest {
        check_dlo_manifest(call, m)?;
    }
    Ok(PutInput {
        content_type,
        meta: object_meta(call)?,
        delete_at,
        dlo_manifest,
        etag: call.header("etag"),
        content_length: None,
        if_none_match_star: call.header("if-none-match").as_deref() == Some("*"),
    })
}

fn created(o: &Object, etag: &str) -> Response {
    let mut r = super::empty(StatusCode::CREATED);
    put_header(r.headers_mut(), "etag", etag);
    put_header(r.headers_mut(), "last-modified", &model::http_date(o.ts));
    r
}

async fn put(cloud: &Cloud, account: &str, container: &str, name: &str, call: &Call) -> Res {
    let svc = &cloud.object;
    if let Err(m) = model::check_object_name(name) {
        return Err(bad(call, &m));
    }
    if let Some(src) = call.header("x-copy-from") {
        return put_copy_from(cloud, account, (container, name), &src, call).await;
    }
    let length = put_length(call)?;
    let mut input = put_input(call, name)?;
    input.content_length = length;
    if call.q("multipart-manifest") == Some("put") {
        return put_slo_manifest(cloud, account, (container, name), input, call).await;
    }
    let o = svc
        .object_put(account, container, name, input, take_body(call))
        .await
        .map_err(err(call))?;
    Ok(created(&o, &o.etag))
}

/// PUT with `X-Copy-From: <container>/<object>`.
async fn put_copy_from(
    cloud: &Cloud,
    account: &str,
    dest: (&str, &str),
    src: &str,
    call: &Call,
) -> Res {
    let (sc, so) = container_and_object(src, "X-Copy-From")?;
    let project = project_of(account).unwrap_or_default();
    copy_to(cloud, call, account, project, (&sc, &so), dest).await
}

/// A copy header's `<container>/<object>`, URL-decoded (412 otherwise).
fn container_and_object(value: &str, header: &str) -> Result<(String, String), Response> {
    let path = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
    match path.trim_start_matches('/').split_once('/') {
        Some((c, o)) if !o.is_empty() => Ok((c.to_owned(), o.to_owned())),
        _ => Err(fault(
            StatusCode::PRECONDITION_FAILED,
            Some(&format!(
                "{header} header must be of the form <container name>/<object name>"
            )),
            false,
        )),
    }
}

/// The body's declared length; a PUT needs one unless it is chunked.
fn put_length(call: &Call) -> Result<Option<u64>, Response> {
    let chunked = call
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    let length = match call.header("content-length") {
        Some(l) => Some(
            l.parse::<u64>()
                .map_err(|_| bad(call, "Invalid Content-Length"))?,
        ),
        None => None,
    };
    if length.is_none() && !chunked {
        return Err(fault(StatusCode::LENGTH_REQUIRED, None, false));
    }
    Ok(length)
}

/// PUT `?multipart-manifest=put`: a static large object from its JSON manifest.
async fn put_slo_manifest(
    cloud: &Cloud,
    account: &str,
    (container, name): (&str, &str),
    mut input: PutInput,
    call: &Call,
) -> Res {
    let mut body = Vec::new();
    let mut s = take_body(call);
    while let Some(c) = s.try_next().await.map_err(|_| bad(call, "Invalid body"))? {
        body.extend_from_slice(&c);
        if body.len() > model::MAX_MANIFEST_SIZE {
            return Err(fault(
                StatusCode::PAYLOAD_TOO_LARGE,
                Some("Manifest File > 8388608 bytes"),
                false,
            ));
        }
    }
    let segs: Vec<SloPutSegment> =
        serde_json::from_slice(&body).map_err(|_| bad(call, "Manifest must be valid JSON.\n"))?;
    input.content_length = None;
    let o = cloud
        .object
        .object_put_slo(account, container, name, input, segs)
        .await
        .map_err(err(call))?;
    Ok(created(&o, &format!("\"{}\"", o.etag)))
}

async fn copy(
    cloud: &Cloud,
    account: &str,
    _project: &str,
    container: &str,
    name: &str,
    call: &Call,
) -> Res {
    let Some(dest) = call.header("destination") else {
        return Err(fault(
            StatusCode::PRECONDITION_FAILED,
            Some("You must specify a Destination header"),
            false,
        ));
    };
    let (dc, dobj) = container_and_object(&dest, "Destination")?;
    let dest_account = call
        .header("destination-account")
        .unwrap_or_else(|| account.to_owned());
    let dproject = project_of(&dest_account).unwrap_or_default().to_owned();
    let dct = cloud
        .object
        .container_find(&dest_account, &dc)
        .await
        .map_err(err(call))?;
    authorize(
        call,
        &dproject,
        dct.as_ref().map(|c| &c.meta),
        Op::ObjectWrite,
    )?;
    copy_into(
        cloud,
        call,
        (account, container, name),
        (&dest_account, &dc, &dobj),
    )
    .await
}

/// PUT with `X-Copy-From`: the caller may write here; it must also read the source.
async fn copy_to(
    cloud: &Cloud,
    call: &Call,
    account: &str,
    project: &str,
    (sc, so): (&str, &str),
    (dc, dobj): (&str, &str),
) -> Res {
    let src_account = call
        .header("x-copy-from-account")
        .unwrap_or_else(|| account.to_owned());
    let sproject = project_of(&src_account).unwrap_or(project).to_owned();
    let sct = cloud
        .object
        .container_find(&src_account, sc)
        .await
        .map_err(err(call))?;
    authorize(
        call,
        &sproject,
        sct.as_ref().map(|c| &c.meta),
        Op::ObjectRead,
    )?;
    copy_into(cloud, call, (&src_account, sc, so), (account, dc, dobj)).await
}

async fn copy_into(
    cloud: &Cloud,
    call: &Call,
    (sa, sc, so): (&str, &str, &str),
    (da, dc, dobj): (&str, &str, &str),
) -> Res {
    let svc = &cloud.object;
    if let Err(m) = model::check_object_name(dobj) {
        return Err(bad(call, &m));
    }
    svc.container_show(da, dc).await.map_err(err(call))?;
    let src = svc.object_show(sa, sc, so).await.map_err(err(call))?;
    let body = svc.object_body(src.clone()).await.map_err(err(call))?;
    let input = copy_input(call, &src, body.size)?;
    let stream = svc.stream(body.pieces.clone());
    let o = svc
        .object_put(da, dc, dobj, input, stream)
        .await
        .map_err(err(call))?;
    let mut r = created(&o, &o.etag);
    copied_headers(r.headers_mut(), &o, &src, (sa, sc, so), da);
    Ok(r)
}

/// What a copy writes: the source's type and metadata (unless
/// `X-Fresh-Metadata`), overridden by the request's own.
fn copy_input(call: &Call, src: &Object, size: u64) -> Result<PutInput, Response> {
    let fresh = call
        .header("x-fresh-metadata")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    // The copy is a plain object: an S3 multipart upload's system metadata (its
    // ETag) does not describe it.
    let mut meta = if fresh {
        Meta::new()
    } else {
        src.meta
            .iter()
            .filter(|(k, _)| !k.starts_with("x-object-sysmeta-"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    meta.extend(object_meta(call)?);
    let delete_at = match delete_at(call)? {
        DeleteAt::Set(t) => Some(t),
        _ => None,
    };
    let content_type = call
        .header("content-type")
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| src.content_type.clone());
    Ok(PutInput {
        content_type,
        meta,
        delete_at,
        dlo_manifest: None,
        etag: None,
        content_length: Some(size),
        if_none_match_star: false,
    })
}

/// Swift's COPY answers with the new object's type and metadata and where it
/// was copied from.
fn copied_headers(
    h: &mut HeaderMap,
    o: &Object,
    src: &Object,
    (sa, sc, so): (&str, &str, &str),
    da: &str,
) {
    put_header(h, "content-type", &o.content_type);
    for (k, v) in o
        .meta
        .iter()
        .filter(|(k, _)| !k.starts_with("x-object-sysmeta-"))
    {
        put_header(h, k, v);
    }
    let from = format!("{sc}/{so}");
    let enc = percent_encoding::utf8_percent_encode(&from, super::view::PATH_SET).to_string();
    put_header(h, "x-copied-from", &enc);
    put_header(h, "x-copied-from-last-modified", &model::http_date(src.ts));
    if sa != da {
        put_header(h, "x-copied-from-account", sa);
    }
}

async fn post(cloud: &Cloud, account: &str, container: &str, name: &str, call: &Call) -> Res {
    let dlo_manifest = call.header("x-object-manifest");
    if let Some(m) = dlo_manifest.as_deref().filter(|m| !m.is_empty()) {
        check_dlo_manifest(call, m)?;
    }
    let update = ObjectUpdate {
        meta: object_meta(call)?,
        content_type: call.header("content-type").filter(|c| !c.is_empty()),
        delete_at: delete_at(call)?,
        dlo_manifest,
    };
    cloud
        .object
        .object_update(account, container, name, update)
        .await
        .map_err(err(call))?;
    let body = "<html><h1>Accepted</h1><p>The request is accepted for processing.</p></html>";
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::ACCEPTED;
    put_header(r.headers_mut(), "content-type", "text/html; charset=UTF-8");
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    Ok(r)
}

async fn delete(cloud: &Cloud, account: &str, container: &str, name: &str, call: &Call) -> Res {
    let svc = &cloud.object;
    if call.q("multipart-manifest") == Some("delete") {
        let obj = svc
            .object_show(account, container, name)
            .await
            .map_err(err(call))?;
        if obj.slo_manifest.is_some() {
            let (deleted, not_found) = svc
                .slo_delete(account, container, name)
                .await
                .map_err(err(call))?;
            let json = Format::of(call) == Format::Json;
            let text = if json {
                json!({"Number Deleted": deleted, "Number Not Found": not_found,
                       "Response Body": "", "Response Status": "200 OK", "Errors": []})
                .to_string()
            } else {
                format!(
                    "Number Deleted: {deleted}\nNumber Not Found: {not_found}\nResponse Body: \nResponse Status: 200 OK\nErrors:\n"
                )
            };
            let mut r = Response::new(Body::from(text));
            put_header(
                r.headers_mut(),
                "content-type",
                if json {
                    "application/json; charset=utf-8"
                } else {
                    "text/plain; charset=utf-8"
                },
            );
            return Ok(r);
        }
    }
    svc.object_delete(account, container, name)
        .await
        .map_err(err(call))?;
    Ok(super::empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_ranges("bytes=0-4", 10), Some(Ok(vec![(0, 4)])));
        assert_eq!(parse_ranges("bytes=-3", 10), Some(Ok(vec![(7, 9)])));
        assert_eq!(parse_ranges("bytes=8-", 10), Some(Ok(vec![(8, 9)])));
        assert_eq!(
            parse_ranges("bytes=0-1,4-5", 10),
            Some(Ok(vec![(0, 1), (4, 5)]))
        );
        assert_eq!(parse_ranges("bytes=20-30", 10), Some(Err(())));
        assert_eq!(parse_ranges("bytes=5-2", 10), None);
        assert_eq!(parse_ranges("items=0-1", 10), None);
    }

    #[test]
    fn etag_lists() {
        assert!(etag_list_matches("\"abc\", \"def\"", "def"));
        assert!(etag_list_matches("*", "x"));
        assert!(!etag_list_matches("abc", "\"def\""));
    }

    #[test]
    fn content_types_are_guessed() {
        assert_eq!(guess_type("a/b.txt"), "text/plain");
        assert_eq!(guess_type("noext"), "application/octet-stream");
    }
}
