//! Snapshots: point-in-time copies of a volume (sparse file copies on the file
//! backend), listed, shown, renamed and deleted; new volumes are made from them.
//! Create and delete are persisted tasks like the volume's (tasks.rs).

use std::collections::BTreeMap;

use super::model::{Snapshot, SnapshotEvent, SnapshotStatus, VolumeStatus};
use super::volumes::check_metadata;
use super::{
    VolumeService, caller_project, may_change, quotas, sees, sql, store, volume_not_found,
};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// A new snapshot, as the API validated it.
#[derive(Debug, Default)]
pub(crate) struct SnapshotCreate {
    pub volume_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub force: bool,
}

pub(super) fn snapshot_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Snapshot {id} could not be found."))
}

/// The snapshot the caller may see, or 404.
pub(super) fn visible_tx(
    c: &rusqlite::Connection,
    ctx: &RequestContext,
    id: &str,
) -> ApiResult<Snapshot> {
    match store::snapshot_get(c, id).map_err(sql)? {
        Some(s) if sees(ctx, &s.project_id) => Ok(s),
        _ => Err(snapshot_not_found(id)),
    }
}

/// Validates and records a new snapshot of `req.volume_id` (`creating`, with its
/// create task): the whole of a snapshot create but spawning the task, shared by
/// a group snapshot, which records one per member volume in one transaction.
pub(super) fn snapshot_new_tx(
    c: &rusqlite::Connection,
    ctx: &RequestContext,
    req: SnapshotCreate,
    user: String,
    group_snapshot_id: Option<String>,
) -> ApiResult<Snapshot> {
    let v = match store::volume_get(c, &req.volume_id).map_err(sql)? {
        Some(v) if sees(ctx, &v.project_id) => v,
        _ => return Err(volume_not_found(&req.volume_id)),
    };
    may_change(ctx, &v.project_id)?;
    let ok = v.status == VolumeStatus::Available || (v.status == VolumeStatus::InUse && req.force);
    if !ok {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {} status must be available, but current status is: {}.",
            v.id,
            v.status.as_str()
        )));
    }
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
        task: Some("create".into()),
        error_reason: None,
        created_at: store::now(),
        updated_at: None,
        progress: None,
        group_snapshot_id,
    };
    store::snapshot_insert(c, &s).map_err(sql)?;
    Ok(s)
}

/// Starts a snapshot's delete (`deleting`, with its task) after Cinder's checks,
/// shared by a group snapshot's delete.
pub(super) fn snapshot_delete_tx(
    c: &rusqlite::Connection,
    ctx: &RequestContext,
    sid: &str,
    force: bool,
) -> ApiResult<()> {
    let s = visible_tx(c, ctx, sid)?;
    may_change(ctx, &s.project_id)?;
    if force {
        ctx.require_admin()?;
    }
    if store::backup_reads_snapshot(c, &s.id).map_err(sql)? {
        return Err(ApiError::bad_request(format!(
            "Invalid snapshot: Snapshot {} is being backed up.",
            s.id
        )));
    }
    let to = s
        .status
        .transition(SnapshotEvent::DeleteStart { force })
        .map_err(ApiError::bad_request)?;
    store::snapshot_set_state(c, sid, to, Some("delete"), None).map_err(sql)
}

impl VolumeService {
    pub(crate) async fn snapshot_create(
        &self,
        ctx: &RequestContext,
        req: SnapshotCreate,
    ) -> ApiResult<Snapshot> {
        let project = caller_project(ctx)?;
        may_change(ctx, &project)?;
        check_metadata(&req.metadata)?;
        let ctx2 = ctx.clone();
        let user = ctx.user.id.clone();
        let s = self
            .write(move |c| snapshot_new_tx(c, &ctx2, req, user, None))
            .await?;
        tracing::info!(snapshot = %s.id, volume = %s.volume_id, "snapshot create accepted");
        self.spawn_snapshot_task(s.id.clone());
        Ok(s)
    }

    pub(crate) async fn snapshot_list(
        &self,
        ctx: &RequestContext,
        all_projects: bool,
    ) -> ApiResult<Vec<Snapshot>> {
        let own = caller_project(ctx)?;
        if !ctx.can_read() {
            return Err(ApiError::forbidden());
        }
        let scope = if ctx.allowed(crate::http::policy::VOLUME_ADMIN_CONTEXT) && all_projects {
            None
        } else {
            Some(own)
        };
        self.read(move |c| store::snapshot_list(c, scope.as_deref()).map_err(sql))
            .await
    }

    pub(crate) async fn snapshot_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Snapshot> {
        let ctx = ctx.clone();
        self.read(move |c| visible_tx(c, &ctx, &id)).await
    }

    /// Name, description and (replacing or merging) metadata; `delete_key` removes one.
    pub(crate) async fn snapshot_update(
        &self,
        ctx: &RequestContext,
        id: String,
        name: Option<Option<String>>,
        description: Option<Option<String>>,
        metadata: Option<(BTreeMap<String, String>, bool)>,
        delete_key: Option<String>,
    ) -> ApiResult<Snapshot> {
        if let Some((m, _)) = &metadata {
            check_metadata(m)?;
        }
        let ctx = ctx.clone();
        self.write(move |c| {
            let s = visible_tx(c, &ctx, &id)?;
            may_change(&ctx, &s.project_id)?;
            let mut meta = s.metadata.clone();
            if let Some((m, replace)) = metadata {
                if replace {
                    meta = m;
                } else {
                    meta.extend(m);
                }
            }
            if let Some(k) = delete_key
                && meta.remove(&k).is_none()
            {
                return Err(ApiError::Missing(format!(
                    "Snapshot {id} has no metadata with key {k}."
                )));
            }
            let name = name.unwrap_or(s.name.clone());
            let description = description.unwrap_or(s.description.clone());
            store::snapshot_update(c, &id, name.as_deref(), description.as_deref(), &meta)
                .map_err(sql)?;
            visible_tx(c, &ctx, &id)
        })
        .await
    }

    pub(crate) async fn snapshot_delete(
        &self,
        ctx: &RequestContext,
        id: String,
        force: bool,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        let sid = id.clone();
        self.write(move |c| snapshot_delete_tx(c, &ctx, &sid, force))
            .await?;
        self.spawn_snapshot_task(id);
        Ok(())
    }

    /// `os-reset_status` on a snapshot (admin).
    pub(crate) async fn snapshot_reset_status(
        &self,
        ctx: &RequestContext,
        id: String,
        status: SnapshotStatus,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        let ctx = ctx.clone();
        self.write(move |c| {
            let s = visible_tx(c, &ctx, &id)?;
            let to = s
                .status
                .transition(SnapshotEvent::Reset(status))
                .map_err(ApiError::bad_request)?;
            store::snapshot_set_state(c, &id, to, None, None).map_err(sql)
        })
        .await
    }

    /// `os-update_snapshot_status`: the snapshot's creator (Nova, for assisted
    /// snapshots) reports its status and progress; Cinder allows only creating ->
    /// creating/available/error and deleting -> deleting/error_deleting.
    pub(crate) async fn snapshot_update_status(
        &self,
        ctx: &RequestContext,
        id: String,
        status: SnapshotStatus,
        progress: Option<String>,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let s = visible_tx(c, &ctx, &id)?;
            may_change(&ctx, &s.project_id)?;
            use SnapshotStatus as S;
            let ok = matches!(
                (s.status, status),
                (S::Creating, S::Creating | S::Available | S::Error)
                    | (S::Deleting, S::Deleting | S::ErrorDeleting)
            );
            if !ok {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: Provided snapshot status {} not allowed for snapshot with status {}.",
                    status.as_str(),
                    s.status.as_str()
                )));
            }
            store::snapshot_set_progress(c, &id, status, progress.as_deref()).map_err(sql)
        })
        .await
    }
}
