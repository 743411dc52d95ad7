//! Swift's wire forms: listings as JSON, XML or plain text, and the headers of
//! accounts, containers and objects.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use super::Call;
use crate::object::model::{self, Account, Container, Entry, ListQuery, Object};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Plain,
    Json,
    Xml,
}

impl Format {
    /// `?format=` first, then the `Accept` header, as Swift chooses.
    pub(super) fn of(call: &Call) -> Format {
        match call.q("format").map(str::to_ascii_lowercase).as_deref() {
            Some("json") => return Format::Json,
            Some("xml") => return Format::Xml,
            Some("plain") => return Format::Plain,
            _ => {}
        }
        let accept = call
            .header("accept")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if accept.contains("application/json") {
            Format::Json
        } else if accept.contains("application/xml") || accept.contains("text/xml") {
            Format::Xml
        } else {
            Format::Plain
        }
    }

    pub(super) fn content_type(self) -> &'static str {
        match self {
            Format::Plain => "text/plain; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
        }
    }
}

/// The answer to a HEAD on an account or container: no body, but the content
/// type its listing would have.
pub(super) fn listing_head(format: Format) -> Response {
    let mut r = super::empty(StatusCode::NO_CONTENT);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    r
}

/// Listing parameters, refused with Swift's 412 messages.
pub(super) fn list_query(call: &Call) -> Result<ListQuery, Response> {
    let bad = |m: &str| super::fault(StatusCode::PRECONDITION_FAILED, Some(m), call.is_head());
    let limit = match call.q("limit") {
        None | Some("") => model::LISTING_LIMIT,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n < 0 => return Err(bad("Value of limit must be a positive integer")),
            Ok(n) if n as usize > model::LISTING_LIMIT => {
                return Err(bad(&format!("Maximum limit is {}", model::LISTING_LIMIT)));
            }
            Ok(n) => n as usize,
            Err(_) => return Err(bad("Value of limit must be a positive integer")),
        },
    };
    let delimiter = match call.q("delimiter") {
        None | Some("") => None,
        Some(d) => {
            let mut cs = d.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => Some(c),
                _ => return Err(bad("Bad delimiter")),
            }
        }
    };
    let opt = |k: &str| call.q(k).filter(|v| !v.is_empty()).map(str::to_owned);
    let reverse = call.q("reverse").is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "t" | "y"
        )
    });
    // With `reverse`, the walk goes down: `marker` is then the upper bound and
    // `end_marker` the lower one, as in Swift.
    Ok(ListQuery {
        limit,
        marker: opt("marker"),
        end_marker: opt("end_marker"),
        prefix: opt("prefix"),
        delimiter,
        reverse,
    })
}

/// Python's `quote()`, as Swift encodes paths: unreserved characters and `/` kept.
pub(super) const PATH_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

pub(super) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A listing response: 204 for an empty plain listing, as Swift answers.
fn listing(format: Format, body: String, empty: bool, head: bool) -> Response {
    let status = if head || (empty && format == Format::Plain) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::OK
    };
    let body = if status == StatusCode::NO_CONTENT {
        String::new()
    } else {
        body
    };
    let len = body.len();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

pub(super) fn container_listing(
    account: &str,
    entries: &[Entry<Container>],
    format: Format,
    head: bool,
) -> Response {
    let body = match format {
        Format::Plain => entries
            .iter()
            .map(|e| format!("{}\n", e.key(|c| &c.name)))
            .collect(),
        Format::Json => serde_json::Value::Array(
            entries
                .iter()
                .map(|e| match e {
                    Entry::Subdir(s) => json!({"subdir": s}),
                    Entry::Item(c) => json!({
                        "name": c.name, "count": c.object_count, "bytes": c.bytes_used,
                        "last_modified": model::iso_date(c.put_ts),
                    }),
                })
                .collect(),
        )
        .to_string(),
        Format::Xml => {
            let mut s = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<account name=\"{}\">",
                xml_escape(account)
            );
            for e in entries {
                match e {
                    Entry::Subdir(d) => {
                        s += &format!(
                            "<subdir name=\"{0}\"><name>{0}</name></subdir>",
                            xml_escape(d)
                        )
                    }
                    Entry::Item(c) => {
                        s += &format!(
                            "<container><name>{}</name><count>{}</count><bytes>{}</bytes><last_modified>{}</last_modified></container>",
                            xml_escape(&c.name),
                            c.object_count,
                            c.bytes_used,
                            model::iso_date(c.put_ts)
                        )
                    }
                }
            }
            s + "</account>"
        }
    };
    listing(format, body, entries.is_empty(), head)
}

/// The ETag and size a listing shows for an object (a large object's own).
fn listed_etag(o: &Object) -> String {
    o.etag.trim_matches('"').to_owned()
}

/// One entry of a JSON object listing.
fn listed_object_json(e: &Entry<Object>) -> serde_json::Value {
    match e {
        Entry::Subdir(s) => json!({"subdir": s}),
        Entry::Item(o) => {
            let mut v = json!({
                "name": o.name, "hash": listed_etag(o), "bytes": o.size,
                "content_type": o.content_type,
                "last_modified": model::iso_date(o.ts),
            });
            if o.slo_manifest.is_some() {
                v["slo_etag"] = json!(format!("\"{}\"", o.etag));
            }
            v
        }
    }
}

/// One entry of an XML object listing.
fn listed_object_xml(e: &Entry<Object>) -> String {
    match e {
        Entry::Subdir(d) => format!(
            "<subdir name=\"{0}\"><name>{0}</name></subdir>",
            xml_escape(d)
        ),
        Entry::Item(o) => format!(
            "<object><name>{}</name><hash>{}</hash><bytes>{}</bytes><content_type>{}</content_type><last_modified>{}</last_modified></object>",
            xml_escape(&o.name),
            listed_etag(o),
            o.size,
            xml_escape(&o.content_type),
            model::iso_date(o.ts)
        ),
    }
}

/// An object listing (`GET` on a container) in the asked format.
pub(super) fn object_listing(
    container: &str,
    entries: &[Entry<Object>],
    format: Format,
    head: bool,
) -> Response {
    let body = match format {
        Format::Plain => entries
            .iter()
            .map(|e| format!("{}\n", e.key(|o| &o.name)))
            .collect(),
        Format::Json => {
            serde_json::Value::Array(entries.iter().map(listed_object_json).collect()).to_string()
        }
        Format::Xml => {
            let mut s = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container name=\"{}\">",
                xml_escape(container)
            );
            for e in entries {
                s += &listed_object_xml(e);
            }
            s + "</container>"
        }
    };
    listing(format, body, entries.is_empty(), head)
}

pub(super) fn put_header(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        h.insert(n, v);
    }
}

pub(super) fn account_headers(h: &mut HeaderMap, a: &Account, owner: bool) {
    put_header(
        h,
        "x-account-container-count",
        &a.container_count.to_string(),
    );
    put_header(h, "x-account-object-count", &a.object_count.to_string());
    put_header(h, "x-account-bytes-used", &a.bytes_used.to_string());
    put_header(
        h,
        "x-account-storage-policy-policy-0-container-count",
        &a.container_count.to_string(),
    );
    put_header(
        h,
        "x-account-storage-policy-policy-0-object-count",
        &a.object_count.to_string(),
    );
    put_header(
        h,
        "x-account-storage-policy-policy-0-bytes-used",
        &a.bytes_used.to_string(),
    );
    put_header(h, "x-timestamp", &model::ts_header(a.created_at));
    put_header(h, "x-put-timestamp", &model::ts_header(a.put_ts));
    for (k, v) in &a.meta {
        if !owner && k.starts_with("x-account-meta-temp-url-key") {
            continue;
        }
        put_header(h, k, v);
    }
}

pub(super) fn container_headers(h: &mut HeaderMap, c: &Container, owner: bool) {
    put_header(h, "x-container-object-count", &c.object_count.to_string());
    put_header(h, "x-container-bytes-used", &c.bytes_used.to_string());
    put_header(h, "x-timestamp", &model::ts_header(c.created_at));
    put_header(h, "x-put-timestamp", &model::ts_header(c.put_ts));
    put_header(h, "x-storage-policy", "Policy-0");
    put_header(h, "last-modified", &model::http_date(c.put_ts));
    for (k, v) in &c.meta {
        let secret = k.starts_with("x-container-meta-temp-url-key")
            || k == "x-container-read"
            || k == "x-container-write";
        if !owner && secret {
            continue;
        }
        put_header(h, k, v);
    }
}
