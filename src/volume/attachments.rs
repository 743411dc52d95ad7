//! Volume attachments: the Cinder attachments API (3.27+), the older
//! `os-reserve`/`os-attach`/`os-detach` actions, and what the compute service calls
//! to hot-plug a volume into a guest and to rebuild a guest with its volumes.
//!
//! Every step is one write transaction over the attachment row and the volume's
//! status, so a crash leaves a state `recover_attachments` can settle: a
//! compute-made attach still `attaching` is rolled back, a detach still
//! `detaching` returns to `attached` (the guest is rebuilt with the disk).

use std::path::PathBuf;

use rusqlite::Connection;
use serde_json::{Value, json};

use super::model::{Attachment, Event, Volume, VolumeStatus};
use super::{VolumeService, may_change, sees, sql, store, volume_not_found};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// Cinder's 404 for an attachment.
fn attachment_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("VolumeAttachment {id} could not be found."))
}

fn visible_volume(c: &Connection, ctx: &RequestContext, id: &str) -> ApiResult<Volume> {
    match store::volume_get(c, id).map_err(sql)? {
        Some(v) if sees(ctx, &v.project_id) => Ok(v),
        _ => Err(volume_not_found(id)),
    }
}

/// The attachment and its volume, if the caller sees the volume.
fn visible_attachment(
    c: &Connection,
    ctx: &RequestContext,
    id: &str,
) -> ApiResult<(Attachment, Volume)> {
    let a = store::attachment_get(c, id)
        .map_err(sql)?
        .ok_or_else(|| attachment_not_found(id))?;
    let v = store::volume_get(c, &a.volume_id)
        .map_err(sql)?
        .filter(|v| sees(ctx, &v.project_id))
        .ok_or_else(|| attachment_not_found(id))?;
    Ok((a, v))
}

/// Moves the volume by `event` (no task), keeping attach_status in step.
pub(super) fn move_volume(c: &Connection, v: &Volume, event: Event) -> ApiResult<VolumeStatus> {
    let to = v
        .status
        .transition(event)
        .map_err(|r| ApiError::bad_request(r.to_string()))?;
    store::volume_set_state(c, &v.id, to, v.task.as_ref(), v.error_reason.as_deref())
        .map_err(sql)?;
    let attached = store::attachments_of_volume(c, &v.id)
        .map_err(sql)?
        .iter()
        .any(|a| matches!(a.status.as_str(), "attached" | "detaching"));
    store::volume_set_attach_status(c, &v.id, if attached { "attached" } else { "detached" })
        .map_err(sql)?;
    Ok(to)
}

/// Refuses a new attachment unless the volume takes one: available (or reserved
/// for the same consumer), or in use and multiattach; never while a task runs.
fn check_attachable(v: &Volume, instance: Option<&str>) -> ApiResult<()> {
    let others: Vec<&Attachment> = v
        .attachments
        .iter()
        .filter(|a| a.instance_uuid.as_deref() != instance || instance.is_none())
        .collect();
    let ok = v.task.is_none()
        && match v.status {
            VolumeStatus::Available => true,
            VolumeStatus::InUse | VolumeStatus::Reserved | VolumeStatus::Attaching => {
                v.multiattach || others.is_empty()
            }
            _ => false,
        };
    if let Some(i) = instance
        && v.attachments
            .iter()
            .any(|a| a.instance_uuid.as_deref() == Some(i) && a.status == "attached")
    {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: volume {} is already attached to instance {i}.",
            v.id
        )));
    }
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {} status must be available or downloading to reserve, \
             but the current status is {}.",
            v.id,
            v.status.as_str()
        )))
    }
}

/// The attachment `POST /attachments` makes: reserved, or attaching with a
/// connector (whose mountpoint it keeps); mode `rw` unless `ro` is asked.
fn requested_attachment(
    v: &Volume,
    instance: Option<String>,
    mode: Option<String>,
    connector: Option<Value>,
) -> ApiResult<Attachment> {
    let mode = mode.unwrap_or_else(|| "rw".into());
    if !matches!(mode.as_str(), "rw" | "ro") {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: Invalid attach mode {mode}."
        )));
    }
    let status = if connector.is_some() {
        "attaching"
    } else {
        "reserved"
    };
    let mut a = new_attachment(v, instance, None, &mode, status, false);
    if let Some(m) = connector
        .as_ref()
        .and_then(|c| c.get("mountpoint"))
        .and_then(Value::as_str)
    {
        a.mountpoint = Some(m.to_owned());
    }
    a.connector = connector;
    Ok(a)
}

fn new_attachment(
    v: &Volume,
    instance: Option<String>,
    mountpoint: Option<String>,
    mode: &str,
    status: &str,
    by_compute: bool,
) -> Attachment {
    Attachment {
        id: uuid::Uuid::new_v4().to_string(),
        volume_id: v.id.clone(),
        instance_uuid: instance,
        mountpoint,
        attach_mode: mode.to_owned(),
        status: status.to_owned(),
        connector: None,
        by_compute,
        created_at: store::now(),
        attached_at: None,
        updated_at: None,
    }
}

/// A volume attached to a guest, as the compute service plugs it.
#[derive(Debug, Clone)]
pub(crate) struct GuestVolume {
    pub attachment_id: String,
    pub volume_id: String,
    /// `/dev/vdb`.
    pub device: String,
    /// The file the hypervisor opens (raw).
    pub path: PathBuf,
    pub read_only: bool,
    /// Set when the volume is exported over iSCSI: the hypervisor opens the LUN
    /// instead of `path`.
    pub iscsi: Option<crate::virt::IscsiDisk>,
}

/// The next free `/dev/vdX` after the root disk (`vda`), or `wanted` when valid
/// and free (Nova honours a requested name the same way).
fn device_name(taken: &[String], wanted: Option<&str>) -> ApiResult<String> {
    if let Some(w) = wanted
        && w.len() == "/dev/vdb".len()
        && w.starts_with("/dev/vd")
        && w.as_bytes()[7].is_ascii_lowercase()
        && w != "/dev/vda"
        && !taken.iter().any(|t| t == w)
    {
        return Ok(w.to_owned());
    }
    (b'b'..=b'z')
        .map(|c| format!("/dev/vd{}", c as char))
        .find(|d| !taken.contains(d))
        .ok_or_else(|| ApiError::bad_request("No free disk device names for prefix 'vd'"))
}

impl VolumeService {
    fn guest_volume(
        &self,
        v: &Volume,
        a: &Attachment,
        iscsi: Option<crate::virt::IscsiDisk>,
    ) -> GuestVolume {
        GuestVolume {
            iscsi,
            attachment_id: a.id.clone(),
            volume_id: v.id.clone(),
            device: a.mountpoint.clone().unwrap_or_default(),
            path: self.inner.backend.local_path(&v.id),
            read_only: a.attach_mode == "ro"
                || v.admin_metadata.get("readonly").map(String::as_str) == Some("True"),
        }
    }

    /// Cinder's connection info: os-brick's `iscsi` connector (CHAP) when the
    /// volume is exported, else its `local` connector on the volume's file.
    fn connection_info(
        &self,
        v: &Volume,
        a: &Attachment,
        iscsi: Option<&crate::virt::IscsiDisk>,
    ) -> Value {
        if let Some(i) = iscsi {
            return json!({
                "driver_volume_type": "iscsi",
                "data": {
                    "target_discovered": false,
                    "target_portal": i.portal,
                    "target_iqn": i.target,
                    "target_lun": i.lun,
                    "auth_method": "CHAP",
                    "auth_username": i.user,
                    "auth_password": i.password,
                    "volume_id": v.id,
                    "access_mode": a.attach_mode,
                    "attachment_id": a.id,
                    "encrypted": false,
                    "discard": false,
                },
            });
        }
        json!({
            "driver_volume_type": "local",
            "data": {
                "device_path": self.inner.backend.local_path(&v.id),
                "volume_id": v.id,
                "access_mode": a.attach_mode,
                "attachment_id": a.id,
                "encrypted": false,
                "discard": false,
            },
        })
    }

    // ---- compute ----------------------------------------------------------

    /// Step 1 of a hot attach: an `attaching` attachment of `volume_id` to
    /// `instance` under a free device name. The caller plugs the disk, then calls
    /// `guest_attach_done` or `guest_attach_undo`.
    pub(crate) async fn guest_attach_begin(
        &self,
        ctx: &RequestContext,
        volume_id: String,
        instance: String,
        wanted_device: Option<String>,
    ) -> ApiResult<GuestVolume> {
        let ctx = ctx.clone();
        let me = self.clone();
        let g = self
            .write(move |c| {
                let v = visible_volume(c, &ctx, &volume_id)?;
                may_change(&ctx, &v.project_id)?;
                check_attachable(&v, Some(&instance))?;
                let taken: Vec<String> = store::attachments_of_instance(c, &instance)
                    .map_err(sql)?
                    .into_iter()
                    .filter_map(|a| a.mountpoint)
                    .collect();
                let dev = device_name(&taken, wanted_device.as_deref())?;
                let a = new_attachment(&v, Some(instance), Some(dev), "rw", "attaching", true);
                store::attachment_insert(c, &a).map_err(sql)?;
                move_volume(c, &v, Event::AttachStart)?;
                let iscsi = me.export_ensure_tx(c, &v.id)?;
                Ok(me.guest_volume(&v, &a, iscsi))
            })
            .await?;
        // The target exists before the hypervisor is asked to log in to it.
        if g.iscsi.is_some()
            && let Err(e) = self.sync_exports().await
        {
            self.guest_attach_undo(g.attachment_id.clone()).await?;
            return Err(e);
        }
        Ok(g)
    }

    /// A volume a server is built with (its block device mapping), attached in
    /// one step since no guest runs yet: the root volume as `/dev/vda`, others
    /// under the next free name. Already attached to `instance` (a resumed
    /// build): that attachment.
    pub(crate) async fn guest_attach_boot(
        &self,
        ctx: &RequestContext,
        volume_id: String,
        instance: String,
        wanted_device: Option<String>,
        root: bool,
    ) -> ApiResult<GuestVolume> {
        let ctx = ctx.clone();
        let me = self.clone();
        let g = self
            .write(move |c| {
                let v = visible_volume(c, &ctx, &volume_id)?;
                may_change(&ctx, &v.project_id)?;
                if let Some(a) = v
                    .attachments
                    .iter()
                    .find(|a| a.instance_uuid.as_deref() == Some(instance.as_str()))
                {
                    let iscsi = me.export_ensure_tx(c, &v.id)?;
                    return Ok(me.guest_volume(&v, a, iscsi));
                }
                check_attachable(&v, Some(&instance))?;
                let dev = if root {
                    "/dev/vda".to_owned()
                } else {
                    let taken: Vec<String> = store::attachments_of_instance(c, &instance)
                        .map_err(sql)?
                        .into_iter()
                        .filter_map(|a| a.mountpoint)
                        .collect();
                    device_name(&taken, wanted_device.as_deref())?
                };
                let mut a = new_attachment(&v, Some(instance), Some(dev), "rw", "attaching", true);
                store::attachment_insert(c, &a).map_err(sql)?;
                move_volume(c, &v, Event::AttachStart)?;
                a.status = "attached".into();
                a.attached_at = Some(store::now());
                store::attachment_update(c, &a).map_err(sql)?;
                let v = visible_volume(c, &ctx, &v.id)?;
                move_volume(c, &v, Event::Attached)?;
                let iscsi = me.export_ensure_tx(c, &v.id)?;
                Ok(me.guest_volume(&v, &a, iscsi))
            })
            .await?;
        // The target exists before the hypervisor logs in to it at boot.
        if g.iscsi.is_some() {
            self.sync_exports().await?;
        }
        Ok(g)
    }

    /// The disk is in the guest: the attachment is `attached`, the volume in-use.
    pub(crate) async fn guest_attach_done(&self, attachment_id: String) -> ApiResult<()> {
        self.write(move |c| {
            let mut a = store::attachment_get(c, &attachment_id)
                .map_err(sql)?
                .ok_or_else(|| attachment_not_found(&attachment_id))?;
            a.status = "attached".into();
            a.attached_at = Some(store::now());
            store::attachment_update(c, &a).map_err(sql)?;
            let v = store::volume_get(c, &a.volume_id)
                .map_err(sql)?
                .ok_or_else(|| volume_not_found(&a.volume_id))?;
            move_volume(c, &v, Event::Attached)?;
            Ok(())
        })
        .await
    }

    /// The plug failed (or a crash interrupted it): the attachment goes, the
    /// volume returns to available (in-use if other attachments remain).
    pub(crate) async fn guest_attach_undo(&self, attachment_id: String) -> ApiResult<()> {
        self.write(move |c| drop_attachment(c, &attachment_id, true))
            .await?;
        self.release_exports().await;
        Ok(())
    }

    /// After an attachment went: tgtd drops the targets no attachment needs
    /// (a failure is logged; the next start converges again).
    async fn release_exports(&self) {
        if let Err(e) = self.sync_exports().await {
            tracing::warn!(error = %e, "removing unused iSCSI exports");
        }
    }

    /// Step 1 of a detach: the attachment of `volume_id` to `instance` goes to
    /// `detaching` (404 when the volume is not attached to it).
    pub(crate) async fn guest_detach_begin(
        &self,
        ctx: &RequestContext,
        volume_id: String,
        instance: String,
    ) -> ApiResult<GuestVolume> {
        let ctx = ctx.clone();
        let me = self.clone();
        self.write(move |c| {
            let v = visible_volume(c, &ctx, &volume_id)?;
            may_change(&ctx, &v.project_id)?;
            let mut a = v
                .attachments
                .iter()
                .find(|a| a.instance_uuid.as_deref() == Some(instance.as_str()))
                .cloned()
                .ok_or_else(|| ApiError::Missing(format!("volume_id not found: {volume_id}")))?;
            a.status = "detaching".into();
            store::attachment_update(c, &a).map_err(sql)?;
            let others = v.attachments.iter().any(|o| o.id != a.id);
            if !others {
                move_volume(c, &v, Event::DetachStart).or_else(|e| {
                    // An admin's reset may have left another status: detach anyway.
                    tracing::warn!(volume = %v.id, error = %e, "detach from an unusual status");
                    Ok::<_, ApiError>(v.status)
                })?;
            }
            let iscsi = me.export_read_tx(c, &v.id)?;
            Ok(me.guest_volume(&v, &a, iscsi))
        })
        .await
    }

    /// The disk left the guest: the attachment goes.
    pub(crate) async fn guest_detach_done(&self, attachment_id: String) -> ApiResult<()> {
        self.write(move |c| drop_attachment(c, &attachment_id, false))
            .await?;
        self.release_exports().await;
        Ok(())
    }

    /// The unplug failed: the attachment is `attached` again, the volume back
    /// from `detaching` to in-use (as `recover_attachments` does after a crash).
    pub(crate) async fn guest_detach_undo(&self, attachment_id: String) -> ApiResult<()> {
        self.write(move |c| {
            let mut a = store::attachment_get(c, &attachment_id)
                .map_err(sql)?
                .ok_or_else(|| attachment_not_found(&attachment_id))?;
            a.status = "attached".into();
            store::attachment_update(c, &a).map_err(sql)?;
            if let Some(v) = store::volume_get(c, &a.volume_id).map_err(sql)?
                && v.status == VolumeStatus::Detaching
            {
                move_volume(c, &v, Event::DetachRollback)?;
            }
            Ok(())
        })
        .await
    }

    /// The volumes attached to `instance` (for os-volume_attachments), oldest first.
    pub(crate) async fn guest_volumes(&self, instance: String) -> ApiResult<Vec<GuestVolume>> {
        let me = self.clone();
        self.read(move |c| me.guest_volumes_tx(c, &instance)).await
    }

    fn guest_volumes_tx(&self, c: &Connection, instance: &str) -> ApiResult<Vec<GuestVolume>> {
        let mut out = Vec::new();
        for a in store::attachments_of_instance(c, instance).map_err(sql)? {
            if !matches!(a.status.as_str(), "attached" | "detaching") {
                continue;
            }
            if let Some(v) = store::volume_get(c, &a.volume_id).map_err(sql)? {
                let iscsi = self.export_read_tx(c, &v.id)?;
                out.push(self.guest_volume(&v, &a, iscsi));
            }
        }
        Ok(out)
    }

    /// The attached volumes a guest is (re)built with; synchronous because the
    /// compute service builds a VM spec synchronously (one indexed read).
    pub(crate) fn guest_volumes_blocking(&self, instance: &str) -> Vec<GuestVolume> {
        self.inner
            .db
            .read_blocking(|c| self.guest_volumes_tx(c, instance))
            .unwrap_or_else(|e| {
                tracing::error!(instance, error = %e, "reading a guest's volumes failed");
                Vec::new()
            })
    }

    /// Removes every attachment of a deleted instance (Nova detaches its volumes
    /// when the server goes).
    pub(crate) async fn guest_forget(&self, instance: String) -> ApiResult<()> {
        self.write(move |c| {
            for a in store::attachments_of_instance(c, &instance).map_err(sql)? {
                drop_attachment(c, &a.id, false)?;
            }
            Ok(())
        })
        .await?;
        self.release_exports().await;
        Ok(())
    }

    /// Settles attachments a crash left half done: a compute attach still
    /// `attaching` is rolled back, a compute detach still `detaching` returns to
    /// `attached` (the guest is rebuilt with the disk; detach again to finish).
    pub(crate) async fn recover_attachments(&self) -> ApiResult<usize> {
        self.write(|c| {
            let mut n = 0;
            for a in store::attachment_list(c).map_err(sql)? {
                if !a.by_compute {
                    continue;
                }
                match a.status.as_str() {
                    "attaching" => {
                        drop_attachment(c, &a.id, true)?;
                        n += 1;
                    }
                    "detaching" => {
                        let mut a = a;
                        a.status = "attached".into();
                        store::attachment_update(c, &a).map_err(sql)?;
                        if let Some(v) = store::volume_get(c, &a.volume_id).map_err(sql)? {
                            move_volume(c, &v, Event::DetachRollback)?;
                        }
                        n += 1;
                    }
                    _ => {}
                }
            }
            Ok(n)
        })
        .await
    }

    // ---- Cinder attachments API (3.27+) --------------------------------------

    /// `POST /attachments`: reserves the volume for `instance`; with a
    /// connector the attachment is also connected (`attaching`).
    pub(crate) async fn attachment_create(
        &self,
        ctx: &RequestContext,
        volume_id: String,
        instance: Option<String>,
        connector: Option<Value>,
        mode: Option<String>,
    ) -> ApiResult<(Attachment, Option<Value>)> {
        let ctx = ctx.clone();
        let me = self.clone();
        let out = self
            .write(move |c| {
                let v = visible_volume(c, &ctx, &volume_id)?;
                may_change(&ctx, &v.project_id)?;
                check_attachable(&v, instance.as_deref())?;
                let a = requested_attachment(&v, instance, mode, connector.clone())?;
                store::attachment_insert(c, &a).map_err(sql)?;
                let v2 = store::volume_get(c, &v.id)
                    .map_err(sql)?
                    .ok_or_else(|| volume_not_found(&v.id))?;
                move_volume(
                    c,
                    &v,
                    if connector.is_some() {
                        Event::AttachStart
                    } else {
                        Event::Reserve
                    },
                )?;
                let info = match connector {
                    Some(_) => {
                        let iscsi = me.export_ensure_tx(c, &v2.id)?;
                        Some(me.connection_info(&v2, &a, iscsi.as_ref()))
                    }
                    None => None,
                };
                Ok((a, info))
            })
            .await?;
        if out.1.is_some() {
            self.sync_exports().await?;
        }
        Ok(out)
    }

    /// `PUT /attachments/{id}`: gives the connector; returns the connection info.
    pub(crate) async fn attachment_update(
        &self,
        ctx: &RequestContext,
        id: String,
        connector: Value,
    ) -> ApiResult<(Attachment, Value)> {
        let ctx = ctx.clone();
        let me = self.clone();
        let out = self
            .write(move |c| {
                let (mut a, v) = visible_attachment(c, &ctx, &id)?;
                may_change(&ctx, &v.project_id)?;
                if let Some(m) = connector.get("mountpoint").and_then(Value::as_str) {
                    a.mountpoint = Some(m.to_owned());
                }
                if a.status == "reserved" {
                    a.status = "attaching".into();
                    move_volume(c, &v, Event::AttachStart)?;
                }
                a.connector = Some(connector);
                store::attachment_update(c, &a).map_err(sql)?;
                let iscsi = me.export_ensure_tx(c, &v.id)?;
                let info = me.connection_info(&v, &a, iscsi.as_ref());
                Ok((a, info))
            })
            .await?;
        self.sync_exports().await?;
        Ok(out)
    }

    /// `POST /attachments/{id}/action {"os-complete": null}`: the consumer
    /// connected; the volume is in-use.
    pub(crate) async fn attachment_complete(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let (mut a, v) = visible_attachment(c, &ctx, &id)?;
            may_change(&ctx, &v.project_id)?;
            a.status = "attached".into();
            a.attached_at = Some(store::now());
            store::attachment_update(c, &a).map_err(sql)?;
            move_volume(c, &v, Event::Attached)?;
            Ok(())
        })
        .await
    }

    /// `DELETE /attachments/{id}`: the volume is available again unless other
    /// attachments remain.
    pub(crate) async fn attachment_delete(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let (a, v) = visible_attachment(c, &ctx, &id)?;
            may_change(&ctx, &v.project_id)?;
            drop_attachment(c, &a.id, false)
        })
        .await?;
        self.release_exports().await;
        Ok(())
    }

    pub(crate) async fn attachment_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Attachment> {
        let ctx = ctx.clone();
        self.read(move |c| visible_attachment(c, &ctx, &id).map(|(a, _)| a))
            .await
    }

    /// The caller's attachments (every project's for an admin with all_tenants).
    pub(crate) async fn attachment_list(
        &self,
        ctx: &RequestContext,
        all_projects: bool,
    ) -> ApiResult<Vec<Attachment>> {
        let ctx = ctx.clone();
        self.read(move |c| {
            let mut out = Vec::new();
            for a in store::attachment_list(c).map_err(sql)? {
                if let Some(v) = store::volume_get(c, &a.volume_id).map_err(sql)? {
                    let mine = ctx.project_id() == Some(v.project_id.as_str());
                    if mine
                        || (all_projects && ctx.allowed(crate::http::policy::VOLUME_ADMIN_CONTEXT))
                    {
                        out.push(a);
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// The connection info of an attachment (attachment views of 3.27+).
    pub(crate) async fn attachment_connection_info(
        &self,
        a: &Attachment,
    ) -> ApiResult<Option<Value>> {
        if a.connector.is_none() {
            return Ok(None);
        }
        let me = self.clone();
        let a = a.clone();
        self.read(move |c| {
            let Some(v) = store::volume_get(c, &a.volume_id).map_err(sql)? else {
                return Ok(None);
            };
            let iscsi = me.export_read_tx(c, &v.id)?;
            Ok(Some(me.connection_info(&v, &a, iscsi.as_ref())))
        })
        .await
    }

    // ---- the older volume actions ---------------------------------------------

    /// The volume actions of the attach flow before attachments existed.
    pub(crate) async fn attach_action(
        &self,
        ctx: &RequestContext,
        volume_id: String,
        action: &str,
        args: Value,
    ) -> ApiResult<Option<Value>> {
        let ctx = ctx.clone();
        let action = action.to_owned();
        let me = self.clone();
        let out = self
            .write(move |c| {
                let v = visible_volume(c, &ctx, &volume_id)?;
                may_change(&ctx, &v.project_id)?;
                me.attach_action_tx(c, &v, &action, &args)
            })
            .await?;
        // Exports follow the attachments these actions made or dropped.
        self.sync_exports().await?;
        Ok(out)
    }

    /// One older attach-flow action on a visible volume the caller may change,
    /// in the caller's transaction.
    fn attach_action_tx(
        &self,
        c: &Connection,
        v: &Volume,
        action: &str,
        args: &Value,
    ) -> ApiResult<Option<Value>> {
        let pending = v
            .attachments
            .iter()
            .find(|a| matches!(a.status.as_str(), "reserved" | "attaching"))
            .cloned();
        match action {
            "os-reserve" => legacy_reserve_tx(c, v)?,
            "os-unreserve" => legacy_unreserve_tx(c, v, pending)?,
            "os-attach" => legacy_attach_tx(c, v, pending, args)?,
            "os-begin_detaching" => {
                move_volume(c, v, Event::DetachStart)?;
            }
            "os-roll_detaching" => {
                move_volume(c, v, Event::DetachRollback)?;
            }
            "os-detach" => legacy_detach_tx(c, v, args)?,
            "os-initialize_connection" => {
                return self.initialize_connection_tx(c, v, pending, args).map(Some);
            }
            "os-terminate_connection" => {
                if !args.get("connector").is_some_and(Value::is_object) {
                    return Err(ApiError::bad_request(
                        "Invalid input received: Must specify 'connector'.",
                    ));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "There is no such action: {other}"
                )));
            }
        }
        Ok(None)
    }

    /// `os-initialize_connection`: the connection info for the connector, on
    /// the pending reservation or a new one (not stored: `os-attach` stores it).
    fn initialize_connection_tx(
        &self,
        c: &Connection,
        v: &Volume,
        pending: Option<Attachment>,
        args: &Value,
    ) -> ApiResult<Value> {
        let connector = args.get("connector").cloned().filter(Value::is_object);
        let Some(connector) = connector else {
            return Err(ApiError::bad_request(
                "Invalid input received: Must specify 'connector'.",
            ));
        };
        let mut a =
            pending.unwrap_or_else(|| new_attachment(v, None, None, "rw", "reserved", false));
        a.connector = Some(connector);
        let iscsi = self.export_ensure_tx(c, &v.id)?;
        let info = self.connection_info(v, &a, iscsi.as_ref());
        Ok(json!({"connection_info": info}))
    }
}

/// `os-reserve`: a new attachment, the volume attaching.
fn legacy_reserve_tx(c: &Connection, v: &Volume) -> ApiResult<()> {
    check_attachable(v, None)?;
    let a = new_attachment(v, None, None, "rw", "attaching", false);
    store::attachment_insert(c, &a).map_err(sql)?;
    move_volume(c, v, Event::AttachStart)?;
    Ok(())
}

/// `os-unreserve`: the pending reservation dropped, or an attaching volume
/// without one set back.
fn legacy_unreserve_tx(c: &Connection, v: &Volume, pending: Option<Attachment>) -> ApiResult<()> {
    if let Some(a) = pending {
        drop_attachment(c, &a.id, true)?;
    } else if v.status == VolumeStatus::Attaching {
        move_volume(c, v, Event::Unreserve { others: false })?;
    }
    Ok(())
}

/// `os-attach`: the pending reservation (or a new attachment) marked attached
/// to an instance or a host, with its mountpoint and mode.
fn legacy_attach_tx(
    c: &Connection,
    v: &Volume,
    pending: Option<Attachment>,
    args: &Value,
) -> ApiResult<()> {
    let text = |k: &str| args.get(k).and_then(Value::as_str);
    let instance = text("instance_uuid").map(str::to_owned);
    if instance.is_none() && text("host_name").is_none() {
        return Err(ApiError::bad_request(
            "Invalid request to attach volume to an invalid target",
        ));
    }
    if let Some(i) = &instance
        && uuid::Uuid::parse_str(i).is_err()
    {
        return Err(ApiError::bad_request(
            "Invalid request to attach volume to an instance with an invalid \
             instance_uuid",
        ));
    }
    let mountpoint = text("mountpoint").map(str::to_owned);
    let mode = text("mode").unwrap_or("rw").to_owned();
    if !matches!(mode.as_str(), "rw" | "ro") {
        return Err(ApiError::bad_request(
            "Invalid request to attach volume with an invalid mode. \
             Attaching mode should be 'rw' or 'ro'",
        ));
    }
    let mut a = match pending {
        Some(a) => a,
        None => {
            check_attachable(v, instance.as_deref())?;
            let a = new_attachment(v, None, None, &mode, "attaching", false);
            store::attachment_insert(c, &a).map_err(sql)?;
            a
        }
    };
    a.instance_uuid = instance;
    a.mountpoint = mountpoint;
    a.attach_mode = mode;
    a.status = "attached".into();
    a.attached_at = Some(store::now());
    store::attachment_update(c, &a).map_err(sql)?;
    move_volume(c, v, Event::Attached).map(drop)
}

/// `os-detach`: the named attachment, or the only one, dropped; a volume with
/// none is moved as detached.
fn legacy_detach_tx(c: &Connection, v: &Volume, args: &Value) -> ApiResult<()> {
    let wanted = args.get("attachment_id").and_then(Value::as_str);
    let a = match wanted {
        Some(id) => v.attachments.iter().find(|a| a.id == id),
        None if v.attachments.len() <= 1 => v.attachments.first(),
        None => {
            return Err(ApiError::bad_request(
                "Invalid volume: Volume has more than one attachment; \
                 an attachment_id is required.",
            ));
        }
    };
    match a {
        Some(a) => drop_attachment(c, &a.id, false),
        None if wanted.is_some() => Err(attachment_not_found(wanted.unwrap_or_default())),
        None => move_volume(c, v, Event::Detached { others: false }).map(drop),
    }
}

/// Removes an attachment and moves its volume: `undo` (a reservation or attach
/// dropped) or a detach.
fn drop_attachment(c: &Connection, id: &str, undo: bool) -> ApiResult<()> {
    let Some(a) = store::attachment_get(c, id).map_err(sql)? else {
        return Ok(());
    };
    store::attachment_delete(c, id).map_err(sql)?;
    super::exports::export_release_tx(c, &a.volume_id)?;
    let Some(v) = store::volume_get(c, &a.volume_id).map_err(sql)? else {
        return Ok(());
    };
    let others = !v.attachments.is_empty();
    let event = if undo {
        Event::Unreserve { others }
    } else {
        Event::Detached { others }
    };
    match v.status.transition(event) {
        Ok(_) => {
            move_volume(c, &v, event)?;
        }
        Err(r) => {
            // A volume in another status (e.g. extending) keeps it; only the
            // attach status follows the remaining attachments.
            tracing::warn!(volume = %v.id, reason = %r, "attachment removed without a status change");
            store::volume_set_attach_status(c, &v.id, if others { "attached" } else { "detached" })
                .map_err(sql)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_skip_the_root_and_taken_ones() {
        assert_eq!(device_name(&[], None).unwrap(), "/dev/vdb");
        let taken = vec!["/dev/vdb".to_string()];
        assert_eq!(device_name(&taken, None).unwrap(), "/dev/vdc");
        assert_eq!(device_name(&taken, Some("/dev/vdb")).unwrap(), "/dev/vdc");
        assert_eq!(device_name(&taken, Some("/dev/vdf")).unwrap(), "/dev/vdf");
        assert_eq!(device_name(&taken, Some("/dev/vda")).unwrap(), "/dev/vdc");
        assert_eq!(device_name(&taken, Some("/dev/sdb")).unwrap(), "/dev/vdc");
    }

    #[test]
    fn attach_statuses_follow_the_cinder_flow() {
        use VolumeStatus as S;
        assert_eq!(S::Available.transition(Event::Reserve), Ok(S::Reserved));
        assert_eq!(S::Reserved.transition(Event::AttachStart), Ok(S::Attaching));
        assert_eq!(S::Attaching.transition(Event::Attached), Ok(S::InUse));
        assert_eq!(S::InUse.transition(Event::DetachStart), Ok(S::Detaching));
        assert_eq!(S::Detaching.transition(Event::DetachRollback), Ok(S::InUse));
        assert_eq!(
            S::Detaching.transition(Event::Detached { others: false }),
            Ok(S::Available)
        );
        assert_eq!(
            S::InUse.transition(Event::Detached { others: true }),
            Ok(S::InUse)
        );
        assert!(S::Creating.transition(Event::Reserve).is_err());
        assert!(S::Available.transition(Event::DetachStart).is_err());
    }

    fn member(project: &str) -> RequestContext {
        RequestContext::scoped("u1", project, &["member", "reader"])
    }

    async fn open(dir: &std::path::Path) -> VolumeService {
        let db = crate::db::Db::open(&dir.join("state.db")).expect("database");
        VolumeService::open(db, dir, "host".into(), None).expect("volume service")
    }

    /// A kill -9 and the next start: the service is opened again on the same state
    /// and settles exactly one half-done attachment.
    async fn restart(v: VolumeService, dir: &std::path::Path) -> VolumeService {
        drop(v);
        let v = open(dir).await;
        assert_eq!(v.recover_attachments().await.expect("recover"), 1);
        v
    }

    async fn status_of(v: &VolumeService, ctx: &RequestContext, id: &str) -> Volume {
        for _ in 0..500 {
            let vol = v.volume_get(ctx, id.to_owned()).await.expect("volume");
            if !matches!(vol.status, VolumeStatus::Creating) {
                return vol;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("volume {id} still creating");
    }

    /// kill -9 between an attach's first step (`attaching`) and the guest's plug,
    /// and between a detach's first step and the unplug: the next start leaves the
    /// volume available (attach undone) or in-use (detach undone), never stuck.
    #[tokio::test]
    async fn a_crash_mid_attach_or_mid_detach_settles_at_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ctx = member("p1");
        let v = open(dir.path()).await;
        let req = super::super::volumes::VolumeCreate {
            size: 1,
            ..Default::default()
        };
        let id = v.volume_create(&ctx, req).await.expect("create").id;
        assert_eq!(
            status_of(&v, &ctx, &id).await.status,
            VolumeStatus::Available
        );

        v.guest_attach_begin(&ctx, id.clone(), "server-1".into(), None)
            .await
            .expect("attach begins");
        assert_eq!(
            status_of(&v, &ctx, &id).await.status,
            VolumeStatus::Attaching
        );
        let v = restart(v, dir.path()).await;
        let after = status_of(&v, &ctx, &id).await;
        assert_eq!(after.status, VolumeStatus::Available);
        assert!(after.attachments.is_empty(), "{:?}", after.attachments);

        let g = v
            .guest_attach_begin(&ctx, id.clone(), "server-1".into(), None)
            .await
            .expect("attach begins");
        v.guest_attach_done(g.attachment_id)
            .await
            .expect("attached");
        v.guest_detach_begin(&ctx, id.clone(), "server-1".into())
            .await
            .expect("detach begins");
        assert_eq!(
            status_of(&v, &ctx, &id).await.status,
            VolumeStatus::Detaching
        );
        let v = restart(v, dir.path()).await;
        let after = status_of(&v, &ctx, &id).await;
        assert_eq!(after.status, VolumeStatus::InUse);
        assert_eq!(after.attachments.len(), 1);
    }
}
