//! Block storage (Cinder v3): volumes on a backend behind one trait (sparse files in
//! the state directory by default), volume types with extra specs and access, quotas
//! and limits, availability zones and the services listing.
//!
//! Rooms: `api/` (routes and views), `model.rs` (types and the one status transition
//! function), `store.rs` (all SQL), `volumes.rs`, `types.rs`, `quotas.rs` (the
//! service logic), `backend.rs` (storage), `tasks.rs` (persisted multi-step work and
//! its `recover()`), `facade.rs` (what other services may call).

pub(crate) mod api;
pub(crate) mod attachments;
mod backend;
mod backup_chunks;
pub(crate) mod backups;
mod exports;
pub(crate) mod facade;
mod group_settle;
mod group_store;
mod group_types;
mod groups;
pub(crate) mod hosts;
pub(crate) mod iscsi;
pub(crate) mod lvm;
pub(crate) mod manage;
mod messages;
pub(crate) mod model;
mod qos;
mod quotas;
pub(crate) mod registration;
mod reimage;
mod snapshots;
pub(crate) mod store;
mod tasks;
mod transfers;
mod type_kinds;
mod types;
pub(crate) mod upload;
mod volumes;

use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, Transaction};

use crate::db::Db;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use backend::{Backend, FileBackend};

/// The block storage service; other services use only what `facade.rs` offers.
#[derive(Clone)]
pub(crate) struct VolumeService {
    inner: Arc<Inner>,
}

/// Directory of the file backend, below the state directory.
pub(crate) const VOLUMES_DIR: &str = "volumes";

struct Inner {
    db: Db,
    backend: Arc<dyn Backend>,
    /// This host's name, as the services listing and `os-vol-host-attr:host` show it.
    host: String,
    /// The image service, the source of volumes made from images.
    image: Option<crate::image::ImageService>,
    /// Where backups are kept (`state_dir/backups`).
    backup_dir: std::path::PathBuf,
    /// iSCSI export by tgt (`target_helper = "tgtadm"`); None: hypervisors open
    /// the volume directly.
    exporter: Option<exports::Exporter>,
    /// The compute service, told when an attached volume grows.
    compute: std::sync::OnceLock<Arc<dyn facade::ComputeEvents>>,
    /// One lock per volume, serializing its tasks.
    locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The backend the profile names: files in `state_dir/volumes`, or LVM.
fn open_backend(
    state_dir: &Path,
    cfg: &crate::profile::VolumeSection,
) -> anyhow::Result<Arc<dyn Backend>> {
    Ok(match cfg.backend {
        crate::profile::VolumeBackend::File => {
            Arc::new(FileBackend::open(&state_dir.join(VOLUMES_DIR))?)
        }
        crate::profile::VolumeBackend::Lvm => Arc::new(lvm::LvmBackend::open(
            &cfg.volume_group,
            &cfg.thin_pool,
            Arc::new(lvm::HostRunner),
        )?),
    })
}

/// The iSCSI exporter through tgtd: its IQN prefix kept in the database, CHAP
/// secrets sealed with the credential keys.
fn open_exporter(
    db: &Db,
    state_dir: &Path,
    cfg: &crate::profile::VolumeSection,
    netns: Option<String>,
) -> anyhow::Result<exports::Exporter> {
    let prefix = db
        .write_blocking(|c| exports::iqn_prefix(c).map_err(sql))
        .map_err(|e| anyhow::anyhow!("the iSCSI IQN prefix: {e}"))?;
    let keys = crate::identity::token::CredentialKeys::open(
        &state_dir
            .join(crate::state::FERNET_DIR)
            .with_file_name("credential-keys"),
    )?;
    let tgt = iscsi::Tgt::new(iscsi::TgtConfig {
        portal: cfg.iscsi_portal,
        control_port: cfg.tgt_control_port,
        managed: cfg.tgt_managed,
        iqn_prefix: prefix,
        netns,
        dir: state_dir.join("tgt"),
    });
    Ok(exports::Exporter {
        tgt: Arc::new(tgt),
        keys,
    })
}

impl VolumeService {
    /// Opens the backend the profile names (files in `state_dir/volumes` by
    /// default) and, with `target_helper = "tgtadm"`, the iSCSI exporter; `netns`
    /// is where the guests (and so a managed tgtd) run.
    fn open_with(
        db: Db,
        state_dir: &Path,
        host: String,
        image: Option<crate::image::ImageService>,
        cfg: &crate::profile::VolumeSection,
        netns: Option<String>,
    ) -> anyhow::Result<VolumeService> {
        let backend = open_backend(state_dir, cfg)?;
        let exporter = match cfg.target_helper {
            crate::profile::TargetHelper::None => None,
            crate::profile::TargetHelper::Tgtadm => {
                Some(open_exporter(&db, state_dir, cfg, netns)?)
            }
        };
        let backup_dir = state_dir.join(backups::BACKUPS_DIR);
        std::fs::create_dir_all(&backup_dir)?;
        // Backups hold tenants' data: owner-only, whatever the umask gave.
        std::fs::set_permissions(
            &backup_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )?;
        Ok(VolumeService {
            inner: Arc::new(Inner {
                db,
                backend,
                host,
                image,
                backup_dir,
                exporter,
                compute: Default::default(),
                locks: Default::default(),
            }),
        })
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.inner.db.read(f).await
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.inner.db.write(f).await
    }

    /// `host@backend#pool`, Cinder's volume host string.
    pub(crate) fn volume_host(&self) -> String {
        format!(
            "{}@{}#{}",
            self.inner.host,
            model::BACKEND_NAME,
            model::BACKEND_NAME
        )
    }

    pub(crate) fn host(&self) -> &str {
        &self.inner.host
    }
}

/// Cinder's default policy: an admin anywhere, or a reader of the owning project
/// (the policy table's volume rows).
pub(crate) fn sees(ctx: &RequestContext, project_id: &str) -> bool {
    crate::http::policy::VOLUME.sees(ctx, project_id)
}

/// A member of the owning project, or an admin.
pub(crate) fn may_change(ctx: &RequestContext, project_id: &str) -> ApiResult<()> {
    crate::http::policy::VOLUME.may_change(ctx, project_id)
}

/// The caller's project; every block storage route is project scoped.
pub(crate) fn caller_project(ctx: &RequestContext) -> ApiResult<String> {
    ctx.project_id()
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("A project-scoped token is required."))
}

/// Cinder's "Volume <id> could not be found." (404).
pub(crate) fn volume_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Volume {id} could not be found."))
}

/// The 500 of a failed SQL statement.
pub(crate) fn sql(e: rusqlite::Error) -> ApiError {
    ApiError::Internal(e.into())
}
