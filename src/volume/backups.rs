//! Backups: copies of a volume's (or a snapshot's) data in the state directory
//! (`backups/backup-<id>`), restored into a new volume or over an available one.
//! Incremental backups record their parent (the volume's newest backup) as Cinder
//! does and hold only the chunks that changed since it (`backup_chunks`). Create,
//! restore and delete are tasks on the backup row, written with the volume's status
//! in one transaction and finished by `recover_backups` after a crash.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::model::{
    BackedUpMeta, Backup, BackupStatus, Event, SnapshotStatus, Volume, VolumeStatus, ZONE,
};
use super::{
    VolumeService, backup_chunks, caller_project, may_change, quotas, sees, sql, store, types,
    volume_not_found,
};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// Directory of the backups, below the state directory.
pub(crate) const BACKUPS_DIR: &str = "backups";

/// A new backup, as the API validated it.
#[derive(Debug, Default)]
pub(crate) struct BackupCreate {
    pub volume_id: String,
    pub snapshot_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub container: Option<String>,
    pub incremental: bool,
    pub force: bool,
    pub metadata: BTreeMap<String, String>,
}

/// The backup service an exported record names: Cinder's POSIX (directory) driver
/// is what these files are.
pub(crate) const BACKUP_SERVICE: &str = "cinder.backup.drivers.posix";

/// An exported backup record (`backup_url`, base64 JSON): enough to make the
/// backup again from its data file after its row is lost.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Record {
    id: String,
    volume_id: String,
    #[serde(default)]
    snapshot_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    size: i64,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    volume_meta: BackedUpMeta,
    data_timestamp: String,
    /// The data file, `backup-<id>` in the backups directory.
    data: String,
}

/// What a restore answers.
pub(crate) struct Restored {
    pub backup_id: String,
    pub volume_id: String,
    pub volume_name: String,
}

pub(crate) fn backup_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Backup {id} could not be found."))
}

fn visible_tx(c: &rusqlite::Connection, ctx: &RequestContext, id: &str) -> ApiResult<Backup> {
    match store::backup_get(c, id).map_err(sql)? {
        Some(b) if sees(ctx, &b.project_id) => Ok(b),
        _ => Err(backup_not_found(id)),
    }
}

fn volume_tx(c: &rusqlite::Connection, ctx: &RequestContext, id: &str) -> ApiResult<Volume> {
    match store::volume_get(c, id).map_err(sql)? {
        Some(v) if sees(ctx, &v.project_id) => Ok(v),
        _ => Err(volume_not_found(id)),
    }
}

/// Cinder's backup quotas (`backups`, `backup_gigabytes`): 413 when one more of
/// `size` GiB would pass a limit.
fn check_quota_tx(c: &rusqlite::Connection, project: &str, size: i64) -> ApiResult<()> {
    let limits = quotas::limits_tx(c, project)?;
    let (count, gb) = store::backup_usage(c, project).map_err(sql)?;
    let limit = limits.get("backups").copied().unwrap_or(-1);
    if limit >= 0 && count + 1 > limit {
        return Err(ApiError::OverQuota(format!(
            "BackupLimitExceeded: Maximum number of backups allowed ({limit}) exceeded"
        )));
    }
    let limit = limits.get("backup_gigabytes").copied().unwrap_or(-1);
    if limit >= 0 && gb + size > limit {
        return Err(ApiError::OverQuota(format!(
            "VolumeBackupSizeExceedsAvailableQuota: Requested backup exceeds allowed Backup gigabytes quota. Requested {size}G, quota is {limit}G and {gb}G has been consumed."
        )));
    }
    Ok(())
}

impl VolumeService {
    fn backup_path(&self, id: &str) -> PathBuf {
        self.inner.backup_dir.join(format!("backup-{id}"))
    }

    /// The data files a restore of backup `id` reads: its own, then its parent's
    /// and so on up to the first whole backup (an increment's parent can only be
    /// deleted after it, so the chain is complete).
    async fn backup_chain(&self, id: &str) -> ApiResult<Vec<PathBuf>> {
        let mut chain = Vec::new();
        let mut next = Some(id.to_owned());
        while let Some(id) = next.take() {
            let path = self.backup_path(&id);
            let key = id.clone();
            let parent = self
                .read(move |c| store::backup_get(c, &key).map_err(sql))
                .await?
                .and_then(|b| b.parent_id);
            let delta = backup_chunks::is_delta(&path, parent.is_some());
            chain.push(path);
            if delta {
                next = parent;
            }
        }
        Ok(chain)
    }

    pub(crate) async fn backup_create(
        &self,
        ctx: &RequestContext,
        req: BackupCreate,
    ) -> ApiResult<Backup> {
        let project = caller_project(ctx)?;
        may_change(ctx, &project)?;
        super::volumes::check_metadata(&req.metadata)?;
        let ctx2 = ctx.clone();
        let user = ctx.user.id.clone();
        let b = self
            .write(move |c| {
                let v = volume_tx(c, &ctx2, &req.volume_id)?;
                may_change(&ctx2, &v.project_id)?;
                if !matches!(v.status, VolumeStatus::Available | VolumeStatus::InUse) {
                    return Err(ApiError::bad_request(format!(
                        "Invalid volume: Volume to be backed up must be available or in-use, but the current status is \"{}\".",
                        v.status.as_str()
                    )));
                }
                if let Some(sid) = &req.snapshot_id {
                    let s = super::snapshots::visible_tx(c, &ctx2, sid)?;
                    if s.volume_id != v.id {
                        return Err(ApiError::bad_request(format!(
                            "Invalid snapshot: Snapshot {sid} is not a snapshot of volume {}.",
                            v.id
                        )));
                    }
                    if s.status != SnapshotStatus::Available {
                        return Err(ApiError::bad_request(format!(
                            "Invalid snapshot: Snapshot to be backed up must be available, but the current status is \"{}\".",
                            s.status.as_str()
                        )));
                    }
                } else {
                    if v.status == VolumeStatus::InUse && !req.force {
                        return Err(ApiError::bad_request(
                            "Invalid volume: Backing up an in-use volume must use the force flag.",
                        ));
                    }
                    let to = v
                        .status
                        .transition(Event::BackupStart { force: req.force })
                        .map_err(|r| ApiError::bad_request(r.to_string()))?;
                    store::volume_set_state(c, &v.id, to, None, None).map_err(sql)?;
                }
                let parent_id = if req.incremental {
                    let p = store::backup_latest_of_volume(c, &v.id)
                        .map_err(sql)?
                        .ok_or_else(|| {
                            ApiError::bad_request(
                                "Invalid backup: No backups available to do an incremental backup.",
                            )
                        })?;
                    Some(p.id)
                } else {
                    None
                };
                check_quota_tx(c, &v.project_id, v.size)?;
                let now = store::now();
                let b = Backup {
                    id: uuid::Uuid::new_v4().to_string(),
                    volume_id: v.id.clone(),
                    snapshot_id: req.snapshot_id,
                    project_id: v.project_id.clone(),
                    user_id: user,
                    name: req.name,
                    description: req.description,
                    size: v.size,
                    status: BackupStatus::Creating,
                    availability_zone: ZONE.into(),
                    container: req.container,
                    is_incremental: parent_id.is_some(),
                    parent_id,
                    object_count: 0,
                    metadata: req.metadata,
                    volume_meta: BackedUpMeta {
                        metadata: v.metadata.clone(),
                        image_metadata: v.image_metadata.clone(),
                        bootable: v.bootable,
                    },
                    task: Some("create".into()),
                    fail_reason: None,
                    data_timestamp: now.clone(),
                    created_at: now,
                    updated_at: None,
                    has_dependents: false,
                };
                store::backup_insert(c, &b).map_err(sql)?;
                Ok(b)
            })
            .await?;
        tracing::info!(backup = %b.id, volume = %b.volume_id, "backup create accepted");
        self.spawn_backup_task(b.id.clone());
        Ok(b)
    }

    pub(crate) async fn backup_list(
        &self,
        ctx: &RequestContext,
        all_projects: bool,
    ) -> ApiResult<Vec<Backup>> {
        let own = caller_project(ctx)?;
        if !ctx.can_read() {
            return Err(ApiError::forbidden());
        }
        let scope = if ctx.allowed(crate::http::policy::VOLUME_ADMIN_CONTEXT) && all_projects {
            None
        } else {
            Some(own)
        };
        self.read(move |c| store::backup_list(c, scope.as_deref()).map_err(sql))
            .await
    }

    pub(crate) async fn backup_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Backup> {
        let ctx = ctx.clone();
        self.read(move |c| visible_tx(c, &ctx, &id)).await
    }

    /// 3.9: name and description; 3.43: metadata (replaced).
    pub(crate) async fn backup_update(
        &self,
        ctx: &RequestContext,
        id: String,
        name: Option<Option<String>>,
        description: Option<Option<String>>,
        metadata: Option<BTreeMap<String, String>>,
    ) -> ApiResult<Backup> {
        if let Some(m) = &metadata {
            super::volumes::check_metadata(m)?;
        }
        let ctx = ctx.clone();
        self.write(move |c| {
            let b = visible_tx(c, &ctx, &id)?;
            may_change(&ctx, &b.project_id)?;
            let name = name.unwrap_or(b.name.clone());
            let description = description.unwrap_or(b.description.clone());
            let metadata = metadata.unwrap_or(b.metadata.clone());
            store::backup_update(c, &id, name.as_deref(), description.as_deref(), &metadata)
                .map_err(sql)?;
            visible_tx(c, &ctx, &id)
        })
        .await
    }

    /// Starts a delete: available or error backups (any, with `force`, admin) without
    /// incremental backups on them.
    pub(crate) async fn backup_delete(
        &self,
        ctx: &RequestContext,
        id: String,
        force: bool,
    ) -> ApiResult<()> {
        if force {
            ctx.require_admin()?;
        }
        let ctx = ctx.clone();
        let bid = id.clone();
        self.write(move |c| {
            let b = visible_tx(c, &ctx, &bid)?;
            may_change(&ctx, &b.project_id)?;
            let ok = matches!(b.status, BackupStatus::Available | BackupStatus::Error)
                || (force && b.status != BackupStatus::Restoring);
            if !ok {
                return Err(ApiError::bad_request(format!(
                    "Invalid backup: Backup status must be available or error, but current status is: {}.",
                    b.status.as_str()
                )));
            }
            if b.has_dependents {
                return Err(ApiError::bad_request(
                    "Invalid backup: Incremental backups exist for this backup.",
                ));
            }
            store::backup_set_state(c, &b.id, BackupStatus::Deleting, Some("delete"), None)
                .map_err(sql)
        })
        .await?;
        tracing::info!(backup = %id, "backup delete accepted");
        self.spawn_backup_task(id);
        Ok(())
    }

    /// Restores into `volume_id` (available, large enough) or a new volume.
    pub(crate) async fn backup_restore(
        &self,
        ctx: &RequestContext,
        id: String,
        volume_id: Option<String>,
        name: Option<String>,
    ) -> ApiResult<Restored> {
        let project = caller_project(ctx)?;
        may_change(ctx, &project)?;
        let ctx2 = ctx.clone();
        let user = ctx.user.id.clone();
        let r = self
            .write(move |c| {
                let b = visible_tx(c, &ctx2, &id)?;
                may_change(&ctx2, &b.project_id)?;
                if b.status != BackupStatus::Available {
                    return Err(ApiError::bad_request(format!(
                        "Invalid backup: Backup status must be available, but current status is: {}.",
                        b.status.as_str()
                    )));
                }
                let (vid, vname) = match volume_id {
                    Some(vid) => {
                        let v = volume_tx(c, &ctx2, &vid)?;
                        may_change(&ctx2, &v.project_id)?;
                        if v.size < b.size {
                            return Err(ApiError::bad_request(format!(
                                "Invalid volume: volume size {} is too small to restore backup of size {}.",
                                v.size, b.size
                            )));
                        }
                        let to = v
                            .status
                            .transition(Event::RestoreStart)
                            .map_err(|r| ApiError::bad_request(r.to_string()))?;
                        store::volume_set_state(c, &v.id, to, None, None).map_err(sql)?;
                        (v.id, v.name.unwrap_or_default())
                    }
                    None => {
                        let t = types::type_for_volume_tx(c, &ctx2, None)?;
                        quotas::check_tx(c, &project, &t.name, 1, 0, b.size, b.size)?;
                        let name = name.unwrap_or_else(|| format!("restore_backup_{}", b.id));
                        let v = Volume {
                            id: uuid::Uuid::new_v4().to_string(),
                            project_id: project.clone(),
                            user_id: user,
                            name: Some(name.clone()),
                            description: Some("auto-created_from_restore_from_backup".into()),
                            size: b.size,
                            status: VolumeStatus::RestoringBackup,
                            attach_status: "detached".into(),
                            availability_zone: ZONE.into(),
                            type_id: t.id,
                            type_name: t.name,
                            bootable: false,
                            multiattach: false,
                            snapshot_id: None,
                            source_volid: None,
                            image_id: None,
                            task: None,
                            error_reason: None,
                            created_at: store::now(),
                            updated_at: None,
                            launched_at: None,
                            metadata: BTreeMap::new(),
                            image_metadata: BTreeMap::new(),
                            admin_metadata: BTreeMap::new(),
                            attachments: Vec::new(),
                            group_id: None,
                        };
                        store::volume_insert(c, &v).map_err(sql)?;
                        (v.id, name)
                    }
                };
                store::backup_set_state(
                    c,
                    &b.id,
                    BackupStatus::Restoring,
                    Some(&format!("restore:{vid}")),
                    None,
                )
                .map_err(sql)?;
                Ok(Restored {
                    backup_id: b.id,
                    volume_id: vid,
                    volume_name: vname,
                })
            })
            .await?;
        tracing::info!(backup = %r.backup_id, volume = %r.volume_id, "backup restore accepted");
        self.spawn_backup_task(r.backup_id.clone());
        Ok(r)
    }

    /// `GET /backups/{id}/export_record` (admin): the record of an available backup.
    pub(crate) async fn backup_export(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<String> {
        use base64::Engine;
        ctx.require_admin()?;
        let b = self.backup_get(ctx, id).await?;
        if b.status != BackupStatus::Available {
            return Err(ApiError::bad_request(format!(
                "Invalid backup: Backup status must be available and not restoring, but current status is: {}.",
                b.status.as_str()
            )));
        }
        let r = Record {
            data: format!("backup-{}", b.id),
            id: b.id,
            volume_id: b.volume_id,
            snapshot_id: b.snapshot_id,
            name: b.name,
            description: b.description,
            size: b.size,
            container: b.container,
            metadata: b.metadata,
            volume_meta: b.volume_meta,
            data_timestamp: b.data_timestamp,
        };
        let text = serde_json::to_string(&r).map_err(|e| ApiError::Internal(e.into()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(text))
    }

    /// `POST /backups/import_record` (admin): a backup again from an exported
    /// record, in the caller's project, sharing the record's data file (a hard
    /// link, so deleting either backup keeps the other's data).
    pub(crate) async fn backup_import(
        &self,
        ctx: &RequestContext,
        service: String,
        url: String,
    ) -> ApiResult<Backup> {
        use base64::Engine;
        ctx.require_admin()?;
        let project = caller_project(ctx)?;
        if service != BACKUP_SERVICE {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Unsupported backup service {service}."
            )));
        }
        let bad = |why: &str| {
            ApiError::bad_request(format!(
                "Invalid input received: Invalid backup record: {why}."
            ))
        };
        let text = base64::engine::general_purpose::STANDARD
            .decode(url.trim())
            .map_err(|_| bad("backup_url is not base64"))?;
        let r: Record = serde_json::from_slice(&text).map_err(|e| bad(&e.to_string()))?;
        let data_id = r.data.strip_prefix("backup-").unwrap_or_default();
        if uuid::Uuid::parse_str(&r.id).is_err()
            || uuid::Uuid::parse_str(data_id).is_err()
            || data_id.len() != 36
        {
            return Err(bad("the id and data must name backups by uuid"));
        }
        if !self.inner.backup_dir.join(&r.data).exists() {
            return Err(bad("its data is not in this cloud's backups"));
        }
        let user = ctx.user.id.clone();
        let b = self
            .write(move |c| {
                if store::backup_get(c, &r.id).map_err(sql)?.is_some() {
                    return Err(ApiError::bad_request(format!(
                        "Invalid backup: Backup {} already exists.",
                        r.id
                    )));
                }
                let now = store::now();
                let b = Backup {
                    id: r.id,
                    volume_id: r.volume_id,
                    snapshot_id: r.snapshot_id,
                    project_id: project,
                    user_id: user,
                    name: r.name,
                    description: r.description,
                    size: r.size,
                    status: BackupStatus::Creating,
                    availability_zone: ZONE.into(),
                    container: r.container,
                    is_incremental: false,
                    parent_id: None,
                    object_count: 0,
                    metadata: r.metadata,
                    volume_meta: r.volume_meta,
                    task: Some(format!("import:{}", r.data)),
                    fail_reason: None,
                    data_timestamp: r.data_timestamp,
                    created_at: now,
                    updated_at: None,
                    has_dependents: false,
                };
                store::backup_insert(c, &b).map_err(sql)?;
                Ok(b)
            })
            .await?;
        tracing::info!(backup = %b.id, "backup import accepted");
        self.spawn_backup_task(b.id.clone());
        Ok(b)
    }

    /// `os-reset_status` (admin): sets the status, dropping any task.
    pub(crate) async fn backup_reset_status(
        &self,
        ctx: &RequestContext,
        id: String,
        status: BackupStatus,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        let ctx = ctx.clone();
        self.write(move |c| {
            let b = visible_tx(c, &ctx, &id)?;
            store::backup_set_state(c, &b.id, status, None, None).map_err(sql)
        })
        .await
    }

    pub(super) fn spawn_backup_task(&self, id: String) {
        let s = self.clone();
        tokio::spawn(async move {
            if let Err(e) = s.run_backup_task(&id).await {
                tracing::error!(backup = %id, error = %e, "backup task failed");
            }
        });
    }

    /// Runs the backup's recorded task: copy the data, then record the outcome on
    /// the backup and its volume in one transaction.
    pub(super) async fn run_backup_task(&self, id: &str) -> ApiResult<()> {
        let lock = self.task_lock(&format!("backup-{id}"));
        let _guard = lock.lock().await;
        let bid = id.to_owned();
        let Some(b) = self
            .read(move |c| store::backup_get(c, &bid).map_err(sql))
            .await?
        else {
            return Ok(());
        };
        let Some(task) = b.task.clone() else {
            return Ok(());
        };
        let backend = self.inner.backend.clone();
        let path = self.backup_path(&b.id);
        let restore_to = task.strip_prefix("restore:").map(str::to_owned);
        let restore_size = match &restore_to {
            Some(vid) => {
                let vid = vid.clone();
                self.read(move |c| store::volume_get(c, &vid).map_err(sql))
                    .await?
                    .map(|v| v.size)
            }
            None => None,
        };
        // What the task reads: an import's or a restore's chain of data files, and
        // a new increment's parent.
        let chain = match (task.strip_prefix("import:"), &restore_to) {
            (Some(data), _) => match data.strip_prefix("backup-") {
                Some(source) => self.backup_chain(source).await?,
                None => Vec::new(),
            },
            (None, Some(_)) => self.backup_chain(&b.id).await?,
            (None, None) => Vec::new(),
        };
        let parent = b.parent_id.as_deref().map(|p| self.backup_path(p));
        let (t, snap, vid, size) = (
            task.clone(),
            b.snapshot_id.clone(),
            b.volume_id.clone(),
            b.size,
        );
        let step = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let assembled = path.with_extension("restore");
            if let Some(data) = t.strip_prefix("import:") {
                if path.exists() {
                    return Ok(());
                }
                // A whole backup's data is shared (a hard link); an increment's
                // chain is assembled into a whole copy, which needs no parent.
                if chain.len() <= 1 {
                    return std::fs::hard_link(path.with_file_name(data), &path);
                }
                backup_chunks::materialize(&chain, &assembled)?;
                backup_chunks::record_full(&assembled)?;
                std::fs::rename(
                    backup_chunks::hashes_path(&assembled),
                    backup_chunks::hashes_path(&path),
                )?;
                return std::fs::rename(&assembled, &path);
            }
            if t == "create" {
                let source = match &snap {
                    Some(s) => backend.snapshot_path(s),
                    None => backend.local_path(&vid),
                };
                match &parent {
                    Some(parent) => {
                        let changed = backup_chunks::write_delta(&source, parent, &path)?;
                        tracing::info!(chunks = changed, "incremental backup written");
                        Ok(())
                    }
                    None => {
                        super::backend::copy_whole(&source, &path, 0)?;
                        backup_chunks::record_full(&path)
                    }
                }
            } else if let Some(target) = &restore_to {
                let gib = restore_size.unwrap_or(size).max(size).max(0) as u64;
                if chain.len() <= 1 {
                    return backend.restore_from(target, gib, &path);
                }
                backup_chunks::materialize(&chain, &assembled)?;
                let done = backend.restore_from(target, gib, &assembled);
                backup_chunks::remove(&assembled)?;
                done
            } else {
                backup_chunks::remove(&assembled)?;
                backup_chunks::remove(&path)
            }
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("backup task panicked: {e}")))?;
        let outcome = step.as_ref().map(|_| ()).map_err(|e| e.to_string());
        let bid = id.to_owned();
        self.write(move |c| {
            let Some(now) = store::backup_get(c, &bid).map_err(sql)? else {
                return Ok(());
            };
            if now.task.as_deref() != Some(task.as_str()) {
                return Ok(());
            }
            if task.starts_with("import:") {
                return match &outcome {
                    Ok(()) => {
                        c.execute(
                            "UPDATE volume_backups SET object_count = 1 WHERE id = ?1",
                            [&bid],
                        )
                        .map_err(sql)?;
                        store::backup_set_state(c, &bid, BackupStatus::Available, None, None)
                            .map_err(sql)
                    }
                    Err(e) => store::backup_set_state(c, &bid, BackupStatus::Error, None, Some(e))
                        .map_err(sql),
                };
            }
            if task == "create" {
                if now.snapshot_id.is_none()
                    && let Some(v) = store::volume_get(c, &now.volume_id).map_err(sql)?
                    && v.status == VolumeStatus::BackingUp
                {
                    let attached = v.attach_status == "attached";
                    let to = v
                        .status
                        .transition(Event::CopyDone { attached })
                        .unwrap_or(VolumeStatus::Error);
                    store::volume_set_state(c, &v.id, to, None, None).map_err(sql)?;
                }
                return match &outcome {
                    Ok(()) => {
                        c.execute(
                            "UPDATE volume_backups SET object_count = 1 WHERE id = ?1",
                            [&bid],
                        )
                        .map_err(sql)?;
                        store::backup_set_state(c, &bid, BackupStatus::Available, None, None)
                            .map_err(sql)
                    }
                    Err(e) => store::backup_set_state(c, &bid, BackupStatus::Error, None, Some(e))
                        .map_err(sql),
                };
            }
            if let Some(vid) = task.strip_prefix("restore:") {
                if let Some(v) = store::volume_get(c, vid).map_err(sql)?
                    && v.status == VolumeStatus::RestoringBackup
                {
                    let (event, reason) = match &outcome {
                        Ok(()) => (Event::Restored, None),
                        Err(e) => (Event::RestoreFailed, Some(e.as_str())),
                    };
                    let to = v.status.transition(event).unwrap_or(VolumeStatus::Error);
                    store::volume_set_state(c, &v.id, to, None, reason).map_err(sql)?;
                    if outcome.is_ok() {
                        store::volume_apply_backup_meta(c, &v.id, &now.volume_meta).map_err(sql)?;
                    }
                }
                // The backup itself is intact whatever became of the restore.
                return store::backup_set_state(c, &bid, BackupStatus::Available, None, None)
                    .map_err(sql);
            }
            match &outcome {
                Ok(()) => store::backup_delete_row(c, &bid).map_err(sql),
                Err(e) => {
                    store::backup_set_state(c, &bid, BackupStatus::ErrorDeleting, None, Some(e))
                        .map_err(sql)
                }
            }
        })
        .await?;
        step.map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))
    }

    /// Finishes every backup task a crash interrupted (before the API serves).
    pub(super) async fn recover_backups(&self) -> super::tasks::RecoveryReport {
        let mut report = super::tasks::RecoveryReport::default();
        let pending = match self
            .read(|c| store::backups_with_task(c).map_err(sql))
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "could not read interrupted backup tasks");
                return report;
            }
        };
        for b in pending {
            tracing::info!(backup = %b.id, task = ?b.task, "resuming an interrupted backup task");
            match self.run_backup_task(&b.id).await {
                Ok(()) => report.finished += 1,
                Err(e) => {
                    tracing::error!(backup = %b.id, error = %e, "interrupted backup task failed");
                    report.failed += 1;
                }
            }
        }
        report
    }
}
