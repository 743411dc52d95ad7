//! Objects: streamed PUT (MD5 checked, quotas, versioning of what it replaces),
//! reads resolved into pieces of files (plain objects, dynamic and static large
//! objects), metadata POST, DELETE (restoring or archiving versions), bulk delete.

use axum::http::StatusCode;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};

use super::blobs::{ByteStream, WriteError, Written};
use super::model::{self, Entry, ListQuery, Meta, Object, SloSegment};
use super::{ObjectService, not_found, now_secs, sql, status, store, sync};
use crate::http::error::{ApiError, ApiResult};
use crate::logged::OrLog;

/// What a PUT carries besides its bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct PutInput {
    pub content_type: String,
    /// User metadata (`x-object-meta-*`) and the stored system headers
    /// (`content-disposition`, `content-encoding`, ...).
    pub meta: Meta,
    pub delete_at: Option<i64>,
    /// `X-Object-Manifest`: `container/prefix` of a dynamic large object.
    pub dlo_manifest: Option<String>,
    /// The MD5 the client sent; a mismatch is 422 and nothing is stored.
    pub etag: Option<String>,
    /// The declared length, checked against quotas before any byte is written.
    pub content_length: Option<u64>,
    /// `If-None-Match: *`: refuse (412) when the object exists.
    pub if_none_match_star: bool,
}

/// A piece of an object's content: part of a file, or bytes in memory.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    File { blob: String, start: u64, len: u64 },
    Bytes(Bytes),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::File { len, .. } => *len,
            Piece::Bytes(b) => b.len() as u64,
        }
    }
}

/// An object ready to be read: its row, its total size and ETag (a large object's
/// are computed from its segments) and the pieces its content is made of.
#[derive(Debug, Clone)]
pub(crate) struct ObjectBody {
    pub object: Object,
    pub size: u64,
    pub etag: String,
    pub pieces: Vec<Piece>,
}

/// Part of `pieces` from byte `start`, `len` bytes long.
pub(crate) fn slice(pieces: &[Piece], start: u64, len: u64) -> Vec<Piece> {
    let mut out = Vec::new();
    let (mut pos, end) = (0u64, start + len);
    for p in pieces {
        let (ps, pe) = (pos, pos + p.len());
        pos = pe;
        if pe <= start || ps >= end {
            continue;
        }
        let s = start.max(ps) - ps;
        let e = end.min(pe) - ps;
        out.push(match p {
            Piece::File { blob, start, .. } => Piece::File {
                blob: blob.clone(),
                start: start + s,
                len: e - s,
            },
            Piece::Bytes(b) => Piece::Bytes(b.slice(s as usize..e as usize)),
        });
    }
    out
}

/// The archive name of a version: `<name length, 3 hex digits><name>/<timestamp>`.
fn version_name(name: &str, ts: f64) -> String {
    format!("{:03x}{name}/{ts:016.5}", name.len())
}

fn version_prefix(name: &str) -> String {
    format!("{:03x}{name}/", name.len())
}

/// The body as written must match the client's `ETag` (422) and declared length
/// (499: the client went away mid-upload).
fn check_written(input: &PutInput, written: &Written) -> ApiResult<()> {
    if let Some(expected) = &input.etag
        && !expected
            .trim_matches('"')
            .eq_ignore_ascii_case(&written.md5)
    {
        return Err(status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unable to process the contained instructions",
        ));
    }
    if let Some(len) = input.content_length
        && len != written.size
    {
        return Err(status(
            StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            "Client Disconnect",
        ));
    }
    Ok(())
}

/// Object DELETE in one transaction; see `ObjectService::object_delete`.
fn object_delete_tx(tx: &rusqlite::Transaction, a: &str, c: &str, n: &str) -> ApiResult<()> {
    let ct = store::container_get(tx, a, c)
        .map_err(sql)?
        .ok_or_else(not_found)?;
    let now = now_secs();
    let live = store::object_get(tx, a, c, n, now).map_err(sql)?;
    let deleted = match (versions_of(&ct.meta), live) {
        (None, None) => {
            // An expired row is gone for the client; reap it now.
            store::object_remove(tx, a, c, n).map_err(sql)?;
            Err(not_found())
        }
        (None, Some(_)) => {
            store::object_remove(tx, a, c, n).map_err(sql)?;
            Ok(())
        }
        (Some((archive, true)), live) => delete_into_history_tx(tx, (a, c, n), &archive, live),
        (Some((archive, false)), live) => {
            delete_restoring_version_tx(tx, (a, c, n), &archive, live, now)
        }
    };
    // A syncing container remembers the delete so container sync passes it on.
    if deleted.is_ok() && sync::syncs(&ct.meta) {
        store::tombstone_put(tx, a, c, n, model::now_ts()).map_err(sql)?;
    }
    deleted
}

/// History mode: the deleted object is archived.
fn delete_into_history_tx(
    tx: &rusqlite::Transaction,
    (a, c, n): (&str, &str, &str),
    archive: &str,
    live: Option<Object>,
) -> ApiResult<()> {
    let old = store::object_detach(tx, a, c, n).map_err(sql)?;
    match (old, live) {
        (Some(old), Some(_)) => archive_tx(tx, a, archive, old),
        (Some(old), None) => {
            if let Some(b) = &old.blob {
                store::reap_push(tx, b).map_err(sql)?;
            }
            Err(not_found())
        }
        _ => Err(not_found()),
    }
}

/// Stack mode: the newest archived version takes the deleted object's place.
fn delete_restoring_version_tx(
    tx: &rusqlite::Transaction,
    (a, c, n): (&str, &str, &str),
    archive: &str,
    live: Option<Object>,
    now: i64,
) -> ApiResult<()> {
    store::object_remove(tx, a, c, n).map_err(sql)?;
    let q = ListQuery {
        limit: 1,
        prefix: Some(version_prefix(n)),
        reverse: true,
        ..Default::default()
    };
    let newest = store::object_list(tx, a, archive, &q, now).map_err(sql)?;
    let restored = match newest.into_iter().next() {
        Some(Entry::Item(v)) => {
            store::object_detach(tx, a, archive, &v.name).map_err(sql)?;
            store::object_insert(
                tx,
                &Object {
                    container: c.to_owned(),
                    name: n.to_owned(),
                    ..v
                },
            )
            .map_err(sql)?;
            true
        }
        _ => false,
    };
    if live.is_some() || restored {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// The archive container of a versioned container, and whether it is history mode.
fn versions_of(meta: &Meta) -> Option<(String, bool)> {
    if let Some(v) = meta.get("x-history-location") {
        return Some((v.clone(), true));
    }
    meta.get("x-versions-location").map(|v| (v.clone(), false))
}

/// Moves `old` into the archive container (the file moves with the row).
fn archive_tx(
    tx: &rusqlite::Transaction,
    account: &str,
    archive: &str,
    old: Object,
) -> ApiResult<()> {
    if store::container_get(tx, account, archive)
        .map_err(sql)?
        .is_none()
    {
        if let Some(b) = &old.blob {
            store::reap_push(tx, b).map_err(sql)?;
        }
        return Ok(());
    }
    let name = version_name(&old.name, old.ts);
    if let Some(prev) = store::object_remove(tx, account, archive, &name).map_err(sql)? {
        tracing::debug!(name = %prev.name, "replacing an archived version with the same timestamp");
    }
    let moved = Object {
        container: archive.to_owned(),
        name,
        ..old
    };
    store::object_insert(tx, &moved).map_err(sql)
}

/// The account's quotas (Swift's `account_quotas`) against its usage after a write.
fn account_quota_check(meta: &Meta, count: u64, bytes: u64) -> ApiResult<()> {
    let limit = |key: &str| meta.get(key).and_then(|q| q.parse::<u64>().ok());
    let bytes_limit = limit("x-account-quota-bytes").or(limit("x-account-meta-quota-bytes"));
    if bytes_limit.is_some_and(|q| bytes > q)
        || limit("x-account-quota-count").is_some_and(|q| count > q)
    {
        return Err(ApiError::OverQuota("Upload exceeds quota.".into()));
    }
    Ok(())
}

fn quota_check(meta: &Meta, count: u64, bytes: u64) -> ApiResult<()> {
    let over = |key: &str, used: u64| {
        meta.get(key)
            .and_then(|q| q.parse::<u64>().ok())
            .is_some_and(|q| used > q)
    };
    if over("x-container-meta-quota-bytes", bytes) || over("x-container-meta-quota-count", count) {
        return Err(ApiError::OverQuota("Upload exceeds quota.".into()));
    }
    Ok(())
}

fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::TooLarge => ApiError::PayloadTooLarge("Your request is too large.".into()),
        WriteError::Client(e) => {
            tracing::info!(error = %e, "client disconnected during an object upload");
            status(
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                "Client Disconnect",
            )
        }
        WriteError::Io(e) => ApiError::Internal(e.into()),
    }
}

/// The row of a static large object: its manifest, the segments' total size
/// and the manifest's ETag.
fn manifest_object(
    (account, container, name): (&str, &str, &str),
    input: PutInput,
    size: u64,
    etag: String,
    manifest: String,
) -> Object {
    Object {
        account: account.to_owned(),
        container: container.to_owned(),
        name: name.to_owned(),
        size,
        etag,
        content_type: input.content_type,
        ts: model::now_ts(),
        meta: input.meta,
        blob: None,
        delete_at: input.delete_at,
        dlo_manifest: None,
        slo_manifest: Some(manifest),
    }
}

/// A manifest has one segment at least, and no more than Swift allows.
fn check_slo_manifest(manifest: &[SloPutSegment]) -> ApiResult<()> {
    if manifest.is_empty() {
        return Err(ApiError::BadRequest(
            "Manifest must have at least one segment.".into(),
        ));
    }
    if manifest.len() > model::MAX_MANIFEST_SEGMENTS {
        return Err(ApiError::BadRequest(format!(
            "Too many segments; max {}",
            model::MAX_MANIFEST_SEGMENTS
        )));
    }
    Ok(())
}

impl ObjectService {
    /// Object PUT: streams the body into a new file, then one transaction replaces
    /// the row (archiving the old one in a versioned container) and fixes the usage.
    pub(crate) async fn object_put(
        &self,
        account: &str,
        container: &str,
        name: &str,
        input: PutInput,
        body: ByteStream,
    ) -> ApiResult<Object> {
        self.object_put_at(account, container, name, input, body, None)
            .await
    }

    /// `object_put` with the object's timestamp given (container sync keeps the
    /// source's, so both containers list the same object alike).
    pub(crate) async fn object_put_at(
        &self,
        account: &str,
        container: &str,
        name: &str,
        input: PutInput,
        body: ByteStream,
        ts: Option<f64>,
    ) -> ApiResult<Object> {
        self.put_precheck(account, container, name, &input).await?;
        let written = self
            .blobs()
            .write(body, model::MAX_FILE_SIZE)
            .await
            .map_err(write_error)?;
        if let Err(e) = check_written(&input, &written) {
            self.drop_refused_blob(&written.blob).await;
            return Err(e);
        }
        let obj = Object {
            account: account.to_owned(),
            container: container.to_owned(),
            name: name.to_owned(),
            size: written.size,
            etag: written.md5,
            content_type: input.content_type,
            ts: ts.unwrap_or_else(model::now_ts),
            meta: input.meta,
            blob: Some(written.blob.clone()),
            delete_at: input.delete_at,
            dlo_manifest: input.dlo_manifest,
            slo_manifest: None,
        };
        let result = self.commit_object(obj).await;
        if result.is_err() {
            self.drop_refused_blob(&written.blob).await;
        }
        self.reap().await;
        result
    }

    /// What a PUT is refused for before its body is read: the name, the declared
    /// size against the file limit and the quotas, and `If-None-Match: *`.
    async fn put_precheck(
        &self,
        account: &str,
        container: &str,
        name: &str,
        input: &PutInput,
    ) -> ApiResult<()> {
        model::check_object_name(name).map_err(ApiError::BadRequest)?;
        let ct = self.container_show(account, container).await?;
        if let Some(len) = input.content_length {
            if len > model::MAX_FILE_SIZE {
                return Err(ApiError::PayloadTooLarge(
                    "Your request is too large.".into(),
                ));
            }
            quota_check(&ct.meta, ct.object_count + 1, ct.bytes_used + len)?;
            let acct = self.account_show(account).await?;
            account_quota_check(&acct.meta, acct.object_count + 1, acct.bytes_used + len)?;
        }
        if input.if_none_match_star && self.object_find(account, container, name).await?.is_some() {
            return Err(ApiError::PreconditionFailed("Precondition Failed".into()));
        }
        Ok(())
    }

    /// Removes the blob of an upload that was refused after it was written.
    async fn drop_refused_blob(&self, blob: &str) {
        self.blobs()
            .remove(blob)
            .await
            .or_warn(blob, "removing the blob of a refused upload");
    }

    /// The transaction of a PUT: replace the row, archive the old one, count usage.
    async fn commit_object(&self, obj: Object) -> ApiResult<Object> {
        self.write(move |tx| {
            let ct = store::container_get(tx, &obj.account, &obj.container)
                .map_err(sql)?
                .ok_or_else(not_found)?;
            let old =
                store::object_detach(tx, &obj.account, &obj.container, &obj.name).map_err(sql)?;
            let (count, bytes) = match &old {
                Some(o) => (ct.object_count, ct.bytes_used - o.size.min(ct.bytes_used)),
                None => (ct.object_count + 1, ct.bytes_used),
            };
            quota_check(&ct.meta, count, bytes + obj.size)?;
            if let Some(acct) = store::account_get(tx, &obj.account).map_err(sql)? {
                let replaced = old.as_ref().map_or(0, |o| o.size);
                let added = u64::from(old.is_none());
                account_quota_check(
                    &acct.meta,
                    acct.object_count + added,
                    (acct.bytes_used + obj.size).saturating_sub(replaced),
                )?;
            }
            if let Some(old) = old {
                let live = old.delete_at.is_none_or(|d| d > now_secs());
                match versions_of(&ct.meta) {
                    Some((archive, _)) if live => archive_tx(tx, &obj.account, &archive, old)?,
                    _ => {
                        if let Some(b) = &old.blob {
                            store::reap_push(tx, b).map_err(sql)?;
                        }
                    }
                }
            }
            store::object_insert(tx, &obj).map_err(sql)?;
            Ok(obj)
        })
        .await
    }

    /// Static large object manifest PUT (`?multipart-manifest=put`): every segment
    /// must exist and match the ETag and size given for it.
    pub(crate) async fn object_put_slo(
        &self,
        account: &str,
        container: &str,
        name: &str,
        input: PutInput,
        manifest: Vec<SloPutSegment>,
    ) -> ApiResult<Object> {
        model::check_object_name(name).map_err(ApiError::BadRequest)?;
        self.container_show(account, container).await?;
        check_slo_manifest(&manifest)?;
        let mut errors = Vec::new();
        let mut segments = Vec::new();
        let mut md5 = Md5::new();
        let mut total = 0u64;
        for seg in manifest {
            let (s, len) = match self.slo_segment(account, &seg).await? {
                Ok(found) => found,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            match &s.range {
                Some(r) => md5.update(format!("{}:{r};", s.hash).as_bytes()),
                None => md5.update(s.hash.as_bytes()),
            }
            total += len;
            segments.push(s);
        }
        if !errors.is_empty() {
            return Err(ApiError::typed(
                StatusCode::BAD_REQUEST,
                super::SLO_SEGMENT_ERRORS,
                format!("Errors:\n{}", errors.join("\n")),
            ));
        }
        let etag = hex::encode(md5.finalize());
        if let Some(expected) = &input.etag
            && !expected.trim_matches('"').eq_ignore_ascii_case(&etag)
        {
            return Err(status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unable to process the contained instructions",
            ));
        }
        let manifest =
            serde_json::to_string(&segments).map_err(|e| ApiError::Internal(e.into()))?;
        let obj = manifest_object((account, container, name), input, total, etag, manifest);
        let result = self.commit_object(obj).await;
        self.reap().await;
        result
    }

    /// One segment of a manifest PUT, checked against the object it names
    /// (its ETag, size and range): the segment and the bytes it contributes,
    /// or the line Swift reports for it.
    async fn slo_segment(
        &self,
        account: &str,
        seg: &SloPutSegment,
    ) -> ApiResult<Result<(SloSegment, u64), String>> {
        let path = seg.path.trim_start_matches('/');
        let Some((c, o)) = path.split_once('/') else {
            return Ok(Err(format!("{}, Invalid segment path", seg.path)));
        };
        let Some(found) = self.object_find(account, c, o).await? else {
            return Ok(Err(format!("/{path}, 404 Not Found")));
        };
        let body = self.object_body(found).await?;
        if let Some(e) = &seg.etag
            && !e
                .trim_matches('"')
                .eq_ignore_ascii_case(body.etag.trim_matches('"'))
        {
            return Ok(Err(format!("/{path}, Etag Mismatch")));
        }
        if let Some(s) = seg.size_bytes
            && s != body.size
        {
            return Ok(Err(format!("/{path}, Size Mismatch")));
        }
        let (range, len) = match &seg.range {
            Some(r) => match parse_segment_range(r, body.size) {
                Some((s, e)) => (Some(format!("{s}-{e}")), e - s + 1),
                None => return Ok(Err(format!("/{path}, Unsatisfiable Range"))),
            },
            None => (None, body.size),
        };
        let segment = SloSegment {
            name: format!("/{path}"),
            hash: body.etag.trim_matches('"').to_owned(),
            bytes: body.size,
            content_type: body.object.content_type.clone(),
            last_modified: model::iso_date(body.object.ts),
            range,
        };
        Ok(Ok((segment, len)))
    }

    /// The live object's row, if any.
    pub(crate) async fn object_find(
        &self,
        account: &str,
        container: &str,
        name: &str,
    ) -> ApiResult<Option<Object>> {
        let (a, c, n) = (account.to_owned(), container.to_owned(), name.to_owned());
        self.read(move |db| store::object_get(db, &a, &c, &n, now_secs()).map_err(sql))
            .await
    }

    pub(crate) async fn object_show(
        &self,
        account: &str,
        container: &str,
        name: &str,
    ) -> ApiResult<Object> {
        self.object_find(account, container, name)
            .await?
            .ok_or_else(not_found)
    }

    /// Resolves an object's content: its file, or the segments of a large object.
    pub(crate) async fn object_body(&self, object: Object) -> ApiResult<ObjectBody> {
        if let Some(m) = &object.slo_manifest {
            let pieces = self.slo_pieces(&object.account, m).await?;
            let size = pieces.iter().map(Piece::len).sum();
            let etag = format!("\"{}\"", object.etag);
            return Ok(ObjectBody {
                object,
                size,
                etag,
                pieces,
            });
        }
        if let Some(m) = &object.dlo_manifest {
            let (pieces, etag) = self.dlo_pieces(&object.account, m).await?;
            let size = pieces.iter().map(Piece::len).sum();
            return Ok(ObjectBody {
                object,
                size,
                etag,
                pieces,
            });
        }
        let pieces = match &object.blob {
            Some(b) if object.size > 0 => vec![Piece::File {
                blob: b.clone(),
                start: 0,
                len: object.size,
            }],
            _ => vec![],
        };
        Ok(ObjectBody {
            size: object.size,
            etag: object.etag.clone(),
            object,
            pieces,
        })
    }

    /// A static large object's data: each segment of its manifest (or the
    /// range of it the manifest names), which must still be there.
    async fn slo_pieces(&self, account: &str, manifest: &str) -> ApiResult<Vec<Piece>> {
        let segs: Vec<SloSegment> =
            serde_json::from_str(manifest).map_err(|e| ApiError::Internal(e.into()))?;
        let mut pieces = Vec::new();
        for s in segs {
            let path = s.name.trim_start_matches('/');
            let Some((c, o)) = path.split_once('/') else {
                continue;
            };
            let seg = self.object_find(account, c, o).await?.ok_or_else(|| {
                ApiError::Conflict(format!("Segment {path} of a static large object is gone"))
            })?;
            let blob = seg.blob.ok_or_else(|| {
                ApiError::Conflict("Nested large objects are not supported".into())
            })?;
            let (start, len) = match s
                .range
                .as_deref()
                .and_then(|r| parse_segment_range(r, seg.size))
            {
                Some((a, b)) => (a, b - a + 1),
                None => (0, seg.size),
            };
            pieces.push(Piece::File { blob, start, len });
        }
        Ok(pieces)
    }

    /// A dynamic large object's data: the objects under its manifest's
    /// `<container>/<prefix>` now, and its ETag (quoted), the MD5 of theirs.
    async fn dlo_pieces(&self, account: &str, manifest: &str) -> ApiResult<(Vec<Piece>, String)> {
        let (c, prefix) = manifest.split_once('/').unwrap_or((manifest, ""));
        let q = ListQuery {
            limit: model::LISTING_LIMIT,
            prefix: Some(prefix.to_owned()),
            ..Default::default()
        };
        let (a, c2) = (account.to_owned(), c.to_owned());
        let listed = self
            .read(move |db| store::object_list(db, &a, &c2, &q, now_secs()).map_err(sql))
            .await?;
        let mut md5 = Md5::new();
        let mut pieces = Vec::new();
        for e in listed {
            if let Entry::Item(o) = e
                && let Some(blob) = o.blob
            {
                md5.update(o.etag.as_bytes());
                pieces.push(Piece::File {
                    blob,
                    start: 0,
                    len: o.size,
                });
            }
        }
        Ok((pieces, format!("\"{}\"", hex::encode(md5.finalize()))))
    }

    /// The bytes of `pieces`, read lazily one piece after the other.
    pub(crate) fn stream(&self, pieces: Vec<Piece>) -> ByteStream {
        let blobs = self.blobs().clone();
        Box::pin(
            futures_util::stream::iter(pieces)
                .then(move |p| {
                    let blobs = blobs.clone();
                    async move {
                        match p {
                            Piece::Bytes(b) => Ok(crate::bytestream::once(b)),
                            Piece::File { blob, start, len } => blobs.read(&blob, start, len).await,
                        }
                    }
                })
                .try_flatten(),
        )
    }

    /// Object POST: replaces the user metadata (Swift's fast-POST), content type and
    /// expiry.
    pub(crate) async fn object_update(
        &self,
        account: &str,
        container: &str,
        name: &str,
        update: ObjectUpdate,
    ) -> ApiResult<()> {
        let (a, c, n) = (account.to_owned(), container.to_owned(), name.to_owned());
        self.write(move |tx| {
            let mut o = store::object_get(tx, &a, &c, &n, now_secs())
                .map_err(sql)?
                .ok_or_else(not_found)?;
            // A POST replaces user metadata; system metadata stays (as in Swift).
            let sysmeta: Vec<(String, String)> = o
                .meta
                .iter()
                .filter(|(k, _)| k.starts_with("x-object-sysmeta-"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            o.meta = update.meta;
            o.meta.extend(sysmeta);
            if let Some(ct) = update.content_type {
                o.content_type = ct;
            }
            if let Some(m) = update.dlo_manifest {
                o.dlo_manifest = (!m.is_empty()).then_some(m);
            }
            match update.delete_at {
                DeleteAt::Keep => {}
                DeleteAt::Set(t) => o.delete_at = Some(t),
                DeleteAt::Remove => o.delete_at = None,
            }
            o.ts = model::now_ts();
            store::object_update_meta(tx, &o).map_err(sql)
        })
        .await
    }

    /// Adds one system metadata item to the object just written (its ETag still
    /// `etag`), leaving its timestamp: what the write learned only at the body's
    /// end (an S3 trailer checksum). An object replaced meanwhile is left alone.
    pub(crate) async fn object_sysmeta_set(
        &self,
        account: &str,
        container: &str,
        name: &str,
        etag: &str,
        item: (String, String),
    ) -> ApiResult<()> {
        debug_assert!(item.0.starts_with("x-object-sysmeta-"));
        let (a, c, n, etag) = (
            account.to_owned(),
            container.to_owned(),
            name.to_owned(),
            etag.to_owned(),
        );
        self.write(move |tx| {
            let Some(mut o) = store::object_get(tx, &a, &c, &n, now_secs()).map_err(sql)? else {
                return Ok(());
            };
            if o.etag != etag {
                return Ok(());
            }
            o.meta.insert(item.0, item.1);
            store::object_update_meta(tx, &o).map_err(sql)
        })
        .await
    }

    /// Object DELETE: in a versioned container (stack mode) the newest archived
    /// version takes its place; in history mode the object is archived first.
    pub(crate) async fn object_delete(
        &self,
        account: &str,
        container: &str,
        name: &str,
    ) -> ApiResult<()> {
        let (a, c, n) = (account.to_owned(), container.to_owned(), name.to_owned());
        self.write(move |tx| object_delete_tx(tx, &a, &c, &n))
            .await?;
        self.reap().await;
        Ok(())
    }

    pub(crate) async fn object_list(
        &self,
        account: &str,
        container: &str,
        q: ListQuery,
    ) -> ApiResult<Vec<Entry<Object>>> {
        let (a, c) = (account.to_owned(), container.to_owned());
        self.read(move |db| {
            store::container_get(db, &a, &c)
                .map_err(sql)?
                .ok_or_else(not_found)?;
            store::object_list(db, &a, &c, &q, now_secs()).map_err(sql)
        })
        .await
    }

    /// Deletes a static large object and its segments (`?multipart-manifest=delete`):
    /// (deleted, not found).
    pub(crate) async fn slo_delete(
        &self,
        account: &str,
        container: &str,
        name: &str,
    ) -> ApiResult<(u64, u64)> {
        let obj = self.object_show(account, container, name).await?;
        let mut paths = Vec::new();
        if let Some(m) = &obj.slo_manifest {
            let segs: Vec<SloSegment> =
                serde_json::from_str(m).map_err(|e| ApiError::Internal(e.into()))?;
            paths.extend(
                segs.into_iter()
                    .map(|s| s.name.trim_start_matches('/').to_owned()),
            );
        }
        paths.push(format!("{container}/{name}"));
        let out = self.bulk_delete(account, paths).await?;
        Ok((out.deleted, out.not_found))
    }

    /// Bulk delete: each `container/object` (or `container`) path.
    pub(crate) async fn bulk_delete(
        &self,
        account: &str,
        paths: Vec<String>,
    ) -> ApiResult<BulkResult> {
        let mut out = BulkResult::default();
        for p in paths {
            let p = p.trim_start_matches('/');
            let r = match p.split_once('/') {
                Some((c, o)) if !o.is_empty() => self.object_delete(account, c, o).await,
                _ => {
                    self.container_delete(account, p.trim_end_matches('/'))
                        .await
                }
            };
            match r {
                Ok(()) => out.deleted += 1,
                Err(ApiError::Missing(_)) => out.not_found += 1,
                Err(e) => out.errors.push((format!("/{p}"), e.status())),
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Default)]
pub(crate) struct BulkResult {
    pub deleted: u64,
    pub not_found: u64,
    pub errors: Vec<(String, StatusCode)>,
}

/// One entry of a static large object manifest as clients PUT it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SloPutSegment {
    pub path: String,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub range: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct ObjectUpdate {
    pub meta: Meta,
    pub content_type: Option<String>,
    pub delete_at: DeleteAt,
    /// `X-Object-Manifest` on a POST turns the object into a dynamic large object
    /// (an empty value turns it back); absent, the manifest stays.
    pub dlo_manifest: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum DeleteAt {
    Keep,
    Set(i64),
    Remove,
}

/// `first-last`, `first-` or `-suffix` within `size`: the inclusive byte bounds.
fn parse_segment_range(r: &str, size: u64) -> Option<(u64, u64)> {
    let (a, b) = r.split_once('-')?;
    let (s, e) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.checked_sub(n.min(size))?, size.checked_sub(1)?)
        }
        (s, "") => (s.parse().ok()?, size.checked_sub(1)?),
        (s, e) => (
            s.parse().ok()?,
            e.parse::<u64>().ok()?.min(size.checked_sub(1)?),
        ),
    };
    (s <= e && e < size).then_some((s, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_span_pieces() {
        let p = vec![
            Piece::Bytes(Bytes::from_static(b"abc")),
            Piece::Bytes(Bytes::from_static(b"defg")),
        ];
        let s = slice(&p, 2, 3);
        let got: Vec<u8> = s
            .iter()
            .flat_map(|p| match p {
                Piece::Bytes(b) => b.to_vec(),
                _ => vec![],
            })
            .collect();
        assert_eq!(got, b"cde");
    }

    #[test]
    fn segment_ranges() {
        assert_eq!(parse_segment_range("0-9", 100), Some((0, 9)));
        assert_eq!(parse_segment_range("-10", 100), Some((90, 99)));
        assert_eq!(parse_segment_range("95-", 100), Some((95, 99)));
        assert_eq!(parse_segment_range("100-", 100), None);
    }

    #[test]
    fn version_names_sort_by_time() {
        assert_eq!(version_name("obj", 1.0), "003obj/0000000001.00000");
        assert!(version_name("o", 9.0) < version_name("o", 10.0));
    }
}
