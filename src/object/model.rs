//! Object storage domain types: accounts, containers, objects, listings, and Swift's
//! limits on names and metadata.

use std::collections::BTreeMap;

/// Header name (lower case) -> value: user metadata and the system headers Swift
/// keeps beside it (ACLs, versioning, quotas, temp URL keys).
pub(crate) type Meta = BTreeMap<String, String>;

pub(crate) const MAX_FILE_SIZE: u64 = 5_368_709_122;
pub(crate) const MAX_META_NAME_LENGTH: usize = 128;
pub(crate) const MAX_META_VALUE_LENGTH: usize = 256;
pub(crate) const MAX_META_COUNT: usize = 90;
pub(crate) const MAX_META_OVERALL_SIZE: usize = 4096;
pub(crate) const MAX_OBJECT_NAME_LENGTH: usize = 1024;
pub(crate) const MAX_CONTAINER_NAME_LENGTH: usize = 256;
pub(crate) const LISTING_LIMIT: usize = 10_000;
pub(crate) const MAX_MANIFEST_SEGMENTS: usize = 1000;
pub(crate) const MAX_MANIFEST_SIZE: usize = 8 * 1024 * 1024;
pub(crate) const MAX_BULK_DELETES: usize = 10_000;

/// Account metadata holding its quotas (bytes: either key; objects).
pub(crate) const ACCOUNT_QUOTA_KEYS: &[&str] = &[
    "x-account-meta-quota-bytes",
    "x-account-quota-bytes",
    "x-account-quota-count",
];

#[derive(Debug, Clone)]
pub(crate) struct Account {
    #[expect(
        dead_code,
        reason = "the row's key, kept for logs and debugging; callers already know the account"
    )]
    pub account: String,
    pub created_at: f64,
    pub put_ts: f64,
    pub meta: Meta,
    pub container_count: u64,
    pub object_count: u64,
    pub bytes_used: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Container {
    pub name: String,
    pub created_at: f64,
    pub put_ts: f64,
    pub meta: Meta,
    pub object_count: u64,
    pub bytes_used: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub account: String,
    pub container: String,
    pub name: String,
    pub size: u64,
    pub etag: String,
    pub content_type: String,
    pub ts: f64,
    pub meta: Meta,
    pub blob: Option<String>,
    pub delete_at: Option<i64>,
    pub dlo_manifest: Option<String>,
    pub slo_manifest: Option<String>,
}

/// One segment of a static large object, as stored (the `multipart-manifest=get` form).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SloSegment {
    /// `/container/object`
    pub name: String,
    pub hash: String,
    pub bytes: u64,
    pub content_type: String,
    pub last_modified: String,
    /// `first-last` byte range of the segment used, when only part of it is.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub range: Option<String>,
}

/// Listing parameters shared by account and container GETs.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListQuery {
    pub limit: usize,
    pub marker: Option<String>,
    pub end_marker: Option<String>,
    pub prefix: Option<String>,
    pub delimiter: Option<char>,
    pub reverse: bool,
}

/// A listing entry: an item, or a `subdir` rolled up by the delimiter.
#[derive(Debug, Clone)]
pub(crate) enum Entry<T> {
    Item(T),
    Subdir(String),
}

impl<T> Entry<T> {
    pub(crate) fn key<'a>(&'a self, name: impl Fn(&'a T) -> &'a str) -> &'a str {
        match self {
            Entry::Item(t) => name(t),
            Entry::Subdir(s) => s,
        }
    }
}

/// Swift's timestamp: seconds with five decimals, as `X-Timestamp` shows it.
pub(crate) fn now_ts() -> f64 {
    let now = chrono::Utc::now();
    let micros = now.timestamp_micros() as f64 / 1e6;
    (micros * 1e5).round() / 1e5
}

pub(crate) fn ts_header(ts: f64) -> String {
    format!("{ts:.5}")
}

/// `Last-Modified`: the timestamp rounded up to the second, as an HTTP date.
pub(crate) fn http_date(ts: f64) -> String {
    let secs = ts.ceil().max(0.0) as u64;
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Listing `last_modified`: ISO 8601 with microseconds, no zone (Swift's form).
pub(crate) fn iso_date(ts: f64) -> String {
    let micros = (ts * 1e6).round() as i64;
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
        .unwrap_or_default()
}

/// Names Swift refuses: empty, too long, NUL, or (containers) with a slash.
pub(crate) fn check_container_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Container name required".into());
    }
    if name.len() > MAX_CONTAINER_NAME_LENGTH {
        return Err(format!(
            "Container name length of {} longer than {}",
            name.len(),
            MAX_CONTAINER_NAME_LENGTH
        ));
    }
    if name.contains('/') {
        return Err("Container name cannot contain slashes".into());
    }
    if name.contains('\0') {
        return Err("Invalid UTF8 or contains NULL".into());
    }
    Ok(())
}

pub(crate) fn check_object_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Object name required".into());
    }
    if name.len() > MAX_OBJECT_NAME_LENGTH {
        return Err(format!(
            "Object name length of {} longer than {}",
            name.len(),
            MAX_OBJECT_NAME_LENGTH
        ));
    }
    if name.contains('\0') {
        return Err("Invalid UTF8 or contains NULL".into());
    }
    Ok(())
}

/// Checks user metadata against Swift's limits (`prefix` is e.g. `x-object-meta-`);
/// the message is Swift's.
pub(crate) fn check_meta(meta: &Meta, prefix: &str) -> Result<(), String> {
    let mut count = 0;
    let mut size = 0;
    for (k, v) in meta {
        let Some(name) = k.strip_prefix(prefix) else {
            continue;
        };
        if name.is_empty() {
            return Err("Metadata name cannot be empty".into());
        }
        count += 1;
        size += name.len() + v.len();
        if name.len() > MAX_META_NAME_LENGTH {
            return Err(format!("Metadata name too long: {k}"));
        }
        if v.len() > MAX_META_VALUE_LENGTH {
            return Err(format!(
                "Metadata value longer than {MAX_META_VALUE_LENGTH}: {k}"
            ));
        }
    }
    if count > MAX_META_COUNT {
        return Err(format!("Too many metadata items; max {MAX_META_COUNT}"));
    }
    if size > MAX_META_OVERALL_SIZE {
        return Err(format!(
            "Total metadata too large; max {MAX_META_OVERALL_SIZE}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_swift_rules() {
        assert!(check_container_name("a").is_ok());
        assert!(check_container_name("a/b").is_err());
        assert!(check_container_name(&"x".repeat(257)).is_err());
        assert!(check_object_name("a/b/c").is_ok());
        assert!(check_object_name(&"x".repeat(1025)).is_err());
        assert!(check_object_name("").is_err());
    }

    #[test]
    fn metadata_limits() {
        let mut m = Meta::new();
        m.insert("x-object-meta-a".into(), "v".repeat(256));
        assert!(check_meta(&m, "x-object-meta-").is_ok());
        m.insert("x-object-meta-b".into(), "v".repeat(257));
        assert!(check_meta(&m, "x-object-meta-").is_err());
        let mut m = Meta::new();
        m.insert(format!("x-object-meta-{}", "n".repeat(129)), "v".into());
        assert!(check_meta(&m, "x-object-meta-").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(1.2), "Thu, 01 Jan 1970 00:00:02 GMT");
        assert_eq!(iso_date(1.5), "1970-01-01T00:00:01.500000");
        assert_eq!(ts_header(12.3), "12.30000");
    }
}
