//! What the rest of onestack may call on block storage: opening it at start and the
//! start-up recovery of interrupted volume operations.

use std::path::Path;

use crate::db::Db;

use super::VolumeService;

impl VolumeService {
    /// The service on the file backend in `<state_dir>/volumes`; `host` names this
    /// machine in the services listing; `image` is where volumes from images come from.
    #[cfg(test)]
    pub(crate) fn open(
        db: Db,
        state_dir: &Path,
        host: String,
        image: Option<crate::image::ImageService>,
    ) -> anyhow::Result<VolumeService> {
        VolumeService::open_with(
            db,
            state_dir,
            host,
            image,
            &crate::profile::VolumeSection::default(),
            None,
        )
    }

    /// The service as the profile's `[volume]` section sets it up (backend and
    /// iSCSI export); `netns` is where the guests run.
    pub(crate) fn open_profile(
        db: Db,
        state_dir: &Path,
        host: String,
        image: Option<crate::image::ImageService>,
        cfg: &crate::profile::VolumeSection,
        netns: Option<String>,
    ) -> anyhow::Result<VolumeService> {
        VolumeService::open_with(db, state_dir, host, image, cfg, netns)
    }

    /// Finishes or rolls back the volume operations a crash interrupted, so no
    /// volume stays `creating`, `extending`, `deleting`, `backing-up` or
    /// `restoring-backup`. Run once at start.
    pub(crate) async fn recover(&self) -> super::tasks::RecoveryReport {
        let mut report = self.recover_tasks().await;
        // After the member tasks: groups and group snapshots a crash left
        // creating or deleting settle on what their members became.
        match self.recover_groups().await {
            Ok(n) => report.finished += n,
            Err(e) => {
                tracing::error!(error = %e, "could not settle interrupted group operations");
                report.failed += 1;
            }
        }
        let backups = self.recover_backups().await;
        report.finished += backups.finished;
        report.failed += backups.failed;
        match self.recover_attachments().await {
            Ok(n) => report.finished += n,
            Err(e) => {
                tracing::error!(error = %e, "could not settle interrupted volume attachments");
                report.failed += 1;
            }
        }
        // After the attachments are settled: tgtd gets back exactly the exports
        // the remaining attachments need, before compute restarts any guest.
        match self.recover_exports().await {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(targets = n, "iSCSI exports rebuilt");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "could not rebuild the iSCSI exports");
                report.failed += 1;
            }
        }
        report
    }
}

/// What block storage tells the compute service, as Cinder calls Nova's
/// `os-server-external-events`. Set once at start by the compute service
/// (block storage cannot name compute: compute already depends on it).
#[async_trait::async_trait]
pub(crate) trait ComputeEvents: Send + Sync {
    /// `volume-extended`: `volume_id`, attached to `server`, is now `bytes` long.
    async fn volume_extended(
        &self,
        server: String,
        volume_id: String,
        bytes: u64,
    ) -> Result<(), String>;
    /// `volume-reimaged`: `volume_id`, attached to `server`, holds its new
    /// image's data (`ok`), or the reimage failed and it is in error.
    async fn volume_reimaged(&self, server: String, volume_id: String, ok: bool);
}

impl VolumeService {
    /// Connects the compute service's event sink (once, at start).
    pub(crate) fn set_compute_events(&self, sink: std::sync::Arc<dyn ComputeEvents>) {
        if self.inner.compute.set(sink).is_err() {
            tracing::warn!("compute's event sink was connected twice; the first stays");
        }
    }
}

/// The stable id of this host's volume service (Cinder's `service_uuid`), derived
/// from the host string so it survives restarts.
pub(crate) fn service_uuid(host: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("cinder-volume:{host}").as_bytes(),
    )
    .to_string()
}

/// The typed input of a volume create, for callers other than the API.
pub(crate) use super::volumes::VolumeCreate;

/// What the compute API's deprecated os-volumes/os-snapshots proxies pass and
/// read (Nova's proxies call Cinder's volume and snapshot API as the user).
pub(crate) use super::model::{Snapshot, Volume};
pub(crate) use super::snapshots::SnapshotCreate;
pub(crate) use super::volumes::ListOptions;
