//! Volume attachments of a server (api-ref: compute "Servers with volume
//! attachments", `os-volume_attachments`): attach hot-plugs the volume into the
//! running guest, detach unplugs it once the guest released it, and every guest
//! (re)built afterwards — start, reboot, restart after a host reboot — gets its
//! attached volumes from `volume_disks`.
//!
//! The attachment record lives in block storage and moves in steps (attaching →
//! attached, detaching → gone), so a crash between plugging and recording is
//! settled by the volume service's recovery.

use super::model::{Server, VmState};
use super::servers::new_action;
use super::{ComputeService, may_change, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::virt::{DiskFormat, DiskKind, DiskSpec, PowerState, VirtError};
use crate::volume::VolumeService;
use crate::volume::attachments::GuestVolume;

/// The event of Nova's `extend_volume` action, as its compute manager names it.
const EVENT_EXTEND_VOLUME: &str = "compute_extend_volume";

/// One volume attached to a server, as os-volume_attachments shows it.
#[derive(Debug, Clone)]
pub(crate) struct ServerVolume {
    /// Nova's attachment id is the volume id.
    pub volume_id: String,
    pub server_id: String,
    pub device: String,
    pub attachment_id: String,
    pub delete_on_termination: bool,
}

fn server_volume(server: &Server, g: GuestVolume) -> ServerVolume {
    ServerVolume {
        delete_on_termination: server.delete_on_termination(&g.volume_id),
        volume_id: g.volume_id,
        server_id: server.id.clone(),
        device: g.device,
        attachment_id: g.attachment_id,
    }
}

fn disk_of(g: &GuestVolume) -> DiskSpec {
    DiskSpec {
        id: g.volume_id.clone(),
        path: g.path.clone(),
        format: DiskFormat::Raw,
        kind: DiskKind::Disk,
        read_only: g.read_only,
        iscsi: g.iscsi.clone(),
    }
}

/// Nova's 409 for an attach or detach in a state that does not allow it. From
/// microversion 2.20 (`shelved_ok`) a shelved or shelved-offloaded server takes
/// attaches and detaches too: they are recorded, and the guest gets its volumes
/// when it is unshelved (every guest is built with `volume_disks`).
fn check_state(s: &Server, op: &str, ctx: &RequestContext, shelved_ok: bool) -> ApiResult<()> {
    if s.locked && !ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT) {
        return Err(ApiError::Conflict(format!("Instance {} is locked", s.id)));
    }
    if let Some(t) = s.task_state {
        return Err(ApiError::Conflict(format!(
            "Cannot '{op}' instance {} while it is in task_state {}",
            s.id,
            t.as_str()
        )));
    }
    match s.vm_state {
        VmState::Active | VmState::Stopped | VmState::Paused | VmState::Resized => Ok(()),
        VmState::Shelved | VmState::ShelvedOffloaded if shelved_ok => Ok(()),
        vm => Err(ApiError::Conflict(format!(
            "Cannot '{op}' instance {} while it is in vm_state {}",
            s.id,
            vm.as_str()
        ))),
    }
}

fn hotplug_failed(what: &str, e: VirtError) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("{what}: {e}"))
}

impl ComputeService {
    /// Connects block storage (once, at start).
    pub(crate) fn set_volume(&self, volume: VolumeService) {
        volume.set_compute_events(std::sync::Arc::new(self.clone()));
        if self.inner.volume.set(volume).is_err() {
            tracing::warn!("block storage was connected to compute twice; the first stays");
        }
    }

    /// `volume-extended` (Nova's `extend_volume`): a running guest with the
    /// volume attached is told its new size (`bytes`; None: the volume's size
    /// as block storage records it). A stopped guest sees it when it starts.
    pub(crate) async fn server_volume_extended(
        &self,
        server_id: String,
        volume_id: String,
        bytes: Option<u64>,
    ) -> ApiResult<()> {
        let sid = server_id.clone();
        let s = self
            .read(move |c| store::server_get(c, &sid))
            .await?
            .ok_or_else(|| super::servers::server_not_found(&server_id))?;
        let bytes = match bytes {
            Some(b) => b,
            None => {
                let ctx = super::runtime::owner_context(&s);
                let v = self.volume()?.volume_get(&ctx, volume_id.clone()).await?;
                (v.size.max(0) as u64) << 30
            }
        };
        let lock = self.server_lock(&s.id);
        let _held = lock.lock().await;
        let nics = self.server_nics(&s).await?;
        let spec = self.vm_spec(&s, &nics);
        if !spec.disks.iter().any(|d| d.id == volume_id) {
            return Err(ApiError::Missing(format!(
                "Volume {volume_id} is not attached to instance {}",
                s.id
            )));
        }
        // Nova records the event as the server's `extend_volume` action.
        let request_id = format!("req-{}", uuid::Uuid::new_v4());
        let action = new_action(
            &s,
            "extend_volume",
            &request_id,
            &super::runtime::owner_context(&s),
        );
        self.write(move |c| store::action_put(c, &action)).await?;
        self.event_start(&s.id, &request_id, EVENT_EXTEND_VOLUME)
            .await?;
        let mut outcome = Ok(());
        if matches!(
            self.inner.hypervisor.power_state(&spec).await,
            Ok(PowerState::Running | PowerState::Paused)
        ) {
            outcome = self
                .inner
                .hypervisor
                .resize_disk(&spec, &volume_id, bytes)
                .await
                .map_err(|e| hotplug_failed("Failed to extend volume", e));
            if outcome.is_ok() {
                tracing::info!(server = %s.id, volume = %volume_id, bytes, "guest told of the volume's new size");
            }
        }
        let error = outcome.as_ref().err().map(ToString::to_string);
        self.event_finish(&s.id, &request_id, EVENT_EXTEND_VOLUME, error)
            .await?;
        outcome
    }

    pub(super) fn volume(&self) -> ApiResult<&VolumeService> {
        self.inner
            .volume
            .get()
            .ok_or_else(|| ApiError::NotImplemented("Block storage is not enabled.".into()))
    }

    /// The attached volumes a guest is built with (after its root disk).
    pub(crate) fn volume_disks(&self, server_id: &str) -> Vec<DiskSpec> {
        match self.inner.volume.get() {
            Some(v) => v
                .guest_volumes_blocking(server_id)
                .iter()
                .map(disk_of)
                .collect(),
            None => Vec::new(),
        }
    }

    /// Drops the attachments of a server being deleted (its volumes become
    /// available; their data stays).
    pub(crate) async fn volumes_forget(&self, server_id: &str) {
        // The guest is gone: assisted-snapshot overlays are committed offline.
        let sid = server_id.to_owned();
        if let Ok(Some(s)) = self.read(move |c| store::server_get_any(c, &sid)).await
            && !s.volume_overlays.is_empty()
            && let Some(v) = self.inner.volume.get()
            && let Ok(vols) = v.guest_volumes(server_id.to_owned()).await
        {
            for g in vols {
                if let Err(e) = self
                    .flatten_overlays(&s, &g.volume_id, &g.path, false)
                    .await
                {
                    tracing::warn!(server = server_id, volume = %g.volume_id, error = %e, "merging overlays back");
                }
            }
        }
        if let Some(v) = self.inner.volume.get()
            && let Err(e) = v.guest_forget(server_id.to_owned()).await
        {
            tracing::warn!(server = server_id, error = %e, "releasing the server's volumes");
        }
    }

    /// `os-extended-volumes:volumes_attached` of a server's view; from 2.3 with
    /// `delete_on_termination`.
    pub(crate) async fn volumes_attached_view(
        &self,
        s: &Server,
        with_dot: bool,
    ) -> serde_json::Value {
        let server_id = s.id.as_str();
        let vols = match self.inner.volume.get() {
            Some(v) => v
                .guest_volumes(server_id.to_owned())
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(server = server_id, error = %e, "reading attached volumes");
                    Vec::new()
                }),
            None => Vec::new(),
        };
        vols.iter()
            .map(|g| {
                let mut v = serde_json::json!({"id": g.volume_id});
                if with_dot {
                    v["delete_on_termination"] = s.delete_on_termination(&g.volume_id).into();
                }
                v
            })
            .collect()
    }

    pub(crate) async fn volume_attachment_list(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Vec<ServerVolume>> {
        let s = self.server_get(ctx, id).await?;
        let vols = self.volume()?.guest_volumes(s.id.clone()).await?;
        Ok(vols.into_iter().map(|g| server_volume(&s, g)).collect())
    }

    pub(crate) async fn volume_attachment_get(
        &self,
        ctx: &RequestContext,
        id: String,
        volume_id: String,
    ) -> ApiResult<ServerVolume> {
        self.volume_attachment_list(ctx, id)
            .await?
            .into_iter()
            .find(|v| v.volume_id == volume_id)
            .ok_or_else(|| {
                ApiError::Missing(format!("Volume attachment {volume_id} could not be found."))
            })
    }

    /// Attaches a volume: reserves it in block storage, hot-plugs it when the
    /// guest runs (a stopped guest gets it at its next start), then marks it
    /// attached; a failed plug rolls the reservation back.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn volume_attach(
        &self,
        ctx: &RequestContext,
        id: String,
        volume_id: String,
        device: Option<String>,
        request_id: String,
        shelved_ok: bool,
        delete_on_termination: bool,
    ) -> ApiResult<ServerVolume> {
        let s = self.server_get(ctx, id.clone()).await?;
        may_change(ctx, &s.project_id)?;
        check_state(&s, "attach_volume", ctx, shelved_ok)?;
        let vol = self.volume()?.clone();
        let lock = self.server_lock(&id);
        let _held = lock.lock().await;
        let g = vol
            .guest_attach_begin(ctx, volume_id, s.id.clone(), device)
            .await?;
        let nics = self.server_nics(&s).await?;
        let spec = self.vm_spec(&s, &nics);
        let running = matches!(
            self.inner.hypervisor.power_state(&spec).await,
            Ok(PowerState::Running | PowerState::Paused)
        );
        if running {
            let started = std::time::Instant::now();
            if let Err(e) = self.inner.hypervisor.attach_disk(&spec, &disk_of(&g)).await {
                tracing::warn!(server = %s.id, volume = %g.volume_id, error = %e, "hot-plug failed; rolling back the attach");
                vol.guest_attach_undo(g.attachment_id.clone()).await?;
                return Err(hotplug_failed("Failed to attach volume", e));
            }
            tracing::info!(server = %s.id, volume = %g.volume_id, device = %g.device,
                ms = started.elapsed().as_millis() as u64, "volume hot-plugged");
        }
        vol.guest_attach_done(g.attachment_id.clone()).await?;
        let ctx2 = ctx.clone();
        let volume_id = g.volume_id.clone();
        let s = self
            .write(move |c| {
                let mut s = store::server_get(c, &id)?
                    .ok_or_else(|| super::servers::server_not_found(&id))?;
                if delete_on_termination {
                    s.attached_delete_on_termination.insert(volume_id);
                } else {
                    s.attached_delete_on_termination.remove(&volume_id);
                }
                store::server_put(c, &mut s)?;
                store::action_put(c, &new_action(&s, "attach_volume", &request_id, &ctx2))?;
                Ok(s)
            })
            .await?;
        Ok(server_volume(&s, g))
    }

    /// Detaches a volume: marks it detaching, unplugs it from a running guest
    /// (waiting for the guest to release it), then removes the attachment; a
    /// failed unplug leaves it attached.
    pub(crate) async fn volume_detach(
        &self,
        ctx: &RequestContext,
        id: String,
        volume_id: String,
        request_id: String,
        shelved_ok: bool,
    ) -> ApiResult<()> {
        let s = self.server_get(ctx, id.clone()).await?;
        may_change(ctx, &s.project_id)?;
        check_state(&s, "detach_volume", ctx, shelved_ok)?;
        let vol = self.volume()?.clone();
        if s.boot_volume().is_some_and(|b| b.volume_id == volume_id) {
            return Err(ApiError::bad_request("Cannot detach a root device volume"));
        }
        // Nova's 404 for a volume that is not attached to this server.
        self.volume_attachment_get(ctx, id.clone(), volume_id.clone())
            .await
            .map_err(|_| {
                ApiError::Missing(format!(
                    "Volume {volume_id} is not attached to instance {id}"
                ))
            })?;
        let lock = self.server_lock(&id);
        let _held = lock.lock().await;
        let g = vol.guest_detach_begin(ctx, volume_id, s.id.clone()).await?;
        let ctx2 = ctx.clone();
        let detached = g.volume_id.clone();
        self.write(move |c| {
            let mut s =
                store::server_get(c, &id)?.ok_or_else(|| super::servers::server_not_found(&id))?;
            // A detached volume outlives the server whatever it was attached with.
            if s.attached_delete_on_termination.remove(&detached) {
                store::server_put(c, &mut s)?;
            }
            store::action_put(c, &new_action(&s, "detach_volume", &request_id, &ctx2))
        })
        .await?;
        // As Nova does, the request is accepted (202) and the unplug goes on in the
        // background: a guest may take a while to release the disk (one still
        // booting is asked again until it does). The volume shows `detaching`
        // meanwhile; a restart returns it to attached.
        drop(_held);
        let this = self.clone();
        tokio::spawn(async move {
            let lock = this.server_lock(&s.id);
            let _held = lock.lock().await;
            if let Err(e) = this.unplug(&s, &g.volume_id).await {
                tracing::warn!(server = %s.id, volume = %g.volume_id, error = %e, "unplug failed; the volume stays attached");
                if let Err(e) = vol.guest_detach_undo(g.attachment_id.clone()).await {
                    tracing::error!(volume = %g.volume_id, error = %e, "could not return the volume to attached");
                }
                return;
            }
            if let Err(e) = vol.guest_detach_done(g.attachment_id).await {
                tracing::error!(volume = %g.volume_id, error = %e, "could not record the detach");
            }
        });
        Ok(())
    }

    /// Takes the volume's disk out of the running guest (nothing to do for a
    /// stopped one: it starts without the volume).
    async fn unplug(&self, s: &Server, volume_id: &str) -> ApiResult<()> {
        let nics = self.server_nics(s).await?;
        let spec = self.vm_spec(s, &nics);
        let running = matches!(
            self.inner.hypervisor.power_state(&spec).await,
            Ok(PowerState::Running | PowerState::Paused)
        );
        // Assisted-snapshot overlays go back into the volume's file first.
        let sid = s.id.clone();
        let now = self
            .read(move |c| store::server_get_any(c, &sid))
            .await?
            .unwrap_or_else(|| s.clone());
        if let Some(v) = self.inner.volume.get()
            && let Some(g) = v
                .guest_volumes(s.id.clone())
                .await?
                .into_iter()
                .find(|g| g.volume_id == volume_id)
        {
            self.flatten_overlays(&now, volume_id, &g.path, running)
                .await?;
        }
        if running {
            self.inner
                .hypervisor
                .detach_disk(&spec, volume_id)
                .await
                .map_err(|e| hotplug_failed("Failed to detach volume", e))?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::volume::facade::ComputeEvents for ComputeService {
    async fn volume_extended(
        &self,
        server: String,
        volume_id: String,
        bytes: u64,
    ) -> Result<(), String> {
        self.server_volume_extended(server, volume_id, Some(bytes))
            .await
            .map_err(|e| e.to_string())
    }

    async fn volume_reimaged(&self, server: String, volume_id: String, ok: bool) {
        self.server_volume_reimaged(&server, &volume_id, ok);
    }
}

/// An attachment update may repeat its other fields but change none of them:
/// Nova's 400 names the first that differs.
fn only_termination_changes(
    change: &AttachmentChange,
    volume_id: &str,
    server_id: &str,
    device: &str,
) -> ApiResult<()> {
    let immutable =
        |field: &str| ApiError::bad_request(format!("The {field} property is not mutable"));
    if change.id.as_ref().is_some_and(|v| v != volume_id) {
        return Err(immutable("id"));
    }
    if change.server_id.as_ref().is_some_and(|v| v != server_id) {
        return Err(immutable("serverId"));
    }
    if change
        .device
        .as_ref()
        .is_some_and(|d| d.as_deref() != Some(device))
    {
        return Err(immutable("device"));
    }
    if change.tag.as_ref().is_some_and(|t| t.is_some()) {
        return Err(immutable("tag"));
    }
    Ok(())
}

impl ComputeService {
    /// Update a volume attachment (2.85): only `delete_on_termination` changes;
    /// the attachment's other fields may be repeated but not changed (400).
    pub(crate) async fn volume_attachment_update(
        &self,
        ctx: &RequestContext,
        id: String,
        volume_id: String,
        change: AttachmentChange,
    ) -> ApiResult<()> {
        let current = self
            .volume_attachment_get(ctx, id.clone(), volume_id.clone())
            .await?;
        let s = self.server_get(ctx, id.clone()).await?;
        may_change(ctx, &s.project_id)?;
        only_termination_changes(&change, &volume_id, &s.id, &current.device)?;
        let Some(dot) = change.delete_on_termination else {
            return Ok(());
        };
        self.write(move |c| {
            let mut s =
                store::server_get(c, &id)?.ok_or_else(|| super::servers::server_not_found(&id))?;
            // A volume of the server's block device mapping keeps its flag there;
            // a hot-attached one in the attached set.
            let mut changed = false;
            for b in s
                .block_devices
                .iter_mut()
                .filter(|b| b.volume_id == volume_id)
            {
                changed |= b.delete_on_termination != dot;
                b.delete_on_termination = dot;
            }
            if !s.block_devices.iter().any(|b| b.volume_id == volume_id) {
                changed = if dot {
                    s.attached_delete_on_termination.insert(volume_id)
                } else {
                    s.attached_delete_on_termination.remove(&volume_id)
                };
            }
            if changed {
                store::server_put(c, &mut s)?;
            }
            Ok(())
        })
        .await
    }

    /// Deletes the volumes a deleted server was to take with it (their
    /// attachments are gone by now); a failure is logged and the volume stays.
    pub(crate) async fn delete_volumes_on_termination(&self, s: &Server) {
        let Ok(vol) = self.volume() else { return };
        // The record as it is now (the caller's copy may predate an update).
        let sid = s.id.clone();
        let s = match self.read(move |c| store::server_get_any(c, &sid)).await {
            Ok(Some(now)) => now,
            _ => s.clone(),
        };
        let owner = super::runtime::owner_context(&s);
        for volume_id in &s.attached_delete_on_termination {
            if let Err(e) = vol
                .volume_delete(&owner, volume_id.clone(), false, false)
                .await
            {
                tracing::warn!(server = %s.id, volume = %volume_id, error = %e, "deleting a delete_on_termination volume");
            }
        }
    }
}

/// What `PUT /servers/{id}/os-volume_attachments/{volume_id}` (2.85) may carry
/// besides `volumeId`: GET's fields, of which only `delete_on_termination` may
/// differ from the attachment's.
#[derive(Debug, Default)]
pub(crate) struct AttachmentChange {
    pub id: Option<String>,
    pub server_id: Option<String>,
    pub device: Option<Option<String>>,
    pub tag: Option<Option<String>>,
    pub delete_on_termination: Option<bool>,
}
