//! Persisted multi-step volume work. A task is written with the volume's status in
//! the transaction that accepts the request; then the backend step runs (each is
//! idempotent); then the outcome is recorded and the task cleared. `recover()` runs
//! every task a crash interrupted, so after a kill -9 a volume ends `available`,
//! `in-use` or `error` with a reason, and no file is left without its volume.

use std::sync::Arc;

use serde::Serialize;

use super::model::{Event, SnapshotEvent, SnapshotStatus, Source, Task, VolumeStatus};
use rusqlite::Transaction;

use super::backend::Backend;
use super::{VolumeService, sql, store};
use crate::http::error::{ApiError, ApiResult};

/// What the start-up recovery did.
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct RecoveryReport {
    pub finished: usize,
    pub failed: usize,
}

impl VolumeService {
    /// Runs the volume's task in the background.
    pub(super) fn spawn_task(&self, id: String) {
        let s = self.clone();
        tokio::spawn(async move {
            if let Err(e) = s.run_task(&id).await {
                tracing::error!(volume = %id, error = %e, "volume task failed");
            }
        });
    }

    pub(super) fn task_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(id.to_owned()).or_default().clone()
    }

    /// Runs whatever task the volume records now (none: nothing to do). Tasks of one
    /// volume run one at a time, each re-reading the row, so a task replaced by a
    /// later one (a forced delete during a create) never runs.
    pub(super) async fn run_task(&self, id: &str) -> ApiResult<()> {
        let lock = self.task_lock(id);
        let _guard = lock.lock().await;
        let vid = id.to_owned();
        let Some(v) = self
            .read(move |c| store::volume_get(c, &vid).map_err(sql))
            .await?
        else {
            return Ok(());
        };
        let Some(task) = v.task.clone() else {
            return Ok(());
        };
        if task == Task::Delete {
            // A cascade marked the volume's snapshots for deletion: they go first.
            let vid = id.to_owned();
            let snaps = self
                .read(move |c| store::snapshots_of_volume(c, &vid).map_err(sql))
                .await?;
            for s in snaps {
                Box::pin(self.run_snapshot_task(&s.id)).await?;
            }
        }
        if let Task::Upload { .. } = &task {
            return self.run_upload_task(id, &v.project_id, task).await;
        }
        let step = self.task_backend_step(id, &task, v.size).await?;
        let outcome = step.as_ref().map(|_| ()).map_err(|e| e.to_string());
        let (vid, t) = (id.to_owned(), task.clone());
        self.write(move |c| record_task_outcome(c, &vid, &t, &outcome))
            .await?;
        match step {
            Ok(()) => {
                tracing::info!(volume = %id, task = ?v.task, "volume task done");
                if let Task::Extend {
                    attached: true,
                    new_size,
                } = task
                {
                    self.notify_extended(id, new_size).await;
                }
                if matches!(task, Task::Reimage { .. }) {
                    self.notify_reimaged(id, true).await;
                }
                Ok(())
            }
            Err(e) => {
                if matches!(task, Task::Reimage { .. }) {
                    self.notify_reimaged(id, false).await;
                }
                Err(ApiError::Internal(anyhow::anyhow!("{e}")))
            }
        }
    }

    /// An upload to an image: the copy, then the volume back to what it was
    /// (it is intact whatever became of the upload), unless a later task took
    /// its place.
    async fn run_upload_task(&self, id: &str, project_id: &str, task: Task) -> ApiResult<()> {
        let Task::Upload {
            image_id,
            disk_format,
        } = &task
        else {
            return Ok(());
        };
        let outcome = self.run_upload(id, project_id, image_id, disk_format).await;
        let (vid, t) = (id.to_owned(), task.clone());
        self.write(move |c| {
            let Some(now) = store::volume_get(c, &vid).map_err(sql)? else {
                return Ok(());
            };
            if now.task.as_ref() != Some(&t) {
                return Ok(());
            }
            let attached = now.attach_status == "attached";
            let to = now
                .status
                .transition(Event::CopyDone { attached })
                .unwrap_or(VolumeStatus::Error);
            store::volume_set_state(c, &vid, to, None, None).map_err(sql)
        })
        .await?;
        match outcome {
            Ok(()) => {
                tracing::info!(volume = %id, image = %image_id, "volume uploaded to image");
                Ok(())
            }
            Err(e) => Err(ApiError::Internal(anyhow::anyhow!("{e}"))),
        }
    }

    /// The backend's (blocking) step of a task, off the async threads; `size`
    /// is the volume's, which a reimage keeps.
    async fn task_backend_step(
        &self,
        id: &str,
        task: &Task,
        size: i64,
    ) -> ApiResult<std::io::Result<()>> {
        let backend = self.inner.backend.clone();
        let image_path = match task {
            Task::Create {
                source: Some(Source::Image { id, .. }),
                ..
            }
            | Task::Reimage { image_id: id, .. } => {
                self.inner.image.as_ref().map(|i| i.file_path(id))
            }
            _ => None,
        };
        let (vid, task) = (id.to_owned(), task.clone());
        tokio::task::spawn_blocking(move || {
            backend_step(backend.as_ref(), &vid, task, image_path.as_deref(), size)
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("volume task panicked: {e}")))
    }
}

/// What the backend does for a task (an upload has no blocking step here).
fn backend_step(
    backend: &dyn Backend,
    vid: &str,
    task: Task,
    image_path: Option<&std::path::Path>,
    volume_size: i64,
) -> std::io::Result<()> {
    let no_image = || std::io::Error::other("no image service");
    match task {
        Task::Create { size, source: None } => backend.create(vid, size.max(0) as u64),
        Task::Create {
            size,
            source: Some(src),
        } => create_from_source(backend, vid, size.max(0) as u64, &src, image_path),
        Task::Extend { new_size, .. } => backend.extend(vid, new_size.max(0) as u64),
        Task::Reimage { format, .. } => match image_path {
            Some(p) => backend.reimage(vid, volume_size.max(0) as u64, p, &format),
            None => Err(no_image()),
        },
        Task::Delete => backend.delete(vid),
        Task::Upload { .. } => Ok(()),
    }
}

/// A volume made from a snapshot, another volume, an existing backend volume
/// (manage) or an image.
fn create_from_source(
    backend: &dyn Backend,
    vid: &str,
    size: u64,
    src: &Source,
    image_path: Option<&std::path::Path>,
) -> std::io::Result<()> {
    match src {
        Source::Snapshot { id } => backend.create_from(vid, size, &backend.snapshot_path(id)),
        Source::Volume { id } => backend.create_from(vid, size, &backend.local_path(id)),
        Source::Existing { name } => backend
            .adopt(vid, name, false)
            .and_then(|()| backend.extend(vid, size)),
        Source::Image { format, .. } => match image_path {
            Some(p) => backend.create_from_image(vid, size, p, format),
            None => Err(std::io::Error::other("no image service")),
        },
    }
}

/// Records a task's outcome on its volume (new status, size, image, or the
/// row gone after a delete) and clears the task, unless a later task took its
/// place.
fn record_task_outcome(
    c: &Transaction,
    vid: &str,
    task: &Task,
    outcome: &Result<(), String>,
) -> ApiResult<()> {
    let Some(now) = store::volume_get(c, vid).map_err(sql)? else {
        return Ok(());
    };
    if now.task.as_ref() != Some(task) {
        return Ok(());
    }
    let done = |event: Event, reason: Option<&str>| -> ApiResult<()> {
        let to = now.status.transition(event).unwrap_or(VolumeStatus::Error);
        store::volume_set_state(c, vid, to, None, reason).map_err(sql)
    };
    match (task, outcome) {
        (Task::Create { .. }, Ok(())) => done(Event::Created, None),
        (Task::Create { .. }, Err(e)) => done(Event::CreateFailed, Some(e)),
        (Task::Extend { new_size, attached }, Ok(())) => {
            store::volume_set_size(c, vid, *new_size).map_err(sql)?;
            let attached = *attached;
            done(Event::Extended { attached }, None)
        }
        (Task::Extend { .. }, Err(e)) => done(Event::ExtendFailed, Some(e)),
        (
            Task::Reimage {
                previous,
                image_metadata,
                image_id,
                ..
            },
            Ok(()),
        ) => {
            let back_to = VolumeStatus::parse(previous).unwrap_or(VolumeStatus::Available);
            store::metadata_replace(c, vid, "image", image_metadata).map_err(sql)?;
            store::volume_set_bootable(c, vid, true).map_err(sql)?;
            store::volume_set_image(c, vid, image_id).map_err(sql)?;
            done(Event::Reimaged { back_to }, None)
        }
        (Task::Reimage { .. }, Err(e)) => done(Event::ReimageFailed, Some(e)),
        (Task::Delete, Ok(())) => store::volume_delete_row(c, vid).map_err(sql),
        (Task::Delete, Err(e)) => done(Event::DeleteFailed, Some(e)),
        (Task::Upload { .. }, _) => Ok(()),
    }
}

impl VolumeService {
    /// Tells the compute service that an attached volume grew, once per server
    /// it is attached to (Cinder's `volume-extended` external event to Nova).
    /// A server that cannot take the news is logged: the volume has grown, and
    /// the guest sees the size at its next start.
    async fn notify_extended(&self, id: &str, new_size: i64) {
        let Some(compute) = self.inner.compute.get().cloned() else {
            return;
        };
        let vid = id.to_owned();
        let servers = self
            .read(move |c| store::attachments_of_volume(c, &vid).map_err(sql))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(volume = %id, error = %e, "reading the attachments of an extended volume");
                Vec::new()
            });
        for a in servers {
            let Some(server) = a.instance_uuid else {
                continue;
            };
            let bytes = (new_size.max(0) as u64) << 30;
            if let Err(e) = compute
                .volume_extended(server.clone(), id.to_owned(), bytes)
                .await
            {
                tracing::warn!(volume = %id, server = %server, error = %e, "the guest was not told of the new size");
            }
        }
    }

    /// Runs a snapshot's task in the background.
    pub(super) fn spawn_snapshot_task(&self, id: String) {
        let s = self.clone();
        tokio::spawn(async move {
            if let Err(e) = s.run_snapshot_task(&id).await {
                tracing::error!(snapshot = %id, error = %e, "snapshot task failed");
            }
        });
    }

    /// Runs the snapshot's recorded task (`create`: copy the volume; `delete`:
    /// remove the copy, then the row).
    pub(super) async fn run_snapshot_task(&self, id: &str) -> ApiResult<()> {
        let lock = self.task_lock(&format!("snapshot-{id}"));
        let _guard = lock.lock().await;
        let sid = id.to_owned();
        let Some(s) = self
            .read(move |c| store::snapshot_get(c, &sid).map_err(sql))
            .await?
        else {
            return Ok(());
        };
        let Some(task) = s.task.clone() else {
            return Ok(());
        };
        let backend = self.inner.backend.clone();
        let (sid, vid, t) = (id.to_owned(), s.volume_id.clone(), task.clone());
        let step = tokio::task::spawn_blocking(move || match t.as_str() {
            "create" => backend.snapshot(&vid, &sid),
            manage if manage.starts_with("manage:") => {
                backend.adopt(&sid, &manage["manage:".len()..], true)
            }
            _ => backend.snapshot_delete(&sid),
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("snapshot task panicked: {e}")))?;
        let sid = id.to_owned();
        let outcome = step.as_ref().map(|_| ()).map_err(|e| e.to_string());
        self.write(move |c| {
            let Some(now) = store::snapshot_get(c, &sid).map_err(sql)? else {
                return Ok(());
            };
            if now.task.as_deref() != Some(task.as_str()) {
                return Ok(());
            }
            let done = |event: SnapshotEvent, reason: Option<&str>| -> ApiResult<()> {
                let to = now
                    .status
                    .transition(event)
                    .unwrap_or(SnapshotStatus::Error);
                store::snapshot_set_state(c, &sid, to, None, reason).map_err(sql)
            };
            let creating = task == "create" || task.starts_with("manage:");
            match (task.as_str(), &outcome) {
                (_, Ok(())) if creating => done(SnapshotEvent::Created, None),
                (_, Err(e)) if creating => done(SnapshotEvent::CreateFailed, Some(e)),
                (_, Ok(())) => store::snapshot_delete_row(c, &sid).map_err(sql),
                (_, Err(e)) => done(SnapshotEvent::DeleteFailed, Some(e)),
            }
        })
        .await?;
        step.map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))
    }

    /// Runs every task a crash interrupted, before the API serves.
    pub(super) async fn recover_tasks(&self) -> RecoveryReport {
        let snaps = self
            .read(|c| store::snapshots_with_task(c).map_err(sql))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "could not read interrupted snapshot tasks");
                Vec::new()
            });
        let mut report = RecoveryReport::default();
        for s in snaps {
            tracing::info!(snapshot = %s.id, task = ?s.task, "resuming an interrupted snapshot task");
            match self.run_snapshot_task(&s.id).await {
                Ok(()) => report.finished += 1,
                Err(e) => {
                    tracing::error!(snapshot = %s.id, error = %e, "interrupted snapshot task failed");
                    report.failed += 1;
                }
            }
        }
        let pending = match self
            .read(|c| store::volumes_with_task(c).map_err(sql))
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "could not read interrupted volume tasks");
                return RecoveryReport::default();
            }
        };
        for v in pending {
            tracing::info!(volume = %v.id, task = ?v.task, status = v.status.as_str(), "resuming an interrupted volume task");
            match self.run_task(&v.id).await {
                Ok(()) => report.finished += 1,
                Err(e) => {
                    tracing::error!(volume = %v.id, error = %e, "interrupted volume task failed");
                    report.failed += 1;
                }
            }
        }
        report
    }
}
