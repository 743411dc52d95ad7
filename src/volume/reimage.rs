//! `os-reimage` (Block Storage API 3.68, "Reimage a volume"): a volume's data is
//! replaced by an image's, as Nova asks when it rebuilds a volume-backed server
//! (compute 2.93). The volume goes `downloading` with a `Reimage` task that
//! `tasks::run_task` runs (and `recover` finishes after a crash), then returns to
//! the status it had with the image's `volume_image_metadata`; the servers it is
//! attached to get `volume-reimaged`, as Cinder sends Nova that external event.

use super::model::{Event, Task, VolumeStatus};
use super::volumes::{image_metadata, transition_tx, visible_tx};
use super::{VolumeService, may_change, sql, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

impl VolumeService {
    /// `POST /volumes/{id}/action {"os-reimage": {...}}`: 202 once the volume is
    /// `downloading`. Cinder's 400s: a status other than available or error (or
    /// reserved with `reimage_reserved`), an unknown or inactive image, an image
    /// larger than the volume. `reimage_reserved` is for the compute service
    /// (admin or the `service` role).
    pub(crate) async fn volume_reimage(
        &self,
        ctx: &RequestContext,
        id: String,
        image_id: String,
        reimage_reserved: bool,
    ) -> ApiResult<()> {
        if reimage_reserved && !ctx.allowed(crate::http::policy::VOLUME_REIMAGE_RESERVED) {
            return Err(ApiError::Forbidden(
                "Policy doesn't allow volume_extension:volume_actions:reimage_reserved to be performed."
                    .into(),
            ));
        }
        self.reimage_begin(ctx, id, image_id, reimage_reserved)
            .await
    }

    /// The compute service's reimage of a server's root volume, which it has
    /// taken to `reserved` (`guest_reimage_reserve`) with the server's owner's
    /// context: Nova calls Cinder with `reimage_reserved` and a service token.
    pub(crate) async fn guest_reimage(
        &self,
        ctx: &RequestContext,
        volume_id: String,
        image_id: String,
    ) -> ApiResult<()> {
        self.reimage_begin(ctx, volume_id, image_id, true).await
    }

    async fn reimage_begin(
        &self,
        ctx: &RequestContext,
        id: String,
        image_id: String,
        reserved: bool,
    ) -> ApiResult<()> {
        let v = self.volume_get(ctx, id.clone()).await?;
        may_change(ctx, &v.project_id)?;
        check_status(&v.id, v.status, reserved)?;
        let image = self.reimage_image(ctx, &image_id, v.size).await?;
        let task = Task::Reimage {
            image_id: image.id.clone(),
            format: image.disk_format.clone().unwrap_or_else(|| "raw".into()),
            previous: String::new(),
            image_metadata: image_metadata(&image),
        };
        let ctx2 = ctx.clone();
        let vid = id.clone();
        self.write(move |c| {
            let v = visible_tx(c, &ctx2, &vid)?;
            check_status(&v.id, v.status, reserved)?;
            let task = match task {
                Task::Reimage {
                    image_id,
                    format,
                    image_metadata,
                    ..
                } => Task::Reimage {
                    image_id,
                    format,
                    previous: v.status.as_str().to_owned(),
                    image_metadata,
                },
                other => other,
            };
            transition_tx(c, &v, Event::ReimageStart { reserved }, Some(&task))?;
            Ok(())
        })
        .await?;
        tracing::info!(volume = %id, image = %image_id, "volume reimage accepted");
        self.spawn_task(id);
        Ok(())
    }

    /// The image a reimage writes: Cinder's `check_image_metadata` refusals.
    async fn reimage_image(
        &self,
        ctx: &RequestContext,
        image_id: &str,
        size: i64,
    ) -> ApiResult<crate::image::model::Image> {
        let images =
            self.inner.image.as_ref().ok_or_else(|| {
                ApiError::bad_request("Invalid input received: no image service.")
            })?;
        let i = match images.image_get(ctx, image_id.to_owned()).await {
            Ok(i) => i,
            Err(ApiError::Internal(e)) => return Err(ApiError::Internal(e)),
            Err(_) => {
                return Err(ApiError::Missing(format!(
                    "Image {image_id} could not be found."
                )));
            }
        };
        if i.status != crate::image::model::ImageStatus::Active {
            return Err(ApiError::bad_request(format!(
                "Image {} is unacceptable: status is {}",
                i.id,
                i.status.as_str()
            )));
        }
        let bytes = i.virtual_size.or(i.size).unwrap_or(0);
        let needed = (bytes + (1 << 30) - 1) / (1 << 30);
        if needed > size {
            return Err(ApiError::bad_request(format!(
                "Image {} is unacceptable: Image virtual size is {needed}GB and doesn't fit in a volume of size {size}GB.",
                i.id
            )));
        }
        if i.min_disk > size {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Volume size {size}GB cannot be smaller than the image minDisk size {}GB.",
                i.min_disk
            )));
        }
        Ok(i)
    }

    /// Step 1 of a volume-backed rebuild: the server's attachment of its root
    /// volume goes back to `reserved` (no connector), and so does the volume, as
    /// Nova's new attachment does before it deletes the old one. Already
    /// reserved (a rebuild resumed after a crash): nothing changes.
    pub(crate) async fn guest_reimage_reserve(
        &self,
        volume_id: String,
        instance: String,
    ) -> ApiResult<String> {
        self.write(move |c| {
            let v = store::volume_get(c, &volume_id)
                .map_err(sql)?
                .ok_or_else(|| super::volume_not_found(&volume_id))?;
            let mut a = v
                .attachments
                .iter()
                .find(|a| a.instance_uuid.as_deref() == Some(instance.as_str()))
                .cloned()
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid volume: Volume {volume_id} is not attached to {instance}."
                    ))
                })?;
            if v.attachments.len() > 1 {
                return Err(ApiError::bad_request(format!(
                    "Invalid volume: Volume {volume_id} has other attachments and cannot be reimaged."
                )));
            }
            if v.status == VolumeStatus::Downloading {
                // A reimage is under way (resumed at start): the caller waits for it.
                return Ok(a.id);
            }
            if a.status != "reserved" {
                a.status = "reserved".into();
                store::attachment_update(c, &a).map_err(sql)?;
            }
            super::attachments::move_volume(c, &v, Event::ReimageReserve)?;
            Ok(a.id)
        })
        .await
    }

    /// Tells the compute service that a volume was reimaged (or failed to be),
    /// once per server it is attached to.
    pub(super) async fn notify_reimaged(&self, id: &str, ok: bool) {
        let Some(compute) = self.inner.compute.get().cloned() else {
            return;
        };
        let vid = id.to_owned();
        let attachments = self
            .read(move |c| store::attachments_of_volume(c, &vid).map_err(sql))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(volume = %id, error = %e, "reading the attachments of a reimaged volume");
                Vec::new()
            });
        for server in attachments.into_iter().filter_map(|a| a.instance_uuid) {
            compute.volume_reimaged(server, id.to_owned(), ok).await;
        }
    }
}

/// Cinder's refusal of a reimage in the wrong status (400).
fn check_status(id: &str, status: VolumeStatus, reserved: bool) -> ApiResult<()> {
    if status.transition(Event::ReimageStart { reserved }).is_ok() {
        return Ok(());
    }
    let statuses = if reserved {
        "available or error or reserved"
    } else {
        "available or error"
    };
    Err(ApiError::bad_request(format!(
        "Invalid volume: Volume {id} status must be {statuses}, but current status is {}.",
        status.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reimage_takes_available_error_and_reserved_only_when_asked() {
        assert!(check_status("v", VolumeStatus::Available, false).is_ok());
        assert!(check_status("v", VolumeStatus::Error, false).is_ok());
        let e = check_status("v", VolumeStatus::Reserved, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid volume: Volume v status must be available or error, but current status is reserved."
        );
        assert!(check_status("v", VolumeStatus::Reserved, true).is_ok());
        assert!(check_status("v", VolumeStatus::InUse, true).is_err());
        assert!(check_status("v", VolumeStatus::Downloading, true).is_err());
    }

    #[test]
    fn a_reimage_returns_to_the_status_it_left() {
        let s = VolumeStatus::Reserved
            .transition(Event::ReimageStart { reserved: true })
            .unwrap();
        assert_eq!(s, VolumeStatus::Downloading);
        assert_eq!(
            s.transition(Event::Reimaged {
                back_to: VolumeStatus::Reserved
            }),
            Ok(VolumeStatus::Reserved)
        );
        assert_eq!(s.transition(Event::ReimageFailed), Ok(VolumeStatus::Error));
    }
}
