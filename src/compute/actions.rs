//! Server actions (Compute API: Servers - run an action): each one is accepted
//! in one transaction that checks policy, the lock and the state machine, sets
//! the task_state and records an instance action; the VMM work then runs in the
//! background under the server's lock and records the outcome.

use crate::logged::OrLog;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::model::*;
use super::runtime::{io_err, run_tool};
use super::servers::{new_action, visible};
use super::{ComputeService, may_change, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::image::ImageCreate;
use crate::image::model::Image;
use crate::network::instance::InstanceNic;
use crate::virt::{Hypervisor, PowerState, VmSpec};

/// The state-changing work an accepted action runs.
#[derive(Debug, Clone)]
pub(crate) enum Work {
    Start,
    Stop,
    Reboot {
        hard: bool,
    },
    Pause,
    Unpause,
    Suspend,
    Resume,
    Rebuild(Rebuild),
    Resize {
        flavor: Flavor,
    },
    ConfirmResize,
    RevertResize,
    Snapshot {
        image_id: String,
    },
    /// createBackup: a snapshot, then the oldest backups of this type beyond
    /// `rotation` are deleted.
    Backup {
        image_id: String,
        backup_type: String,
        rotation: u64,
    },
    /// Boot from `image_id` with the original disk attached second.
    Rescue {
        image_id: String,
    },
    Unrescue,
    /// Power off and snapshot into `image_id`; `offload` frees the disk and claim
    /// right after (Nova's `shelved_offload_time = 0`).
    Shelve {
        image_id: String,
        offload: bool,
    },
    ShelveOffload,
    Unshelve,
    Delete,
}

/// What a rebuild changes besides the image.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rebuild {
    pub image_id: String,
    pub name: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub user_data: Option<Option<String>>,
    pub key: Option<Option<Keypair>>,
    pub description: Option<Option<String>>,
    /// 2.90: a new hostname.
    pub hostname: Option<String>,
    /// 2.93, volume-backed: the root volume is rewritten with the image
    /// (`rebuild_volume.rs`).
    pub reimage: bool,
}

impl Rebuild {
    /// `s` as the guest sees it after the rebuild: the new image and its
    /// properties, and the hostname, user data and key the request changes.
    fn applied_to(&self, s: &Server, image: &Image) -> Server {
        let mut rebuilt = s.clone();
        rebuilt.image_id = image.id.clone();
        rebuilt.image_properties = super::model::image_properties(&image.properties);
        self.apply_to_guest(&mut rebuilt);
        rebuilt
    }

    /// The changes the guest sees (its config drive carries them): hostname,
    /// user data and key.
    pub(super) fn apply_to_guest(&self, s: &mut Server) {
        if let Some(h) = &self.hostname {
            s.hostname = h.clone();
        }
        if let Some(ud) = &self.user_data {
            s.user_data = ud.clone();
        }
        if let Some(k) = &self.key {
            s.key_name = k.as_ref().map(|k| k.name.clone());
            s.key_data = k.as_ref().map(|k| k.public_key.clone());
        }
    }

    /// The changes that are the server record's alone: name, metadata and
    /// description.
    pub(super) fn apply_to_record(&self, s: &mut Server) {
        if let Some(n) = &self.name {
            s.name = n.clone();
        }
        if let Some(m) = &self.metadata {
            s.metadata = m.clone();
        }
        if let Some(d) = &self.description {
            s.description = d.clone();
        }
    }
}

/// A finished rebuild: running again if it ran before, stopped otherwise, with
/// no task and no fault.
pub(super) fn settle_rebuilt(s: &mut Server, was_running: bool, power: PowerState) {
    s.vm_state = if was_running {
        VmState::Active
    } else {
        VmState::Stopped
    };
    s.task_state = None;
    s.power_state = power.code();
    s.fault = None;
}

impl Work {
    fn op(&self) -> Op {
        match self {
            Work::Start => Op::Start,
            Work::Stop => Op::Stop,
            Work::Reboot { hard: true } => Op::RebootHard,
            Work::Reboot { hard: false } => Op::RebootSoft,
            Work::Pause => Op::Pause,
            Work::Unpause => Op::Unpause,
            Work::Suspend => Op::Suspend,
            Work::Resume => Op::Resume,
            Work::Rebuild(_) => Op::Rebuild,
            Work::Resize { .. } => Op::Resize,
            Work::ConfirmResize => Op::ConfirmResize,
            Work::RevertResize => Op::RevertResize,
            Work::Snapshot { .. } => Op::CreateImage,
            Work::Backup { .. } => Op::CreateBackup,
            Work::Rescue { .. } => Op::Rescue,
            Work::Unrescue => Op::Unrescue,
            Work::Shelve { .. } => Op::Shelve,
            Work::ShelveOffload => Op::ShelveOffload,
            Work::Unshelve => Op::Unshelve,
            Work::Delete => Op::Delete,
        }
    }

    /// The event name Nova's compute manager records for this work.
    fn event(&self) -> &'static str {
        match self {
            Work::Start => "compute_start_instance",
            Work::Stop => "compute_stop_instance",
            Work::Reboot { .. } => "compute_reboot_instance",
            Work::Pause => "compute_pause_instance",
            Work::Unpause => "compute_unpause_instance",
            Work::Suspend => "compute_suspend_instance",
            Work::Resume => "compute_resume_instance",
            Work::Rebuild(_) => "compute_rebuild_instance",
            Work::Resize { .. } => "compute_resize_instance",
            Work::ConfirmResize => "compute_confirm_resize",
            Work::RevertResize => "compute_revert_resize",
            Work::Snapshot { .. } => "compute_snapshot_instance",
            Work::Backup { .. } => "compute_backup_instance",
            Work::Rescue { .. } => "compute_rescue_instance",
            Work::Unrescue => "compute_unrescue_instance",
            Work::Shelve { .. } => "compute_shelve_instance",
            Work::ShelveOffload => "compute_shelve_offload_instance",
            Work::Unshelve => "compute_unshelve_instance",
            Work::Delete => "compute_terminate_instance",
        }
    }
}

/// The migration record a resize keeps (os-migrations): created when the resize
/// is accepted, moved along when it is confirmed or reverted, in the same
/// transaction as the server's task state.
fn record_migration(
    c: &rusqlite::Connection,
    s: &Server,
    work: &Work,
    ctx: &RequestContext,
    host: &str,
) -> ApiResult<()> {
    let now = crate::http::time::iso_micros(chrono::Utc::now());
    match work {
        Work::Resize { flavor } => store::migrations::insert(
            c,
            &store::migrations::NewMigration {
                server_id: &s.id,
                project_id: &s.project_id,
                user_id: &ctx.user.id,
                migration_type: "resize",
                host,
                old_flavor_id: &s.flavor.id,
                new_flavor_id: &flavor.id,
                now: &now,
            },
        ),
        Work::ConfirmResize => {
            store::migrations::set_status(c, &s.id, &["finished"], "confirming", &now)
        }
        Work::RevertResize => {
            store::migrations::set_status(c, &s.id, &["finished"], "reverting", &now)
        }
        _ => Ok(()),
    }
}

/// The actions that are one hypervisor call on the running guest: start, resume,
/// stop, reboot (a launch when the guest is not running), pause, unpause, suspend.
async fn power_work(hv: &dyn Hypervisor, spec: &VmSpec, work: &Work) -> ApiResult<()> {
    match work {
        Work::Start | Work::Resume => hv.launch(spec).await.map_err(virt),
        Work::Stop => hv.shutdown(spec, SHUTDOWN_GRACE).await.map_err(virt),
        Work::Reboot { hard } => {
            let state = hv.power_state(spec).await.map_err(virt)?;
            if matches!(state, PowerState::Running | PowerState::Paused) {
                hv.reboot(spec, *hard).await.map_err(virt)
            } else {
                hv.launch(spec).await.map_err(virt)
            }
        }
        Work::Pause => hv.pause(spec).await.map_err(virt),
        Work::Unpause => hv.unpause(spec).await.map_err(virt),
        Work::Suspend => hv.suspend(spec).await.map_err(virt),
        _ => Ok(()),
    }
}

/// A private snapshot image of `disk_format` with Nova's `properties`, before
/// the user's name and metadata are set on it.
fn snapshot_image(disk_format: &str, properties: &[(&str, &str)]) -> ImageCreate {
    ImageCreate {
        disk_format: Some(disk_format.into()),
        container_format: Some("bare".into()),
        visibility: Some("private".into()),
        properties: properties
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..ImageCreate::default()
    }
}

/// The image record of a volume-backed snapshot: no data, the block device
/// `mapping` naming the volume snapshot, the volume's image metadata (not Glance's
/// own attributes: min_disk and min_ram are integers there) as Nova carries it,
/// then the request's `metadata`.
fn volume_snapshot_image(
    s: &Server,
    name: String,
    mapping: &serde_json::Value,
    volume_meta: BTreeMap<String, String>,
    metadata: BTreeMap<String, String>,
) -> ImageCreate {
    let mapping = mapping.to_string();
    let mut image = snapshot_image(
        "raw",
        &[
            ("image_type", "snapshot"),
            ("instance_uuid", &s.id),
            ("user_id", &s.user_id),
            ("bdm_v2", "True"),
            ("root_device_name", "/dev/vda"),
            ("block_device_mapping", &mapping),
        ],
    );
    // The volume's metadata fills only what the snapshot does not set itself.
    let mut chosen: BTreeMap<String, String> = volume_meta
        .into_iter()
        .filter(|(k, _)| {
            !crate::image::GLANCE_OWN_METADATA.contains(&k.as_str())
                && !matches!(k.as_str(), "name" | "visibility")
                && !image.properties.contains_key(k)
        })
        .collect();
    chosen.insert("name".into(), name);
    chosen.extend(metadata);
    image.set_all(chosen);
    image
}

/// What the server row says as soon as `work` is accepted: the rescue or shelve
/// image, and (as Nova records them when it accepts a rebuild, so the answer and
/// every read after it show them) a rebuild's new image and attributes.
fn record_accepted(s: &mut Server, work: &Work) {
    match work {
        Work::Rescue { image_id } => s.rescue_image_id = Some(image_id.clone()),
        Work::Shelve { image_id, .. } => s.shelved_image_id = Some(image_id.clone()),
        Work::Rebuild(r) if s.boot_volume().is_some() => super::rebuild_volume::accept(s, r),
        Work::Rebuild(r) => {
            s.image_id = r.image_id.clone();
            if let Some(n) = &r.name {
                s.name = n.clone();
            }
            if let Some(m) = &r.metadata {
                s.metadata = m.clone();
            }
            if let Some(d) = &r.description {
                s.description = d.clone();
            }
        }
        _ => {}
    }
}

/// How long a guest gets to power off on ACPI before it is stopped hard
/// (Nova's `shutdown_timeout`).
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

impl ComputeService {
    /// Accepts `work` on server `id`: 409 when the state machine forbids it or the
    /// server is locked, 404 when the caller cannot see it. Returns the server as
    /// accepted (task_state set); the work runs in the background.
    pub(crate) async fn server_action(
        &self,
        ctx: &RequestContext,
        id: String,
        work: Work,
        request_id: String,
    ) -> ApiResult<Server> {
        let op = work.op();
        let tx_ctx = ctx.clone();
        let rid = request_id.clone();
        let tx_work = work.clone();
        let host = self.inner.config.host.clone();
        let accepted = self
            .write(move |c| {
                let mut s = visible(c, &tx_ctx, &id)?;
                may_change(&tx_ctx, &s.project_id)?;
                check_lock(&tx_ctx, &s)?;
                let task = begin(s.vm_state, s.task_state, op)?;
                check_volume_backed(&s, &tx_work)?;
                if let Work::Resize { flavor } = &tx_work {
                    check_resize(&s, flavor)?;
                    super::quotas::check_resize_quota(
                        c,
                        &s.project_id,
                        flavor.vcpus - s.flavor.vcpus,
                        flavor.ram - s.flavor.ram,
                    )?;
                }
                s.task_state = Some(task);
                record_accepted(&mut s, &tx_work);
                store::server_put(c, &mut s)?;
                store::action_put(c, &new_action(&s, op.action(), &rid, &tx_ctx))?;
                record_migration(c, &s, &tx_work, &tx_ctx, &host)?;
                Ok(s)
            })
            .await?;
        let this = self.clone();
        let ctx = Arc::new(ctx.clone());
        let sid = accepted.id.clone();
        tokio::spawn(async move { this.run_work(&sid, work, &ctx, &request_id).await });
        Ok(accepted)
    }

    /// Runs accepted work under the server's lock and records its outcome.
    pub(crate) async fn run_work(
        &self,
        id: &str,
        work: Work,
        ctx: &RequestContext,
        request_id: &str,
    ) {
        let lock = self.server_lock(id);
        let _held = lock.lock().await;
        let event = work.event();
        self.event_start(id, request_id, event)
            .await
            .or_log(id, "recording the action's start event");
        let outcome = self.do_work(id, &work, ctx).await;
        self.record_migration_outcome(id, &work, outcome.is_ok())
            .await;
        match outcome {
            Ok(()) => {
                self.event_finish(id, request_id, event, None)
                    .await
                    .or_log(id, "recording the action's finish event");
            }
            Err(e) => {
                let details = match &e {
                    ApiError::Internal(inner) => format!("{inner:#}"),
                    other => other.to_string(),
                };
                self.record_failure(id, work.op(), &details).await;
                self.event_finish(id, request_id, event, Some(details))
                    .await
                    .or_log(id, "recording the action's failure event");
            }
        }
    }

    /// A resize's, confirm's or revert's migration record follows its outcome.
    async fn record_migration_outcome(&self, id: &str, work: &Work, ok: bool) {
        let migration = match (work, ok) {
            (Work::Resize { .. }, true) => Some((&["pre-migrating"][..], "finished")),
            (Work::ConfirmResize, true) => Some((&["confirming"][..], "confirmed")),
            (Work::RevertResize, true) => Some((&["reverting"][..], "reverted")),
            (Work::Resize { .. } | Work::ConfirmResize | Work::RevertResize, false) => {
                Some((&["pre-migrating", "confirming", "reverting"][..], "error"))
            }
            _ => None,
        };
        if let Some((from, to)) = migration {
            let sid = id.to_owned();
            let now = crate::http::time::iso_micros(chrono::Utc::now());
            if let Err(e) = self
                .write(move |c| store::migrations::set_status(c, &sid, from, to, &now))
                .await
            {
                tracing::warn!(server = id, error = %e, "could not record the migration's status");
            }
        }
    }

    /// A failed action leaves its fault on the server, no task, the power state the
    /// hypervisor shows, and ERROR for the actions after which the guest's state is
    /// unknown (rebuild, resize, revert, reboot).
    async fn record_failure(&self, id: &str, op: Op, details: &str) {
        tracing::warn!(server = id, action = op.action(), error = %details, "server action failed");
        let fault = ServerFault {
            code: 500,
            message: details.chars().take(255).collect(),
            details: details.to_owned(),
            created: crate::http::time::iso_seconds(chrono::Utc::now()),
        };
        let power = self.observed_power(id).await;
        self.mutate(id, move |s| {
            if matches!(
                op,
                Op::Rebuild | Op::Resize | Op::RevertResize | Op::RebootHard | Op::RebootSoft
            ) {
                s.vm_state = VmState::Error;
            }
            s.task_state = None;
            if let Some(p) = power {
                s.power_state = p.code();
            }
            s.fault = Some(fault);
            Ok(())
        })
        .await
        .or_log(id, "recording the failed action's state and fault");
    }

    async fn do_work(&self, id: &str, work: &Work, ctx: &RequestContext) -> ApiResult<()> {
        let sid = id.to_owned();
        let s = self
            .read(move |c| store::server_get_any(c, &sid))
            .await?
            .ok_or_else(|| super::servers::server_not_found(id))?;
        let nics = self.server_nics(&s).await?;
        let spec = self.vm_spec(&s, &nics);
        let hv = self.inner.hypervisor.clone();
        let op = work.op();
        match work {
            Work::Start
            | Work::Resume
            | Work::Stop
            | Work::Reboot { .. }
            | Work::Pause
            | Work::Unpause
            | Work::Suspend => power_work(hv.as_ref(), &spec, work).await?,
            Work::Rebuild(r) => return self.rebuild(&s, r, ctx).await,
            Work::Resize { flavor } => return self.resize(&s, flavor).await,
            Work::ConfirmResize => return self.confirm_resize(&s).await,
            Work::RevertResize => return self.revert_resize(&s).await,
            Work::Snapshot { image_id } => return self.snapshot(&s, image_id, ctx).await,
            Work::Backup {
                image_id,
                backup_type,
                rotation,
            } => {
                self.snapshot(&s, image_id, ctx).await?;
                return self
                    .rotate_backups(&s, image_id, backup_type, *rotation, ctx)
                    .await;
            }
            Work::Rescue { image_id } => return self.rescue(&s, image_id, ctx).await,
            Work::Unrescue => return self.unrescue(&s).await,
            Work::Shelve { image_id, offload } => {
                return self.shelve(&s, image_id, *offload, ctx).await;
            }
            Work::ShelveOffload => return self.shelve_offload(&s).await,
            Work::Unshelve => return self.unshelve(&s, ctx).await,
            Work::Delete => return self.delete_work(&s, ctx).await,
        }
        let power = shown_power(hv.power_state(&spec).await.map_err(virt)?);
        self.mutate(id, move |s| {
            s.vm_state = finish(s.vm_state, op);
            s.task_state = None;
            s.power_state = s.vm_state.power_code(power);
            s.fault = None;
            Ok(())
        })
        .await
    }

    /// Deletes the guest; as Nova, deleting a shelved server deletes its shelve
    /// snapshot.
    async fn delete_work(&self, s: &Server, ctx: &RequestContext) -> ApiResult<()> {
        if let Some(image) = s.shelved_image_id.clone()
            && matches!(s.vm_state, VmState::Shelved | VmState::ShelvedOffloaded)
        {
            self.inner
                .image
                .image_delete(ctx, image.clone())
                .await
                .or_log(&image, "deleting the shelved server's snapshot image");
        }
        self.terminate(s).await
    }

    async fn observed_power(&self, id: &str) -> Option<PowerState> {
        let sid = id.to_owned();
        let s = self
            .read(move |c| store::server_get_any(c, &sid))
            .await
            .ok()
            .flatten()?;
        let spec = self.vm_spec(&s, &[]);
        self.inner.hypervisor.power_state(&spec).await.ok()
    }

    /// Rebuild: a fresh root disk from the (new) image, same ports and flavor.
    async fn rebuild(&self, s: &Server, r: &Rebuild, ctx: &RequestContext) -> ApiResult<()> {
        if s.boot_volume().is_some() {
            return self.rebuild_volume_backed(s, r, ctx).await;
        }
        let image = self.inner.image.image_get(ctx, r.image_id.clone()).await?;
        let nics = self.server_nics(s).await?;
        let was_running = s.vm_state != VmState::Stopped;
        let hv = &self.inner.hypervisor;
        hv.destroy(&self.vm_spec(s, &nics)).await.map_err(virt)?;
        let p = self.paths(&s.id);
        crate::fsutil::discard_async(&p.disk).await;
        crate::fsutil::discard_async(&p.kernel).await;
        crate::fsutil::discard_async(&p.ramdisk).await;
        let rebuilt = r.applied_to(s, &image);
        self.prepare_root_disk(&rebuilt, &image, &p.disk).await?;
        let power = self.relaunch_rebuilt(&rebuilt, &nics, was_running).await?;
        let r = r.clone();
        self.mutate(&s.id, move |s| {
            s.image_id = rebuilt.image_id;
            s.image_properties = rebuilt.image_properties;
            s.hostname = rebuilt.hostname;
            s.user_data = rebuilt.user_data;
            s.key_name = rebuilt.key_name;
            s.key_data = rebuilt.key_data;
            r.apply_to_record(s);
            settle_rebuilt(s, was_running, power);
            Ok(())
        })
        .await
    }

    /// The rebuilt guest's first start: its config drive written again (it carries
    /// the new image, user data and key), the VMM launched if the server was
    /// running before; answers the power state to show.
    pub(super) async fn relaunch_rebuilt(
        &self,
        rebuilt: &Server,
        nics: &[InstanceNic],
        was_running: bool,
    ) -> ApiResult<PowerState> {
        if rebuilt.config_drive {
            self.write_config_drive(rebuilt).await?;
        }
        let hv = &self.inner.hypervisor;
        let spec = self.vm_spec(rebuilt, nics);
        if was_running {
            hv.launch(&spec).await.map_err(virt)?;
        }
        Ok(shown_power(hv.power_state(&spec).await.map_err(virt)?))
    }

    /// Resize on this one host: claim the new flavor, keep the old disk aside,
    /// grow the root disk, restart with the new CPUs and memory; VERIFY_RESIZE.
    async fn resize(&self, s: &Server, flavor: &Flavor) -> ApiResult<()> {
        let scheduled = match self.ensure_schedulable().await {
            Ok(()) => self.claim_flavor(s, flavor).await,
            Err(e) => Err(e),
        };
        scheduled.map_err(|e| match e {
            ApiError::Conflict(m) => ApiError::Conflict(format!("No valid host was found. {m}")),
            other => other,
        })?;
        let nics = self.server_nics(s).await?;
        let hv = &self.inner.hypervisor;
        let was_running = s.vm_state == VmState::Active;
        hv.shutdown(&self.vm_spec(s, &nics), SHUTDOWN_GRACE)
            .await
            .map_err(virt)?;
        let p = self.paths(&s.id);
        // A volume-backed server's root disk is its volume: only the flavor changes.
        let local_disk = s.boot_volume().is_none();
        if local_disk {
            tokio::fs::copy(&p.disk, &p.disk_before_resize)
                .await
                .map_err(io_err)?;
        }
        if local_disk && flavor.disk > s.flavor.disk {
            let size = format!("{}G", flavor.disk);
            run_tool(
                "qemu-img",
                &[
                    "resize".into(),
                    "-q".into(),
                    p.disk.display().to_string(),
                    size,
                ],
            )
            .await?;
        }
        let mut resized = s.clone();
        resized.flavor = flavor.clone();
        let spec = self.vm_spec(&resized, &nics);
        if was_running {
            hv.launch(&spec).await.map_err(virt)?;
        }
        let power = shown_power(hv.power_state(&spec).await.map_err(virt)?);
        let flavor = flavor.clone();
        self.mutate(&s.id, move |s| {
            s.old_flavor = Some(std::mem::replace(&mut s.flavor, flavor));
            s.vm_state = VmState::Resized;
            s.task_state = None;
            s.power_state = power.code();
            Ok(())
        })
        .await
    }

    async fn confirm_resize(&self, s: &Server) -> ApiResult<()> {
        let p = self.paths(&s.id);
        crate::fsutil::discard_async(&p.disk_before_resize).await;
        let spec = self.vm_spec(s, &[]);
        let power = self
            .inner
            .hypervisor
            .power_state(&spec)
            .await
            .map_err(virt)?;
        self.mutate(&s.id, move |s| {
            s.old_flavor = None;
            s.vm_state = vm_state_for(power);
            s.task_state = None;
            s.power_state = power.code();
            Ok(())
        })
        .await
    }

    /// Revert: the old disk and flavor back, the old claim restored.
    async fn revert_resize(&self, s: &Server) -> ApiResult<()> {
        let old = s
            .old_flavor
            .clone()
            .ok_or_else(|| ApiError::Conflict("The server has no resize to revert.".into()))?;
        let nics = self.server_nics(s).await?;
        let hv = &self.inner.hypervisor;
        let running = matches!(
            hv.power_state(&self.vm_spec(s, &nics))
                .await
                .map_err(virt)?,
            PowerState::Running
        );
        hv.destroy(&self.vm_spec(s, &nics)).await.map_err(virt)?;
        let p = self.paths(&s.id);
        if p.disk_before_resize.exists() {
            tokio::fs::rename(&p.disk_before_resize, &p.disk)
                .await
                .map_err(io_err)?;
        }
        self.claim_flavor(s, &old).await?;
        let mut reverted = s.clone();
        reverted.flavor = old.clone();
        let spec = self.vm_spec(&reverted, &nics);
        if running {
            hv.launch(&spec).await.map_err(virt)?;
        }
        let power = shown_power(hv.power_state(&spec).await.map_err(virt)?);
        self.mutate(&s.id, move |s| {
            s.flavor = old;
            s.old_flavor = None;
            s.vm_state = vm_state_for(power);
            s.task_state = None;
            s.power_state = power.code();
            Ok(())
        })
        .await
    }

    /// createImage: the root disk flattened into a qcow2 and uploaded to the image
    /// service. A running guest is paused for the copy, so the image is consistent.
    pub(crate) async fn snapshot(
        &self,
        s: &Server,
        image_id: &str,
        ctx: &RequestContext,
    ) -> ApiResult<()> {
        let nics = self.server_nics(s).await?;
        let spec = self.vm_spec(s, &nics);
        let p = self.paths(&s.id);
        let tmp = p.dir.join(format!("snapshot-{image_id}.qcow2"));
        let uploaded = match self.copy_root_disk(&spec, &p.disk, &tmp).await {
            Ok(()) => self.upload_snapshot(s, &tmp, image_id, ctx).await,
            Err(e) => Err(e),
        };
        crate::fsutil::discard_async(&tmp).await;
        if uploaded.is_err() {
            self.inner
                .image
                .image_delete(ctx, image_id.to_owned())
                .await
                .or_log(image_id, "deleting the image of a failed snapshot upload");
        }
        uploaded?;
        self.mutate(&s.id, |s| {
            if !matches!(
                s.task_state,
                Some(TaskState::ShelvingImageUploading | TaskState::ImageBackup)
            ) {
                s.task_state = None;
            }
            Ok(())
        })
        .await
    }

    /// The root disk copied to `tmp` as qcow2; a running guest is paused meanwhile,
    /// so the copy is consistent.
    async fn copy_root_disk(
        &self,
        spec: &VmSpec,
        disk: &std::path::Path,
        tmp: &std::path::Path,
    ) -> ApiResult<()> {
        let hv = &self.inner.hypervisor;
        let state = hv.power_state(spec).await.map_err(virt)?;
        if state == PowerState::Running {
            hv.pause(spec).await.map_err(virt)?;
        }
        let copied = run_tool(
            "qemu-img",
            &[
                "convert".into(),
                "-U".into(),
                "-q".into(),
                "-O".into(),
                "qcow2".into(),
                disk.display().to_string(),
                tmp.display().to_string(),
            ],
        )
        .await;
        if state == PowerState::Running {
            hv.unpause(spec).await.map_err(virt)?;
        }
        copied.map(|_| ())
    }

    /// The upload step of a snapshot: the task state says so, then `tmp` streams
    /// into the image.
    async fn upload_snapshot(
        &self,
        s: &Server,
        tmp: &std::path::Path,
        image_id: &str,
        ctx: &RequestContext,
    ) -> ApiResult<()> {
        self.mutate(&s.id, |s| {
            s.task_state = Some(match s.task_state {
                Some(TaskState::Shelving) => TaskState::ShelvingImageUploading,
                Some(TaskState::ImageBackup) => TaskState::ImageBackup,
                _ => TaskState::ImageUploading,
            });
            Ok(())
        })
        .await?;
        let file = tokio::fs::File::open(tmp).await.map_err(io_err)?;
        let body = crate::bytestream::from_reader(file);
        self.inner
            .image
            .image_upload(ctx, image_id.to_owned(), body)
            .await
    }

    /// Delete: the VMM, the directory, ports Nova made (others are unbound), the
    /// claim, the group membership and the console tokens go; the row stays
    /// soft-deleted for usage.
    async fn terminate(&self, s: &Server) -> ApiResult<()> {
        self.undo_build(&s.id).await;
        self.delete_volumes_on_termination(s).await;
        let id = s.id.clone();
        self.write(move |c| {
            let Some(mut s) = store::server_get_any(c, &id)? else {
                return Ok(());
            };
            super::server_groups::remove_member(c, &s.id)?;
            // As Nova does: a deleted server's console URLs stop working.
            store::consoles::console_tokens_delete_for_server(c, &s.id)?;
            let now = crate::http::time::iso_seconds(chrono::Utc::now());
            s.vm_state = VmState::Deleted;
            s.task_state = None;
            s.power_state = 0;
            s.terminated_at = Some(now.clone());
            s.deleted_at = Some(now);
            store::server_put(c, &mut s)
        })
        .await
    }

    /// `DELETE /servers/{id}`: 204 at once; the teardown runs in the background.
    pub(crate) async fn server_delete(
        &self,
        ctx: &RequestContext,
        id: String,
        request_id: String,
    ) -> ApiResult<()> {
        self.server_action(ctx, id, Work::Delete, request_id)
            .await
            .map(drop)
    }

    /// lock / unlock (no task state; admin locks bind members).
    pub(crate) async fn server_lock_set(
        &self,
        ctx: &RequestContext,
        id: String,
        lock: bool,
        reason: Option<String>,
        request_id: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut s = visible(c, &ctx, &id)?;
            may_change(&ctx, &s.project_id)?;
            if !lock
                && s.locked
                && s.locked_by.as_deref() == Some("admin")
                && !ctx.allowed(crate::http::policy::COMPUTE_UNLOCK_OVERRIDE)
            {
                return Err(ApiError::forbidden());
            }
            s.locked = lock;
            s.locked_reason = if lock { reason } else { None };
            s.locked_by = lock.then(|| {
                // Nova: `owner` when the lock comes from the server's own project.
                if ctx.project_id() != Some(s.project_id.as_str()) {
                    "admin"
                } else {
                    "owner"
                }
                .to_owned()
            });
            store::server_put(c, &mut s)?;
            store::action_put(
                c,
                &new_action(&s, if lock { "lock" } else { "unlock" }, &request_id, &ctx),
            )
        })
        .await
    }

    /// `os-getConsoleOutput`: the last `length` lines of the serial console log.
    pub(crate) async fn server_console_output(
        &self,
        ctx: &RequestContext,
        id: String,
        length: Option<i64>,
    ) -> ApiResult<String> {
        let s = self.server_get(ctx, id).await?;
        if s.vm_state == VmState::Building && s.task_state != Some(TaskState::Spawning) {
            return Err(ApiError::Conflict(format!(
                "Instance {} has not been launched yet.",
                s.id
            )));
        }
        let spec = self.vm_spec(&s, &[]);
        let text = match tokio::fs::read(spec.console_log()).await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_err(e)),
        };
        Ok(match length {
            Some(n) if n >= 0 => {
                let lines: Vec<&str> = text.lines().collect();
                let start = lines.len().saturating_sub(n as usize);
                lines[start..].join("\n")
            }
            _ => text,
        })
    }

    /// add/removeSecurityGroup on every port of the server.
    pub(crate) async fn server_security_group(
        &self,
        ctx: &RequestContext,
        id: String,
        group: String,
        add: bool,
    ) -> ApiResult<()> {
        let s = self.server_get(ctx, id).await?;
        may_change(ctx, &s.project_id)?;
        let ports: Vec<String> = s.ports.iter().map(|p| p.port_id.clone()).collect();
        if ports.is_empty() {
            return Err(ApiError::bad_request(
                "The server has no network interface.",
            ));
        }
        self.inner
            .network
            .instance_security_group(ctx, ports, group, add)
            .await
    }

    /// createImage of a volume-backed server, done in the request as Nova's API
    /// does (`snapshot_volume_backed`): a Cinder snapshot of the root volume
    /// (forced: it is in use), and an image without data whose
    /// `block_device_mapping` names that snapshot, so booting the image makes a
    /// new volume from it. Returns the image id.
    pub(crate) async fn snapshot_volume_backed(
        &self,
        ctx: &RequestContext,
        s: &Server,
        name: String,
        metadata: BTreeMap<String, String>,
    ) -> ApiResult<String> {
        may_change(ctx, &s.project_id)?;
        let root = s
            .boot_volume()
            .cloned()
            .ok_or_else(|| ApiError::bad_request("The server is not volume-backed."))?;
        let vol = self.volume()?.clone();
        let root_volume = vol.volume_get(ctx, root.volume_id.clone()).await?;
        let snap = vol
            .snapshot_create(
                ctx,
                crate::volume::facade::SnapshotCreate {
                    volume_id: root.volume_id.clone(),
                    name: Some(format!("snapshot for {name}")),
                    description: None,
                    metadata: BTreeMap::new(),
                    force: true,
                },
            )
            .await?;
        let mapping = serde_json::json!([{
            "boot_index": 0,
            "source_type": "snapshot",
            "destination_type": "volume",
            "snapshot_id": snap.id,
            "volume_id": null,
            "image_id": null,
            "volume_size": root_volume.size,
            "delete_on_termination": root.delete_on_termination,
            "device_name": "/dev/vda",
            "disk_bus": "virtio",
            "device_type": "disk",
            "guest_format": null,
            "volume_type": null,
            "tag": root.tag,
            "no_device": null,
        }]);
        let req = volume_snapshot_image(s, name, &mapping, root_volume.image_metadata, metadata);
        let image = self.inner.image.image_create(ctx, req).await?;
        // No data: the volume snapshot holds the disk; an empty upload makes the
        // image active (size 0), as a volume-backed snapshot is in Glance.
        self.inner
            .image
            .image_upload(ctx, image.id.clone(), crate::bytestream::empty())
            .await?;
        tracing::info!(server = %s.id, image = %image.id, snapshot = %snap.id, "volume-backed snapshot");
        Ok(image.id)
    }

    /// Creates the image record of a createImage (queued), before the 202.
    pub(crate) async fn snapshot_image_create(
        &self,
        ctx: &RequestContext,
        s: &Server,
        name: String,
        metadata: BTreeMap<String, String>,
    ) -> ApiResult<String> {
        // As Nova does from the instance's image metadata: the snapshot needs the
        // memory its base image needed, and at least the disk the server had.
        let base = match s.image_id.as_str() {
            "" => None,
            id => self.inner.image.image_get(ctx, id.to_owned()).await.ok(),
        };
        let (min_ram, min_disk) = base.map_or((0, 0), |i| (i.min_ram, i.min_disk));
        let mut req = snapshot_image(
            "qcow2",
            &[
                ("image_type", "snapshot"),
                ("instance_uuid", &s.id),
                ("base_image_ref", &s.image_id),
                ("user_id", &s.user_id),
            ],
        );
        req.min_ram = min_ram;
        req.min_disk = min_disk.max(s.flavor.disk);
        // The metadata may rename the image, as it may set anything else.
        let mut chosen = metadata;
        chosen.entry("name".into()).or_insert(name);
        req.set_all(chosen);
        Ok(self.inner.image.image_create(ctx, req).await?.id)
    }
}

/// The actions that remake or copy a local root disk, which a volume-backed
/// server does not have: Nova's 400s where it refuses them too (backup, rescue
/// before 2.87), and a plain 400 for the ones not done here yet (shelve).
/// Rebuild is `rebuild_volume.rs`'s.
fn check_volume_backed(s: &Server, work: &Work) -> ApiResult<()> {
    if s.boot_volume().is_none() {
        return Ok(());
    }
    let refused = match work {
        Work::Backup { .. } => "Backup is not supported for volume-backed instances.",
        Work::Rescue { .. } => "Cannot rescue a volume-backed instance",
        Work::Shelve { .. } => "Shelving a volume-backed server is not supported yet.",
        _ => return Ok(()),
    };
    Err(ApiError::bad_request(refused))
}

/// What Nova shows for a guest without a VMM process: an instance that is off is
/// SHUTDOWN (4), as libvirt reports a defined but stopped domain.
pub(crate) fn shown_power(p: PowerState) -> PowerState {
    match p {
        PowerState::NoState => PowerState::Shutdown,
        other => other,
    }
}

pub(crate) fn virt(e: crate::virt::VirtError) -> ApiError {
    ApiError::Internal(anyhow::Error::new(e))
}

/// The stable state matching what the VMM reports.
fn vm_state_for(p: PowerState) -> VmState {
    match p {
        PowerState::Running => VmState::Active,
        PowerState::Paused => VmState::Paused,
        PowerState::Suspended => VmState::Suspended,
        _ => VmState::Stopped,
    }
}

/// A locked server only accepts actions from an admin.
fn check_lock(ctx: &RequestContext, s: &Server) -> ApiResult<()> {
    if s.locked && !ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT) {
        return Err(ApiError::Conflict(format!("Instance {} is locked", s.id)));
    }
    Ok(())
}

/// Nova refuses resizes to the same flavor and disk shrinks up front.
fn check_resize(s: &Server, flavor: &Flavor) -> ApiResult<()> {
    if flavor.id == s.flavor.id {
        return Err(ApiError::bad_request(
            "When resizing, instances must change flavor!",
        ));
    }
    if flavor.disk != 0 && flavor.disk < s.flavor.disk {
        return Err(ApiError::bad_request(
            "Resize error: Unable to resize disk down.",
        ));
    }
    Ok(())
}

impl ComputeService {
    /// Validates a rebuild request before it is accepted.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn rebuild_plan(
        &self,
        ctx: &RequestContext,
        image_ref: &str,
        name: Option<String>,
        metadata: Option<BTreeMap<String, String>>,
        key_name: Option<Option<String>>,
        user_data: Option<Option<String>>,
        description: Option<Option<String>>,
    ) -> ApiResult<Rebuild> {
        use base64::Engine;
        let image_id = image_ref.rsplit('/').next().unwrap_or(image_ref).to_owned();
        let image = self
            .inner
            .image
            .image_get(ctx, image_id.clone())
            .await
            .map_err(|_| ApiError::bad_request(format!("Image {image_id} could not be found.")))?;
        if image.status != crate::image::model::ImageStatus::Active {
            return Err(ApiError::bad_request(format!(
                "Image {image_id} is not active."
            )));
        }
        if let Some(n) = &name {
            super::servers::check_name(n)?;
        }
        if let Some(m) = &metadata {
            super::servers::check_metadata(m)?;
        }
        if let Some(d) = &description {
            super::servers::check_description(d)?;
        }
        if let Some(Some(ud)) = &user_data {
            base64::engine::general_purpose::STANDARD
                .decode(ud.trim())
                .map_err(|_| ApiError::bad_request("User data needs to be valid base 64."))?;
        }
        let key = match key_name {
            None => None,
            Some(None) => Some(None),
            Some(Some(k)) => {
                let user = ctx.user.id.clone();
                Some(Some(
                    self.read(move |c| super::keypairs::keypair_for_boot(c, &user, &k))
                        .await?,
                ))
            }
        };
        Ok(Rebuild {
            image_id,
            name,
            metadata,
            user_data,
            key,
            description,
            hostname: None,
            reimage: false,
        })
    }

    /// The flavor a resize asks for (400 when unknown).
    pub(crate) async fn resize_flavor(
        &self,
        ctx: &RequestContext,
        flavor_ref: &serde_json::Value,
    ) -> ApiResult<Flavor> {
        let id = match flavor_ref {
            serde_json::Value::String(s) if !s.is_empty() => {
                s.rsplit('/').next().unwrap_or(s).to_owned()
            }
            serde_json::Value::Number(n) => n.to_string(),
            _ => {
                return Err(ApiError::bad_request(
                    "Invalid input for field/attribute flavorRef.",
                ));
            }
        };
        let ctx = ctx.clone();
        self.read(move |c| super::flavors::flavor_for_boot(c, &ctx, &id))
            .await
    }
}
