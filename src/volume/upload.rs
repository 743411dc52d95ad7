//! `os-volume_upload_image`: a volume's data becomes a Glance image. The image
//! record is made (queued) through the image service, the volume moves to
//! `uploading` with an `Upload` task in one transaction, then the data is
//! converted (`qemu-img convert`) and uploaded; the volume returns to `available`
//! (or `in-use`) whatever the outcome, and a failed upload's image is removed.
//! After a crash the task runs again: the image service has put the half-uploaded
//! image back to `queued`, so the upload starts over.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::model::{Event, Task, Volume, VolumeStatus};
use super::{VolumeService, may_change, sees, sql, store, volume_not_found};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::logged::OrLog;

/// What Cinder accepts for the image's disk format.
const DISK_FORMATS: &[&str] = &["raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx"];
const CONTAINER_FORMATS: &[&str] = &["bare", "ovf", "ova", "compressed"];

/// The request, as the API validated its types.
#[derive(Debug)]
pub(crate) struct UploadRequest {
    pub image_name: String,
    pub force: bool,
    pub disk_format: String,
    pub container_format: String,
    pub visibility: Option<String>,
    pub protected: bool,
}

/// An admin acting inside the volume's project, for the upload the volume service
/// finishes on its own (also after a restart, when the caller's token is gone).
fn service_context(project_id: &str) -> RequestContext {
    RequestContext::internal(project_id, project_id, chrono::Duration::hours(1))
}

/// The disk and container formats Cinder accepts for the image.
fn check_formats(req: &UploadRequest) -> ApiResult<()> {
    if !DISK_FORMATS.contains(&req.disk_format.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Invalid disk-format '{}' is specified. Allowed disk-formats are {}.",
            req.disk_format,
            DISK_FORMATS.join(", ")
        )));
    }
    if !CONTAINER_FORMATS.contains(&req.container_format.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Invalid container-format '{}' is specified.",
            req.container_format
        )));
    }
    Ok(())
}

/// The new image's request. The volume's image metadata travels back to Glance
/// as properties, as Cinder copies the Glance metadata (not the ones Glance owns).
fn image_request(req: &UploadRequest, v: &Volume) -> crate::image::ImageCreate {
    let mut image = crate::image::ImageCreate {
        disk_format: Some(req.disk_format.clone()),
        container_format: Some(req.container_format.clone()),
        protected: req.protected,
        ..Default::default()
    };
    let mut chosen = BTreeMap::from([("name".to_owned(), req.image_name.clone())]);
    if let Some(vis) = &req.visibility {
        chosen.insert("visibility".into(), vis.clone());
    }
    chosen.extend(
        v.image_metadata
            .iter()
            .filter(|(k, _)| !crate::image::GLANCE_OWN_METADATA.contains(&k.as_str()))
            .map(|(k, val)| (k.clone(), val.clone())),
    );
    image.set_all(chosen);
    image
}

impl VolumeService {
    pub(crate) async fn volume_upload_image(
        &self,
        ctx: &RequestContext,
        id: String,
        req: UploadRequest,
    ) -> ApiResult<Value> {
        check_formats(&req)?;
        let images =
            self.inner.image.clone().ok_or_else(|| {
                ApiError::bad_request("Invalid input received: no image service.")
            })?;
        // Checked before the image record exists, and again in the transaction.
        let v = self.volume_get(ctx, id.clone()).await?;
        may_change(ctx, &v.project_id)?;
        v.status
            .transition(Event::UploadStart { force: req.force })
            .map_err(|r| ApiError::bad_request(r.to_string()))?;
        let image = images.image_create(ctx, image_request(&req, &v)).await?;
        let image_id = image.id.clone();
        let v = match self.upload_start(ctx, &id, &image_id, &req).await {
            Ok(v) => v,
            Err(e) => {
                images
                    .image_delete(ctx, image_id.clone())
                    .await
                    .or_log(&image_id, "deleting the image of a failed upload");
                return Err(e);
            }
        };
        tracing::info!(volume = %id, image = %image_id, "volume upload to image accepted");
        self.spawn_task(id.clone());
        Ok(json!({
            "id": v.id,
            "updated_at": v.updated_at,
            "status": VolumeStatus::Uploading.as_str(),
            "display_description": v.description,
            "size": v.size,
            "volume_type": {"id": v.type_id, "name": v.type_name},
            "image_id": image_id,
            "container_format": req.container_format,
            "disk_format": req.disk_format,
            "image_name": req.image_name,
            "protected": req.protected,
            "visibility": req.visibility.unwrap_or_else(|| "shared".into()),
        }))
    }

    /// Moves the volume to `uploading` with its `Upload` task, in one
    /// transaction; the volume as it was.
    async fn upload_start(
        &self,
        ctx: &RequestContext,
        id: &str,
        image_id: &str,
        req: &UploadRequest,
    ) -> ApiResult<Volume> {
        let ctx = ctx.clone();
        let (vid, iid, fmt) = (id.to_owned(), image_id.to_owned(), req.disk_format.clone());
        let force = req.force;
        self.write(move |c| {
            let v = match store::volume_get(c, &vid).map_err(sql)? {
                Some(v) if sees(&ctx, &v.project_id) => v,
                _ => return Err(volume_not_found(&vid)),
            };
            let to = v
                .status
                .transition(Event::UploadStart { force })
                .map_err(|r| ApiError::bad_request(r.to_string()))?;
            let task = Task::Upload {
                image_id: iid,
                disk_format: fmt,
            };
            store::volume_set_state(c, &v.id, to, Some(&task), None).map_err(sql)?;
            Ok(v)
        })
        .await
    }

    /// The `Upload` task's work: convert and upload; the caller records the outcome.
    pub(super) async fn run_upload(
        &self,
        volume_id: &str,
        project_id: &str,
        image_id: &str,
        disk_format: &str,
    ) -> Result<(), String> {
        let images = self.inner.image.clone().ok_or("no image service")?;
        let source = self.inner.backend.local_path(volume_id);
        let tmp = self
            .inner
            .backup_dir
            .join(format!("upload-{volume_id}.tmp"));
        let out = tokio::process::Command::new("qemu-img")
            .args(["convert", "-U", "-q", "-f", "raw", "-O", disk_format])
            .arg(&source)
            .arg(&tmp)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| format!("qemu-img: {e}"))?;
        if !out.status.success() {
            crate::fsutil::discard_async(&tmp).await;
            return Err(format!(
                "qemu-img convert of the volume failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let ctx = service_context(project_id);
        let uploaded = match tokio::fs::File::open(&tmp).await {
            Ok(file) => {
                let body = crate::bytestream::from_reader(file);
                images
                    .image_upload(&ctx, image_id.to_owned(), body)
                    .await
                    .map_err(|e| format!("image upload failed: {e}"))
            }
            Err(e) => Err(format!("reading the converted volume: {e}")),
        };
        crate::fsutil::discard_async(&tmp).await;
        if uploaded.is_err() {
            images
                .image_delete(&ctx, image_id.to_owned())
                .await
                .or_log(image_id, "deleting the image of a failed upload");
        }
        uploaded
    }
}
