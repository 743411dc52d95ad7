//! Nova v2.1: flavors, keypairs, servers and their lifecycle on a real VMM, with
//! the create and every action run as persisted steps that a restart resumes.

pub mod actions;
pub mod admin_actions;
pub mod aggregates;
pub mod api;
pub mod assisted_snapshots;
pub mod build;
pub mod configdrive;
pub mod diagnostics;
pub mod extra_specs;
pub mod facade;
pub mod flavors;
pub mod hosts;
pub mod info;
pub mod interfaces;
pub mod keypairs;
pub mod listing;
pub mod metadata;
pub mod metadata_service;
pub mod migrations;
pub mod model;
pub mod quotas;
pub mod rebuild_volume;
pub mod recover;
pub mod registration;
pub mod runtime;
pub mod serial;
pub mod server_groups;
pub mod server_meta;
pub mod servers;
pub mod services;
pub mod shelve;
pub(crate) mod store;
pub mod volume_attachments;

#[cfg(test)]
mod harness;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction};

use crate::db::Db;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::image::ImageService;
use crate::network::NetworkService;
use crate::placement::PlacementService;
use crate::virt::Hypervisor;

/// Where and how instances run on this host.
#[derive(Clone)]
pub struct ComputeConfig {
    /// `<state>/instances`: one directory per server (disks, console log, VMM sockets).
    pub instances_dir: PathBuf,
    /// Network namespace the VMMs run in to open their taps (tests); None = host.
    pub netns: Option<String>,
    /// This host's name, as os-hypervisors and OS-EXT-SRV-ATTR:host show it.
    pub host: String,
    /// The compute node's resource provider in Placement.
    pub provider_uuid: String,
    /// Why this hypervisor was chosen (shown by os-hypervisors and `onestack status`).
    pub hypervisor_reason: String,
    /// Whether the dataplane is on (ports must be wired before a VMM opens its taps).
    pub dataplane: bool,
}

/// The compute service. Cloning is cheap; clones share state.
#[derive(Clone)]
pub struct ComputeService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    config: ComputeConfig,
    hypervisor: Arc<dyn Hypervisor>,
    image: ImageService,
    network: NetworkService,
    placement: PlacementService,
    /// One lock per server, so two operations never drive the same VMM at once.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Block storage, set once at start (`volume_attachments.rs`).
    volume: std::sync::OnceLock<crate::volume::VolumeService>,
    /// Woken by `volume-reimaged` (per volume id) for a rebuild waiting on it.
    reimaged: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
}

impl ComputeService {
    pub fn new(
        db: Db,
        config: ComputeConfig,
        hypervisor: Arc<dyn Hypervisor>,
        image: ImageService,
        network: NetworkService,
        placement: PlacementService,
    ) -> ComputeService {
        ComputeService {
            inner: Arc::new(Inner {
                db,
                config,
                hypervisor,
                image,
                network,
                placement,
                locks: Mutex::new(HashMap::new()),
                volume: Default::default(),
                reimaged: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn config(&self) -> &ComputeConfig {
        &self.inner.config
    }

    pub fn hypervisor(&self) -> &Arc<dyn Hypervisor> {
        &self.inner.hypervisor
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

    /// The lock serializing operations on one server.
    fn server_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(id.to_owned()).or_default().clone()
    }
}

/// The project a new resource belongs to: the caller's project.
pub fn caller_project(ctx: &RequestContext) -> ApiResult<String> {
    ctx.project_id()
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("A project-scoped token is required."))
}

/// Whether the caller sees a resource owned by `project_id`: Nova's
/// `project_reader_or_admin` row of the policy table.
pub fn sees(ctx: &RequestContext, project_id: &str) -> bool {
    crate::http::policy::COMPUTE.sees(ctx, project_id)
}

/// Whether the caller may change a resource owned by `project_id`: Nova's
/// `project_member_or_admin`.
pub fn may_change(ctx: &RequestContext, project_id: &str) -> ApiResult<()> {
    crate::http::policy::COMPUTE.may_change(ctx, project_id)
}
