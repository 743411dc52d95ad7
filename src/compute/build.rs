//! Server create as persisted steps, Nova's build: claim in Placement →
//! ports → root disk and config drive → VMM launch. Each step is recorded in the
//! server row (task_state, ports) before the next starts and is idempotent, so a
//! restart replays the build; a failure undoes every step in reverse and leaves
//! the server in ERROR with a fault, holding no port, disk, claim or process.

use crate::logged::OrLog;
use std::sync::Arc;
use std::time::Duration;

use super::model::*;
use super::servers::{RequestedNetworks, RequestedNic};
use super::{ComputeService, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::image::model::Image;
use crate::network::instance::InstanceNic;

/// How long a build waits for a volume it maps to become available (Nova's
/// `block_device_allocate_retries` × interval is 3 minutes; a copy of a large
/// image under TCG takes longer).
const VOLUME_WAIT: Duration = Duration::from_secs(600);

/// How long a build waits for the dataplane to wire its taps.
const WIRING_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a build failed: the fault Nova would record.
#[derive(Debug)]
pub(crate) struct BuildFailure {
    pub code: u16,
    pub message: String,
    pub details: String,
}

impl BuildFailure {
    fn no_valid_host(reason: &str) -> BuildFailure {
        BuildFailure {
            code: 500,
            message: "No valid host was found. ".into(),
            details: reason.to_owned(),
        }
    }

    fn from_api(step: &str, e: ApiError) -> BuildFailure {
        let code = match &e {
            ApiError::Internal(_) => 500,
            other => other.status().as_u16(),
        };
        let details = match &e {
            ApiError::Internal(inner) => format!("{inner:#}"),
            other => other.to_string(),
        };
        BuildFailure {
            code,
            message: format!(
                "Build of instance failed during {step}: {}",
                short(&details)
            ),
            details,
        }
    }
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Event names as Nova's compute manager records them.
pub(crate) const EVENT_BUILD: &str = "compute__do_build_and_run_instance";

impl ComputeService {
    /// Runs the build of `id` in the background.
    pub(crate) fn spawn_build(&self, id: String, ctx: Arc<RequestContext>, request_id: String) {
        let this = self.clone();
        tokio::spawn(async move { this.build(&id, &ctx, &request_id).await });
    }

    /// The whole build; the server's lock is held throughout.
    pub(crate) async fn build(&self, id: &str, ctx: &RequestContext, request_id: &str) {
        let lock = self.server_lock(id);
        let _held = lock.lock().await;
        self.event_start(id, request_id, EVENT_BUILD)
            .await
            .or_log(id, "recording the build's start event");
        match self.build_steps(id, ctx).await {
            Ok(true) => {
                self.event_finish(id, request_id, EVENT_BUILD, None)
                    .await
                    .or_log(id, "recording the build's finish event");
                tracing::info!(server = id, "server is active");
            }
            Ok(false) => {}
            Err(f) => {
                tracing::warn!(server = id, error = %f.details, "build failed; rolling back");
                self.undo_build(id).await;
                let fault = ServerFault {
                    code: f.code,
                    message: f.message.clone(),
                    details: f.details.clone(),
                    created: crate::http::time::iso_seconds(chrono::Utc::now()),
                };
                self.mutate(id, move |s| {
                    if s.task_state != Some(TaskState::Deleting) {
                        s.vm_state = VmState::Error;
                        s.task_state = None;
                        s.power_state = 0;
                        s.fault = Some(fault);
                    }
                    Ok(())
                })
                .await
                .or_log(id, "recording the server's ERROR state and fault");
                self.event_finish(id, request_id, EVENT_BUILD, Some(f.details))
                    .await
                    .or_log(id, "recording the build's failure event");
            }
        }
    }

    /// Ok(false) when the server went away (deleted) before the build finished.
    async fn build_steps(&self, id: &str, ctx: &RequestContext) -> Result<bool, BuildFailure> {
        let Some(s) = self.load_building(id).await? else {
            return Ok(false);
        };
        // 1. Scheduling: this host must take new servers, then a claim against
        //    its provider.
        self.schedule(&s).await?;
        self.set_task(id, TaskState::Networking).await?;

        // 2. Networking: one port per requested NIC, recorded as soon as made.
        self.allocate_ports(&s, ctx).await?;
        self.set_task(id, TaskState::BlockDeviceMapping).await?;

        // 3. Disks.
        let Some(s) = self.load_building(id).await? else {
            return Ok(false);
        };
        self.prepare_disks(&s, ctx)
            .await
            .map_err(|e| BuildFailure::from_api("block device mapping", e))?;
        self.set_task(id, TaskState::Spawning).await?;

        // 4. Spawning: the dataplane wires the taps, then the VMM starts.
        let nics = self.wired_nics(&s).await?;
        self.spawn(&s, &nics).await
    }

    /// This host must take new servers; then the flavor is claimed against its
    /// provider. A refused claim is Nova's "No valid host".
    async fn schedule(&self, s: &Server) -> Result<(), BuildFailure> {
        let scheduled = match self.ensure_schedulable().await {
            Ok(()) => self.claim_flavor(s, &s.flavor).await,
            Err(e) => Err(e),
        };
        scheduled.map_err(|e| match e {
            ApiError::Conflict(m) => BuildFailure::no_valid_host(&m),
            other => BuildFailure::from_api("scheduling", other),
        })
    }

    /// The server's NICs, once the dataplane has wired their taps (or the wait
    /// timed out: the launch goes ahead, as Nova's does without vif events).
    async fn wired_nics(&self, s: &Server) -> Result<Vec<InstanceNic>, BuildFailure> {
        let nics = self
            .inner
            .network
            .instance_nics(s.ports.iter().map(|p| p.port_id.clone()).collect())
            .await
            .map_err(|e| BuildFailure::from_api("networking", e))?;
        if self.inner.config.dataplane
            && !nics.is_empty()
            && !self.inner.network.wait_converged(WIRING_TIMEOUT).await
        {
            tracing::warn!(
                server = s.id,
                "the dataplane did not converge in time; launching anyway"
            );
        }
        Ok(nics)
    }

    /// Launches the VMM and marks the server ACTIVE with its power state;
    /// Ok(false) when a delete came first.
    async fn spawn(&self, s: &Server, nics: &[InstanceNic]) -> Result<bool, BuildFailure> {
        let spec = self.vm_spec(s, nics);
        self.inner
            .hypervisor
            .launch(&spec)
            .await
            .map_err(|e| BuildFailure {
                code: 500,
                message: format!(
                    "Build of instance {} aborted: {}",
                    s.id,
                    short(&e.to_string())
                ),
                details: e.to_string(),
            })?;
        let power = self
            .inner
            .hypervisor
            .power_state(&spec)
            .await
            .map(|p| p.code())
            .unwrap_or(1);
        self.mutate(&s.id, move |s| {
            if s.task_state == Some(TaskState::Deleting) {
                return Ok(false);
            }
            s.vm_state = VmState::Active;
            s.task_state = None;
            s.power_state = power;
            s.progress = 100;
            s.launched_at = Some(crate::http::time::iso_seconds(chrono::Utc::now()));
            Ok(true)
        })
        .await
        .map_err(|e| BuildFailure::from_api("spawning", e))
    }

    /// The server if it is still to be built (not deleted, not being deleted).
    async fn load_building(&self, id: &str) -> Result<Option<Server>, BuildFailure> {
        let id = id.to_owned();
        let s = self
            .read(move |c| store::server_get(c, &id))
            .await
            .map_err(|e| BuildFailure::from_api("scheduling", e))?;
        Ok(s.filter(|s| s.task_state != Some(TaskState::Deleting)))
    }

    async fn set_task(&self, id: &str, task: TaskState) -> Result<(), BuildFailure> {
        self.mutate(id, move |s| {
            if s.task_state != Some(TaskState::Deleting) {
                s.task_state = Some(task);
            }
            Ok(())
        })
        .await
        .map_err(|e| BuildFailure::from_api(task.as_str(), e))
    }

    /// Creates or binds the ports of the requested NICs. Ports already recorded
    /// (a replayed build) are kept.
    async fn allocate_ports(&self, s: &Server, ctx: &RequestContext) -> Result<(), BuildFailure> {
        let fail = |e| BuildFailure::from_api("networking", e);
        let nics = self.requested_nics(s, ctx).await?;
        for nic in nics.into_iter().skip(s.ports.len()) {
            let record = self.nic_port(s, ctx, nic).await?;
            self.mutate(&s.id, move |s| {
                if !s.ports.iter().any(|p| p.port_id == record.port_id) {
                    s.ports.push(record);
                }
                Ok(())
            })
            .await
            .map_err(fail)?;
        }
        Ok(())
    }

    /// The NICs the create asked for, `auto` and `any` resolved to the project's
    /// network (`any` to none when it has none).
    async fn requested_nics(
        &self,
        s: &Server,
        ctx: &RequestContext,
    ) -> Result<Vec<RequestedNic>, BuildFailure> {
        let fail = |e| BuildFailure::from_api("networking", e);
        let on = |net: String| RequestedNic::Network {
            id: net,
            fixed_ip: None,
            tag: None,
        };
        let requested = match &s.requested_networks {
            serde_json::Value::String(v) if v == "none" => RequestedNetworks::None,
            serde_json::Value::String(v) if v == "any" => RequestedNetworks::Any,
            serde_json::Value::String(_) => RequestedNetworks::Auto,
            other => RequestedNetworks::List(
                serde_json::from_value(other.clone())
                    .map_err(|e| fail(ApiError::Internal(e.into())))?,
            ),
        };
        Ok(match requested {
            RequestedNetworks::None => vec![],
            RequestedNetworks::Auto => {
                vec![on(self
                    .inner
                    .network
                    .network_auto(ctx)
                    .await
                    .map_err(fail)?)]
            }
            RequestedNetworks::Any => (self.inner.network.network_if_any(ctx).await)
                .map_err(fail)?
                .map(on)
                .into_iter()
                .collect(),
            RequestedNetworks::List(n) => n,
        })
    }

    /// The port of one NIC: created on the network asked for (with the server's
    /// security groups), or the user's port bound to this host.
    async fn nic_port(
        &self,
        s: &Server,
        ctx: &RequestContext,
        nic: RequestedNic,
    ) -> Result<ServerPort, BuildFailure> {
        let fail = |e| BuildFailure::from_api("networking", e);
        let host = self.inner.config.host.clone();
        let network = &self.inner.network;
        let (port, created, tag) = match nic {
            RequestedNic::Network { id, fixed_ip, tag } => {
                let groups = s.security_groups.clone();
                let p = network
                    .instance_port_create(ctx, id, fixed_ip, groups, s.id.clone(), host)
                    .await
                    .map_err(fail)?;
                (p, true, tag)
            }
            RequestedNic::Port { id, tag } => {
                let p = network
                    .instance_port_bind(ctx, id, s.id.clone(), host)
                    .await
                    .map_err(fail)?;
                (p, false, tag)
            }
        };
        Ok(ServerPort {
            port_id: port.std.id.clone(),
            network_id: port.network_id.clone(),
            created_by_compute: created,
            tag,
        })
    }

    /// Root disk from the image, kernel/ramdisk for aki/ari images, config drive.
    async fn prepare_disks(&self, s: &Server, ctx: &RequestContext) -> ApiResult<()> {
        let p = self.paths(&s.id);
        tokio::fs::create_dir_all(&p.dir)
            .await
            .map_err(super::runtime::io_err)?;
        // A volume-backed server has no image and no local root disk.
        if !s.image_id.is_empty() {
            let image = self.inner.image.image_get(ctx, s.image_id.clone()).await?;
            if !p.disk.exists() {
                self.prepare_root_disk(s, &image, &p.disk).await?;
            }
            self.copy_kernel_files(s, &image, ctx).await?;
        }
        self.prepare_volumes(s, ctx).await?;
        if s.config_drive {
            self.write_config_drive(s).await?;
        }
        Ok(())
    }

    /// The volumes of the block device mapping, root first: new ones are made
    /// (under the id the server recorded, so a resumed build finds them), each
    /// waited for until `available`, then attached. A volume that ends in error
    /// or does not come within `VOLUME_WAIT` fails the build, as Nova's
    /// `block_device_allocate_retries` does.
    async fn prepare_volumes(&self, s: &Server, ctx: &RequestContext) -> ApiResult<()> {
        if s.block_devices.is_empty() {
            return Ok(());
        }
        let vol = self.volume()?.clone();
        let mut devices = s.block_devices.clone();
        devices.sort_by_key(|d| d.boot_index.map_or(i64::MAX, |i| i.max(0)));
        for d in devices {
            let source = match &d.source {
                BlockSource::Existing => None,
                BlockSource::Image { id } => Some((Some(id.clone()), None)),
                BlockSource::Snapshot { id } => Some((None, Some(id.clone()))),
                BlockSource::Blank => Some((None, None)),
            };
            if let Some((image_ref, snapshot_id)) = source {
                let req = crate::volume::facade::VolumeCreate {
                    size: d.size,
                    // Nova names nothing: the volume is known by its server.
                    name: Some(String::new()),
                    description: Some(String::new()),
                    volume_type: d.volume_type.clone(),
                    image_ref,
                    snapshot_id,
                    ..Default::default()
                };
                vol.volume_create_with_id(ctx, d.volume_id.clone(), req)
                    .await?;
            }
            self.wait_volume(&vol, ctx, &s.id, &d.volume_id).await?;
            let g = vol
                .guest_attach_boot(
                    ctx,
                    d.volume_id.clone(),
                    s.id.clone(),
                    d.device_name.clone(),
                    d.boot_index == Some(0),
                )
                .await?;
            tracing::info!(server = %s.id, volume = %g.volume_id, device = %g.device, "volume mapped");
        }
        Ok(())
    }

    /// Waits until `volume_id` is available (or already attached to `server`).
    async fn wait_volume(
        &self,
        vol: &crate::volume::VolumeService,
        ctx: &RequestContext,
        server: &str,
        volume_id: &str,
    ) -> ApiResult<()> {
        let started = std::time::Instant::now();
        loop {
            let v = vol.volume_get(ctx, volume_id.to_owned()).await?;
            let mine = v
                .attachments
                .iter()
                .any(|a| a.instance_uuid.as_deref() == Some(server));
            match v.status.as_str() {
                "available" => return Ok(()),
                _ if mine => return Ok(()),
                "creating" | "downloading" if started.elapsed() < VOLUME_WAIT => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                status => {
                    return Err(ApiError::Internal(anyhow::anyhow!(
                        "Volume {volume_id} did not finish being created even after we waited {} seconds. And its status is {status}.",
                        started.elapsed().as_secs()
                    )));
                }
            }
        }
    }

    /// Direct kernel boot: an image whose `kernel_id` (and `ramdisk_id`) name aki/ari
    /// images boots those, copied into the instance directory as Nova does.
    async fn copy_kernel_files(
        &self,
        s: &Server,
        image: &Image,
        ctx: &RequestContext,
    ) -> ApiResult<()> {
        let p = self.paths(&s.id);
        let prop = |k: &str| {
            image
                .properties
                .get(k)
                .and_then(serde_json::Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        for (key, dest) in [("kernel_id", &p.kernel), ("ramdisk_id", &p.ramdisk)] {
            let Some(id) = prop(key) else { continue };
            if dest.exists() {
                continue;
            }
            let file = self
                .inner
                .image
                .image_get(ctx, id.clone())
                .await
                .map_err(|_| {
                    ApiError::bad_request(format!("Image {id} named by {key} could not be found."))
                })?;
            self.copy_boot_file(&file.id, dest).await?;
        }
        Ok(())
    }

    /// Undoes whatever a failed build did, in reverse; every step tolerates
    /// "already undone", and errors are logged, never stop the others.
    pub(crate) async fn undo_build(&self, id: &str) {
        let sid = id.to_owned();
        let Ok(Some(s)) = self.read(move |c| store::server_get_any(c, &sid)).await else {
            return;
        };
        let spec = self.vm_spec(&s, &[]);
        if let Err(e) = self.inner.hypervisor.destroy(&spec).await {
            tracing::warn!(server = id, error = %e, "undo: VMM");
        }
        self.volumes_forget(id).await;
        let doomed: Vec<String> = s
            .block_devices
            .iter()
            .filter(|d| d.delete_on_termination)
            .map(|d| d.volume_id.clone())
            .collect();
        if !doomed.is_empty()
            && let Some(v) = self.inner.volume.get()
        {
            v.volumes_delete_for_server(doomed).await;
        }
        let dir = self.paths(id).dir;
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(server = id, error = %e, "undo: instance directory");
        }
        for p in &s.ports {
            if let Err(e) = self
                .inner
                .network
                .instance_port_release(p.port_id.clone(), p.created_by_compute)
                .await
            {
                tracing::warn!(server = id, port = p.port_id, error = %e, "undo: port");
            }
        }
        self.mutate(id, |s| {
            s.ports.clear();
            Ok(())
        })
        .await
        .or_log(id, "clearing the undone build's ports");
        if let Err(e) = self.inner.placement.release(id).await {
            tracing::warn!(server = id, error = %e, "undo: placement allocation");
        }
    }

    /// Loads, changes and writes one server in a single transaction.
    pub(crate) async fn mutate<T: Send + 'static>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Server) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let id = id.to_owned();
        self.write(move |c| {
            let mut s = store::server_get_any(c, &id)?
                .ok_or_else(|| super::servers::server_not_found(&id))?;
            let out = f(&mut s)?;
            store::server_put(c, &mut s)?;
            Ok(out)
        })
        .await
    }

    pub(crate) async fn event_start(
        &self,
        id: &str,
        request_id: &str,
        event: &str,
    ) -> ApiResult<()> {
        let (id, request_id, event) = (id.to_owned(), request_id.to_owned(), event.to_owned());
        self.write(move |c| {
            let Some(mut a) = store::action_get(c, &id, &request_id)? else {
                return Ok(());
            };
            let now = crate::http::time::iso_micros(chrono::Utc::now());
            a.events.push(ActionEvent {
                event,
                start_time: now.clone(),
                finish_time: None,
                result: None,
                traceback: None,
            });
            a.updated_at = now;
            store::action_put(c, &a)
        })
        .await
    }

    /// Finishes an event: `error` None is Success.
    pub(crate) async fn event_finish(
        &self,
        id: &str,
        request_id: &str,
        event: &str,
        error: Option<String>,
    ) -> ApiResult<()> {
        let (id, request_id, event) = (id.to_owned(), request_id.to_owned(), event.to_owned());
        self.write(move |c| {
            let Some(mut a) = store::action_get(c, &id, &request_id)? else {
                return Ok(());
            };
            let now = crate::http::time::iso_micros(chrono::Utc::now());
            if let Some(ev) = a
                .events
                .iter_mut()
                .rev()
                .find(|e| e.event == event && e.finish_time.is_none())
            {
                ev.finish_time = Some(now.clone());
                ev.result = Some(if error.is_some() { "Error" } else { "Success" }.into());
                ev.traceback = error.clone();
            }
            if error.is_some() {
                a.message = Some("Error".into());
            }
            a.updated_at = now;
            store::action_put(c, &a)
        })
        .await
    }

    /// The NICs of a server as the dataplane has them.
    pub(crate) async fn server_nics(&self, s: &Server) -> ApiResult<Vec<InstanceNic>> {
        self.inner
            .network
            .instance_nics(s.ports.iter().map(|p| p.port_id.clone()).collect())
            .await
    }
}

impl ComputeService {
    /// Claims (or re-claims: a consumer's allocations are replaced) what `flavor`
    /// needs on this host for server `s`; a Conflict means no room.
    pub(crate) async fn claim_flavor(&self, s: &Server, flavor: &Flavor) -> ApiResult<()> {
        // A volume-backed server's root disk is not on this host (Nova claims no
        // DISK_GB for it).
        let mut flavor = flavor.clone();
        if s.boot_volume().is_some() {
            flavor.disk = 0;
        }
        self.inner
            .placement
            .claim(
                &s.id,
                &s.project_id,
                &s.user_id,
                &self.inner.config.provider_uuid,
                claim_resources(&flavor),
            )
            .await
    }
}

/// What a flavor claims in Placement.
pub(crate) fn claim_resources(f: &Flavor) -> Vec<(String, i64)> {
    let mut r = vec![
        ("VCPU".to_owned(), f.vcpus),
        ("MEMORY_MB".to_owned(), f.ram),
    ];
    let disk = f.disk + f.ephemeral + (f.swap + 1023) / 1024;
    if disk > 0 {
        r.push(("DISK_GB".to_owned(), disk));
    }
    r
}
