//! FormPost (Swift's `formpost` middleware): an HTML form POSTs files straight into a
//! container, without a token; the form carries an HMAC signature, made with the
//! account's or container's temp URL key, over the path, the redirect, the largest
//! file size, the most files and the expiry. Each file is streamed into its object
//! as it arrives; the answer is the status (or a 303 to the form's redirect with
//! `status` and `message` in its query).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use futures_util::{StreamExt, TryStreamExt};

use super::view::put_header;
use super::{Call, fault, take_body};
use crate::cloud::Cloud;
use crate::object::PutInput;
use crate::object::model;

/// Longest form field value Swift reads (`MAX_VALUE_LENGTH`).
const MAX_VALUE_LENGTH: usize = 4096;

/// Whether a request is a form post: a POST with a multipart form body.
pub(super) fn is_formpost(call: &Call) -> bool {
    call.method == Method::POST
        && call
            .header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Why a form is refused, worded as Swift's `FormInvalid` and `FormUnauthorized`.
enum Refusal {
    Invalid(String),
    Unauthorized(&'static str),
}

/// The form POST to `/v1/AUTH_x/<container>[/<prefix>]`.
pub(super) async fn formpost(
    cloud: &Cloud,
    account: &str,
    container: &str,
    prefix: &str,
    call: &Call,
) -> Response {
    match run(cloud, account, container, prefix, call).await {
        Ok(r) => r,
        Err(Refusal::Invalid(m)) => {
            let body = format!("FormPost: {m}");
            let mut r = fault(StatusCode::BAD_REQUEST, Some(&body), false);
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            r
        }
        Err(Refusal::Unauthorized(m)) => {
            let body = format!("FormPost: {}", title(m));
            let mut r = Response::new(axum::body::Body::from(body.clone()));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=UTF-8"),
            );
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            r
        }
    }
}

/// Python's `str.title()` for the ASCII messages here.
fn title(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn status_line(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
}

/// The temp URL keys of the account and the container.
async fn keys(cloud: &Cloud, account: &str, container: &str) -> Vec<String> {
    let mut keys = Vec::new();
    if let Ok(a) = cloud.object.account_show(account).await {
        for k in [
            "x-account-meta-temp-url-key",
            "x-account-meta-temp-url-key-2",
        ] {
            keys.extend(a.meta.get(k).cloned());
        }
    }
    if let Ok(Some(c)) = cloud.object.container_find(account, container).await {
        for k in [
            "x-container-meta-temp-url-key",
            "x-container-meta-temp-url-key-2",
        ] {
            keys.extend(c.meta.get(k).cloned());
        }
    }
    keys
}

/// Whether `signature` (hex, its length naming the digest, or `<digest>:<base64>`)
/// signs `msg` with one of `keys`.
fn signed(signature: &str, msg: &str, keys: &[String]) -> bool {
    let Some((digest, raw)) = super::access::parse_sig(signature) else {
        return false;
    };
    keys.iter().any(|k| {
        super::access::hmac_hex(digest, k.as_bytes(), msg.as_bytes())
            .is_some_and(|mac| super::access::constant_eq(&mac, &raw))
    })
}

/// What the form's files came to: the status line of the last file stored (or
/// of the refusal), and Swift's message for a form refused part way.
#[derive(Default)]
struct FormOutcome {
    attrs: std::collections::HashMap<String, String>,
    status: String,
    message: String,
}

async fn run(
    cloud: &Cloud,
    account: &str,
    container: &str,
    prefix: &str,
    call: &Call,
) -> Result<Response, Refusal> {
    let ctype = call.header("content-type").unwrap_or_default();
    let boundary = multer::parse_boundary(&ctype)
        .map_err(|_| Refusal::Invalid("invalid starting boundary".into()))?;
    let keys = keys(cloud, account, container).await;
    let paths = signed_paths(account, container, prefix, call);
    let form = multer::Multipart::new(take_body(call), boundary);
    let mut out = read_form(cloud, (account, container, prefix), form, &paths, &keys).await?;
    if out.status.is_empty() {
        out.status = status_line(StatusCode::BAD_REQUEST);
        out.message = "no files to process".into();
    }
    Ok(match out.attrs.get("redirect").filter(|r| !r.is_empty()) {
        Some(redirect) => redirect_answer(redirect, &out.status, &out.message),
        None => plain_answer(&out.status, &out.message),
    })
}

/// The paths the form may have been signed for: as the client sent it, and
/// with or without the prefix the cloud is mounted under.
fn signed_paths(account: &str, container: &str, prefix: &str, call: &Call) -> [String; 4] {
    let tail = if prefix.is_empty() {
        format!("/v1/{account}/{container}")
    } else {
        format!("/v1/{account}/{container}/{prefix}")
    };
    [
        tail.clone(),
        format!("/object-storage{tail}"),
        call.path.clone(),
        format!("/object-storage{}", call.path),
    ]
}

/// Reads the form in order: its fields become attributes, each file is
/// stored as it arrives (with the attributes seen before it), until the
/// first file that fails or one past `max_file_count`.
async fn read_form(
    cloud: &Cloud,
    at: (&str, &str, &str),
    mut form: multer::Multipart<'static>,
    paths: &[String],
    keys: &[String],
) -> Result<FormOutcome, Refusal> {
    let mut out = FormOutcome::default();
    let mut file_count: u64 = 0;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(Refusal::Invalid(e.to_string())),
        };
        let filename = field.file_name().map(str::to_owned);
        let Some(filename) = filename.filter(|f| !f.is_empty()) else {
            let name = field.name().map(str::to_ascii_lowercase);
            let data = field_value(field).await?;
            if let Some(name) = name {
                let v = String::from_utf8_lossy(&data);
                let v = v.trim_end_matches(['\r', '\n', '-']).to_owned();
                out.attrs.insert(name, v);
            }
            continue;
        };
        file_count += 1;
        if file_count > max_file_count(&out.attrs)? {
            out.status = status_line(StatusCode::BAD_REQUEST);
            out.message = "max file count exceeded".into();
            break;
        }
        let file_type = field.content_type().map(|m| m.to_string());
        let s = store(
            cloud, at, &out.attrs, &filename, file_type, paths, keys, field,
        )
        .await?;
        out.status = status_line(s);
        if !s.is_success() {
            break;
        }
    }
    Ok(out)
}

/// The form's `max_file_count` (none: 0).
fn max_file_count(attrs: &std::collections::HashMap<String, String>) -> Result<u64, Refusal> {
    attrs
        .get("max_file_count")
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .unwrap_or("0")
        .parse()
        .map_err(|_| Refusal::Invalid("max_file_count not an integer".into()))
}

/// A form field's value, of which Swift reads the first `MAX_VALUE_LENGTH`
/// bytes.
async fn field_value(mut field: multer::Field<'static>) -> Result<Vec<u8>, Refusal> {
    let mut data = Vec::new();
    loop {
        match field.chunk().await {
            Ok(Some(c)) => {
                let room = MAX_VALUE_LENGTH.saturating_sub(data.len());
                data.extend_from_slice(&c[..c.len().min(room)]);
            }
            Ok(None) => return Ok(data),
            Err(e) => return Err(Refusal::Invalid(e.to_string())),
        }
    }
}

/// The answer to a form without a redirect: the status line (and message) as
/// text, with that status.
fn plain_answer(status: &str, message: &str) -> Response {
    let code = status
        .get(..3)
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let mut body = status.to_owned();
    if !message.is_empty() {
        body = format!("{status}\r\nFormPost: {}", title(message));
    }
    let mut r = Response::new(axum::body::Body::from(body.clone()));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    r
}

/// The answer to a form with a redirect: a 303 to it, with `status` and
/// `message` in its query.
fn redirect_answer(redirect: &str, status: &str, message: &str) -> Response {
    let q = |s: &str| percent_encoding::utf8_percent_encode(s, super::view::PATH_SET).to_string();
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let location = format!(
        "{redirect}{sep}status={}&message={}",
        q(&status[..3.min(status.len())]),
        q(message)
    );
    let body = format!(
        "<html><body><p><a href=\"{}\">Click to continue...</a></p></body></html>",
        location
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    );
    let mut r = Response::new(axum::body::Body::from(body.clone()));
    *r.status_mut() = StatusCode::SEE_OTHER;
    put_header(r.headers_mut(), "location", &location);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    r
}

/// Checks the form's signature and expiry (as Swift does, for each file) and
/// streams one file into `<prefix><filename>`; the object PUT's status.
#[allow(clippy::too_many_arguments)]
async fn store(
    cloud: &Cloud,
    (account, container, prefix): (&str, &str, &str),
    attrs: &std::collections::HashMap<String, String>,
    filename: &str,
    file_type: Option<String>,
    paths: &[String],
    keys: &[String],
    field: multer::Field<'static>,
) -> Result<StatusCode, Refusal> {
    if keys.is_empty() {
        return Err(Refusal::Unauthorized("invalid signature"));
    }
    let attr = |k: &str| form_attr(attrs, k);
    let max_file_size: u64 = attr("max_file_size")
        .unwrap_or("0")
        .parse()
        .map_err(|_| Refusal::Invalid("max_file_size not an integer".into()))?;
    let now = chrono::Utc::now().timestamp();
    let delete_at = form_delete_at(attr("x_delete_at"), attr("x_delete_after"), now)?;
    let expires: i64 = attr("expires")
        .unwrap_or("0")
        .parse()
        .map_err(|_| Refusal::Invalid("expired not an integer".into()))?;
    if !form_signed(attrs, paths, keys) {
        return Err(Refusal::Unauthorized("invalid signature"));
    }
    if expires < now {
        return Err(Refusal::Unauthorized("form expired"));
    }
    let input = form_put_input(attrs, file_type, delete_at);
    let name = format!("{prefix}{filename}");
    put_file(
        cloud,
        (account, container, &name),
        input,
        field,
        max_file_size,
    )
    .await
}

/// A form field's value; an empty one counts as absent.
fn form_attr<'a>(attrs: &'a std::collections::HashMap<String, String>, k: &str) -> Option<&'a str> {
    attrs.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

/// Whether the form's signature is an HMAC, under one of the keys, of its
/// fields for one of the paths the container is reached by.
fn form_signed(
    attrs: &std::collections::HashMap<String, String>,
    paths: &[String],
    keys: &[String],
) -> bool {
    let attr = |k: &str| form_attr(attrs, k);
    let signature = attrs.get("signature").map(String::as_str).unwrap_or("");
    paths.iter().any(|p| {
        let msg = format!(
            "{p}\n{}\n{}\n{}\n{}",
            attr("redirect").unwrap_or(""),
            attr("max_file_size").unwrap_or("0"),
            attr("max_file_count").unwrap_or("0"),
            attr("expires").unwrap_or("0"),
        );
        signed(signature, &msg, keys)
    })
}

/// The object a form's file becomes: the form's content type (else the
/// file's), its content encoding and expiry.
fn form_put_input(
    attrs: &std::collections::HashMap<String, String>,
    file_type: Option<String>,
    delete_at: Option<i64>,
) -> PutInput {
    let attr = |k: &str| form_attr(attrs, k);
    let content_type = attr("content-type")
        .map(str::to_owned)
        .or(file_type)
        .unwrap_or_else(|| "application/octet-stream".into());
    let mut meta = model::Meta::new();
    if let Some(enc) = attr("content-encoding") {
        meta.insert("content-encoding".into(), enc.to_owned());
    }
    PutInput {
        content_type,
        meta,
        delete_at,
        dlo_manifest: None,
        etag: None,
        content_length: None,
        if_none_match_star: false,
    }
}

/// The expiry a form gives its objects: `x_delete_at`, else now plus
/// `x_delete_after`.
fn form_delete_at(at: Option<&str>, after: Option<&str>, now: i64) -> Result<Option<i64>, Refusal> {
    match (at, after) {
        (Some(v), _) => Ok(Some(v.parse::<i64>().map_err(|_| {
            Refusal::Invalid("x_delete_at not an integer: Unix timestamp required.".into())
        })?)),
        (None, Some(v)) => Ok(Some(
            now + v.parse::<i64>().map_err(|_| {
                Refusal::Invalid(
                    "x_delete_after not an integer: Number of seconds required.".into(),
                )
            })?,
        )),
        _ => Ok(None),
    }
}

/// Streams one file into its object, capped at `max_file_size`: past it the
/// write fails and the form is refused.
async fn put_file(
    cloud: &Cloud,
    (account, container, name): (&str, &str, &str),
    input: PutInput,
    field: multer::Field<'static>,
    max_file_size: u64,
) -> Result<StatusCode, Refusal> {
    let over = Arc::new(AtomicBool::new(false));
    let flag = over.clone();
    let mut seen = 0u64;
    let body = field.map_err(std::io::Error::other).map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > max_file_size {
            flag.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("max_file_size exceeded"));
        }
        Ok(chunk)
    });
    let r = cloud
        .object
        .object_put(account, container, name, input, Box::pin(body))
        .await;
    if over.load(Ordering::Relaxed) {
        return Err(Refusal::Invalid("max_file_size exceeded".into()));
    }
    Ok(match r {
        Ok(_) => StatusCode::CREATED,
        Err(e) => e.status(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_as_python() {
        assert_eq!(title("form expired"), "Form Expired");
        assert_eq!(title("invalid signature"), "Invalid Signature");
    }

    #[test]
    fn signatures_check() {
        let msg = "/v1/AUTH_a/c/o\n\n100\n10\n99";
        let mac = super::super::access::hmac_hex("sha1", b"k", msg.as_bytes()).expect("mac");
        assert!(signed(&hex::encode(&mac), msg, &["k".into()]));
        assert!(!signed(&hex::encode(&mac), msg, &["other".into()]));
        assert!(!signed("zz", msg, &["k".into()]));
    }
}
