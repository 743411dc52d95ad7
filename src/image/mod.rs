//! Glance v2: images with streamed uploads and downloads, format checks, sharing
//! through members, interoperable import with tasks, tags and per-project quotas.

pub(crate) mod api;
mod data;
pub(crate) mod facade;
pub(crate) mod format;
mod import;
mod listing;
mod members;
pub(crate) mod metadefs;
pub(crate) mod model;
mod patch;
pub(crate) mod registration;
pub(crate) mod store;

use crate::logged::OrLog;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, Transaction};
use serde_json::{Map, Value};

use crate::bytestream::ByteStream;
use crate::db::Db;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy;
use crate::profile::ImageSection;
pub(crate) use data::{ImageFiles, parse_range as data_range, stream_file as data_stream};
pub(crate) use import::TaskCreate;
pub(crate) use listing::ListQuery;
use model::*;
pub(crate) use patch::GLANCE_OWN_METADATA;
pub(crate) use patch::ImageCreate;

/// Import methods this cloud offers (`GET /v2/info/import`).
pub(crate) fn import_methods() -> &'static [&'static str] {
    import::IMPORT_METHODS
}

/// Whether the caller may create images: a project-scoped token with write
/// access. Returns the project the image belongs to unless the request names
/// another owner.
fn image_create_allowed(ctx: &RequestContext) -> ApiResult<String> {
    let project = ctx.project_id().ok_or_else(ApiError::forbidden)?.to_owned();
    if !ctx.can_write() {
        return Err(ApiError::forbidden());
    }
    Ok(project)
}

/// The queued record a create makes.
fn new_image(project: String, req: ImageCreate) -> Image {
    let now = store::now();
    Image {
        id: req.id.unwrap_or_else(uuid::Uuid::new_v4).to_string(),
        name: req.name,
        owner: req.owner.unwrap_or(Some(project)),
        status: ImageStatus::Queued,
        visibility: req.visibility.unwrap_or_else(|| "shared".into()),
        protected: req.protected,
        os_hidden: req.os_hidden,
        disk_format: req.disk_format,
        container_format: req.container_format,
        min_disk: req.min_disk,
        min_ram: req.min_ram,
        size: None,
        virtual_size: None,
        checksum: None,
        os_hash_algo: None,
        os_hash_value: None,
        properties: req
            .properties
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
        tags: req.tags,
        created_at: now.clone(),
        updated_at: now,
    }
}

/// The image service. Cloning is cheap; clones share state.
#[derive(Clone)]
pub(crate) struct ImageService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    files: ImageFiles,
    config: ImageSection,
}

/// Attributes the server owns; a client setting one gets 403 as from Glance.
const READ_ONLY: &[&str] = &[
    "status",
    "checksum",
    "size",
    "virtual_size",
    "created_at",
    "updated_at",
    "file",
    "self",
    "schema",
    "direct_url",
    "locations",
    "os_hash_algo",
    "os_hash_value",
    "deleted",
    "deleted_at",
    "stores",
];

impl ImageService {
    pub(crate) fn new(db: Db, files: ImageFiles, config: ImageSection) -> ImageService {
        ImageService {
            inner: Arc::new(Inner { db, files, config }),
        }
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.inner.db.read(f).await
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.inner.db.write(f).await
    }

    /// Loads an image the caller may see; anything else is a 404, so private
    /// images of other projects are not even confirmed to exist.
    async fn visible_image(&self, ctx: &RequestContext, id: String) -> ApiResult<Image> {
        let project = ctx.project_id().map(str::to_owned);
        let admin = ctx.allowed(crate::http::policy::IMAGE_ADMIN_CONTEXT);
        self.read(move |c| {
            let image = store::image_get(c, &id)?.ok_or_else(|| store::not_found(&id))?;
            if admin || can_see(c, &image, project.as_deref())? {
                Ok(image)
            } else {
                Err(store::not_found(&id))
            }
        })
        .await
    }

    /// Loads an image the caller may change: admin, or a member of the owning project.
    async fn owned_image(&self, ctx: &RequestContext, id: String) -> ApiResult<Image> {
        let image = self.visible_image(ctx, id).await?;
        check_owner(ctx, &image)?;
        Ok(image)
    }

    // --- images -------------------------------------------------------------------

    /// `POST /v2/images` (Image API v2: Create image): a queued record.
    pub(crate) async fn image_create(
        &self,
        ctx: &RequestContext,
        req: ImageCreate,
    ) -> ApiResult<Image> {
        let project = image_create_allowed(ctx)?;
        req.authorize(ctx)?;
        let image = new_image(project, req);
        let quota = self.inner.config.quota_images;
        self.write(move |c| {
            let owner = image.owner.clone().unwrap_or_default();
            let (count, _) = store::project_usage(c, &owner)?;
            if quota >= 0 && count >= quota {
                return Err(ApiError::OverQuota(format!(
                    "Image count quota exceeded: the project may own at most {quota} images."
                )));
            }
            store::image_insert(c, &image)?;
            Ok(image)
        })
        .await
    }

    /// Where an active image's bytes live (the compute service builds disks from it).
    pub(crate) fn file_path(&self, id: &str) -> std::path::PathBuf {
        self.inner.files.path(id)
    }

    /// `GET /v2/images/{id}`.
    pub(crate) async fn image_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Image> {
        self.visible_image(ctx, id).await
    }

    /// `PATCH /v2/images/{id}` with a JSON patch.
    pub(crate) async fn image_update(
        &self,
        ctx: &RequestContext,
        id: String,
        ops: Vec<patch::PatchOp>,
    ) -> ApiResult<Image> {
        let image = self.owned_image(ctx, id).await?;
        let mut updated = image.clone();
        for op in ops {
            patch::apply(ctx, &mut updated, op)?;
        }
        updated.updated_at = store::now();
        self.write(move |c| {
            let current =
                store::image_get(c, &updated.id)?.ok_or_else(|| store::not_found(&updated.id))?;
            // Data-related fields may have moved on (an upload finished) since we read.
            updated.status = current.status;
            updated.size = current.size;
            updated.virtual_size = current.virtual_size;
            updated.checksum = current.checksum;
            updated.os_hash_algo = current.os_hash_algo;
            updated.os_hash_value = current.os_hash_value;
            store::image_update(c, &updated)?;
            Ok(updated)
        })
        .await
    }

    /// `DELETE /v2/images/{id}`.
    pub(crate) async fn image_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        let image = self.owned_image(ctx, id.clone()).await?;
        if image.protected {
            return Err(ApiError::Forbidden(format!(
                "Image {id} is protected and cannot be deleted."
            )));
        }
        self.write(move |c| store::image_delete(c, &id)).await?;
        self.inner.files.remove(&image.id).await;
        Ok(())
    }

    /// `POST /v2/images/{id}/actions/{deactivate|reactivate}`.
    pub(crate) async fn image_set_active(
        &self,
        ctx: &RequestContext,
        id: String,
        active: bool,
    ) -> ApiResult<()> {
        self.owned_image(ctx, id.clone()).await?;
        let to = if active {
            ImageStatus::Active
        } else {
            ImageStatus::Deactivated
        };
        self.write(move |c| {
            let mut image = store::image_get(c, &id)?.ok_or_else(|| store::not_found(&id))?;
            image.status = image.status.transition(to).map_err(|_| {
                ApiError::Forbidden(format!(
                    "Not allowed to {} image in status '{}'",
                    if active { "reactivate" } else { "deactivate" },
                    image.status
                ))
            })?;
            image.updated_at = store::now();
            store::image_update(c, &image)
        })
        .await
    }

    /// `PUT|DELETE /v2/images/{id}/tags/{tag}`.
    pub(crate) async fn image_tag(
        &self,
        ctx: &RequestContext,
        id: String,
        tag: String,
        add: bool,
    ) -> ApiResult<()> {
        self.owned_image(ctx, id.clone()).await?;
        if tag.is_empty() || tag.len() > 255 {
            return Err(ApiError::bad_request("A tag must be 1 to 255 characters."));
        }
        self.write(move |c| {
            let mut image = store::image_get(c, &id)?.ok_or_else(|| store::not_found(&id))?;
            let present = image.tags.contains(&tag);
            match (add, present) {
                (true, false) => image.tags.push(tag),
                (false, true) => image.tags.retain(|t| *t != tag),
                (true, true) => return Ok(()),
                (false, false) => {
                    return Err(ApiError::Missing(format!(
                        "Tag {tag} not found on image {id}."
                    )));
                }
            }
            image.updated_at = store::now();
            store::image_update(c, &image)
        })
        .await
    }

    // --- data ---------------------------------------------------------------------

    /// Bytes the owner may still store: quota minus usage, and never above the cap.
    async fn upload_limit(&self, owner: String, image_id: String) -> ApiResult<i64> {
        let cap = self.inner.config.size_cap;
        let quota = self.inner.config.quota_bytes;
        let (_, used) = self
            .read(move |c| {
                let (n, bytes) = store::project_usage(c, &owner)?;
                let own = store::image_get(c, &image_id)?
                    .and_then(|i| i.size)
                    .unwrap_or(0);
                Ok((n, bytes - own))
            })
            .await?;
        Ok(if quota < 0 {
            cap
        } else {
            cap.min(quota - used).max(0)
        })
    }

    /// Moves an image through a status change inside one transaction.
    async fn move_status(&self, id: String, to: ImageStatus) -> ApiResult<Image> {
        self.write(move |c| {
            let mut image = store::image_get(c, &id)?.ok_or_else(|| store::not_found(&id))?;
            image.status = image.status.transition(to)?;
            image.updated_at = store::now();
            store::image_update(c, &image)?;
            Ok(image)
        })
        .await
    }

    /// `PUT /v2/images/{id}/file`: queued -> saving -> active, or back to queued on
    /// any failure. The status is persisted before the bytes flow, so a crash leaves
    /// `saving`, which start-up turns back into `queued`.
    pub(crate) async fn image_upload(
        &self,
        ctx: &RequestContext,
        id: String,
        body: ByteStream,
    ) -> ApiResult<()> {
        let image = self.owned_image(ctx, id.clone()).await?;
        if image.disk_format.is_none() || image.container_format.is_none() {
            return Err(ApiError::bad_request(
                "Properties disk_format, container_format must be set prior to saving data.",
            ));
        }
        if image.status == ImageStatus::Deactivated {
            return Err(ApiError::Forbidden(
                "Image upload is not allowed for deactivated images.".into(),
            ));
        }
        let limit = self
            .upload_limit(image.owner.clone().unwrap_or_default(), id.clone())
            .await?;
        self.move_status(id.clone(), ImageStatus::Saving).await?;
        let dest = self.inner.files.path(&id);
        let outcome = match self.inner.files.receive(&id, body, &dest, limit).await {
            Ok(received) => check_format(&image, &received.detected).map(|()| received),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(received) => {
                self.finish_data(id, received.data, ImageStatus::Active)
                    .await
            }
            Err(e) => {
                self.inner.files.remove(&id).await;
                self.move_status(id.clone(), ImageStatus::Queued)
                    .await
                    .or_log(
                        &id,
                        "putting the image back to queued after a failed upload",
                    );
                Err(e)
            }
        }
    }

    /// Records the data of an upload or import and activates the image; if the image
    /// was deleted meanwhile, its file goes too.
    async fn finish_data(&self, id: String, data: ImageData, to: ImageStatus) -> ApiResult<()> {
        let image_id = id.clone();
        let done = self
            .write(move |c| {
                let Some(mut image) = store::image_get(c, &id)? else {
                    return Ok(false);
                };
                image.status = image.status.transition(to)?;
                image.size = Some(data.size);
                image.virtual_size = Some(data.virtual_size);
                image.checksum = Some(data.checksum);
                image.os_hash_algo = Some(HASH_ALGO.into());
                image.os_hash_value = Some(data.os_hash_value);
                image.updated_at = store::now();
                store::image_update(c, &image)?;
                Ok(true)
            })
            .await;
        if !matches!(done, Ok(true)) {
            // Deleted while uploading, or the record failed: no file without a record.
            self.inner.files.remove(&image_id).await;
        }
        match done {
            Ok(true) => Ok(()),
            Ok(false) => Err(store::not_found(&image_id)),
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/images/{id}/file`: `None` when the image has no data (Glance's 204).
    pub(crate) async fn image_download(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Option<(Image, std::path::PathBuf)>> {
        let image = self.visible_image(ctx, id).await?;
        match image.status {
            ImageStatus::Active => {}
            ImageStatus::Deactivated if ctx.allowed(crate::http::policy::IMAGE_ADMIN_CONTEXT) => {}
            ImageStatus::Deactivated => {
                return Err(ApiError::Forbidden(
                    "The requested image has been deactivated. Image data download is forbidden."
                        .into(),
                ));
            }
            _ => return Ok(None),
        }
        let path = self.inner.files.path(&image.id);
        Ok(Some((image, path)))
    }

    /// Usage and limits of the caller's project (`GET /v2/info/usage`).
    pub(crate) async fn usage(&self, ctx: &RequestContext) -> ApiResult<(i64, i64, i64, i64)> {
        let project = ctx.project_id().ok_or_else(ApiError::forbidden)?.to_owned();
        let (count, bytes) = self
            .read(move |c| store::project_usage(c, &project))
            .await?;
        Ok((
            count,
            self.inner.config.quota_images,
            bytes,
            self.inner.config.quota_bytes,
        ))
    }

    /// Start-up recovery: uploads cut by a crash go back to `queued` (their partial
    /// files are removed), interrupted imports are resumed.
    pub(crate) fn recover(&self) -> anyhow::Result<Vec<String>> {
        let swept = self.inner.files.sweep_temps();
        if swept > 0 {
            tracing::info!(files = swept, "removed partial image uploads");
        }
        let files = self.inner.files.clone();
        let resumable = self.inner.db.write_blocking(|c| -> ApiResult<Vec<String>> {
            for status in [ImageStatus::Saving, ImageStatus::Uploading] {
                for mut image in store::images_in_status(c, status)? {
                    tracing::warn!(image = %image.id, %status, "upload was interrupted; image is queued again");
                    crate::fsutil::discard(files.path(&image.id));
                    crate::fsutil::discard(files.staging_path(&image.id));
                    image.status = ImageStatus::Queued;
                    image.updated_at = store::now();
                    store::image_update(c, &image)?;
                }
            }
            Ok(store::images_in_status(c, ImageStatus::Importing)?.into_iter().map(|i| i.id).collect())
        })?;
        Ok(resumable)
    }
}

/// Whether a project may see an image: public, community, its own, or shared with it.
fn can_see(c: &Connection, image: &Image, project: Option<&str>) -> ApiResult<bool> {
    if matches!(image.visibility.as_str(), "public" | "community") {
        return Ok(true);
    }
    let Some(project) = project else {
        return Ok(false);
    };
    if image.owner.as_deref() == Some(project) {
        return Ok(true);
    }
    Ok(image.visibility == "shared" && store::member_get(c, &image.id, project)?.is_some())
}

fn check_owner(ctx: &RequestContext, image: &Image) -> ApiResult<()> {
    match image.owner.as_deref() {
        Some(owner) => policy::IMAGE_WRITE.enforce(ctx, Some(owner)),
        // An image no project owns is the administrator's.
        None => policy::ADMIN.enforce(ctx, None),
    }
}

fn check_format(image: &Image, detected: &format::Detected) -> ApiResult<()> {
    if let Some(reason) = &detected.unsafe_reason {
        return Err(ApiError::bad_request(format!("Image rejected: {reason}.")));
    }
    let declared = image.disk_format.as_deref().unwrap_or("raw");
    if !format::matches_declared(declared, detected) {
        return Err(ApiError::bad_request(format!(
            "Image format mismatch: disk_format is {declared} but the data is {}.",
            detected.format
        )));
    }
    Ok(())
}

impl ImageService {
    /// Whether any image a server could boot from is active (kernel and ramdisk
    /// images alone are not).
    pub(crate) async fn has_bootable_image(&self) -> ApiResult<bool> {
        self.read(|c| {
            Ok(store::image_list(c)?.iter().any(|i| {
                i.status == ImageStatus::Active
                    && !matches!(i.disk_format.as_deref(), Some("aki" | "ari") | None)
            }))
        })
        .await
    }

    /// Registers the profile's bootstrap image as a public image owned by `owner`,
    /// once (DevStack's CirrOS). When the profile also names a kernel and a ramdisk
    /// file, they are registered first as their own `aki`/`ari` images and the disk
    /// image carries their ids in `kernel_id`/`ramdisk_id` (DevStack's AMI-style
    /// CirrOS): Nova then boots the kernel directly, which under QEMU emulation reaches
    /// the guest's ready line several times faster than a firmware disk boot.
    /// Returns the disk image's id when this call imported it.
    pub(crate) async fn register_bootstrap_image(
        &self,
        owner: String,
    ) -> ApiResult<Option<String>> {
        let cfg = self.inner.config.clone();
        if cfg.bootstrap_image.is_empty() || !Path::new(&cfg.bootstrap_image).is_file() {
            return Ok(None);
        }
        let mut properties = Map::new();
        for (file, suffix, format, key) in [
            (&cfg.bootstrap_kernel, "kernel", "aki", "kernel_id"),
            (&cfg.bootstrap_ramdisk, "ramdisk", "ari", "ramdisk_id"),
        ] {
            if file.is_empty() || !Path::new(file).is_file() {
                continue;
            }
            let part = BootstrapFile {
                source: file.clone(),
                name: format!("{}-{suffix}", cfg.bootstrap_image_name),
                disk_format: format.into(),
                container_format: format.into(),
                min_ram: 0,
                min_disk: 0,
                properties: Map::new(),
            };
            let (id, _) = self.register_bootstrap_file(&owner, part).await?;
            properties.insert(key.into(), Value::String(id));
        }
        let disk = BootstrapFile {
            source: cfg.bootstrap_image.clone(),
            name: cfg.bootstrap_image_name.clone(),
            disk_format: cfg.bootstrap_image_format.clone(),
            container_format: "bare".into(),
            min_ram: cfg.bootstrap_image_min_ram,
            min_disk: cfg.bootstrap_image_min_disk,
            properties,
        };
        let (id, imported) = self.register_bootstrap_file(&owner, disk).await?;
        Ok(imported.then_some(id))
    }

    /// Imports one bootstrap file as a public image, unless an image from the same
    /// file exists already; an import a stopped first start left queued is resumed,
    /// as every interrupted step is. Returns the image's id and whether this call
    /// imported it.
    async fn register_bootstrap_file(
        &self,
        owner: &str,
        file: BootstrapFile,
    ) -> ApiResult<(String, bool)> {
        let source = file.source.clone();
        let source_path = file.source.clone();
        let existing = self
            .read(move |c| {
                Ok(store::image_list(c)?.into_iter().find(|i| {
                    i.properties.get(BOOTSTRAP_SOURCE).and_then(Value::as_str)
                        == Some(source.as_str())
                }))
            })
            .await?;
        let image = match existing {
            Some(mut image) if image.status == ImageStatus::Queued => {
                tracing::info!(image = %image.id, "resuming the interrupted bootstrap image import");
                image.status = ImageStatus::Saving;
                image.updated_at = store::now();
                let record = image.clone();
                self.write(move |c| store::image_update(c, &record)).await?;
                image
            }
            Some(image) => return Ok((image.id, false)),
            None => {
                let image = file.record(owner);
                let record = image.clone();
                self.write(move |c| store::image_insert(c, &record)).await?;
                image
            }
        };
        let id = image.id.clone();
        let data = tokio::fs::File::open(&source_path)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        let body = crate::bytestream::from_reader(data);
        let dest = self.inner.files.path(&id);
        let received = self
            .inner
            .files
            .receive(&id, body, &dest, self.inner.config.size_cap)
            .await;
        match received.and_then(|r| check_format(&image, &r.detected).map(|()| r)) {
            Ok(r) => {
                self.finish_data(id.clone(), r.data, ImageStatus::Active)
                    .await?
            }
            Err(e) => {
                self.inner.files.remove(&id).await;
                self.write({
                    let id = id.clone();
                    move |c| store::image_delete(c, &id)
                })
                .await?;
                return Err(e);
            }
        }
        Ok((id, true))
    }
}

/// A local file the profile asks to be registered as a public image at start.
struct BootstrapFile {
    source: String,
    name: String,
    disk_format: String,
    container_format: String,
    min_ram: i64,
    min_disk: i64,
    properties: Map<String, Value>,
}

impl BootstrapFile {
    /// The image's row, before its data is imported.
    fn record(self, owner: &str) -> Image {
        let now = store::now();
        let mut properties = self.properties;
        properties.insert(BOOTSTRAP_SOURCE.into(), Value::String(self.source));
        Image {
            id: uuid::Uuid::new_v4().to_string(),
            name: Some(self.name),
            owner: Some(owner.to_owned()),
            status: ImageStatus::Saving,
            visibility: "public".into(),
            protected: false,
            os_hidden: false,
            disk_format: Some(self.disk_format),
            container_format: Some(self.container_format),
            min_disk: self.min_disk,
            min_ram: self.min_ram,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            properties,
            tags: vec![],
            created_at: now.clone(),
            updated_at: now,
        }
    }
}

/// Property marking the image registered from the profile's `bootstrap_image`.
const BOOTSTRAP_SOURCE: &str = "onestack_bootstrap_source";
