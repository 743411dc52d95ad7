//! Volumes: create, list (filters and sorting), show, update, delete, extend,
//! metadata, bootable/readonly flags and the admin's status reset. Each multi-step
//! operation records its status and task in the same transaction that checks it,
//! then the task runs (tasks.rs).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::model::{Event, SnapshotEvent, Source, Task, Volume, VolumeStatus, ZONE};
use super::{
    VolumeService, caller_project, may_change, quotas, sees, sql, store, types, volume_not_found,
};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// A new volume, as the API validated it.
#[derive(Debug, Default)]
pub(crate) struct VolumeCreate {
    pub size: i64,
    pub name: Option<String>,
    pub description: Option<String>,
    pub volume_type: Option<String>,
    pub availability_zone: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub multiattach: bool,
    /// Copy this snapshot (size may then be left 0: the snapshot's).
    pub snapshot_id: Option<String>,
    /// Copy this volume (size may then be left 0: the volume's).
    pub source_volid: Option<String>,
    /// Copy this Glance image (converted to raw); the volume is then bootable.
    pub image_ref: Option<String>,
    /// The generic group the volume joins (its type must be one of the group's).
    pub group_id: Option<String>,
}

/// What a volume made from an image records of it (`volume_image_metadata`).
pub(super) fn image_metadata(i: &crate::image::model::Image) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("image_id".into(), i.id.clone());
    for (k, v) in [
        ("image_name", i.name.clone()),
        ("disk_format", i.disk_format.clone()),
        ("container_format", i.container_format.clone()),
        ("checksum", i.checksum.clone()),
        ("size", i.size.map(|s| s.to_string())),
        ("min_disk", Some(i.min_disk.to_string())),
        ("min_ram", Some(i.min_ram.to_string())),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    }
    for (k, v) in &i.properties {
        if let Some(s) = v.as_str() {
            m.insert(k.clone(), s.to_owned());
        }
    }
    m
}

/// Changes to a volume's name, description and metadata.
#[derive(Debug, Default)]
pub(crate) struct VolumeUpdate {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// A list's filters (exact or, with `like`, substring) and sort keys.
#[derive(Debug, Default, Clone)]
pub(crate) struct ListOptions {
    /// Every project's volumes (admin's `all_tenants`).
    pub all_projects: bool,
    /// Only this project's (admin, with `all_tenants`).
    pub project_id: Option<String>,
    pub name: Option<Filter>,
    pub status: Option<String>,
    pub bootable: Option<bool>,
    pub availability_zone: Option<String>,
    pub size: Option<i64>,
    pub metadata: BTreeMap<String, String>,
    /// Only the volumes of this generic group (3.10's `group_id` filter).
    pub group_id: Option<String>,
    /// (key, ascending)
    pub sort: Vec<(SortKey, bool)>,
}

/// A name filter: exact, or substring for `name~` (3.34).
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    Exact(String),
    Like(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortKey {
    Id,
    Name,
    Status,
    Size,
    CreatedAt,
    UpdatedAt,
    AvailabilityZone,
    Bootable,
}

impl SortKey {
    pub(crate) fn parse(s: &str) -> Option<SortKey> {
        Some(match s {
            "id" => SortKey::Id,
            "name" | "display_name" => SortKey::Name,
            "status" => SortKey::Status,
            "size" => SortKey::Size,
            "created_at" => SortKey::CreatedAt,
            "updated_at" => SortKey::UpdatedAt,
            "availability_zone" => SortKey::AvailabilityZone,
            "bootable" => SortKey::Bootable,
            _ => return None,
        })
    }

    fn cmp(self, a: &Volume, b: &Volume) -> Ordering {
        match self {
            SortKey::Id => a.id.cmp(&b.id),
            SortKey::Name => a.name.cmp(&b.name),
            SortKey::Status => a.status.as_str().cmp(b.status.as_str()),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::CreatedAt => a.created_at.cmp(&b.created_at),
            SortKey::UpdatedAt => a.updated_at.cmp(&b.updated_at),
            SortKey::AvailabilityZone => a.availability_zone.cmp(&b.availability_zone),
            SortKey::Bootable => a.bootable.cmp(&b.bootable),
        }
    }
}

/// Applies the filters, then sorts (default: newest first), ties broken by id.
pub(super) fn filter_and_sort(vols: Vec<Volume>, o: &ListOptions) -> Vec<Volume> {
    let mut out: Vec<Volume> = vols
        .into_iter()
        .filter(|v| match &o.name {
            None => true,
            Some(Filter::Exact(n)) => v.name.as_deref() == Some(n.as_str()),
            Some(Filter::Like(n)) => v.name.as_deref().is_some_and(|x| x.contains(n.as_str())),
        })
        .filter(|v| o.status.as_deref().is_none_or(|s| v.status.as_str() == s))
        .filter(|v| o.bootable.is_none_or(|b| v.bootable == b))
        .filter(|v| {
            o.availability_zone
                .as_deref()
                .is_none_or(|z| v.availability_zone == z)
        })
        .filter(|v| o.size.is_none_or(|s| v.size == s))
        .filter(|v| {
            o.group_id
                .as_deref()
                .is_none_or(|g| v.group_id.as_deref() == Some(g))
        })
        .filter(|v| {
            o.metadata
                .iter()
                .all(|(k, val)| v.metadata.get(k) == Some(val))
        })
        .collect();
    let keys: Vec<(SortKey, bool)> = if o.sort.is_empty() {
        vec![(SortKey::CreatedAt, false)]
    } else {
        o.sort.clone()
    };
    out.sort_by(|a, b| {
        for (k, asc) in &keys {
            let ord = k.cmp(a, b);
            if ord != Ordering::Equal {
                return if *asc { ord } else { ord.reverse() };
            }
        }
        b.id.cmp(&a.id)
    });
    out
}

fn check_text(field: &str, v: &Option<String>) -> ApiResult<()> {
    if let Some(s) = v
        && s.chars().count() > 255
    {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {s}. '{s}' is too long"
        )));
    }
    Ok(())
}

pub(super) fn check_metadata(m: &BTreeMap<String, String>) -> ApiResult<()> {
    for (k, v) in m {
        if k.is_empty() || k.chars().count() > 255 {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute metadata. Metadata property key must be 1 to 255 characters.",
            ));
        }
        if v.chars().count() > 255 {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute metadata. Metadata property value of key {k} is longer than 255 characters."
            )));
        }
    }
    Ok(())
}

/// The volume the caller may see, or 404 (another project's volume is not found).
pub(super) fn visible_tx(
    c: &rusqlite::Connection,
    ctx: &RequestContext,
    id: &str,
) -> ApiResult<Volume> {
    match store::volume_get(c, id).map_err(sql)? {
        Some(v) if sees(ctx, &v.project_id) => Ok(v),
        _ => Err(volume_not_found(id)),
    }
}

/// Moves a volume by `event`, recording `task` (None when the work is done).
pub(super) fn transition_tx(
    c: &rusqlite::Connection,
    v: &Volume,
    event: Event,
    task: Option<&Task>,
) -> ApiResult<VolumeStatus> {
    let to = v
        .status
        .transition(event)
        .map_err(|r| ApiError::bad_request(r.to_string()))?;
    store::volume_set_state(c, &v.id, to, task, None).map_err(sql)?;
    Ok(to)
}

/// The snapshot or volume a new volume copies, its size and its type's name;
/// it must be the caller's to see and `available` (a volume may also be in-use).
fn source_tx(
    c: &rusqlite::Connection,
    ctx: &RequestContext,
    req: &VolumeCreate,
) -> ApiResult<(Option<Source>, i64, Option<String>)> {
    if let Some(sid) = &req.snapshot_id {
        let s = super::snapshots::visible_tx(c, ctx, sid)?;
        if s.status != super::model::SnapshotStatus::Available {
            return Err(ApiError::bad_request(format!(
                "Invalid snapshot: Originating snapshot status must be one of 'available' values, but current status is: {}.",
                s.status.as_str()
            )));
        }
        let v = store::volume_get(c, &s.volume_id).map_err(sql)?;
        return Ok((
            Some(Source::Snapshot { id: s.id }),
            s.size,
            v.map(|v| v.type_name),
        ));
    }
    if let Some(vid) = &req.source_volid {
        let v = visible_tx(c, ctx, vid)?;
        if !matches!(v.status, VolumeStatus::Available | VolumeStatus::InUse) {
            return Err(ApiError::bad_request(format!(
                "Invalid volume: Source volume status must be available or in-use, but current status is: {}.",
                v.status.as_str()
            )));
        }
        return Ok((Some(Source::Volume { id: v.id }), v.size, Some(v.type_name)));
    }
    Ok((None, 0, None))
}

/// Validates and records a new volume (`creating`, with its create task, or
/// `error` when no backend fits): the whole of a volume create but fetching the
/// image and spawning the task, shared by a group made from a source, which
/// records all its volumes in one transaction.
pub(super) fn volume_new_tx(
    c: &rusqlite::Connection,
    ctx: &RequestContext,
    req: VolumeCreate,
    id: Option<String>,
    image: Option<&crate::image::model::Image>,
) -> ApiResult<Volume> {
    let project = caller_project(ctx)?;
    let user = ctx.user.id.clone();
    let zone = req.availability_zone.clone().unwrap_or_else(|| ZONE.into());
    let p = plan_volume_tx(c, ctx, &project, &req, image)?;
    // Cinder's scheduler: a type asking for a capability this backend
    // lacks leaves the volume in error, with a message for its owner.
    let unmet = super::hosts::unmet_spec(&p.volume_type);
    let t = p.volume_type;
    let size = p.size;
    let multiattach = req.multiattach
        || t.extra_specs.get("multiattach").map(String::as_str) == Some("<is> True");
    let status = if unmet.is_some() {
        VolumeStatus::Error
    } else {
        VolumeStatus::Creating
    };
    let fresh = Volume::detached(
        (project, user),
        size,
        status,
        zone,
        (t.id, t.name),
        store::now(),
    );
    let v = Volume {
        id: id.unwrap_or_else(|| fresh.id.clone()),
        name: req.name,
        description: req.description,
        bootable: p.bootable,
        multiattach,
        snapshot_id: req.snapshot_id.clone(),
        source_volid: req.source_volid.clone(),
        image_id: image.as_ref().map(|i| i.id.clone()),
        task: unmet.is_none().then_some(Task::Create {
            size,
            source: p.source,
        }),
        error_reason: unmet
            .as_ref()
            .map(|(k, v)| format!("No valid backend was found: no backend has {k}={v}.")),
        metadata: req.metadata,
        image_metadata: p.image_metadata,
        group_id: req.group_id.clone(),
        ..fresh
    };
    store::volume_insert(c, &v).map_err(sql)?;
    if unmet.is_some() {
        super::messages::record_tx(c, &v.project_id, &v.id, super::messages::NO_VALID_BACKEND)?;
    }
    Ok(v)
}

/// What a new volume will be, from its request and source.
struct VolumePlan {
    size: i64,
    source: Option<Source>,
    volume_type: super::model::VolumeType,
    image_metadata: BTreeMap<String, String>,
    bootable: bool,
}

/// Plans a new volume: its source (an image, a snapshot, a volume), size (no
/// smaller than the source), type (the source's by default), group and quota
/// checked.
fn plan_volume_tx(
    c: &rusqlite::Connection,
    ctx: &RequestContext,
    project: &str,
    req: &VolumeCreate,
    image: Option<&crate::image::model::Image>,
) -> ApiResult<VolumePlan> {
    let (mut source, source_size, source_type) = source_tx(c, ctx, req)?;
    let (copied_bootable, copied_image_meta) = copied_origin_tx(c, req)?;
    let mut image_meta = BTreeMap::new();
    if let Some(i) = &image {
        source = Some(Source::Image {
            id: i.id.clone(),
            format: i.disk_format.clone().unwrap_or_else(|| "raw".into()),
        });
        image_meta = image_metadata(i);
    } else if copied_bootable {
        image_meta = copied_image_meta;
    }
    let size = if req.size == 0 { source_size } else { req.size };
    if size < source_size {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: Volume size '{size}'GB cannot be smaller than the snapshot or source volume size {source_size}GB."
        )));
    }
    let wanted = req.volume_type.clone().or(source_type);
    let t = types::type_for_volume_tx(c, ctx, wanted.as_deref())?;
    if let Some(gid) = &req.group_id {
        super::groups::check_volume_joins_tx(c, ctx, gid, &t.id)?;
    }
    quotas::check_tx(c, project, &t.name, 1, 0, size, size)?;
    Ok(VolumePlan {
        size,
        source,
        volume_type: t,
        image_metadata: image_meta,
        bootable: image.is_some() || copied_bootable,
    })
}

/// A copy of a bootable volume (or of its snapshot) is bootable and keeps the
/// image metadata, as Cinder copies the Glance metadata: the origin's
/// bootable flag and image metadata.
fn copied_origin_tx(
    c: &rusqlite::Connection,
    req: &VolumeCreate,
) -> ApiResult<(bool, BTreeMap<String, String>)> {
    let origin = match (&req.source_volid, &req.snapshot_id) {
        (Some(vid), _) => store::volume_get(c, vid).map_err(sql)?,
        (None, Some(sid)) => match store::snapshot_get(c, sid).map_err(sql)? {
            Some(s) => store::volume_get(c, &s.volume_id).map_err(sql)?,
            None => None,
        },
        _ => None,
    };
    Ok(origin
        .map(|o| (o.bootable, o.image_metadata))
        .unwrap_or_default())
}

/// Starts a volume's delete (status `deleting`, with its task; a cascade marks its
/// snapshots too) after Cinder's checks: the whole of a delete but spawning the
/// task, shared by a group delete, which deletes all its volumes in one transaction.
pub(super) fn volume_delete_tx(
    c: &rusqlite::Connection,
    ctx: &RequestContext,
    vid: &str,
    force: bool,
    cascade: bool,
) -> ApiResult<()> {
    let v = visible_tx(c, ctx, vid)?;
    may_change(ctx, &v.project_id)?;
    if force {
        ctx.require_admin()?;
    }
    if v.attach_status == "attached" {
        return Err(ApiError::bad_request(
            VolumeStatus::InUse
                .transition(Event::DeleteStart { force })
                .map(|_| String::new())
                .unwrap_or_else(|r| r.to_string()),
        ));
    }
    let snaps = store::snapshots_of_volume(c, &v.id).map_err(sql)?;
    if !snaps.is_empty() && !cascade {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {} still has {} dependent snapshots.",
            v.id,
            snaps.len()
        )));
    }
    transition_tx(c, &v, Event::DeleteStart { force }, Some(&Task::Delete))?;
    // Cascade: the snapshots are deleted by the volume's task, first.
    for s in snaps {
        let to = s
            .status
            .transition(SnapshotEvent::DeleteStart { force })
            .map_err(ApiError::bad_request)?;
        store::snapshot_set_state(c, &s.id, to, Some("delete"), None).map_err(sql)?;
    }
    Ok(())
}

impl VolumeService {
    /// The active image a volume of `size` GiB may be made from; Cinder's 400s
    /// for an unknown image and an image larger than the volume.
    async fn image_for_volume(
        &self,
        ctx: &RequestContext,
        image_ref: &str,
        size: i64,
    ) -> ApiResult<crate::image::model::Image> {
        let images =
            self.inner.image.as_ref().ok_or_else(|| {
                ApiError::bad_request("Invalid input received: no image service.")
            })?;
        let bad = || {
            ApiError::bad_request("Invalid image identifier or unable to access requested image.")
        };
        let i = match images.image_get(ctx, image_ref.to_owned()).await {
            Ok(i) => i,
            Err(ApiError::Internal(e)) => return Err(ApiError::Internal(e)),
            Err(_) => return Err(bad()),
        };
        if i.status != crate::image::model::ImageStatus::Active {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Image {} is not active.",
                i.id
            )));
        }
        let bytes = i.virtual_size.or(i.size).unwrap_or(0);
        let needed = (bytes + (1 << 30) - 1) / (1 << 30);
        if needed > size {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Size of specified image {needed}GB is larger than volume size {size}GB."
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

    pub(crate) async fn volume_create(
        &self,
        ctx: &RequestContext,
        req: VolumeCreate,
    ) -> ApiResult<Volume> {
        self.volume_create_as(ctx, req, None).await
    }

    /// A create under an id the caller chose (a server's build names its new
    /// volumes when the server is recorded): a volume with that id already there
    /// is the one a crashed build began, and is returned (its task resumed)
    /// instead of making a second one.
    pub(crate) async fn volume_create_with_id(
        &self,
        ctx: &RequestContext,
        id: String,
        req: VolumeCreate,
    ) -> ApiResult<Volume> {
        let ctx2 = ctx.clone();
        let vid = id.clone();
        let existing = self
            .read(move |c| match store::volume_get(c, &vid).map_err(sql)? {
                Some(v) if sees(&ctx2, &v.project_id) => Ok(Some(v)),
                Some(_) => Err(ApiError::Conflict(format!("Volume {vid} already exists."))),
                None => Ok(None),
            })
            .await?;
        if let Some(v) = existing {
            if v.task.is_some() {
                self.spawn_task(v.id.clone());
            }
            return Ok(v);
        }
        self.volume_create_as(ctx, req, Some(id)).await
    }

    async fn volume_create_as(
        &self,
        ctx: &RequestContext,
        req: VolumeCreate,
        id: Option<String>,
    ) -> ApiResult<Volume> {
        let project = caller_project(ctx)?;
        may_change(ctx, &project)?;
        if req.snapshot_id.is_some() && req.source_volid.is_some() {
            return Err(ApiError::bad_request(
                "Invalid input received: only one of snapshot_id and source_volid may be given.",
            ));
        }
        let from_source = req.snapshot_id.is_some() || req.source_volid.is_some();
        if req.size < 1 && !(from_source && req.size == 0) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute size. Value: {}. {} is less than the minimum of 1",
                req.size, req.size
            )));
        }
        check_text("name", &req.name)?;
        check_metadata(&req.metadata)?;
        let zone = req.availability_zone.clone().unwrap_or_else(|| ZONE.into());
        if zone != ZONE {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Availability zone '{zone}' is invalid."
            )));
        }
        let image = match &req.image_ref {
            None => None,
            Some(_) if from_source => {
                return Err(ApiError::bad_request(
                    "Invalid input received: only one of imageRef, snapshot_id and source_volid may be given.",
                ));
            }
            Some(iref) => Some(self.image_for_volume(ctx, iref, req.size).await?),
        };
        let ctx2 = ctx.clone();
        let v = self
            .write(move |c| volume_new_tx(c, &ctx2, req, id, image.as_ref()))
            .await?;
        if v.task.is_none() {
            tracing::info!(volume = %v.id, reason = ?v.error_reason, "volume create: no backend fits");
            return Ok(v);
        }
        tracing::info!(volume = %v.id, size = v.size, "volume create accepted");
        self.spawn_task(v.id.clone());
        Ok(v)
    }

    pub(crate) async fn volume_list(
        &self,
        ctx: &RequestContext,
        o: ListOptions,
    ) -> ApiResult<Vec<Volume>> {
        let own = caller_project(ctx)?;
        if !ctx.can_read() {
            return Err(ApiError::forbidden());
        }
        let scope = if ctx.allowed(crate::http::policy::VOLUME_ADMIN_CONTEXT) && o.all_projects {
            o.project_id.clone()
        } else {
            Some(own)
        };
        let vols = self
            .read(move |c| store::volume_list(c, scope.as_deref()).map_err(sql))
            .await?;
        Ok(filter_and_sort(vols, &o))
    }

    pub(crate) async fn volume_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Volume> {
        let ctx = ctx.clone();
        self.read(move |c| visible_tx(c, &ctx, &id)).await
    }

    pub(crate) async fn volume_update(
        &self,
        ctx: &RequestContext,
        id: String,
        req: VolumeUpdate,
    ) -> ApiResult<Volume> {
        if let Some(n) = &req.name {
            check_text("name", n)?;
        }
        if let Some(m) = &req.metadata {
            check_metadata(m)?;
        }
        let ctx = ctx.clone();
        self.write(move |c| {
            let v = visible_tx(c, &ctx, &id)?;
            may_change(&ctx, &v.project_id)?;
            let name = req.name.unwrap_or(v.name.clone());
            let description = req.description.unwrap_or(v.description.clone());
            store::volume_update(c, &id, name.as_deref(), description.as_deref()).map_err(sql)?;
            if let Some(m) = &req.metadata {
                store::metadata_replace(c, &id, "user", m).map_err(sql)?;
            }
            visible_tx(c, &ctx, &id)
        })
        .await
    }

    /// Starts a delete (202); `force` (admin) also takes volumes a failure left
    /// behind. `cascade` would also delete snapshots, which do not exist yet.
    pub(crate) async fn volume_delete(
        &self,
        ctx: &RequestContext,
        id: String,
        force: bool,
        cascade: bool,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        let vid = id.clone();
        self.write(move |c| volume_delete_tx(c, &ctx, &vid, force, cascade))
            .await?;
        tracing::info!(volume = %id, "volume delete accepted");
        self.spawn_task(id);
        Ok(())
    }

    /// Deletes the volumes of a deleted server whose mappings say
    /// `delete_on_termination` (Nova deletes them as the server's owner; here the
    /// compute service asks once their attachments are gone). A volume still
    /// being made is deleted as by a forced delete; one gone already is skipped;
    /// one that cannot go (snapshots, attached elsewhere) stays, with a warning.
    pub(crate) async fn volumes_delete_for_server(&self, ids: Vec<String>) {
        for id in ids {
            let vid = id.clone();
            let started = self
                .write(move |c| {
                    let Some(v) = store::volume_get(c, &vid).map_err(sql)? else {
                        return Ok(false);
                    };
                    if v.attach_status == "attached" {
                        return Err(ApiError::bad_request("the volume is attached elsewhere"));
                    }
                    if !store::snapshots_of_volume(c, &v.id)
                        .map_err(sql)?
                        .is_empty()
                    {
                        return Err(ApiError::bad_request("the volume has snapshots"));
                    }
                    let force = matches!(v.status, VolumeStatus::Creating | VolumeStatus::Error);
                    transition_tx(c, &v, Event::DeleteStart { force }, Some(&Task::Delete))?;
                    Ok(true)
                })
                .await;
            match started {
                Ok(true) => {
                    tracing::info!(volume = %id, "deleting a server's volume (delete_on_termination)");
                    self.spawn_task(id);
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(volume = %id, error = %e, "a server's volume marked delete_on_termination stays");
                }
            }
        }
    }

    /// `os-extend`: grows an available volume, or (`in_use_ok`, 3.42+) an
    /// attached one: the file grows, then the compute service is told
    /// (`volume-extended`) so the running guest sees the new size.
    pub(crate) async fn volume_extend(
        &self,
        ctx: &RequestContext,
        id: String,
        new_size: i64,
        in_use_ok: bool,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        let vid = id.clone();
        self.write(move |c| {
            let v = visible_tx(c, &ctx, &vid)?;
            may_change(&ctx, &v.project_id)?;
            let attached = v.status == VolumeStatus::InUse && in_use_ok;
            if v.status != VolumeStatus::Available && !attached {
                return Err(ApiError::bad_request(format!(
                    "Invalid volume: Volume status must be available to extend, but current status is: {}.",
                    v.status.as_str()
                )));
            }
            if new_size <= v.size {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: New size for extend must be greater than current size. (current: {}, extended: {new_size}).",
                    v.size
                )));
            }
            quotas::check_tx(c, &v.project_id, &v.type_name, 0, 0, new_size - v.size, new_size)?;
            let task = Task::Extend { new_size, attached };
            transition_tx(c, &v, Event::ExtendStart, Some(&task))?;
            Ok(())
        })
        .await?;
        self.spawn_task(id);
        Ok(())
    }

    /// Metadata changes: `replace` the whole set, else merge `set`; then `delete`.
    pub(crate) async fn metadata_change(
        &self,
        ctx: &RequestContext,
        id: String,
        set: BTreeMap<String, String>,
        replace: bool,
        delete: Option<String>,
    ) -> ApiResult<BTreeMap<String, String>> {
        check_metadata(&set)?;
        let ctx = ctx.clone();
        self.write(move |c| {
            let v = visible_tx(c, &ctx, &id)?;
            may_change(&ctx, &v.project_id)?;
            if replace {
                store::metadata_replace(c, &id, "user", &set).map_err(sql)?;
            } else {
                store::metadata_merge(c, &id, "user", &set).map_err(sql)?;
            }
            if let Some(k) = delete
                && !store::metadata_delete(c, &id, "user", &k).map_err(sql)?
            {
                return Err(ApiError::Missing(format!(
                    "Volume {id} has no metadata with key {k}."
                )));
            }
            Ok(visible_tx(c, &ctx, &id)?.metadata)
        })
        .await
    }

    /// `os-retype`: to another type served by this backend (no data moves); a type
    /// this backend cannot serve would need a migration, which is not offered.
    pub(crate) async fn volume_retype(
        &self,
        ctx: &RequestContext,
        id: String,
        new_type: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        let vid = id.clone();
        self.write(move |c| {
            let v = visible_tx(c, &ctx, &vid)?;
            may_change(&ctx, &v.project_id)?;
            if !matches!(v.status, VolumeStatus::Available | VolumeStatus::InUse) {
                return Err(ApiError::bad_request(format!(
                    "Invalid volume: Volume status must be available or in-use to retype, but current status is: {}.",
                    v.status.as_str()
                )));
            }
            let t = types::type_for_volume_tx(c, &ctx, Some(&new_type))?;
            if t.id == v.type_id {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: New volume_type same as original: {new_type}."
                )));
            }
            if let Some((k, val)) = super::hosts::unmet_spec(&t) {
                return Err(ApiError::bad_request(format!(
                    "Invalid volume: Retype needs a migration to a backend with {k}={val}, and this cloud has one backend."
                )));
            }
            quotas::check_tx(c, &v.project_id, &t.name, 1, 0, v.size, v.size)?;
            c.execute(
                "UPDATE volumes SET type_id = ?2, updated_at = ?3 WHERE id = ?1",
                rusqlite::params![v.id, t.id, store::now()],
            )
            .map_err(sql)?;
            Ok(())
        })
        .await?;
        tracing::info!(volume = %id, "volume retyped");
        Ok(())
    }

    /// `os-set_image_metadata` (merge `set`) and `os-unset_image_metadata` (`delete`).
    pub(crate) async fn image_metadata_change(
        &self,
        ctx: &RequestContext,
        id: String,
        set: BTreeMap<String, String>,
        delete: Option<String>,
    ) -> ApiResult<BTreeMap<String, String>> {
        check_metadata(&set)?;
        let ctx = ctx.clone();
        self.write(move |c| {
            let v = visible_tx(c, &ctx, &id)?;
            may_change(&ctx, &v.project_id)?;
            store::metadata_merge(c, &id, "image", &set).map_err(sql)?;
            if let Some(k) = delete
                && !store::metadata_delete(c, &id, "image", &k).map_err(sql)?
            {
                return Err(ApiError::Missing(format!(
                    "Glance metadata for volume/snapshot {id} cannot be found."
                )));
            }
            Ok(visible_tx(c, &ctx, &id)?.image_metadata)
        })
        .await
    }

    /// `os-set_bootable`.
    pub(crate) async fn volume_set_bootable(
        &self,
        ctx: &RequestContext,
        id: String,
        bootable: bool,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let v = visible_tx(c, &ctx, &id)?;
            may_change(&ctx, &v.project_id)?;
            store::volume_set_bootable(c, &id, bootable).map_err(sql)
        })
        .await
    }

    /// `os-update_readonly_flag`: recorded in the admin metadata as Cinder does.
    pub(crate) async fn volume_set_readonly(
        &self,
        ctx: &RequestContext,
        id: String,
        readonly: bool,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let v = visible_tx(c, &ctx, &id)?;
            may_change(&ctx, &v.project_id)?;
            if !matches!(v.status, VolumeStatus::Available | VolumeStatus::InUse) {
                return Err(ApiError::bad_request(format!(
                    "Invalid volume: Volume status must be available or in-use to update readonly flag, but current status is: {}.",
                    v.status.as_str()
                )));
            }
            let value = if readonly { "True" } else { "False" };
            let m = BTreeMap::from([("readonly".to_owned(), value.to_owned())]);
            store::metadata_merge(c, &id, "admin", &m).map_err(sql)
        })
        .await
    }

    /// `os-reset_status` (admin): sets the status (and attach status) as given,
    /// dropping any task, as an operator's repair.
    pub(crate) async fn volume_reset_status(
        &self,
        ctx: &RequestContext,
        id: String,
        status: Option<VolumeStatus>,
        attach_status: Option<String>,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        let ctx = ctx.clone();
        self.write(move |c| {
            let v = visible_tx(c, &ctx, &id)?;
            if let Some(s) = status {
                transition_tx(c, &v, Event::Reset(s), None)?;
            }
            if let Some(a) = attach_status {
                c.execute(
                    "UPDATE volumes SET attach_status = ?2 WHERE id = ?1",
                    rusqlite::params![id, a],
                )
                .map_err(sql)?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(id: &str, name: &str, size: i64, created: &str) -> Volume {
        Volume {
            id: id.into(),
            name: Some(name.into()),
            ..Volume::detached(
                ("p".into(), "u".into()),
                size,
                VolumeStatus::Available,
                ZONE.into(),
                ("t".into(), "lvmdriver-1".into()),
                created.into(),
            )
        }
    }

    fn ids(v: &[Volume]) -> Vec<&str> {
        v.iter().map(|v| v.id.as_str()).collect()
    }

    #[test]
    fn default_order_is_newest_first_and_sort_keys_apply() {
        let vols = vec![
            vol("a", "x", 1, "1"),
            vol("b", "y", 3, "3"),
            vol("c", "z", 2, "2"),
        ];
        let out = filter_and_sort(vols.clone(), &ListOptions::default());
        assert_eq!(ids(&out), ["b", "c", "a"]);
        let o = ListOptions {
            sort: vec![(SortKey::Size, true)],
            ..Default::default()
        };
        assert_eq!(ids(&filter_and_sort(vols.clone(), &o)), ["a", "c", "b"]);
        let o = ListOptions {
            name: Some(Filter::Like("y".into())),
            ..Default::default()
        };
        assert_eq!(ids(&filter_and_sort(vols, &o)), ["b"]);
    }

    #[test]
    fn metadata_filter_needs_every_pair() {
        let mut a = vol("a", "x", 1, "1");
        a.metadata.insert("k".into(), "v".into());
        let b = vol("b", "y", 1, "2");
        let o = ListOptions {
            metadata: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
            ..Default::default()
        };
        assert_eq!(ids(&filter_and_sort(vec![a, b], &o)), ["a"]);
    }
}
