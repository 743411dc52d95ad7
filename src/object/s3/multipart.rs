//! Multipart uploads, laid out as Swift's s3api lays them out so either API sees the
//! same thing: in `<bucket>+segments`, an upload is a marker object `<key>/<upload id>`
//! (holding the final object's type and metadata) and its parts are objects
//! `<key>/<upload id>/<part number>`, each written with the durable PUT (temp file,
//! fsync, rename, directory fsync, then the row), so a kill -9 loses no acknowledged
//! part. Completing writes a static large object manifest over the parts in one
//! transaction, carrying S3's `md5-of-md5s-N` ETag in system metadata.

use axum::http::{Method, StatusCode};
use md5::{Digest, Md5};

use super::object::{meta_of, segments_of};
use super::xml::{self, Doc};
use super::{S3Error, S3Req, S3Result, empty, put_header, xml_body};
use crate::cloud::Cloud;
use crate::http::error::ApiError;
use crate::logged::OrLog;
use crate::object::PutInput;
use crate::object::model::{Entry, ListQuery, Meta, Object};
use crate::object::objects::{SloPutSegment, slice};

/// System metadata (never shown through Swift) of a completed upload: its S3 ETag,
/// and its part count.
pub(super) const ETAG_SYSMETA: &str = "x-object-sysmeta-s3api-etag";
pub(super) const PARTS_SYSMETA: &str = "x-object-sysmeta-s3api-parts";
/// Marks an upload's marker object.
pub(super) const UPLOAD_SYSMETA: &str = "x-object-sysmeta-s3api-upload";
/// The smallest part but the last (S3's 5 MiB).
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// The most parts of one upload: the most segments a static large object holds.
const MAX_PARTS: u32 = crate::object::model::MAX_MANIFEST_SEGMENTS as u32;

pub(super) async fn dispatch(cloud: &Cloud, r: &S3Req, bucket: &str, key: &str) -> S3Result {
    match (&r.method, r.q("uploadId")) {
        (&Method::POST, None) if r.has("uploads") => upload_create(cloud, r, bucket, key).await,
        (&Method::PUT, Some(id)) => part_upload(cloud, r, bucket, key, id).await,
        (&Method::GET, Some(id)) => parts_list(cloud, r, bucket, key, id).await,
        (&Method::POST, Some(id)) => upload_complete(cloud, r, bucket, key, id).await,
        (&Method::DELETE, Some(id)) => upload_abort(cloud, r, bucket, key, id).await,
        _ => Err(S3Error::method_not_allowed()),
    }
}

fn marker_name(key: &str, id: &str) -> String {
    format!("{key}/{id}")
}

fn part_name(key: &str, id: &str, n: u32) -> String {
    format!("{key}/{id}/{n}")
}

/// The upload's marker, or `NoSuchUpload` (an id not of our form never matches).
async fn marker(
    cloud: &Cloud,
    r: &S3Req,
    bucket: &str,
    key: &str,
    id: &str,
) -> Result<Object, S3Error> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(S3Error::no_such_upload(id));
    }
    cloud
        .object
        .object_find(&r.account, &segments_of(bucket), &marker_name(key, id))
        .await
        .map_err(|e| S3Error::from_api(e, key))?
        .filter(|o| o.meta.contains_key(UPLOAD_SYSMETA))
        .ok_or_else(|| S3Error::no_such_upload(id))
}

/// CreateMultipartUpload (`POST ?uploads`).
async fn upload_create(cloud: &Cloud, r: &S3Req, bucket: &str, key: &str) -> S3Result {
    crate::object::model::check_object_name(key).map_err(|m| S3Error::invalid_argument(&m))?;
    let svc = &cloud.object;
    let segs = segments_of(bucket);
    svc.container_create(&r.account, &segs, Vec::new())
        .await
        .map_err(|e| S3Error::from_api(e, key))?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut meta = meta_of(r)?;
    meta.insert(UPLOAD_SYSMETA.into(), "1".into());
    let input = PutInput {
        content_type: r
            .header("content-type")
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "binary/octet-stream".into()),
        meta,
        content_length: Some(0),
        ..Default::default()
    };
    r.body_bytes(64 * 1024).await?;
    svc.object_put(
        &r.account,
        &segs,
        &marker_name(key, &id),
        input,
        crate::bytestream::once(bytes::Bytes::new()),
    )
    .await
    .map_err(|e| S3Error::from_api(e, key))?;
    let mut d = Doc::new("InitiateMultipartUploadResult", true);
    d.leaf("Bucket", bucket)
        .leaf("Key", key)
        .leaf("UploadId", &id);
    Ok(xml_body(d.finish()))
}

fn part_number(r: &S3Req) -> Result<u32, S3Error> {
    r.q("partNumber")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(&format!(
                "Part number must be an integer between 1 and {MAX_PARTS}, inclusive"
            ))
        })
}

/// `x-amz-copy-source-range: bytes=first-last`, within the source: (start,
/// length); the whole source without it.
fn copy_source_range(r: &S3Req, size: u64) -> Result<(u64, u64), S3Error> {
    let Some(h) = r.header("x-amz-copy-source-range") else {
        return Ok((0, size));
    };
    let (a, b) = h
        .strip_prefix("bytes=")
        .and_then(|s| s.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .filter(|(a, b)| a <= b && *b < size)
        .ok_or_else(|| {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
            )
        })?;
    Ok((a, b - a + 1))
}

/// UploadPart (`PUT ?partNumber&uploadId`), and UploadPartCopy with
/// `x-amz-copy-source` (and `x-amz-copy-source-range`).
async fn part_upload(cloud: &Cloud, r: &S3Req, bucket: &str, key: &str, id: &str) -> S3Result {
    let n = part_number(r)?;
    marker(cloud, r, bucket, key, id).await?;
    let svc = &cloud.object;
    let name = part_name(key, id, n);
    let segs = segments_of(bucket);
    if r.headers.contains_key("x-amz-copy-source") {
        let (sb, sk) = super::object::copy_source(r)?;
        super::bucket::require(cloud, r, &sb).await?;
        let src = svc
            .object_show(&r.account, &sb, &sk)
            .await
            .map_err(|e| S3Error::from_api(e, &sk))?;
        let body = svc
            .object_body(src)
            .await
            .map_err(|e| S3Error::from_api(e, &sk))?;
        let (start, len) = copy_source_range(r, body.size)?;
        let input = PutInput {
            content_type: "application/octet-stream".into(),
            content_length: Some(len),
            ..Default::default()
        };
        let stream = svc.stream(slice(&body.pieces, start, len));
        let o = svc
            .object_put(&r.account, &segs, &name, input, stream)
            .await
            .map_err(|e| S3Error::from_api(e, key))?;
        let mut d = Doc::new("CopyPartResult", true);
        d.leaf("LastModified", &xml::iso(o.ts))
            .leaf("ETag", &format!("\"{}\"", o.etag));
        return Ok(xml_body(d.finish()));
    }
    let mut input = super::object::put_input(r, Meta::new())?;
    input.content_type = "application/octet-stream".into();
    input.if_none_match_star = false;
    let o = svc
        .object_put(&r.account, &segs, &name, input, r.body())
        .await
        .map_err(|e| r.put_error(e, key))?;
    let mut resp = empty(StatusCode::OK);
    put_header(resp.headers_mut(), "etag", &format!("\"{}\"", o.etag));
    r.echo_checksum(resp.headers_mut());
    Ok(resp)
}

/// The parts uploaded so far, by number.
async fn parts(
    cloud: &Cloud,
    r: &S3Req,
    bucket: &str,
    key: &str,
    id: &str,
) -> Result<Vec<(u32, Object)>, S3Error> {
    let prefix = format!("{}/", marker_name(key, id));
    let q = ListQuery {
        limit: crate::object::model::LISTING_LIMIT,
        prefix: Some(prefix.clone()),
        ..Default::default()
    };
    let listed = cloud
        .object
        .object_list(&r.account, &segments_of(bucket), q)
        .await
        .map_err(|e| S3Error::from_api(e, key))?;
    let mut out: Vec<(u32, Object)> = listed
        .into_iter()
        .filter_map(|e| match e {
            Entry::Item(o) => {
                let n = o.name.strip_prefix(&prefix)?.parse::<u32>().ok()?;
                Some((n, o))
            }
            Entry::Subdir(_) => None,
        })
        .collect();
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

/// ListParts (`GET ?uploadId`), with `part-number-marker` and `max-parts`.
async fn parts_list(cloud: &Cloud, r: &S3Req, bucket: &str, key: &str, id: &str) -> S3Result {
    marker(cloud, r, bucket, key, id).await?;
    let after: u32 = r
        .q("part-number-marker")
        .map(|m| {
            m.parse()
                .map_err(|_| S3Error::invalid_argument("Invalid part-number-marker"))
        })
        .transpose()?
        .unwrap_or(0);
    let max: usize = r
        .q("max-parts")
        .map(|m| {
            m.parse()
                .map_err(|_| S3Error::invalid_argument("Invalid max-parts"))
        })
        .transpose()?
        .unwrap_or(1000)
        .min(1000);
    let all: Vec<_> = parts(cloud, r, bucket, key, id)
        .await?
        .into_iter()
        .filter(|(n, _)| *n > after)
        .collect();
    let truncated = all.len() > max;
    let shown = &all[..all.len().min(max)];
    let mut d = Doc::new("ListPartsResult", true);
    d.leaf("Bucket", bucket)
        .leaf("Key", key)
        .leaf("UploadId", id);
    d.open("Initiator")
        .leaf("ID", &r.project)
        .leaf("DisplayName", &r.project)
        .close();
    d.open("Owner")
        .leaf("ID", &r.project)
        .leaf("DisplayName", &r.project)
        .close();
    d.leaf("StorageClass", "STANDARD");
    d.leaf("PartNumberMarker", &after.to_string());
    if let Some((n, _)) = shown.last() {
        d.leaf("NextPartNumberMarker", &n.to_string());
    }
    d.leaf("MaxParts", &max.to_string());
    d.leaf("IsTruncated", if truncated { "true" } else { "false" });
    for (n, o) in shown {
        d.open("Part")
            .leaf("PartNumber", &n.to_string())
            .leaf("LastModified", &xml::iso(o.ts))
            .leaf("ETag", &format!("\"{}\"", o.etag))
            .leaf("Size", &o.size.to_string())
            .close();
    }
    Ok(xml_body(d.finish()))
}

/// AbortMultipartUpload (`DELETE ?uploadId`): the parts, then the marker.
async fn upload_abort(cloud: &Cloud, r: &S3Req, bucket: &str, key: &str, id: &str) -> S3Result {
    marker(cloud, r, bucket, key, id).await?;
    let segs = segments_of(bucket);
    for (_, p) in parts(cloud, r, bucket, key, id).await? {
        super::object::delete_one(cloud, &r.account, &segs, &p.name)
            .await
            .map_err(|e| S3Error::from_api(e, key))?;
    }
    super::object::delete_one(cloud, &r.account, &segs, &marker_name(key, id))
        .await
        .map_err(|e| S3Error::from_api(e, key))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn invalid_part(n: u32) -> S3Error {
    S3Error::new(
        StatusCode::BAD_REQUEST,
        "InvalidPart",
        "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.",
    )
    .with("PartNumber", n.to_string())
}

/// CompleteMultipartUpload (`POST ?uploadId`): the listed parts, in ascending order
/// with matching ETags and all but the last at least 5 MiB, become the object.
async fn upload_complete(cloud: &Cloud, r: &S3Req, bucket: &str, key: &str, id: &str) -> S3Result {
    let mark = marker(cloud, r, bucket, key, id).await?;
    let doc = r.body_bytes(4 * 1024 * 1024).await?;
    let listed = xml::records(&doc, "Part")?;
    if listed.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    let have = parts(cloud, r, bucket, key, id).await?;
    let segs = segments_of(bucket);
    let chosen = chosen_parts(&listed, &have)?;
    let (manifest, s3_etag) = part_manifest(&chosen, &segs)?;
    let mut meta: Meta = mark
        .meta
        .iter()
        .filter(|(k, _)| k.as_str() != UPLOAD_SYSMETA)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    meta.insert(ETAG_SYSMETA.into(), s3_etag.clone());
    meta.insert(PARTS_SYSMETA.into(), chosen.len().to_string());
    let input = PutInput {
        content_type: mark.content_type.clone(),
        meta,
        ..Default::default()
    };
    let used: Vec<u32> = chosen.iter().map(|(n, _)| *n).collect();
    let replaced = cloud
        .object
        .object_find(&r.account, bucket, key)
        .await
        .map_err(|e| S3Error::from_api(e, key))?;
    cloud
        .object
        .object_put_slo(&r.account, bucket, key, input, manifest)
        .await
        .map_err(|e| match e {
            ApiError::Typed {
                code: crate::object::SLO_SEGMENT_ERRORS,
                message,
                ..
            } => {
                tracing::info!(%message, "a part changed while its upload completed");
                invalid_part(0)
            }
            e => S3Error::from_api(e, key),
        })?;
    super::object::reap_parts(cloud, &r.account, replaced).await;
    completed_clean_up(cloud, &r.account, &segs, &have, &used, &mark.name, id).await;
    let mut d = Doc::new("CompleteMultipartUploadResult", true);
    d.leaf("Location", &format!("{}/{bucket}/{key}", super::PREFIX))
        .leaf("Bucket", bucket)
        .leaf("Key", key)
        .leaf("ETag", &format!("\"{s3_etag}\""));
    Ok(xml_body(d.finish()))
}

/// The uploaded parts a completion lists, in ascending order, each with the
/// ETag given for it.
fn chosen_parts<'a>(
    listed: &[std::collections::BTreeMap<String, String>],
    have: &'a [(u32, Object)],
) -> Result<Vec<(u32, &'a Object)>, S3Error> {
    let mut chosen: Vec<(u32, &Object)> = Vec::new();
    for p in listed {
        let n: u32 = p
            .get("PartNumber")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(S3Error::malformed_xml)?;
        if chosen.last().is_some_and(|(prev, _)| *prev >= n) {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
            ));
        }
        let etag = p.get("ETag").map(|e| e.trim().trim_matches('"').to_owned());
        let Some((_, o)) = have.iter().find(|(m, _)| *m == n) else {
            return Err(invalid_part(n));
        };
        if etag.is_some_and(|e| !e.eq_ignore_ascii_case(&o.etag)) {
            return Err(invalid_part(n));
        }
        chosen.push((n, o));
    }
    Ok(chosen)
}

/// The manifest of the completed object's parts (all but the last at least
/// `MIN_PART_SIZE`) and S3's ETag for it: the MD5 of the parts' MD5s, then
/// the number of parts.
fn part_manifest(
    chosen: &[(u32, &Object)],
    segs: &str,
) -> Result<(Vec<SloPutSegment>, String), S3Error> {
    let last = chosen.len() - 1;
    let mut md5 = Md5::new();
    let mut manifest = Vec::with_capacity(chosen.len());
    for (i, (n, o)) in chosen.iter().enumerate() {
        if i < last && o.size < MIN_PART_SIZE {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
            )
            .with("PartNumber", n.to_string())
            .with("ProposedSize", o.size.to_string())
            .with("MinSizeAllowed", MIN_PART_SIZE.to_string()));
        }
        md5.update(hex::decode(&o.etag).unwrap_or_default());
        manifest.push(SloPutSegment {
            path: format!("/{segs}/{}", o.name),
            etag: Some(o.etag.clone()),
            size_bytes: Some(o.size),
            range: None,
        });
    }
    let s3_etag = format!("{}-{}", hex::encode(md5.finalize()), chosen.len());
    Ok((manifest, s3_etag))
}

/// After a completion: the parts it did not use and the upload's marker go.
async fn completed_clean_up(
    cloud: &Cloud,
    account: &str,
    segs: &str,
    have: &[(u32, Object)],
    used: &[u32],
    marker_name: &str,
    id: &str,
) {
    for (n, p) in have {
        if !used.contains(n) {
            super::object::delete_one(cloud, account, segs, &p.name)
                .await
                .or_warn(&p.name, "deleting a part the completed upload did not use");
        }
    }
    if let Err(e) = super::object::delete_one(cloud, account, segs, marker_name).await {
        tracing::warn!(error = %e, upload = id, "the completed upload's marker stays");
    }
}
