//! Manage and unmanage (admin): `os-unmanage` forgets a volume or snapshot but
//! leaves its data in the backend (as `volume-<id>` / `snapshot-<id>`), and
//! `os-volume-manage` / `os-snapshot-manage` take such data over again under a new
//! id. Taking over renames the file in a persisted task, like a create.

use std::collections::BTreeMap;

use super::model::{
    Snapshot, SnapshotStatus, Source, Task, Volume, VolumeStatus, VolumeType, ZONE,
};
use super::{VolumeService, quotas, sql, store, types, volume_not_found};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// A volume to take over.
#[derive(Debug, Default)]
pub(crate) struct ManageVolume {
    pub host: String,
    pub source_name: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub volume_type: Option<String>,
    pub availability_zone: Option<String>,
    pub bootable: bool,
    pub metadata: BTreeMap<String, String>,
}

/// A snapshot to take over.
#[derive(Debug, Default)]
pub(crate) struct ManageSnapshot {
    pub volume_id: String,
    pub source_name: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// The unmanaged name must be one this backend gives (`<prefix><uuid>`), so a
/// reference can never reach outside the backend's directory.
fn check_name(name: &str, prefix: &str) -> ApiResult<String> {
    let id = name.strip_prefix(prefix).unwrap_or_default();
    if uuid::Uuid::parse_str(id).is_err() || id.len() != 36 {
        return Err(ApiError::bad_request(format!(
            "Manage existing volume failed due to invalid backend reference {{'source-name': '{name}'}}: the name must be {prefix}<uuid>."
        )));
    }
    Ok(id.to_owned())
}

/// The volume a manage request makes: creating until its task adopts the
/// backend's `volume-<uuid>`.
fn managed_volume(
    req: ManageVolume,
    (project_id, user_id): (String, String),
    zone: String,
    size: i64,
    t: VolumeType,
) -> Volume {
    Volume {
        name: req.name,
        description: req.description,
        bootable: req.bootable,
        task: Some(Task::Create {
            size,
            source: Some(Source::Existing {
                name: req.source_name,
            }),
        }),
        metadata: req.metadata,
        ..Volume::detached(
            (project_id, user_id),
            size,
            VolumeStatus::Creating,
            zone,
            (t.id, t.name),
            store::now(),
        )
    }
}

impl VolumeService {
    /// Size in GiB (rounded up) of unmanaged storage `name`; 400 when it is absent.
    async fn unmanaged_gib(&self, name: &str) -> ApiResult<i64> {
        let backend = self.inner.backend.clone();
        let n = name.to_owned();
        let size = tokio::task::spawn_blocking(move || backend.unmanaged_size(&n))
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("manage task panicked: {e}")))?
            .map_err(|e| ApiError::Internal(e.into()))?;
        let bytes = size.ok_or_else(|| {
            ApiError::bad_request(format!(
                "Manage existing volume failed due to invalid backend reference {{'source-name': '{name}'}}: not found in the backend."
            ))
        })?;
        Ok(bytes.div_ceil(super::backend::GIB).max(1) as i64)
    }

    /// What a manage request names, checked: this backend's host, a
    /// `volume-<uuid>` in it, and our zone. Returns the uuid, the size in GiB and
    /// the zone.
    async fn manage_target(&self, req: &ManageVolume) -> ApiResult<(String, i64, String)> {
        if !self.is_backend(&req.host) {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Host {} is not a volume service host.",
                req.host
            )));
        }
        let old_id = check_name(&req.source_name, "volume-")?;
        let size = self.unmanaged_gib(&req.source_name).await?;
        let zone = req.availability_zone.clone().unwrap_or_else(|| ZONE.into());
        if zone != ZONE {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Availability zone '{zone}' is invalid."
            )));
        }
        Ok((old_id, size, zone))
    }

    pub(crate) async fn volume_manage(
        &self,
        ctx: &RequestContext,
        req: ManageVolume,
    ) -> ApiResult<Volume> {
        ctx.require_admin()?;
        let project = super::caller_project(ctx)?;
        let (old_id, size, zone) = self.manage_target(&req).await?;
        let ctx2 = ctx.clone();
        let user = ctx.user.id.clone();
        let v = self
            .write(move |c| {
                if store::volume_get(c, &old_id).map_err(sql)?.is_some() {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input received: {} is a managed volume.",
                        req.source_name
                    )));
                }
                let t = types::type_for_volume_tx(c, &ctx2, req.volume_type.as_deref())?;
                quotas::check_tx(c, &project, &t.name, 1, 0, size, size)?;
                let v = managed_volume(req, (project, user), zone, size, t);
                store::volume_insert(c, &v).map_err(sql)?;
                Ok(v)
            })
            .await?;
        tracing::info!(volume = %v.id, "volume manage accepted");
        self.spawn_task(v.id.clone());
        Ok(v)
    }

    /// `os-unmanage` (admin): forgets an available volume without snapshots; its
    /// data stays in the backend as `volume-<id>`.
    pub(crate) async fn volume_unmanage(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        let vid = id.clone();
        self.write(move |c| {
            let v = store::volume_get(c, &vid)
                .map_err(sql)?
                .ok_or_else(|| volume_not_found(&vid))?;
            if v.status != VolumeStatus::Available || v.attach_status == "attached" {
                return Err(ApiError::bad_request(format!(
                    "Invalid volume: Volume status must be available to unmanage, but current status is: {}.",
                    v.status.as_str()
                )));
            }
            if !store::snapshots_of_volume(c, &v.id).map_err(sql)?.is_empty() {
                return Err(ApiError::bad_request(
                    "Invalid volume: Volume cannot be unmanaged while it has snapshots.",
                ));
            }
            store::volume_delete_row(c, &v.id).map_err(sql)
        })
        .await?;
        tracing::info!(volume = %id, "volume unmanaged (data kept)");
        Ok(())
    }

    pub(crate) async fn snapshot_manage(
        &self,
        ctx: &RequestContext,
        req: ManageSnapshot,
    ) -> ApiResult<Snapshot> {
        ctx.require_admin()?;
        let old_id = check_name(&req.source_name, "snapshot-")?;
        self.unmanaged_gib(&req.source_name).await?;
        super::volumes::check_metadata(&req.metadata)?;
        let user = ctx.user.id.clone();
        let s = self
            .write(move |c| {
                if store::snapshot_get(c, &old_id).map_err(sql)?.is_some() {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input received: {} is a managed snapshot.",
                        req.source_name
                    )));
                }
                let v = store::volume_get(c, &req.volume_id)
                    .map_err(sql)?
                    .ok_or_else(|| volume_not_found(&req.volume_id))?;
                quotas::check_tx(c, &v.project_id, &v.type_name, 0, 1, v.size, v.size)?;
                let s = Snapshot {
                    id: uuid::Uuid::new_v4().to_string(),
                    volume_id: v.id,
                    project_id: v.project_id,
                    user_id: user,
                    name: req.name,
                    description: req.description,
                    size: v.size,
                    status: SnapshotStatus::Creating,
                    metadata: req.metadata,
                    task: Some(format!("manage:{}", req.source_name)),
                    error_reason: None,
                    created_at: store::now(),
                    updated_at: None,
                    progress: None,
                    group_snapshot_id: None,
                };
                store::snapshot_insert(c, &s).map_err(sql)?;
                Ok(s)
            })
            .await?;
        tracing::info!(snapshot = %s.id, "snapshot manage accepted");
        self.spawn_snapshot_task(s.id.clone());
        Ok(s)
    }

    /// `os-unmanage` on a snapshot (admin): its data stays as `snapshot-<id>`.
    pub(crate) async fn snapshot_unmanage(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        let sid = id.clone();
        self.write(move |c| {
            let s = store::snapshot_get(c, &sid)
                .map_err(sql)?
                .ok_or_else(|| super::snapshots::snapshot_not_found(&sid))?;
            if s.status != SnapshotStatus::Available {
                return Err(ApiError::bad_request(format!(
                    "Invalid snapshot: Snapshot status must be available to unmanage, but current status is: {}.",
                    s.status.as_str()
                )));
            }
            store::snapshot_delete_row(c, &s.id).map_err(sql)
        })
        .await?;
        tracing::info!(snapshot = %id, "snapshot unmanaged (data kept)");
        Ok(())
    }
}
