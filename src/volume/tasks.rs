//! Persisted multi-step volume work. A task is written with the volume's status in
//! the transaction that accepts the request; then the backend step runs (each is
//! idempotent); then the outcome is recorded and the task cleared. `recover()` runs
//! every task a crash interrupted, so after a kill -9 a volume ends `available`,
//! `in-use` or `error` with a reason, and no file is left without its volume.

use std::sync::Arc;

use serde::Serialize;

use super::model::{Event, Task, VolumeStatus};
use super::{VolumeService, sql, store};
use crate::http::error::{ApiError, ApiResult};

/// What the start-up recovery did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RecoveryReport {
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

    fn task_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
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
        let backend = self.inner.backend.clone();
        let vid = id.to_owned();
        let step = {
            let task = task.clone();
            tokio::task::spawn_blocking(move || match task {
                Task::Create { size } => backend.create(&vid, size.max(0) as u64),
                Task::Extend { new_size, .. } => backend.extend(&vid, new_size.max(0) as u64),
                Task::Delete => backend.delete(&vid),
            })
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("volume task panicked: {e}")))?
        };
        let vid = id.to_owned();
        let outcome = step.as_ref().map(|_| ()).map_err(|e| e.to_string());
        self.write(move |c| {
            let Some(now) = store::volume_get(c, &vid).map_err(sql)? else {
                return Ok(());
            };
            if now.task.as_ref() != Some(&task) {
                return Ok(());
            }
            let done = |event: Event, reason: Option<&str>| -> ApiResult<()> {
                let to = now.status.transition(event).unwrap_or(VolumeStatus::Error);
                store::volume_set_state(c, &vid, to, None, reason).map_err(sql)
            };
            match (&task, &outcome) {
                (Task::Create { .. }, Ok(())) => done(Event::Created, None),
                (Task::Create { .. }, Err(e)) => done(Event::CreateFailed, Some(e)),
                (Task::Extend { new_size, attached }, Ok(())) => {
                    store::volume_set_size(c, &vid, *new_size).map_err(sql)?;
                    done(
                        Event::Extended {
                            attached: *attached,
                        },
                        None,
                    )
                }
                (Task::Extend { .. }, Err(e)) => done(Event::ExtendFailed, Some(e)),
                (Task::Delete, Ok(())) => store::volume_delete_row(c, &vid).map_err(sql),
                (Task::Delete, Err(e)) => done(Event::DeleteFailed, Some(e)),
            }
        })
        .await?;
        match step {
            Ok(()) => {
                tracing::info!(volume = %id, task = ?v.task, "volume task done");
                Ok(())
            }
            Err(e) => Err(ApiError::Internal(anyhow::anyhow!("{e}"))),
        }
    }

    /// Runs every task a crash interrupted, before the API serves.
    pub(super) async fn recover_tasks(&self) -> RecoveryReport {
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
        let mut report = RecoveryReport::default();
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
