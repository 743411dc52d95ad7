//! Backups: copies of a volume's (or a snapshot's) data in the state directory
//! (`backups/backup-<id>`), restored into a new volume or over an available one.
//! Incremental backups record their parent (the volume's newest backup) as Cinder
//! does and hold only the chunks that changed since it (`backup_chunks`). Create,
//! restore and delete are tasks on the backup row, written with the volume's status
//! in one transaction and finished by `recover_backups` after a crash.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rusqlite::{Connection, Transaction};

use super::backend::Backend;
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

/// A snapshot to back up: of the volume, and available.
fn check_backup_snapshot_tx(
    c: &Connection,
    ctx: &RequestContext,
    sid: &str,
    v: &Volume,
) -> ApiResult<()> {
    let s = super::snapshots::visible_tx(c, ctx, sid)?;
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
    Ok(())
}

/// A volume's own backup: an in-use one only with `force`; the volume moves
/// to `backing-up`.
fn start_volume_backup_tx(c: &Connection, v: &Volume, force: bool) -> ApiResult<()> {
    if v.status == VolumeStatus::InUse && !force {
        return Err(ApiError::bad_request(
            "Invalid volume: Backing up an in-use volume must use the force flag.",
        ));
    }
    let to = v
        .status
        .transition(Event::BackupStart { force })
        .map_err(|r| ApiError::bad_request(r.to_string()))?;
    store::volume_set_state(c, &v.id, to, None, None).map_err(sql)
}

/// A new backup row (`creating`, its `create` task pending) of the volume as
/// it is now, its metadata kept for a restore.
fn new_backup(v: &Volume, user: String, req: BackupCreate, parent_id: Option<String>) -> Backup {
    let now = store::now();
    Backup {
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
    }
}

/// A restore over an existing volume (one the caller may change, large
/// enough), which moves to `restoring-backup`; its id and name.
fn restore_over_tx(
    c: &Connection,
    ctx: &RequestContext,
    vid: &str,
    b: &Backup,
) -> ApiResult<(String, String)> {
    let v = volume_tx(c, ctx, vid)?;
    may_change(ctx, &v.project_id)?;
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
    Ok((v.id, v.name.unwrap_or_default()))
}

/// A restore into a new volume of the backup's size and the default type,
/// within the project's quotas; its id and name.
fn restore_volume_new_tx(
    c: &Connection,
    ctx: &RequestContext,
    (project, user): (&str, &str),
    name: String,
    b: &Backup,
) -> ApiResult<(String, String)> {
    let t = types::type_for_volume_tx(c, ctx, None)?;
    quotas::check_tx(c, project, &t.name, 1, 0, b.size, b.size)?;
    let v = Volume {
        name: Some(name.clone()),
        description: Some("auto-created_from_restore_from_backup".into()),
        ..Volume::detached(
            (project.to_owned(), user.to_owned()),
            b.size,
            VolumeStatus::RestoringBackup,
            ZONE.into(),
            (t.id, t.name),
            store::now(),
        )
    };
    store::volume_insert(c, &v).map_err(sql)?;
    Ok((v.id, name))
}

/// The backup an imported record makes: the caller's, creating until its task
/// links the record's data file.
fn imported_backup(r: Record, project_id: String, user_id: String) -> Backup {
    Backup {
        id: r.id,
        volume_id: r.volume_id,
        snapshot_id: r.snapshot_id,
        project_id,
        user_id,
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
        created_at: store::now(),
        updated_at: None,
        has_dependents: false,
    }
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
                match &req.snapshot_id {
                    Some(sid) => check_backup_snapshot_tx(c, &ctx2, sid, &v)?,
                    None => start_volume_backup_tx(c, &v, req.force)?,
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
                let b = new_backup(&v, user, req, parent_id);
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
                    Some(vid) => restore_over_tx(c, &ctx2, &vid, &b)?,
                    None => {
                        let name = name.unwrap_or_else(|| format!("restore_backup_{}", b.id));
                        restore_volume_new_tx(c, &ctx2, (&project, &user), name, &b)?
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

    /// An exported record decoded and checked: its ids are uuids and its data
    /// file is in this cloud's backups.
    fn import_record(&self, url: &str) -> ApiResult<Record> {
        use base64::Engine;
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
        Ok(r)
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
        ctx.require_admin()?;
        let project = caller_project(ctx)?;
        if service != BACKUP_SERVICE {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Unsupported backup service {service}."
            )));
        }
        let r = self.import_record(&url)?;
        let user = ctx.user.id.clone();
        let b = self
            .write(move |c| {
                if store::backup_get(c, &r.id).map_err(sql)?.is_some() {
                    return Err(ApiError::bad_request(format!(
                        "Invalid backup: Backup {} already exists.",
                        r.id
                    )));
                }
                let b = imported_backup(r, project, user);
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
        let work = self.backup_work(&b, &task).await?;
        let backend = self.inner.backend.clone();
        let step = tokio::task::spawn_blocking(move || work.run(backend.as_ref()))
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("backup task panicked: {e}")))?;
        let outcome = step.as_ref().map(|_| ()).map_err(|e| e.to_string());
        let bid = id.to_owned();
        self.write(move |c| record_backup_outcome(c, &bid, &task, &outcome))
            .await?;
        step.map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))
    }

    /// What a backup's task will do with the data: the files it reads (an
    /// import's or a restore's chain of data files, a new increment's parent)
    /// and writes.
    async fn backup_work(&self, b: &Backup, task: &str) -> ApiResult<BackupWork> {
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
        let chain = match (task.strip_prefix("import:"), &restore_to) {
            (Some(data), _) => match data.strip_prefix("backup-") {
                Some(source) => self.backup_chain(source).await?,
                None => Vec::new(),
            },
            (None, Some(_)) => self.backup_chain(&b.id).await?,
            (None, None) => Vec::new(),
        };
        Ok(BackupWork {
            task: task.to_owned(),
            path: self.backup_path(&b.id),
            chain,
            parent: b.parent_id.as_deref().map(|p| self.backup_path(p)),
            snapshot_id: b.snapshot_id.clone(),
            volume_id: b.volume_id.clone(),
            size: b.size,
            restore_to,
            restore_size,
        })
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

/// The data side of a backup task, run on the blocking pool.
struct BackupWork {
    /// `create`, `import:<data file>`, `restore:<volume>` or `delete`.
    task: String,
    /// The backup's data file.
    path: PathBuf,
    /// The data files an import or a restore reads, oldest first.
    chain: Vec<PathBuf>,
    /// The parent's data file of an incremental backup.
    parent: Option<PathBuf>,
    snapshot_id: Option<String>,
    volume_id: String,
    size: i64,
    restore_to: Option<String>,
    /// The size of the volume restored to.
    restore_size: Option<i64>,
}

impl BackupWork {
    fn run(&self, backend: &dyn Backend) -> std::io::Result<()> {
        if let Some(data) = self.task.strip_prefix("import:") {
            return self.import(data);
        }
        if self.task == "create" {
            return self.write_data(backend);
        }
        if let Some(target) = &self.restore_to {
            return self.restore(backend, target);
        }
        backup_chunks::remove(&self.assembled())?;
        backup_chunks::remove(&self.path)
    }

    /// Where a chain of increments is assembled into one whole copy.
    fn assembled(&self) -> PathBuf {
        self.path.with_extension("restore")
    }

    /// An import: a whole backup's data is shared (a hard link); an
    /// increment's chain is assembled into a whole copy, which needs no parent.
    fn import(&self, data: &str) -> std::io::Result<()> {
        if self.path.exists() {
            return Ok(());
        }
        if self.chain.len() <= 1 {
            return std::fs::hard_link(self.path.with_file_name(data), &self.path);
        }
        let assembled = self.assembled();
        backup_chunks::materialize(&self.chain, &assembled)?;
        backup_chunks::record_full(&assembled)?;
        std::fs::rename(
            backup_chunks::hashes_path(&assembled),
            backup_chunks::hashes_path(&self.path),
        )?;
        std::fs::rename(&assembled, &self.path)
    }

    /// A new backup of the volume or snapshot: the chunks changed since the
    /// parent, or a whole copy.
    fn write_data(&self, backend: &dyn Backend) -> std::io::Result<()> {
        let source = match &self.snapshot_id {
            Some(s) => backend.snapshot_path(s),
            None => backend.local_path(&self.volume_id),
        };
        match &self.parent {
            Some(parent) => {
                let changed = backup_chunks::write_delta(&source, parent, &self.path)?;
                tracing::info!(chunks = changed, "incremental backup written");
                Ok(())
            }
            None => {
                super::backend::copy_whole(&source, &self.path, 0)?;
                backup_chunks::record_full(&self.path)
            }
        }
    }

    /// A restore over `target`, at least the backup's size.
    fn restore(&self, backend: &dyn Backend, target: &str) -> std::io::Result<()> {
        let size = self.size;
        let gib = self.restore_size.unwrap_or(size).max(size).max(0) as u64;
        if self.chain.len() <= 1 {
            return backend.restore_from(target, gib, &self.path);
        }
        let assembled = self.assembled();
        backup_chunks::materialize(&self.chain, &assembled)?;
        let done = backend.restore_from(target, gib, &assembled);
        backup_chunks::remove(&assembled)?;
        done
    }
}

/// Records a backup task's outcome on the backup and its volume, unless a
/// later task took its place.
fn record_backup_outcome(
    c: &Transaction,
    bid: &str,
    task: &str,
    outcome: &Result<(), String>,
) -> ApiResult<()> {
    let Some(now) = store::backup_get(c, bid).map_err(sql)? else {
        return Ok(());
    };
    if now.task.as_deref() != Some(task) {
        return Ok(());
    }
    if task.starts_with("import:") {
        return backup_written(c, bid, outcome);
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
        return backup_written(c, bid, outcome);
    }
    if let Some(vid) = task.strip_prefix("restore:") {
        return restore_finished(c, &now, vid, outcome);
    }
    match outcome {
        Ok(()) => store::backup_delete_row(c, bid).map_err(sql),
        Err(e) => {
            store::backup_set_state(c, bid, BackupStatus::ErrorDeleting, None, Some(e)).map_err(sql)
        }
    }
}

/// A backup's data written (a create or an import): available, else error.
fn backup_written(c: &Transaction, bid: &str, outcome: &Result<(), String>) -> ApiResult<()> {
    match outcome {
        Ok(()) => {
            c.execute(
                "UPDATE volume_backups SET object_count = 1 WHERE id = ?1",
                [bid],
            )
            .map_err(sql)?;
            store::backup_set_state(c, bid, BackupStatus::Available, None, None).map_err(sql)
        }
        Err(e) => store::backup_set_state(c, bid, BackupStatus::Error, None, Some(e)).map_err(sql),
    }
}

/// A restore done: the volume restored (with the backed-up metadata) or
/// failed; the backup itself is intact whatever became of the restore.
fn restore_finished(
    c: &Transaction,
    b: &Backup,
    vid: &str,
    outcome: &Result<(), String>,
) -> ApiResult<()> {
    if let Some(v) = store::volume_get(c, vid).map_err(sql)?
        && v.status == VolumeStatus::RestoringBackup
    {
        let (event, reason) = match outcome {
            Ok(()) => (Event::Restored, None),
            Err(e) => (Event::RestoreFailed, Some(e.as_str())),
        };
        let to = v.status.transition(event).unwrap_or(VolumeStatus::Error);
        store::volume_set_state(c, &v.id, to, None, reason).map_err(sql)?;
        if outcome.is_ok() {
            store::volume_apply_backup_meta(c, &v.id, &b.volume_meta).map_err(sql)?;
        }
    }
    store::backup_set_state(c, &b.id, BackupStatus::Available, None, None).map_err(sql)
}
