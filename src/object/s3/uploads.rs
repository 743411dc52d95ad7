//! ListMultipartUploads (`GET /bucket?uploads`): the uploads under way, read from
//! their marker objects in `<bucket>+segments`, in key then upload-id order, paged by
//! `key-marker` / `upload-id-marker` / `max-uploads` and rolled up by `delimiter`, as
//! S3 (and Swift's s3api) answer, so that boto3's paginator and `aws s3api
//! list-multipart-uploads` walk every page and stop.

use super::bucket::enc;
use super::multipart::UPLOAD_SYSMETA;
use super::object::segments_of;
use super::xml::{self, Doc};
use super::{S3Error, S3Req, S3Result, xml_body};
use crate::cloud::Cloud;
use crate::http::error::ApiError;
use crate::object::model::{Entry, LISTING_LIMIT, ListQuery, Object};

/// S3's default and largest page.
const MAX_UPLOADS: usize = 1000;

/// One upload under way.
#[derive(Debug, Clone, PartialEq)]
struct OpenUpload {
    key: String,
    id: String,
    initiated: f64,
}

/// What the request asks for.
#[derive(Debug, Default)]
struct UploadsQuery {
    prefix: String,
    delimiter: Option<String>,
    key_marker: Option<String>,
    upload_id_marker: Option<String>,
    max: usize,
}

/// One page: uploads and common prefixes (each counts toward `max`, as in S3), and
/// where the next page starts when this one is truncated.
#[derive(Debug, Default, PartialEq)]
struct UploadsPage {
    uploads: Vec<OpenUpload>,
    prefixes: Vec<String>,
    next: Option<(String, String)>,
}

impl UploadsQuery {
    fn from_request(r: &S3Req) -> Result<UploadsQuery, S3Error> {
        let max = match r.q("max-uploads") {
            None => MAX_UPLOADS,
            Some(m) => m.parse::<usize>().map_err(|_| {
                S3Error::invalid_argument(
                    "Argument max-uploads must be an integer between 0 and 2147483647",
                )
            })?,
        };
        let given = |k: &str| r.q(k).filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(UploadsQuery {
            prefix: r.q("prefix").unwrap_or_default().to_owned(),
            delimiter: given("delimiter"),
            key_marker: given("key-marker"),
            // Without a key marker, S3 ignores the upload id marker.
            upload_id_marker: given("key-marker").and(given("upload-id-marker")),
            max: max.min(MAX_UPLOADS),
        })
    }

    /// Whether an upload comes after the markers: a later key, or (with an upload
    /// id marker) the marker's own key with a later id.
    fn after_markers(&self, u: &OpenUpload) -> bool {
        match (&self.key_marker, &self.upload_id_marker) {
            (None, _) => true,
            (Some(k), None) => u.key > *k,
            (Some(k), Some(id)) => (&u.key, &u.id) > (k, id),
        }
    }

    /// The common prefix a key rolls up into under the delimiter, if any.
    fn rolled_up(&self, key: &str) -> Option<String> {
        let d = self.delimiter.as_deref()?;
        let rest = key.strip_prefix(&self.prefix)?;
        let at = rest.find(d)?;
        Some(format!("{}{}", self.prefix, &rest[..at + d.len()]))
    }

    /// The page of `uploads` (in any order) this query shows.
    fn page(&self, mut uploads: Vec<OpenUpload>) -> UploadsPage {
        uploads.sort_by(|a, b| (&a.key, &a.id).cmp(&(&b.key, &b.id)));
        let mut page = UploadsPage::default();
        let mut last: Option<(String, String)> = None;
        for u in uploads {
            if !u.key.starts_with(&self.prefix) || !self.after_markers(&u) {
                continue;
            }
            let prefix = self.rolled_up(&u.key);
            if let Some(p) = &prefix {
                // Every upload under a prefix already shown (or the marker's own
                // prefix, from the previous page) is part of that entry.
                if page.prefixes.last() == Some(p) || self.key_marker.as_ref() == Some(p) {
                    continue;
                }
            }
            if page.uploads.len() + page.prefixes.len() == self.max {
                page.next = last;
                return page;
            }
            last = Some(match prefix {
                Some(p) => {
                    page.prefixes.push(p.clone());
                    (p, String::new())
                }
                None => {
                    let mark = (u.key.clone(), u.id.clone());
                    page.uploads.push(u);
                    mark
                }
            });
        }
        page
    }
}

/// The uploads under way, from their markers (`<key>/<upload id>`, flagged in
/// system metadata; the parts under them are not markers), read in pages of the
/// listing limit so a bucket with many parts loses none.
async fn open_uploads(
    cloud: &Cloud,
    r: &S3Req,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<OpenUpload>, S3Error> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let q = ListQuery {
            limit: LISTING_LIMIT,
            prefix: Some(prefix.to_owned()).filter(|p| !p.is_empty()),
            marker: marker.take(),
            ..Default::default()
        };
        let listed = match cloud
            .object
            .object_list(&r.account, &segments_of(bucket), q)
            .await
        {
            Ok(l) => l,
            Err(ApiError::Missing(_)) => Vec::new(),
            Err(e) => return Err(S3Error::from_api(e, "")),
        };
        let full = listed.len() == LISTING_LIMIT;
        for e in listed {
            let Entry::Item(o) = e else { continue };
            marker = Some(o.name.clone());
            if let Some(u) = as_upload(o) {
                out.push(u);
            }
        }
        if !full {
            return Ok(out);
        }
    }
}

fn as_upload(o: Object) -> Option<OpenUpload> {
    if !o.meta.contains_key(UPLOAD_SYSMETA) {
        return None;
    }
    let (key, id) = o.name.rsplit_once('/')?;
    Some(OpenUpload {
        key: key.to_owned(),
        id: id.to_owned(),
        initiated: o.ts,
    })
}

/// ListMultipartUploads (`GET /bucket?uploads`).
pub(super) async fn uploads_list(cloud: &Cloud, r: &S3Req, bucket: &str) -> S3Result {
    let q = UploadsQuery::from_request(r)?;
    let page = q.page(open_uploads(cloud, r, bucket, &q.prefix).await?);
    let mut d = Doc::new("ListMultipartUploadsResult", true);
    d.leaf("Bucket", bucket);
    d.leaf(
        "KeyMarker",
        &enc(r, q.key_marker.as_deref().unwrap_or_default()),
    );
    d.leaf(
        "UploadIdMarker",
        q.upload_id_marker.as_deref().unwrap_or_default(),
    );
    if let Some((key, id)) = &page.next {
        d.leaf("NextKeyMarker", &enc(r, key));
        d.leaf("NextUploadIdMarker", id);
    }
    if let Some(dl) = &q.delimiter {
        d.leaf("Delimiter", &enc(r, dl));
    }
    d.leaf("Prefix", &enc(r, &q.prefix));
    if r.q("encoding-type") == Some("url") {
        d.leaf("EncodingType", "url");
    }
    d.leaf("MaxUploads", &q.max.to_string());
    d.leaf(
        "IsTruncated",
        if page.next.is_some() { "true" } else { "false" },
    );
    for u in &page.uploads {
        upload_entry(&mut d, r, u);
    }
    for p in &page.prefixes {
        d.open("CommonPrefixes").leaf("Prefix", &enc(r, p)).close();
    }
    Ok(xml_body(d.finish()))
}

fn upload_entry(d: &mut Doc, r: &S3Req, u: &OpenUpload) {
    d.open("Upload")
        .leaf("Key", &enc(r, &u.key))
        .leaf("UploadId", &u.id);
    for who in ["Initiator", "Owner"] {
        d.open(who)
            .leaf("ID", &r.project)
            .leaf("DisplayName", &r.project)
            .close();
    }
    d.leaf("StorageClass", "STANDARD")
        .leaf("Initiated", &xml::iso(u.initiated))
        .close();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(key: &str, id: &str) -> OpenUpload {
        OpenUpload {
            key: key.into(),
            id: id.into(),
            initiated: 0.0,
        }
    }

    fn keys(p: &UploadsPage) -> Vec<(&str, &str)> {
        p.uploads
            .iter()
            .map(|u| (u.key.as_str(), u.id.as_str()))
            .collect()
    }

    fn all() -> Vec<OpenUpload> {
        // Out of order on purpose, and "a-b" sorts before "a/" as a key but after
        // it as a marker object name ("a-b/…" < "a/…" byte-wise): keys decide.
        vec![
            up("b", "2"),
            up("a", "9"),
            up("dir/x", "1"),
            up("a", "1"),
            up("a-b", "5"),
            up("dir/y", "3"),
            up("c", "4"),
        ]
    }

    #[test]
    fn pages_walk_every_upload_once_in_key_then_id_order() {
        let mut q = UploadsQuery {
            max: 2,
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = q.page(all());
            seen.extend(keys(&page).into_iter().map(|(k, i)| format!("{k}/{i}")));
            let Some((k, i)) = page.next else { break };
            q.key_marker = Some(k);
            q.upload_id_marker = Some(i);
        }
        assert_eq!(
            seen,
            ["a/1", "a/9", "a-b/5", "b/2", "c/4", "dir/x/1", "dir/y/3"]
        );
    }

    #[test]
    fn a_key_marker_alone_skips_that_key_entirely() {
        let q = UploadsQuery {
            key_marker: Some("a".into()),
            max: 1000,
            ..Default::default()
        };
        let page = q.page(all());
        assert_eq!(keys(&page)[0], ("a-b", "5"));
        assert_eq!(page.next, None);
    }

    #[test]
    fn delimiter_rolls_up_and_a_prefix_counts_toward_max() {
        let mut q = UploadsQuery {
            delimiter: Some("/".into()),
            max: 4,
            ..Default::default()
        };
        let page = q.page(all());
        assert_eq!(
            keys(&page),
            [("a", "1"), ("a", "9"), ("a-b", "5"), ("b", "2")]
        );
        assert!(page.prefixes.is_empty());
        assert_eq!(page.next, Some(("b".into(), "2".into())));
        q.key_marker = Some("b".into());
        q.upload_id_marker = Some("2".into());
        let page = q.page(all());
        assert_eq!(keys(&page), [("c", "4")]);
        assert_eq!(page.prefixes, ["dir/"]);
        assert_eq!(page.next, None);
        // A page that ends on the prefix resumes after everything under it.
        q.key_marker = Some("dir/".into());
        q.upload_id_marker = None;
        assert_eq!(q.page(all()), UploadsPage::default());
    }

    #[test]
    fn prefix_filters_before_the_delimiter_applies() {
        let q = UploadsQuery {
            prefix: "dir/".into(),
            delimiter: Some("/".into()),
            max: 1000,
            ..Default::default()
        };
        let page = q.page(all());
        assert_eq!(keys(&page), [("dir/x", "1"), ("dir/y", "3")]);
        assert!(page.prefixes.is_empty());
    }

    #[test]
    fn max_zero_shows_nothing_and_ends_the_listing() {
        // A truncated page with no last entry would give a client no marker to
        // resume from (a paginator would ask for the same page forever).
        let q = UploadsQuery::default();
        assert_eq!(q.page(all()), UploadsPage::default());
    }
}
