//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! ListObjects (v1 and v2), GetBucketLocation, versioning and ACL reads, and
//! DeleteObjects. A bucket is a container of the caller's project account.

use axum::http::{Method, StatusCode};
use base64::Engine;

use super::xml::{self, Doc};
use super::{S3Error, S3Req, S3Result, SEGMENTS_SUFFIX, empty, multipart, xml_body};
use crate::cloud::Cloud;
use crate::http::error::ApiError;
use crate::object::model::{self, Entry, ListQuery, Object};

/// The most keys one listing returns (S3's cap on `max-keys`).
const MAX_KEYS: usize = 1000;
/// The most keys one DeleteObjects request may name.
const MAX_DELETE_KEYS: usize = 1000;

/// 404 `NoSuchBucket` unless the bucket exists in the caller's account.
pub(super) async fn require(
    cloud: &Cloud,
    r: &S3Req,
    bucket: &str,
) -> Result<model::Container, S3Error> {
    cloud
        .object
        .container_find(&r.account, bucket)
        .await
        .map_err(|e| S3Error::from_api(e, ""))?
        .ok_or_else(|| S3Error::no_such_bucket(bucket))
}

/// S3's DNS-compatible bucket names (what s3api enforces by default).
fn check_bucket_name(name: &str) -> Result<(), S3Error> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err();
    if ok {
        Ok(())
    } else {
        Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            "The specified bucket is not valid.",
        )
        .with("BucketName", name))
    }
}

pub(super) async fn dispatch(cloud: &Cloud, r: &S3Req, bucket: &str) -> S3Result {
    match r.method {
        Method::PUT => {
            if [
                "acl",
                "versioning",
                "tagging",
                "policy",
                "cors",
                "lifecycle",
            ]
            .iter()
            .any(|s| r.has(s))
            {
                return Err(S3Error::not_implemented());
            }
            bucket_create(cloud, r, bucket).await
        }
        Method::HEAD => {
            require(cloud, r, bucket).await?;
            Ok(empty(StatusCode::OK))
        }
        Method::DELETE => bucket_delete(cloud, r, bucket).await,
        Method::POST if r.has("delete") => {
            require(cloud, r, bucket).await?;
            objects_delete(cloud, r, bucket).await
        }
        Method::GET => {
            require(cloud, r, bucket).await?;
            if r.has("uploads") {
                return super::uploads::uploads_list(cloud, r, bucket).await;
            }
            if r.has("location") {
                // Empty: the one region, as S3 answers for us-east-1.
                return Ok(xml_body(Doc::new("LocationConstraint", true).finish()));
            }
            if r.has("versioning") {
                return Ok(xml_body(Doc::new("VersioningConfiguration", true).finish()));
            }
            if r.has("acl") {
                return Ok(xml_body(acl(&r.project)));
            }
            if [
                "policy",
                "cors",
                "lifecycle",
                "tagging",
                "website",
                "versions",
            ]
            .iter()
            .any(|s| r.has(s))
            {
                return Err(S3Error::not_implemented());
            }
            objects_list(cloud, r, bucket).await
        }
        _ => Err(S3Error::method_not_allowed()),
    }
}

/// The one grant every bucket and object has here: its project, full control.
pub(super) fn acl(project: &str) -> String {
    let mut d = Doc::new("AccessControlPolicy", true);
    d.open("Owner")
        .leaf("ID", project)
        .leaf("DisplayName", project)
        .close();
    d.open("AccessControlList").open("Grant");
    d.text_raw(&format!(
        "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>{0}</ID><DisplayName>{0}</DisplayName></Grantee>",
        xml::escape(project)
    ));
    d.leaf("Permission", "FULL_CONTROL");
    d.finish()
}

/// ListBuckets (`GET /`): the project's containers, without multipart part stores.
pub(super) async fn list_buckets(cloud: &Cloud, r: &S3Req) -> S3Result {
    let mut d = Doc::new("ListAllMyBucketsResult", true);
    d.open("Owner")
        .leaf("ID", &r.project)
        .leaf("DisplayName", &r.project)
        .close();
    d.open("Buckets");
    let mut marker = None;
    loop {
        let q = ListQuery {
            limit: model::LISTING_LIMIT,
            marker: marker.clone(),
            ..Default::default()
        };
        let page = cloud
            .object
            .container_list(&r.account, q)
            .await
            .map_err(|e| S3Error::from_api(e, ""))?;
        let full = page.len() >= model::LISTING_LIMIT;
        for e in page {
            if let Entry::Item(c) = e {
                marker = Some(c.name.clone());
                if c.name.ends_with(SEGMENTS_SUFFIX) {
                    continue;
                }
                d.open("Bucket")
                    .leaf("Name", &c.name)
                    .leaf("CreationDate", &xml::iso(c.created_at))
                    .close();
            }
        }
        if !full {
            break;
        }
    }
    Ok(xml_body(d.finish()))
}

/// CreateBucket: `BucketAlreadyOwnedByYou` when it exists (the caller's namespace is
/// its project, so no other owner can hold the name).
async fn bucket_create(cloud: &Cloud, r: &S3Req, bucket: &str) -> S3Result {
    check_bucket_name(bucket)?;
    // The body (a CreateBucketConfiguration) only names a region; read and drop it so
    // its signature is still checked.
    r.body_bytes(64 * 1024).await?;
    let created = cloud
        .object
        .container_create(&r.account, bucket, Vec::new())
        .await
        .map_err(|e| S3Error::from_api(e, ""))?;
    if !created {
        return Err(S3Error::new(
            StatusCode::CONFLICT,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        )
        .with("BucketName", bucket));
    }
    let mut resp = empty(StatusCode::OK);
    super::put_header(resp.headers_mut(), "location", &format!("/{bucket}"));
    Ok(resp)
}

/// DeleteBucket: 409 `BucketNotEmpty` while it holds objects or unfinished uploads;
/// an empty part store goes with it.
async fn bucket_delete(cloud: &Cloud, r: &S3Req, bucket: &str) -> S3Result {
    require(cloud, r, bucket).await?;
    let segs = format!("{bucket}{SEGMENTS_SUFFIX}");
    let not_empty = || {
        S3Error::new(
            StatusCode::CONFLICT,
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty",
        )
        .with("BucketName", bucket)
    };
    match cloud.object.container_delete(&r.account, bucket).await {
        Ok(()) => {}
        Err(ApiError::Conflict(_)) => return Err(not_empty()),
        Err(e) => return Err(S3Error::from_api(e, "")),
    }
    match cloud.object.container_delete(&r.account, &segs).await {
        Ok(()) | Err(ApiError::Missing(_)) => {}
        Err(e) => tracing::info!(bucket, error = %e, "the bucket's part store stays"),
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// What S3 shows as an object's ETag: a multipart upload's `md5-of-md5s-N` when it
/// has one, else the MD5.
pub(super) fn s3_etag(o: &Object) -> String {
    o.meta
        .get(multipart::ETAG_SYSMETA)
        .cloned()
        .unwrap_or_else(|| o.etag.trim_matches('"').to_owned())
}

/// `encoding-type=url`: keys percent-encoded (boto3 asks for it and decodes).
pub(super) fn enc(r: &S3Req, s: &str) -> String {
    if r.q("encoding-type") == Some("url") {
        super::auth::uri_encode(s, true)
    } else {
        s.to_owned()
    }
}

/// What a ListObjects request asks for.
struct ListParams<'a> {
    v2: bool,
    max_keys: usize,
    delimiter: Option<&'a str>,
    marker: Option<String>,
    prefix: String,
}

impl<'a> ListParams<'a> {
    /// The query of ListObjects (v1: `marker`) or ListObjectsV2 (a
    /// continuation token, else `start-after`).
    fn parse(r: &'a S3Req) -> Result<ListParams<'a>, S3Error> {
        let v2 = r.q("list-type") == Some("2");
        let max_keys = match r.q("max-keys") {
            None => MAX_KEYS,
            Some(m) => m
                .parse::<usize>()
                .map_err(|_| {
                    S3Error::invalid_argument(
                        "Provided max-keys not an integer or within integer range",
                    )
                })?
                .min(MAX_KEYS),
        };
        let delimiter = r.q("delimiter").filter(|d| !d.is_empty());
        if delimiter.is_some_and(|d| d.chars().count() != 1) {
            return Err(S3Error::invalid_argument(
                "Only a single-character delimiter is supported",
            ));
        }
        let marker = if v2 {
            continuation_token(r)?.or_else(|| r.q("start-after").map(str::to_owned))
        } else {
            r.q("marker").map(str::to_owned)
        };
        Ok(ListParams {
            v2,
            max_keys,
            delimiter,
            marker,
            prefix: r.q("prefix").unwrap_or_default().to_owned(),
        })
    }
}

/// A V2 continuation token: the last key of the previous page, base64.
fn continuation_token(r: &S3Req) -> Result<Option<String>, S3Error> {
    let Some(t) = r.q("continuation-token") else {
        return Ok(None);
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(Some)
        .ok_or_else(|| S3Error::invalid_argument("The continuation token provided is incorrect"))
}

/// ListObjects (v1, `marker`) and ListObjectsV2 (`list-type=2`, continuation token,
/// `start-after`), with prefix and delimiter (common prefixes).
async fn objects_list(cloud: &Cloud, r: &S3Req, bucket: &str) -> S3Result {
    let p = ListParams::parse(r)?;
    let entries = if p.max_keys == 0 {
        Vec::new()
    } else {
        let q = ListQuery {
            limit: p.max_keys + 1,
            marker: p.marker.clone().filter(|m| !m.is_empty()),
            prefix: (!p.prefix.is_empty()).then(|| p.prefix.clone()),
            delimiter: p.delimiter.and_then(|d| d.chars().next()),
            ..Default::default()
        };
        cloud
            .object
            .object_list(&r.account, bucket, q)
            .await
            .map_err(|e| S3Error::from_api(e, ""))?
    };
    let truncated = entries.len() > p.max_keys;
    let entries: Vec<_> = entries.into_iter().take(p.max_keys).collect();
    let mut d = Doc::new("ListBucketResult", true);
    d.leaf("Name", bucket);
    d.leaf("Prefix", &enc(r, &p.prefix));
    let next = truncated
        .then(|| entries.last())
        .flatten()
        .map(|e| e.key(|o: &Object| o.name.as_str()).to_owned());
    list_page_marks(&mut d, r, &p, entries.len(), next.as_deref());
    d.leaf("MaxKeys", &p.max_keys.to_string());
    if let Some(dl) = p.delimiter {
        d.leaf("Delimiter", &enc(r, dl));
    }
    if r.q("encoding-type") == Some("url") {
        d.leaf("EncodingType", "url");
    }
    d.leaf("IsTruncated", if truncated { "true" } else { "false" });
    let owner = !p.v2 || r.q("fetch-owner") == Some("true");
    list_contents(&mut d, r, &entries, owner);
    Ok(xml_body(d.finish()))
}

/// Where a page starts and where the next one does (`next`, the last key of a
/// truncated page): V2's tokens and key count, or v1's markers.
fn list_page_marks(d: &mut Doc, r: &S3Req, p: &ListParams, count: usize, next: Option<&str>) {
    if p.v2 {
        if let Some(t) = r.q("continuation-token") {
            d.leaf("ContinuationToken", t);
        }
        if let Some(s) = r.q("start-after") {
            d.leaf("StartAfter", &enc(r, s));
        }
        d.leaf("KeyCount", &count.to_string());
        if let Some(l) = next {
            d.leaf(
                "NextContinuationToken",
                &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(l),
            );
        }
    } else {
        d.leaf("Marker", &enc(r, p.marker.as_deref().unwrap_or_default()));
        if let Some(l) = next {
            d.leaf("NextMarker", &enc(r, l));
        }
    }
}

/// The page's objects (`Contents`, with their owner when asked), then its
/// common prefixes.
fn list_contents(d: &mut Doc, r: &S3Req, entries: &[Entry<Object>], owner: bool) {
    for e in entries {
        if let Entry::Item(o) = e {
            d.open("Contents")
                .leaf("Key", &enc(r, &o.name))
                .leaf("LastModified", &xml::iso(o.ts))
                .leaf("ETag", &format!("\"{}\"", s3_etag(o)))
                .leaf("Size", &o.size.to_string())
                .leaf("StorageClass", "STANDARD");
            if owner {
                d.open("Owner")
                    .leaf("ID", &r.project)
                    .leaf("DisplayName", &r.project)
                    .close();
            }
            d.close();
        }
    }
    for e in entries {
        if let Entry::Subdir(s) = e {
            d.open("CommonPrefixes").leaf("Prefix", &enc(r, s)).close();
        }
    }
}

/// DeleteObjects (`POST /bucket?delete`): each key deleted (a missing key counts as
/// deleted, as in S3); `Quiet` leaves the successes out.
async fn objects_delete(cloud: &Cloud, r: &S3Req, bucket: &str) -> S3Result {
    let doc = r.body_bytes(2 * 1024 * 1024).await?;
    let objects = xml::records(&doc, "Object")?;
    if objects.is_empty() || objects.len() > MAX_DELETE_KEYS {
        return Err(S3Error::malformed_xml());
    }
    let quiet = xml::first(&doc, "Quiet").is_some_and(|q| q.eq_ignore_ascii_case("true"));
    let mut d = Doc::new("DeleteResult", true);
    for o in objects {
        let Some(key) = o.get("Key") else {
            return Err(S3Error::malformed_xml());
        };
        match super::object::delete_one(cloud, &r.account, bucket, key).await {
            Ok(()) => {
                if !quiet {
                    d.open("Deleted").leaf("Key", key).close();
                }
            }
            Err(e) => {
                let e = S3Error::from_api(e, key);
                d.open("Error")
                    .leaf("Key", key)
                    .leaf("Code", e.code)
                    .leaf("Message", &e.message)
                    .close();
            }
        }
    }
    Ok(xml_body(d.finish()))
}
