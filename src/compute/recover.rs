//! Restart safety for instances: at start every server is converged to its
//! recorded state (VMMs that outlived onestack are adopted, ACTIVE ones whose VMM
//! is gone are started again, interrupted tasks end in a definite state), and a
//! periodic sync notices guests that powered themselves off.

use crate::logged::OrLog;
use std::sync::Arc;
use std::time::Duration;

use super::actions::Work;
use super::model::*;
use super::runtime::owner_context;
use super::{ComputeService, store};
use crate::virt::PowerState;

/// How often guest power states are compared with the database.
const POWER_SYNC: Duration = Duration::from_secs(10);

/// What start-up did, for the log and `onestack status`.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RecoveryReport {
    pub adopted: usize,
    pub restarted: usize,
    pub resumed_builds: usize,
    pub finished_tasks: usize,
    pub errors: Vec<String>,
}

impl ComputeService {
    /// Converges every server once; a failure on one does not stop the others.
    pub(crate) async fn recover(&self) -> RecoveryReport {
        let mut report = RecoveryReport::default();
        self.sweep_base_temps().await;
        if let Err(e) = self.prune_console_tokens().await {
            report.errors.push(format!("pruning console tokens: {e}"));
        }
        let servers = match self.read(|c| store::server_list(c, None, false)).await {
            Ok(s) => s,
            Err(e) => {
                report.errors.push(format!("listing servers: {e}"));
                return report;
            }
        };
        if self.inner.config.dataplane && servers.iter().any(|s| !s.ports.is_empty()) {
            // Taps must exist again (after a reboot) before a VMM opens them.
            self.inner
                .network
                .wait_converged(Duration::from_secs(60))
                .await;
        }
        for s in servers {
            if let Err(e) = self.recover_one(&s, &mut report).await {
                tracing::warn!(server = s.id, error = %e, "could not restore server");
                report.errors.push(format!("server {}: {e}", s.id));
            }
        }
        tracing::info!(
            adopted = report.adopted,
            restarted = report.restarted,
            builds = report.resumed_builds,
            tasks = report.finished_tasks,
            errors = report.errors.len(),
            "instances restored"
        );
        report
    }

    async fn recover_one(
        &self,
        s: &Server,
        report: &mut RecoveryReport,
    ) -> Result<(), crate::http::error::ApiError> {
        let nics = self.server_nics(s).await?;
        let spec = self.vm_spec(s, &nics);
        let observed = self.inner.hypervisor.power_state(&spec).await;
        let power = super::actions::shown_power(observed.unwrap_or(PowerState::NoState));
        let request_id = self.last_request_id(&s.id).await;
        let ctx = owner_context(s);
        match (s.vm_state, s.task_state) {
            (_, Some(TaskState::Deleting)) => {
                report.finished_tasks += 1;
                self.run_work(&s.id, Work::Delete, &ctx, &request_id).await;
            }
            (_, Some(_)) if Self::resumable(s).is_some() => {
                report.finished_tasks += 1;
                if let Some(work) = Self::resumable(s) {
                    self.run_work(&s.id, work, &ctx, &request_id).await;
                }
            }
            (VmState::Building, _) => {
                report.resumed_builds += 1;
                self.spawn_build(s.id.clone(), Arc::new(ctx), request_id);
            }
            (_, Some(task)) => {
                report.finished_tasks += 1;
                self.finish_interrupted(s, task, power).await?;
            }
            (state, None) => {
                self.converge_idle(state, &spec, power, &s.id, report)
                    .await?
            }
        }
        Ok(())
    }

    /// A server with no task: its VMM is made to show the state the API shows
    /// (adopted when it does, started, paused or stopped when not).
    async fn converge_idle(
        &self,
        state: VmState,
        spec: &crate::virt::VmSpec,
        power: PowerState,
        id: &str,
        report: &mut RecoveryReport,
    ) -> Result<(), crate::http::error::ApiError> {
        let hv = &self.inner.hypervisor;
        match state {
            VmState::Active | VmState::Resized | VmState::Rescued => match power {
                PowerState::Running => report.adopted += 1,
                PowerState::Paused => {
                    hv.unpause(spec).await.map_err(virt)?;
                    report.adopted += 1;
                }
                _ => {
                    hv.launch(spec).await.map_err(virt)?;
                    report.restarted += 1;
                    self.record_power(id, PowerState::Running).await?;
                }
            },
            VmState::Paused => match power {
                PowerState::Paused => report.adopted += 1,
                PowerState::Running => hv.pause(spec).await.map_err(virt)?,
                _ => {
                    hv.launch(spec).await.map_err(virt)?;
                    hv.pause(spec).await.map_err(virt)?;
                    report.restarted += 1;
                    self.record_power(id, PowerState::Paused).await?;
                }
            },
            VmState::Stopped | VmState::Shelved | VmState::ShelvedOffloaded => {
                if matches!(power, PowerState::Running | PowerState::Paused) {
                    hv.destroy(spec).await.map_err(virt)?;
                }
            }
            // A build is resumed before it gets here; the others leave the VMM be.
            VmState::Building | VmState::Suspended | VmState::Error | VmState::Deleted => {}
        }
        Ok(())
    }

    /// Half-copied base images a crash left behind (no build runs yet at start).
    async fn sweep_base_temps(&self) {
        let base = self.inner.config.instances_dir.join("_base");
        let Ok(mut dir) = tokio::fs::read_dir(&base).await else {
            return;
        };
        while let Ok(Some(e)) = dir.next_entry().await {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                crate::fsutil::discard_async(&e.path()).await;
            }
        }
    }

    /// A task cut by a crash: power operations settle on what the VMM shows;
    /// disk-changing ones (rebuild, resize, snapshot) cannot be trusted and end
    /// in ERROR with a fault, as Nova does for instances stuck in a task.
    async fn finish_interrupted(
        &self,
        s: &Server,
        task: TaskState,
        power: PowerState,
    ) -> Result<(), crate::http::error::ApiError> {
        use TaskState as T;
        let disk_task = matches!(
            task,
            T::RebuildSpawning
                | T::ResizePrep
                | T::ResizeFinish
                | T::ResizeReverting
                | T::ResizeConfirming
        );
        let snapshot = matches!(task, T::ImageSnapshot | T::ImageUploading | T::ImageBackup);
        if disk_task && !matches!(task, T::RebuildSpawning) {
            // The resize's migration record ends as the server does.
            let sid = s.id.clone();
            let now = crate::http::time::iso_micros(chrono::Utc::now());
            self.write(move |c| {
                super::store::migrations::set_status(
                    c,
                    &sid,
                    &["pre-migrating", "confirming", "reverting"],
                    "error",
                    &now,
                )
            })
            .await?;
        }
        let id = s.id.clone();
        self.mutate(&id, move |s| {
            s.task_state = None;
            s.power_state = power.code();
            if disk_task {
                s.vm_state = VmState::Error;
                s.fault = Some(ServerFault {
                    code: 500,
                    message: format!(
                        "The {} task was interrupted by a restart of the compute service.",
                        task.as_str()
                    ),
                    details: String::new(),
                    created: crate::http::time::iso_seconds(chrono::Utc::now()),
                });
            } else if !snapshot {
                s.vm_state = match power {
                    PowerState::Running => VmState::Active,
                    PowerState::Paused => VmState::Paused,
                    PowerState::Suspended => VmState::Suspended,
                    _ => VmState::Stopped,
                };
            }
            Ok(())
        })
        .await
    }

    async fn record_power(
        &self,
        id: &str,
        p: PowerState,
    ) -> Result<(), crate::http::error::ApiError> {
        self.mutate(id, move |s| {
            s.power_state = s.vm_state.power_code(p);
            Ok(())
        })
        .await
    }

    /// The request id of the server's newest action (a resumed build records its
    /// events there).
    async fn last_request_id(&self, id: &str) -> String {
        let sid = id.to_owned();
        self.read(move |c| store::action_list(c, &sid))
            .await
            .ok()
            .and_then(|a| a.into_iter().next())
            .map(|a| a.request_id)
            .unwrap_or_else(|| format!("req-{}", uuid::Uuid::new_v4()))
    }

    /// Runs forever: guests that shut themselves down become SHUTOFF, as Nova's
    /// `_sync_power_states` does.
    pub(crate) async fn power_sync_loop(self) {
        loop {
            tokio::time::sleep(POWER_SYNC).await;
            let Ok(servers) = self.read(|c| store::server_list(c, None, false)).await else {
                continue;
            };
            for s in servers.into_iter().filter(|s| s.task_state.is_none()) {
                let lock = self.server_lock(&s.id);
                let Ok(_held) = lock.try_lock() else { continue };
                let spec = self.vm_spec(&s, &[]);
                let Ok(power) = self.inner.hypervisor.power_state(&spec).await else {
                    continue;
                };
                let power = super::actions::shown_power(power);
                let stopped = matches!(
                    power,
                    PowerState::NoState | PowerState::Shutdown | PowerState::Crashed
                );
                if s.vm_state == VmState::Active && stopped {
                    tracing::info!(
                        server = s.id,
                        "guest powered off by itself; marking it SHUTOFF"
                    );
                    if let Err(e) = self.inner.hypervisor.destroy(&spec).await {
                        tracing::warn!(server = s.id, error = %e, "could not clean up the stopped VMM");
                    }
                    self.mutate(&s.id, move |s| {
                        if s.vm_state == VmState::Active && s.task_state.is_none() {
                            s.vm_state = VmState::Stopped;
                            s.power_state = PowerState::Shutdown.code();
                        }
                        Ok(())
                    })
                    .await
                    .or_log(
                        &s.id,
                        "recording the stopped state of a guest gone at start",
                    );
                } else if s.power_state != s.vm_state.power_code(power)
                    && s.vm_state != VmState::Building
                {
                    self.record_power(&s.id, power)
                        .await
                        .or_log(&s.id, "recording the observed power state");
                }
            }
        }
    }
}

fn virt(e: crate::virt::VirtError) -> crate::http::error::ApiError {
    crate::http::error::ApiError::Internal(anyhow::Error::new(e))
}
