//! Rescue, shelve and createBackup (Compute API: Servers - run an action). Each
//! step is written so that running it again after a crash finishes the job: the
//! image ids are stored on the server when the action is accepted, files are
//! replaced whole, and a restart re-runs an interrupted task (see `recover`).

use super::ComputeService;
use super::actions::{SHUTDOWN_GRACE, shown_power, virt};
use super::model::*;
use super::runtime::io_err;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::image::ListQuery;
use crate::logged::OrLog;
use crate::virt::PowerState;

impl ComputeService {
    /// Rescue: the guest is powered off, a fresh disk is made from the rescue
    /// image and booted first, the original disk attached second (so it can be
    /// repaired from the rescue system).
    pub(crate) async fn rescue(
        &self,
        s: &Server,
        image_id: &str,
        ctx: &RequestContext,
    ) -> ApiResult<()> {
        let image = self.inner.image.image_get(ctx, image_id.to_owned()).await?;
        let nics = self.server_nics(s).await?;
        let hv = &self.inner.hypervisor;
        hv.shutdown(&self.vm_spec(s, &nics), SHUTDOWN_GRACE)
            .await
            .map_err(virt)?;
        let p = self.paths(&s.id);
        crate::fsutil::discard_async(&p.rescue_disk).await;
        self.prepare_root_disk(s, &image, &p.rescue_disk).await?;
        let mut rescued = s.clone();
        rescued.vm_state = VmState::Rescued;
        let spec = self.vm_spec(&rescued, &nics);
        hv.launch(&spec).await.map_err(virt)?;
        let power = shown_power(hv.power_state(&spec).await.map_err(virt)?);
        self.mutate(&s.id, move |s| {
            s.vm_state = VmState::Rescued;
            s.task_state = None;
            s.power_state = power.code();
            s.fault = None;
            Ok(())
        })
        .await
    }

    /// Unrescue: the rescue VM and its disk go, the guest boots its own disk again.
    pub(crate) async fn unrescue(&self, s: &Server) -> ApiResult<()> {
        let nics = self.server_nics(s).await?;
        let hv = &self.inner.hypervisor;
        let mut rescued = s.clone();
        rescued.vm_state = VmState::Rescued;
        hv.destroy(&self.vm_spec(&rescued, &nics))
            .await
            .map_err(virt)?;
        let p = self.paths(&s.id);
        if let Err(e) = tokio::fs::remove_file(&p.rescue_disk).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(io_err(e));
        }
        let mut normal = s.clone();
        normal.vm_state = VmState::Active;
        let spec = self.vm_spec(&normal, &nics);
        hv.launch(&spec).await.map_err(virt)?;
        let power = shown_power(hv.power_state(&spec).await.map_err(virt)?);
        self.mutate(&s.id, move |s| {
            s.vm_state = VmState::Active;
            s.task_state = None;
            s.power_state = power.code();
            s.rescue_image_id = None;
            s.fault = None;
            Ok(())
        })
        .await
    }

    /// Shelve: clean power-off, the disk snapshotted into `image_id`
    /// (`<name>-shelved`), SHELVED; with `offload` the disk and claim are freed at
    /// once (SHELVED_OFFLOADED), as Nova does with `shelved_offload_time = 0`.
    pub(crate) async fn shelve(
        &self,
        s: &Server,
        image_id: &str,
        offload: bool,
        ctx: &RequestContext,
    ) -> ApiResult<()> {
        let nics = self.server_nics(s).await?;
        let hv = &self.inner.hypervisor;
        let spec = self.vm_spec(s, &nics);
        hv.shutdown(&spec, SHUTDOWN_GRACE).await.map_err(virt)?;
        let snapshot_done = {
            let id = image_id.to_owned();
            match self.inner.image.image_get(ctx, id).await {
                Ok(i) => i.status == crate::image::model::ImageStatus::Active,
                Err(_) => false,
            }
        };
        if !snapshot_done && let Err(e) = self.snapshot(s, image_id, ctx).await {
            // The snapshot is gone (snapshot deletes a failed upload): the server
            // stays where it was, powered off, with the failure as its fault.
            self.mutate(&s.id, |s| {
                s.shelved_image_id = None;
                Ok(())
            })
            .await
            .or_log(&s.id, "clearing the shelved image after a failed snapshot");
            return Err(e);
        }
        self.mutate(&s.id, move |s| {
            s.vm_state = VmState::Shelved;
            s.task_state = offload.then_some(TaskState::ShelvingOffloading);
            s.power_state = PowerState::Shutdown.code();
            s.fault = None;
            Ok(())
        })
        .await?;
        if offload {
            self.shelve_offload(s).await?;
        }
        Ok(())
    }

    /// shelveOffload: the VMM, the instance's disk and its Placement claim are
    /// freed; only the snapshot remains.
    pub(crate) async fn shelve_offload(&self, s: &Server) -> ApiResult<()> {
        let hv = &self.inner.hypervisor;
        hv.destroy(&self.vm_spec(s, &[])).await.map_err(virt)?;
        let p = self.paths(&s.id);
        for f in [&p.disk, &p.rescue_disk, &p.disk_before_resize] {
            if let Err(e) = tokio::fs::remove_file(f).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(io_err(e));
            }
        }
        self.inner.placement.release(&s.id).await?;
        self.mutate(&s.id, |s| {
            s.vm_state = VmState::ShelvedOffloaded;
            s.task_state = None;
            s.power_state = PowerState::NoState.code();
            Ok(())
        })
        .await
    }

    /// Unshelve: an offloaded server claims its flavor again and gets a disk from
    /// the shelve snapshot; then it boots and the snapshot is deleted.
    pub(crate) async fn unshelve(&self, s: &Server, ctx: &RequestContext) -> ApiResult<()> {
        let p = self.paths(&s.id);
        let snapshot = s.shelved_image_id.clone();
        if !p.disk.exists() {
            let image_id = snapshot.clone().ok_or_else(|| {
                ApiError::Conflict(format!("Instance {} has no shelved image.", s.id))
            })?;
            self.ensure_schedulable()
                .await
                .and(self.claim_flavor(s, &s.flavor).await)
                .map_err(|e| match e {
                    ApiError::Conflict(m) => {
                        ApiError::Conflict(format!("No valid host was found. {m}"))
                    }
                    other => other,
                })?;
            let image = self.inner.image.image_get(ctx, image_id).await?;
            tokio::fs::create_dir_all(&p.dir).await.map_err(io_err)?;
            self.prepare_root_disk(s, &image, &p.disk).await?;
            if s.config_drive {
                self.write_config_drive(s).await?;
            }
        }
        let nics = self.server_nics(s).await?;
        let mut active = s.clone();
        active.vm_state = VmState::Active;
        let spec = self.vm_spec(&active, &nics);
        let hv = &self.inner.hypervisor;
        hv.launch(&spec).await.map_err(virt)?;
        let power = shown_power(hv.power_state(&spec).await.map_err(virt)?);
        self.mutate(&s.id, move |s| {
            s.vm_state = VmState::Active;
            s.task_state = None;
            s.power_state = power.code();
            s.shelved_image_id = None;
            s.fault = None;
            Ok(())
        })
        .await?;
        if let Some(id) = snapshot
            && let Err(e) = self.inner.image.image_delete(ctx, id.clone()).await
            && !matches!(e, ApiError::NotFound { .. })
        {
            tracing::warn!(server = s.id, image = id, error = %e, "could not delete the shelve snapshot");
        }
        Ok(())
    }

    /// createBackup's rotation: of this server's backups of `backup_type`, the
    /// newest `rotation` stay and the older ones are deleted (all of them with
    /// rotation 0), as Nova's `_rotate_backups`.
    pub(crate) async fn rotate_backups(
        &self,
        s: &Server,
        image_id: &str,
        backup_type: &str,
        rotation: u64,
        ctx: &RequestContext,
    ) -> ApiResult<()> {
        let q = ListQuery(vec![
            ("image_type".into(), "backup".into()),
            ("backup_type".into(), backup_type.to_owned()),
            ("instance_uuid".into(), s.id.clone()),
            ("sort_key".into(), "created_at".into()),
            ("sort_dir".into(), "desc".into()),
            ("limit".into(), "1000".into()),
        ]);
        let page = self.inner.image.image_list(ctx, q).await?;
        // The backup just made is the newest even when created_at ties.
        let mut ids: Vec<String> = page
            .images
            .into_iter()
            .map(|i| i.id)
            .filter(|i| i != image_id)
            .collect();
        ids.insert(0, image_id.to_owned());
        for old in ids.into_iter().skip(rotation as usize) {
            tracing::info!(server = s.id, image = old, "rotating out an old backup");
            if let Err(e) = self.inner.image.image_delete(ctx, old.clone()).await
                && !matches!(e, ApiError::NotFound { .. })
            {
                return Err(e);
            }
        }
        self.mutate(&s.id, |s| {
            s.task_state = None;
            Ok(())
        })
        .await
    }

    /// The work to re-run for a task a restart interrupted, when it is one that
    /// can be finished (rescue, shelve, unshelve); None otherwise.
    pub(crate) fn resumable(s: &Server) -> Option<super::actions::Work> {
        use super::actions::Work;
        match s.task_state? {
            TaskState::Rescuing => Some(Work::Rescue {
                image_id: s.rescue_image_id.clone()?,
            }),
            TaskState::Unrescuing => Some(Work::Unrescue),
            TaskState::Shelving | TaskState::ShelvingImageUploading => Some(Work::Shelve {
                image_id: s.shelved_image_id.clone()?,
                offload: true,
            }),
            TaskState::ShelvingOffloading => Some(Work::ShelveOffload),
            TaskState::Unshelving => Some(Work::Unshelve),
            TaskState::RebuildBlockDeviceMapping => {
                super::rebuild_volume::resumable(s).map(Work::Rebuild)
            }
            _ => None,
        }
    }
}

impl ComputeService {
    /// The zone and host an unshelve asks for (2.77 `availability_zone`, 2.91
    /// `host` and `availability_zone: null`), checked as Nova checks them, and the
    /// server's zone pin updated to match: a zone given pins the server there,
    /// null unpins it, absent leaves the pin. Both only apply to a shelved
    /// offloaded server (the others still sit on their host).
    pub(crate) async fn unshelve_target(
        &self,
        ctx: &RequestContext,
        id: String,
        zone: Option<Option<String>>,
        host: Option<String>,
    ) -> ApiResult<()> {
        if zone.is_none() && host.is_none() {
            return Ok(());
        }
        let s = self.server_get(ctx, id).await?;
        if s.vm_state != VmState::ShelvedOffloaded {
            return Err(ApiError::Conflict(format!(
                "Specifying an availability zone or a host when unshelving server \"{}\" with status \"{}\" is not supported. The server status must be SHELVED_OFFLOADED.",
                s.id,
                s.status()
            )));
        }
        let here = self.host_zone().await?;
        if let Some(Some(az)) = &zone
            && *az != here
        {
            return Err(ApiError::bad_request(
                "The requested availability zone is not available",
            ));
        }
        let expected = match &zone {
            Some(z) => z.clone(),
            None => s.pinned_availability_zone.clone(),
        };
        if let Some(h) = &host {
            crate::http::policy::COMPUTE_UNSHELVE_TO_HOST.enforce_named(ctx, None)?;
            if *h != self.config().host {
                return Err(ApiError::bad_request(format!(
                    "Compute host {h} could not be found."
                )));
            }
            if let Some(az) = &expected
                && *az != here
            {
                return Err(ApiError::Conflict(format!(
                    "Host \"{h}\" is not in the availability zone \"{az}\"."
                )));
            }
        }
        if let Some(pin) = zone {
            self.mutate(&s.id, move |s| {
                s.pinned_availability_zone = pin;
                Ok(())
            })
            .await?;
        }
        Ok(())
    }
}
