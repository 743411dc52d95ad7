//! Nova v2.1: flavors, keypairs, servers and their lifecycle on a real VMM, with
//! the create and every action run as persisted steps that a restart resumes.

pub(crate) mod actions;
pub(crate) mod admin_actions;
pub(crate) mod aggregates;
pub(crate) mod api;
pub(crate) mod assisted_snapshots;
pub(crate) mod build;
pub(crate) mod configdrive;
pub(crate) mod diagnostics;
pub(crate) mod extra_specs;
pub(crate) mod facade;
pub(crate) mod flavors;
pub(crate) mod hosts;
pub(crate) mod info;
pub(crate) mod interfaces;
pub(crate) mod keypairs;
pub(crate) mod listing;
pub mod metadata;
pub(crate) mod metadata_service;
pub(crate) mod migrations;
pub(crate) mod model;
pub(crate) mod quotas;
pub(crate) mod rebuild_volume;
pub(crate) mod recover;
pub(crate) mod registration;
pub(crate) mod runtime;
pub(crate) mod serial;
pub(crate) mod server_groups;
pub(crate) mod server_meta;
pub(crate) mod servers;
pub(crate) mod services;
pub(crate) mod shelve;
pub(crate) mod store;
pub(crate) mod volume_attachments;

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
pub(crate) struct ComputeConfig {
    /// `<state>/instances`: one directory per server (disks, console log, VMM sockets).
    pub instances_dir: PathBuf,
    /// Network namespace the VMMs run in to open their taps (tests); None = host.
    pub netns: Option<String>,
    /// This host's name, as os-hypervisors and OS-EXT-SRV-ATTR:host show it.
    pub host: String,
    /// The compute node's resource provider in Placement.
    pub provider_uuid: String,
    /// Whether the dataplane is on (ports must be wired before a VMM opens its taps).
    pub dataplane: bool,
}

/// The compute service. Cloning is cheap; clones share state.
#[derive(Clone)]
pub(crate) struct ComputeService {
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
    pub(crate) fn new(
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

    pub(crate) fn config(&self) -> &ComputeConfig {
        &self.inner.config
    }

    pub(crate) fn hypervisor(&self) -> &Arc<dyn Hypervisor> {
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
pub(crate) fn caller_project(ctx: &RequestContext) -> ApiResult<String> {
    ctx.project_id()
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("A project-scoped token is required."))
}

/// Whether the caller sees a resource owned by `project_id`: Nova's
/// `project_reader_or_admin` row of the policy table.
pub(crate) fn sees(ctx: &RequestContext, project_id: &str) -> bool {
    crate::http::policy::COMPUTE.sees(ctx, project_id)
}

/// Whether the caller may change a resource owned by `project_id`: Nova's
/// `project_member_or_admin`.
pub(crate) fn may_change(ctx: &RequestContext, project_id: &str) -> ApiResult<()> {
    crate::http::policy::COMPUTE.may_change(ctx, project_id)
}
