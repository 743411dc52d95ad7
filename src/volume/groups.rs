//! Generic volume groups (block storage 3.11-3.20): group types with their specs
//! (admin-only to change), groups of volumes of the group's volume types, group
//! snapshots, groups made from a group or a group snapshot, and admin status
//! resets. Members are made and removed by the ordinary volume and snapshot tasks,
//! recorded in the same transaction as the group's own row; a group or group
//! snapshot that is `creating` or `deleting` settles once its members' tasks are
//! done, and start-up settles those a crash interrupted.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::group_settle::{GroupKind, Settle};
use super::group_store as gstore;
use super::model::{
    GROUP_SNAPSHOT_STATUSES, GROUP_STATUSES, Group, GroupSnapshot, GroupType, ZONE,
};
use super::snapshots::{SnapshotCreate, snapshot_delete_tx, snapshot_new_tx};
use super::type_kinds::visible_type_tx;
use super::volumes::{VolumeCreate, volume_delete_tx, volume_new_tx};
use super::{VolumeService, caller_project, may_change, quotas, sees, sql, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// A new empty group.
pub(crate) struct GroupCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub group_type: String,
    pub volume_types: Vec<String>,
    pub availability_zone: Option<String>,
}

/// What a new group is copied from (`create-from-src`).
pub(crate) enum GroupSource {
    Group(String),
    GroupSnapshot(String),
}

/// A group's update: name, description, volumes in and out.
#[derive(Default)]
pub(crate) struct GroupUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub add_volumes: Vec<String>,
    pub remove_volumes: Vec<String>,
}

pub(super) fn group_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Group {id} could not be found."))
}

pub(super) fn group_snapshot_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("GroupSnapshot {id} could not be found."))
}

/// `found` when the caller sees its project, else the 404 `missing`.
fn seen_or<T>(
    ctx: &RequestContext,
    found: Option<T>,
    project: impl Fn(&T) -> &str,
    missing: ApiError,
) -> ApiResult<T> {
    match found {
        Some(x) if sees(ctx, project(&x)) => Ok(x),
        _ => Err(missing),
    }
}

fn visible_group_tx(c: &Connection, ctx: &RequestContext, id: &str) -> ApiResult<Group> {
    let found = gstore::group_get(c, id).map_err(sql)?;
    seen_or(ctx, found, |g| &g.project_id, group_not_found(id))
}

fn visible_snapshot_tx(c: &Connection, ctx: &RequestContext, id: &str) -> ApiResult<GroupSnapshot> {
    let found = gstore::snapshot_get(c, id).map_err(sql)?;
    seen_or(ctx, found, |s| &s.project_id, group_snapshot_not_found(id))
}

/// A group a change needs `available`.
fn check_available(g: &Group) -> ApiResult<()> {
    if g.status != "available" {
        return Err(ApiError::bad_request(format!(
            "Invalid group: Group {} status must be available, but current status is: {}.",
            g.id, g.status
        )));
    }
    Ok(())
}

/// Whether a new volume of type `type_id` may join group `group_id` (a volume
/// create with `group_id`): the caller's group, available, of that volume type.
pub(super) fn check_volume_joins_tx(
    c: &Connection,
    ctx: &RequestContext,
    group_id: &str,
    type_id: &str,
) -> ApiResult<()> {
    let g = visible_group_tx(c, ctx, group_id)?;
    may_change(ctx, &g.project_id)?;
    check_available(&g)?;
    if !g.volume_types.iter().any(|t| t == type_id) {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: Invalid volume_type provided: {type_id}. The group {group_id} does not support this volume type."
        )));
    }
    Ok(())
}

pub(super) fn check_text(field: &str, v: &Option<String>) -> ApiResult<()> {
    if v.as_ref().is_some_and(|s| s.chars().count() > 255) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. It must be at most 255 characters."
        )));
    }
    Ok(())
}

/// The group a group snapshot is asked of: one the caller sees (else 400, as
/// Cinder answers) and may change, available.
fn snapshottable_group_tx(
    c: &Connection,
    ctx: &RequestContext,
    group_id: &str,
) -> ApiResult<Group> {
    let g = visible_group_tx(c, ctx, group_id).map_err(|e| match e {
        ApiError::Missing(_) => ApiError::bad_request(format!(
            "Invalid input received: Group {group_id} could not be found."
        )),
        other => other,
    })?;
    may_change(ctx, &g.project_id)?;
    check_available(&g)?;
    Ok(g)
}

/// The project a new group or group snapshot is made in (the caller's, which it
/// may change), its name and description checked.
fn new_in_project(
    ctx: &RequestContext,
    name: &Option<String>,
    description: &Option<String>,
) -> ApiResult<String> {
    let project = caller_project(ctx)?;
    may_change(ctx, &project)?;
    check_text("name", name)?;
    check_text("description", description)?;
    Ok(project)
}

/// Whose groups or group snapshots a list shows: the caller's project's, or
/// every project's (None) for an admin asking `all_tenants`.
fn list_scope(ctx: &RequestContext, all_projects: bool) -> ApiResult<Option<String>> {
    let own = caller_project(ctx)?;
    if !ctx.can_read() {
        return Err(ApiError::forbidden());
    }
    Ok((!(ctx.allowed(crate::http::policy::GROUP_ADMIN_CONTEXT) && all_projects)).then_some(own))
}

impl VolumeService {
    // ---- groups -------------------------------------------------------------------

    pub(crate) async fn group_create(
        &self,
        ctx: &RequestContext,
        req: GroupCreate,
    ) -> ApiResult<Group> {
        let project = new_in_project(ctx, &req.name, &req.description)?;
        let zone = req.availability_zone.clone().unwrap_or_else(|| ZONE.into());
        if zone != ZONE {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Availability zone '{zone}' is invalid."
            )));
        }
        let ctx2 = ctx.clone();
        let user = ctx.user.id.clone();
        self.write(move |c| {
            let gt = visible_type_tx::<GroupType>(c, &ctx2, &req.group_type)?;
            let mut types = Vec::new();
            for t in &req.volume_types {
                let t = super::types::type_for_volume_tx(c, &ctx2, Some(t))?;
                if !types.contains(&t.id) {
                    types.push(t.id);
                }
            }
            check_group_quota_tx(c, &project)?;
            let g = Group {
                id: uuid::Uuid::new_v4().to_string(),
                project_id: project,
                user_id: user,
                name: req.name,
                description: req.description,
                status: "available".into(),
                availability_zone: zone,
                group_type_id: gt.id,
                volume_types: types,
                group_snapshot_id: None,
                source_group_id: None,
                created_at: store::now(),
                updated_at: None,
            };
            gstore::group_insert(c, &g).map_err(sql)?;
            Ok(g)
        })
        .await
    }

    /// `create-from-src` (3.14): a new group of the source group's type and volume
    /// types with a copy of each of its volumes, or of each snapshot of a group
    /// snapshot. The group is `creating` until its volumes are made.
    pub(crate) async fn group_create_from_src(
        &self,
        ctx: &RequestContext,
        name: Option<String>,
        description: Option<String>,
        source: GroupSource,
    ) -> ApiResult<Group> {
        let project = new_in_project(ctx, &name, &description)?;
        let ctx2 = ctx.clone();
        let user = ctx.user.id.clone();
        let (group, volumes) = self
            .write(move |c| {
                let (src_group, copies) = match &source {
                    GroupSource::Group(gid) => group_copies_tx(c, &ctx2, gid)?,
                    GroupSource::GroupSnapshot(sid) => group_snapshot_copies_tx(c, &ctx2, sid)?,
                };
                check_group_quota_tx(c, &project)?;
                let (group_snapshot_id, source_group_id) = match source {
                    GroupSource::Group(g) => (None, Some(g)),
                    GroupSource::GroupSnapshot(s) => (Some(s), None),
                };
                let g = Group {
                    id: uuid::Uuid::new_v4().to_string(),
                    project_id: project,
                    user_id: user,
                    name,
                    description,
                    status: "creating".into(),
                    availability_zone: src_group.availability_zone,
                    group_type_id: src_group.group_type_id,
                    volume_types: src_group.volume_types,
                    group_snapshot_id,
                    source_group_id,
                    created_at: store::now(),
                    updated_at: None,
                };
                gstore::group_insert(c, &g).map_err(sql)?;
                let ids = group_volumes_new_tx(c, &ctx2, &g, copies)?;
                Ok((g, ids))
            })
            .await?;
        tracing::info!(group = %group.id, volumes = volumes.len(), "group create from source accepted");
        self.spawn_settling(Settle::Create(GroupKind::Group, group.id.clone()), volumes);
        Ok(group)
    }

    pub(crate) async fn group_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Group> {
        let ctx = ctx.clone();
        self.read(move |c| visible_group_tx(c, &ctx, &id)).await
    }

    /// The caller's groups, or every project's for an admin asking `all_tenants`,
    /// each with its volumes' ids.
    pub(crate) async fn group_list(
        &self,
        ctx: &RequestContext,
        all_projects: bool,
    ) -> ApiResult<Vec<(Group, Vec<String>)>> {
        let scope = list_scope(ctx, all_projects)?;
        self.read(move |c| {
            gstore::group_list(c, scope.as_deref())
                .map_err(sql)?
                .into_iter()
                .map(|g| {
                    let vols = gstore::group_volume_ids(c, &g.id).map_err(sql)?;
                    Ok((g, vols))
                })
                .collect()
        })
        .await
    }

    /// The ids of a group's volumes (3.25's `volumes` in the group view).
    pub(crate) async fn group_volumes(&self, id: String) -> ApiResult<Vec<String>> {
        self.read(move |c| gstore::group_volume_ids(c, &id).map_err(sql))
            .await
    }

    pub(crate) async fn group_update(
        &self,
        ctx: &RequestContext,
        id: String,
        req: GroupUpdate,
    ) -> ApiResult<()> {
        check_group_update(&req)?;
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut g = visible_group_tx(c, &ctx, &id)?;
            may_change(&ctx, &g.project_id)?;
            check_available(&g)?;
            for vid in &req.add_volumes {
                group_add_volume_tx(c, &g, vid)?;
            }
            for vid in &req.remove_volumes {
                group_remove_volume_tx(c, &g, vid)?;
            }
            if let Some(n) = req.name {
                g.name = Some(n);
            }
            if let Some(d) = req.description {
                g.description = Some(d);
            }
            gstore::group_update(c, &g, &store::now()).map_err(sql)
        })
        .await
    }

    /// `delete` action: refused while group snapshots exist, or while volumes
    /// remain without `delete-volumes`; with it, the volumes are deleted by their
    /// own tasks and the group goes when they are gone.
    pub(crate) async fn group_delete(
        &self,
        ctx: &RequestContext,
        id: String,
        delete_volumes: bool,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        let gid = id.clone();
        let volumes = self
            .write(move |c| {
                let mut g = visible_group_tx(c, &ctx, &gid)?;
                may_change(&ctx, &g.project_id)?;
                if !matches!(g.status.as_str(), "available" | "error" | "error_deleting") {
                    return Err(ApiError::bad_request(format!(
                        "Invalid group: Group status must be available or error, but current status is: {}.",
                        g.status
                    )));
                }
                if !gstore::snapshots_of_group(c, &gid).map_err(sql)?.is_empty() {
                    return Err(ApiError::bad_request(format!(
                        "Invalid group: Group {gid} has dependent group snapshots."
                    )));
                }
                let vols = gstore::group_volume_ids(c, &gid).map_err(sql)?;
                if vols.is_empty() {
                    gstore::group_delete(c, &gid).map_err(sql)?;
                    return Ok(Vec::new());
                }
                if !delete_volumes {
                    return Err(ApiError::bad_request(format!(
                        "Invalid group: Group {gid} still contains volumes. The delete-volumes flag is required to delete it."
                    )));
                }
                for vid in &vols {
                    volume_delete_tx(c, &ctx, vid, false, false).map_err(|e| match e {
                        ApiError::BadRequest(m) => ApiError::bad_request(format!(
                            "Invalid group: volume {vid} of group {gid} cannot be deleted: {m}"
                        )),
                        other => other,
                    })?;
                }
                g.status = "deleting".into();
                gstore::group_update(c, &g, &store::now()).map_err(sql)?;
                Ok(vols)
            })
            .await?;
        tracing::info!(group = %id, volumes = volumes.len(), "group delete accepted");
        if !volumes.is_empty() {
            self.spawn_settling(Settle::Delete(GroupKind::Group, id), volumes);
        }
        Ok(())
    }

    /// `reset_status` of a group (3.20) or a group snapshot (3.19), admin only.
    pub(crate) async fn group_record_reset_status(
        &self,
        ctx: &RequestContext,
        kind: GroupKind,
        id: String,
        status: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        let (allowed, title) = match kind {
            GroupKind::Group => (GROUP_STATUSES, "Group"),
            GroupKind::GroupSnapshot => (GROUP_SNAPSHOT_STATUSES, "Group snapshot"),
        };
        if !allowed.contains(&status.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: {title} status {status} not allowed."
            )));
        }
        let ctx = ctx.clone();
        self.write(move |c| {
            // Only one the caller sees is reset (a 404 otherwise).
            match kind {
                GroupKind::Group => {
                    visible_group_tx(c, &ctx, &id)?;
                }
                GroupKind::GroupSnapshot => {
                    visible_snapshot_tx(c, &ctx, &id)?;
                }
            }
            kind.set_status(c, &id, &status)
        })
        .await
    }

    // ---- group snapshots -----------------------------------------------------------

    /// A snapshot of each volume of the group, made by the snapshot task, recorded
    /// with the group snapshot in one transaction.
    pub(crate) async fn group_snapshot_create(
        &self,
        ctx: &RequestContext,
        group_id: String,
        name: Option<String>,
        description: Option<String>,
    ) -> ApiResult<GroupSnapshot> {
        new_in_project(ctx, &name, &description)?;
        let ctx2 = ctx.clone();
        let user = ctx.user.id.clone();
        let (gs, snaps) = self
            .write(move |c| {
                let g = snapshottable_group_tx(c, &ctx2, &group_id)?;
                let gs = GroupSnapshot {
                    id: uuid::Uuid::new_v4().to_string(),
                    project_id: g.project_id.clone(),
                    user_id: user.clone(),
                    group_id: g.id.clone(),
                    group_type_id: g.group_type_id.clone(),
                    name,
                    description,
                    status: "creating".into(),
                    created_at: store::now(),
                    updated_at: None,
                };
                gstore::snapshot_insert(c, &gs).map_err(sql)?;
                let mut snaps = Vec::new();
                for vid in gstore::group_volume_ids(c, &g.id).map_err(sql)? {
                    let req = SnapshotCreate {
                        volume_id: vid,
                        name: Some(format!("snapshot-{}", gs.id)),
                        description: gs.description.clone(),
                        metadata: BTreeMap::new(),
                        // Cinder snapshots a group's in-use volumes too.
                        force: true,
                    };
                    let s = snapshot_new_tx(c, &ctx2, req, user.clone(), Some(gs.id.clone()))?;
                    snaps.push(s.id);
                }
                Ok((gs, snaps))
            })
            .await?;
        tracing::info!(group_snapshot = %gs.id, snapshots = snaps.len(), "group snapshot create accepted");
        self.spawn_settling(
            Settle::Create(GroupKind::GroupSnapshot, gs.id.clone()),
            snaps,
        );
        Ok(gs)
    }

    pub(crate) async fn group_snapshot_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<GroupSnapshot> {
        let ctx = ctx.clone();
        self.read(move |c| visible_snapshot_tx(c, &ctx, &id)).await
    }

    pub(crate) async fn group_snapshot_list(
        &self,
        ctx: &RequestContext,
        all_projects: bool,
    ) -> ApiResult<Vec<GroupSnapshot>> {
        let scope = list_scope(ctx, all_projects)?;
        self.read(move |c| gstore::snapshot_list(c, scope.as_deref()).map_err(sql))
            .await
    }

    pub(crate) async fn group_snapshot_delete(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        let gsid = id.clone();
        let snaps = self
            .write(move |c| {
                let s = visible_snapshot_tx(c, &ctx, &gsid)?;
                may_change(&ctx, &s.project_id)?;
                if !matches!(s.status.as_str(), "available" | "error" | "error_deleting") {
                    return Err(ApiError::bad_request(format!(
                        "Invalid group snapshot: Group snapshot status must be available or error, and no Group can be currently using it as source for its creation, but current status is: {}.",
                        s.status
                    )));
                }
                let members = gstore::snapshot_members(c, &gsid).map_err(sql)?;
                if members.is_empty() {
                    gstore::snapshot_delete(c, &gsid).map_err(sql)?;
                    return Ok(Vec::new());
                }
                let mut ids = Vec::new();
                for (sid, _, status) in members {
                    if status != "deleting" {
                        snapshot_delete_tx(c, &ctx, &sid, false)?;
                    }
                    ids.push(sid);
                }
                GroupKind::GroupSnapshot.set_status(c, &gsid, "deleting")?;
                Ok(ids)
            })
            .await?;
        tracing::info!(group_snapshot = %id, snapshots = snaps.len(), "group snapshot delete accepted");
        if !snaps.is_empty() {
            self.spawn_settling(Settle::Delete(GroupKind::GroupSnapshot, id), snaps);
        }
        Ok(())
    }
}

/// A group update changes something, and adds no volume it also removes.
fn check_group_update(req: &GroupUpdate) -> ApiResult<()> {
    check_text("name", &req.name)?;
    check_text("description", &req.description)?;
    if req.name.is_none()
        && req.description.is_none()
        && req.add_volumes.is_empty()
        && req.remove_volumes.is_empty()
    {
        return Err(ApiError::bad_request(
            "Name, description, add_volumes, and remove_volumes can not be all empty in the request body.",
        ));
    }
    if let Some(v) = req
        .add_volumes
        .iter()
        .find(|v| req.remove_volumes.contains(v))
    {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {v} cannot be both added to and removed from the group."
        )));
    }
    Ok(())
}

/// Adds a volume of the group's project, in no group, of one of its types,
/// available or in use.
fn group_add_volume_tx(c: &Connection, g: &Group, vid: &str) -> ApiResult<()> {
    let id = &g.id;
    let v = match store::volume_get(c, vid).map_err(sql)? {
        Some(v) if v.project_id == g.project_id => v,
        _ => {
            return Err(ApiError::bad_request(format!(
                "Invalid volume: Cannot add volume {vid} to group {id} because volume cannot be found."
            )));
        }
    };
    if let Some(other) = &v.group_id {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {vid} is already in a group ({other})."
        )));
    }
    if !g.volume_types.contains(&v.type_id) {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Cannot add volume {vid} to group {id} because volume type {} is not supported by the group.",
            v.type_id
        )));
    }
    if !matches!(v.status.as_str(), "available" | "in-use") {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Cannot add volume {vid} to group {id} because volume is in an invalid state: {}. Valid states are: ('available', 'in-use').",
            v.status.as_str()
        )));
    }
    gstore::volume_set_group(c, vid, Some(id)).map_err(sql)
}

/// Removes one of the group's volumes, unless it is busy.
fn group_remove_volume_tx(c: &Connection, g: &Group, vid: &str) -> ApiResult<()> {
    let id = &g.id;
    let v = match store::volume_get(c, vid).map_err(sql)? {
        Some(v) if v.group_id.as_deref() == Some(id.as_str()) => v,
        _ => {
            return Err(ApiError::bad_request(format!(
                "Invalid volume: Volume {vid} is not in group {id}."
            )));
        }
    };
    if !matches!(
        v.status.as_str(),
        "available" | "in-use" | "error" | "error_deleting"
    ) {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Cannot remove volume {vid} from group {id} because volume is in an invalid state: {}.",
            v.status.as_str()
        )));
    }
    gstore::volume_set_group(c, vid, None).map_err(sql)
}

/// A source group (available) and a copy of each of its volumes.
fn group_copies_tx(
    c: &Connection,
    ctx: &RequestContext,
    gid: &str,
) -> ApiResult<(Group, Vec<VolumeCreate>)> {
    let g = visible_group_tx(c, ctx, gid)?;
    if g.status != "available" {
        return Err(ApiError::bad_request(format!(
            "Invalid group: Source group {gid} status must be available, but current status is: {}.",
            g.status
        )));
    }
    let mut copies = Vec::new();
    for vid in gstore::group_volume_ids(c, gid).map_err(sql)? {
        let v = store::volume_get(c, &vid)
            .map_err(sql)?
            .ok_or_else(|| super::volume_not_found(&vid))?;
        copies.push(VolumeCreate {
            name: v.name.clone(),
            description: v.description.clone(),
            volume_type: Some(v.type_id.clone()),
            source_volid: Some(v.id.clone()),
            ..Default::default()
        });
    }
    Ok((g, copies))
}

/// A source group snapshot's group, and a volume from each of its snapshots.
fn group_snapshot_copies_tx(
    c: &Connection,
    ctx: &RequestContext,
    sid: &str,
) -> ApiResult<(Group, Vec<VolumeCreate>)> {
    let s = visible_snapshot_tx(c, ctx, sid)?;
    if s.status != "available" {
        return Err(ApiError::bad_request(format!(
            "Invalid group snapshot: Group snapshot {sid} status must be available, but current status is: {}.",
            s.status
        )));
    }
    let g = gstore::group_get(c, &s.group_id)
        .map_err(sql)?
        .ok_or_else(|| group_not_found(&s.group_id))?;
    let mut copies = Vec::new();
    for (snap_id, vid, _) in gstore::snapshot_members(c, sid).map_err(sql)? {
        let v = store::volume_get(c, &vid).map_err(sql)?;
        copies.push(VolumeCreate {
            name: v.as_ref().and_then(|v| v.name.clone()),
            description: v.as_ref().and_then(|v| v.description.clone()),
            volume_type: v.map(|v| v.type_id),
            snapshot_id: Some(snap_id),
            ..Default::default()
        });
    }
    Ok((g, copies))
}

/// The new group's volumes, each recorded outside the group, then put in: the
/// group is `creating`, which a volume joining by its own create may not. The
/// ids of those with a task to run.
fn group_volumes_new_tx(
    c: &Connection,
    ctx: &RequestContext,
    g: &Group,
    copies: Vec<VolumeCreate>,
) -> ApiResult<Vec<String>> {
    let mut ids = Vec::new();
    for req in copies {
        let v = volume_new_tx(c, ctx, req, None, None)?;
        gstore::volume_set_group(c, &v.id, Some(&g.id)).map_err(sql)?;
        if v.task.is_some() {
            ids.push(v.id);
        }
    }
    Ok(ids)
}

/// Cinder's `groups` quota (413 when the project has as many as it may).
fn check_group_quota_tx(c: &Connection, project: &str) -> ApiResult<()> {
    let limit = quotas::limits_tx(c, project)?
        .get("groups")
        .copied()
        .unwrap_or(-1);
    if limit < 0 {
        return Ok(());
    }
    let used = gstore::group_list(c, Some(project)).map_err(sql)?.len() as i64;
    if used >= limit {
        return Err(ApiError::OverQuota(format!(
            "Maximum number of groups allowed ({limit}) exceeded"
        )));
    }
    Ok(())
}
