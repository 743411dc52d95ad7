//! Rebuilding a volume-backed server (api-ref: compute "Rebuild Server", 2.93):
//! Nova rewrites the root volume through block storage's `os-reimage` instead
//! of making a local disk. The steps, each safe to run again after a crash (the
//! server keeps `rebuild_image_id` and `rebuild_block_device_mapping` until it
//! ends, and `recover` resumes it): the guest stops; the root volume's
//! attachment goes back to `reserved` (Nova's attachment swap); block storage
//! reimages it with `reimage_reserved` and answers with `volume-reimaged`; the
//! attachment is completed and the guest boots the new data.
//!
//! Below 2.93 Nova rebuilds a volume-backed server only with the image already
//! on its volume (the guest restarts, nothing is rewritten), and refuses another
//! image with 400.

use std::time::Duration;

use super::ComputeService;
use super::actions::{Rebuild, settle_rebuilt, virt};
use super::model::*;
use super::runtime::owner_context;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::volume::model::VolumeStatus;

/// Nova's `reimage_timeout_per_gb`: how long a rebuild waits for the volume
/// per GiB before it gives up (at least `REIMAGE_MIN_WAIT`).
const REIMAGE_TIMEOUT_PER_GB: Duration = Duration::from_secs(20);
const REIMAGE_MIN_WAIT: Duration = Duration::from_secs(120);

/// What the accepting transaction records for a volume-backed rebuild: Nova's
/// API saves the new attributes at once; the image goes to the volume, never to
/// the server (its `image` stays empty).
pub(super) fn accept(s: &mut Server, r: &Rebuild) {
    r.apply_to_record(s);
    r.apply_to_guest(s);
    if r.reimage {
        s.task_state = Some(TaskState::RebuildBlockDeviceMapping);
        s.rebuild_image_id = Some(r.image_id.clone());
    }
}

/// The work a restart resumes for a server stopped in a volume-backed rebuild.
pub(crate) fn resumable(s: &Server) -> Option<Rebuild> {
    (s.task_state == Some(TaskState::RebuildBlockDeviceMapping)).then(|| Rebuild {
        image_id: s.rebuild_image_id.clone().unwrap_or_default(),
        reimage: s.rebuild_image_id.is_some(),
        ..Rebuild::default()
    })
}

impl ComputeService {
    /// Decides how a rebuild of server `id` treats its root volume: from 2.93
    /// (`reimage_allowed`) it is reimaged; before, only the image already on
    /// the volume is accepted (Nova's `ImageUnacceptable`, 400). A server with
    /// a local root disk is left to the ordinary rebuild.
    pub(crate) async fn rebuild_volume_plan(
        &self,
        ctx: &RequestContext,
        id: &str,
        plan: &mut Rebuild,
        reimage_allowed: bool,
    ) -> ApiResult<()> {
        let s = self.server_get(ctx, id.to_owned()).await?;
        let Some(root) = s.boot_volume() else {
            return Ok(());
        };
        if reimage_allowed {
            plan.reimage = true;
            return Ok(());
        }
        let on_volume = match self.volume() {
            Ok(v) => v
                .volume_get(&owner_context(&s), root.volume_id.clone())
                .await
                .ok()
                .and_then(|v| v.image_metadata.get("image_id").cloned()),
            Err(_) => None,
        };
        if on_volume.as_deref() != Some(plan.image_id.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Image {} is unacceptable: Unable to rebuild with a different image for a volume-backed server.",
                plan.image_id
            )));
        }
        Ok(())
    }

    /// The rebuild of a volume-backed server, under its lock (`run_work`).
    pub(super) async fn rebuild_volume_backed(
        &self,
        s: &Server,
        r: &Rebuild,
        ctx: &RequestContext,
    ) -> ApiResult<()> {
        let root = s
            .boot_volume()
            .cloned()
            .ok_or_else(|| ApiError::bad_request("The server has no root volume."))?;
        let nics = self.server_nics(s).await?;
        let was_running = s.vm_state != VmState::Stopped;
        self.inner
            .hypervisor
            .destroy(&self.vm_spec(s, &nics))
            .await
            .map_err(virt)?;
        let image_id = if r.reimage {
            self.reimage_root(s, &root.volume_id, &r.image_id).await?;
            Some(r.image_id.clone())
        } else {
            None
        };
        let image = match &image_id {
            Some(i) => Some(self.inner.image.image_get(ctx, i.clone()).await?),
            None => None,
        };
        let rebuilt = self
            .mutate(&s.id, move |s| {
                s.task_state = Some(TaskState::RebuildSpawning);
                Ok(s.clone())
            })
            .await?;
        let power = self.relaunch_rebuilt(&rebuilt, &nics, was_running).await?;
        self.mutate(&s.id, move |s| {
            if let Some(i) = &image {
                s.image_properties = super::model::image_properties(&i.properties);
            }
            s.rebuild_image_id = None;
            settle_rebuilt(s, was_running, power);
            Ok(())
        })
        .await
    }

    /// Rewrites the root volume with `image_id` through block storage and
    /// waits for `volume-reimaged`; the attachment is completed again either
    /// way, so a failed reimage leaves the volume attached (in error).
    async fn reimage_root(&self, s: &Server, volume_id: &str, image_id: &str) -> ApiResult<()> {
        let vol = self.volume()?.clone();
        let owner = owner_context(s);
        let attachment = vol
            .guest_reimage_reserve(volume_id.to_owned(), s.id.clone())
            .await?;
        let woken = self.reimage_waiter(volume_id);
        let v = vol.volume_get(&owner, volume_id.to_owned()).await?;
        // Under way already: a reimage resumed by block storage's recovery.
        if v.status != VolumeStatus::Downloading {
            vol.guest_reimage(&owner, volume_id.to_owned(), image_id.to_owned())
                .await?;
        }
        let started = std::time::Instant::now();
        let limit = REIMAGE_MIN_WAIT.max(REIMAGE_TIMEOUT_PER_GB * v.size.max(1) as u32);
        let outcome = loop {
            tokio::select! {
                _ = woken.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let now = vol.volume_get(&owner, volume_id.to_owned()).await?;
            match now.status {
                VolumeStatus::Downloading if started.elapsed() < limit => continue,
                VolumeStatus::Downloading => {
                    break Err(ApiError::Internal(anyhow::anyhow!(
                        "Volume {volume_id} was not reimaged within {}s.",
                        limit.as_secs()
                    )));
                }
                VolumeStatus::Error => {
                    break Err(ApiError::Internal(anyhow::anyhow!(
                        "Failed to rebuild volume backed instance: volume {volume_id} failed to reimage: {}",
                        now.error_reason.unwrap_or_default()
                    )));
                }
                _ => break Ok(()),
            }
        };
        self.inner
            .reimaged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(volume_id);
        match &outcome {
            Ok(()) => {
                tracing::info!(server = %s.id, volume = volume_id, image = image_id,
                    ms = started.elapsed().as_millis() as u64, "root volume reimaged");
                vol.guest_attach_done(attachment).await?;
            }
            Err(e) => {
                tracing::warn!(server = %s.id, volume = volume_id, error = %e, "root volume reimage failed");
            }
        }
        outcome
    }

    fn reimage_waiter(&self, volume_id: &str) -> std::sync::Arc<tokio::sync::Notify> {
        self.inner
            .reimaged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(volume_id.to_owned())
            .or_default()
            .clone()
    }

    /// `volume-reimaged` (block storage's news, or the external event): wakes
    /// the rebuild waiting on the volume, if any.
    pub(crate) fn server_volume_reimaged(&self, server_id: &str, volume_id: &str, ok: bool) {
        tracing::info!(
            server = server_id,
            volume = volume_id,
            ok,
            "volume-reimaged"
        );
        if let Some(n) = self
            .inner
            .reimaged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(volume_id)
        {
            n.notify_one();
        }
    }
}
