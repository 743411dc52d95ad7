//! Nova's domain types: servers with their vm_state / task_state / power_state and
//! the one transition function that decides which actions are legal, flavors,
//! keypairs, instance actions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::http::error::ApiError;

/// A flavor, as stored and embedded in servers (Nova keeps a copy per instance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Flavor {
    pub id: String,
    pub name: String,
    pub ram: i64,
    pub vcpus: i64,
    /// Root disk in GiB; 0 = the image's size.
    pub disk: i64,
    pub ephemeral: i64,
    /// Swap in MiB; 0 = none.
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub disabled: bool,
    pub description: Option<String>,
    pub extra_specs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Keypair {
    pub name: String,
    pub user_id: String,
    pub public_key: String,
    pub fingerprint: String,
    /// `ssh` or `x509`.
    pub key_type: String,
    pub created_at: String,
}

/// Nova's vm_state: the stable state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum VmState {
    Building,
    Active,
    Stopped,
    Paused,
    Suspended,
    Resized,
    /// Booted from a rescue image with the original disk attached second.
    Rescued,
    /// Powered off, snapshotted to an image, still on this host.
    Shelved,
    /// Shelved with the disk and the resource claim freed; unshelve boots the snapshot.
    ShelvedOffloaded,
    Error,
    Deleted,
}

impl VmState {
    /// The `OS-EXT-STS:power_state` to record for what the hypervisor reports. A stopped
    /// server has no VMM process here, but Nova (a defined, shut-off libvirt domain)
    /// reports SHUTDOWN (4) for it, and clients show that, not NOSTATE.
    pub(crate) fn power_code(self, power: crate::virt::PowerState) -> i64 {
        match (self, power) {
            (VmState::Stopped, crate::virt::PowerState::NoState) => {
                crate::virt::PowerState::Shutdown.code()
            }
            _ => power.code(),
        }
    }
}

/// Nova's task_state: the operation in progress, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TaskState {
    Scheduling,
    Networking,
    BlockDeviceMapping,
    Spawning,
    PoweringOff,
    PoweringOn,
    Rebooting,
    RebootingHard,
    Pausing,
    Unpausing,
    Suspending,
    Resuming,
    /// A volume-backed rebuild rewrites the root volume (Nova's
    /// `REBUILD_BLOCK_DEVICE_MAPPING`), before `RebuildSpawning`.
    RebuildBlockDeviceMapping,
    RebuildSpawning,
    ResizePrep,
    ResizeFinish,
    ResizeReverting,
    ResizeConfirming,
    ImageSnapshot,
    ImageUploading,
    ImageBackup,
    Rescuing,
    Unrescuing,
    Shelving,
    ShelvingImageUploading,
    ShelvingOffloading,
    Unshelving,
    Deleting,
}

impl VmState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            VmState::Building => "building",
            VmState::Active => "active",
            VmState::Stopped => "stopped",
            VmState::Paused => "paused",
            VmState::Suspended => "suspended",
            VmState::Resized => "resized",
            VmState::Rescued => "rescued",
            VmState::Shelved => "shelved",
            VmState::ShelvedOffloaded => "shelved_offloaded",
            VmState::Error => "error",
            VmState::Deleted => "deleted",
        }
    }
}

impl TaskState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TaskState::Scheduling => "scheduling",
            TaskState::Networking => "networking",
            TaskState::BlockDeviceMapping => "block_device_mapping",
            TaskState::Spawning => "spawning",
            TaskState::PoweringOff => "powering-off",
            TaskState::PoweringOn => "powering-on",
            TaskState::Rebooting => "rebooting",
            TaskState::RebootingHard => "rebooting_hard",
            TaskState::Pausing => "pausing",
            TaskState::Unpausing => "unpausing",
            TaskState::Suspending => "suspending",
            TaskState::Resuming => "resuming",
            TaskState::RebuildBlockDeviceMapping => "rebuild_block_device_mapping",
            TaskState::RebuildSpawning => "rebuild_spawning",
            TaskState::ResizePrep => "resize_prep",
            TaskState::ResizeFinish => "resize_finish",
            TaskState::ResizeReverting => "resize_reverting",
            TaskState::ResizeConfirming => "resize_confirming",
            TaskState::ImageSnapshot => "image_snapshot",
            TaskState::ImageUploading => "image_uploading",
            TaskState::ImageBackup => "image_backup",
            TaskState::Rescuing => "rescuing",
            TaskState::Unrescuing => "unrescuing",
            TaskState::Shelving => "shelving",
            TaskState::ShelvingImageUploading => "shelving_image_uploading",
            TaskState::ShelvingOffloading => "shelving_offloading",
            TaskState::Unshelving => "unshelving",
            TaskState::Deleting => "deleting",
        }
    }
}

/// The `status` clients see, derived from vm_state and task_state as Nova's
/// `nova.api.openstack.common.status_from_state` does.
pub(crate) fn status(vm: VmState, task: Option<TaskState>) -> &'static str {
    use TaskState as T;
    match (vm, task) {
        (VmState::Building, _) => "BUILD",
        (VmState::Active, Some(T::Rebooting)) => "REBOOT",
        (VmState::Active, Some(T::RebootingHard)) => "HARD_REBOOT",
        (VmState::Active, Some(T::RebuildSpawning)) => "REBUILD",
        (VmState::Stopped, Some(T::RebuildSpawning)) => "REBUILD",
        (VmState::Active | VmState::Stopped, Some(T::RebuildBlockDeviceMapping)) => "REBUILD",
        (VmState::Active | VmState::Stopped, Some(T::ResizePrep | T::ResizeFinish)) => "RESIZE",
        (VmState::Resized, Some(T::ResizeReverting)) => "REVERT_RESIZE",
        (VmState::Resized, _) => "VERIFY_RESIZE",
        (VmState::Active, _) => "ACTIVE",
        (VmState::Stopped, _) => "SHUTOFF",
        (VmState::Paused, _) => "PAUSED",
        (VmState::Suspended, _) => "SUSPENDED",
        (VmState::Rescued, _) => "RESCUE",
        (VmState::Shelved, _) => "SHELVED",
        (VmState::ShelvedOffloaded, _) => "SHELVED_OFFLOADED",
        (VmState::Error, _) => "ERROR",
        (VmState::Deleted, _) => "DELETED",
    }
}

/// The operations that change an instance's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Start,
    Stop,
    RebootSoft,
    RebootHard,
    Pause,
    Unpause,
    Suspend,
    Resume,
    Rebuild,
    Resize,
    ConfirmResize,
    RevertResize,
    CreateImage,
    CreateBackup,
    Rescue,
    Unrescue,
    Shelve,
    ShelveOffload,
    Unshelve,
    Delete,
    AttachInterface,
    DetachInterface,
}

impl Op {
    /// The action name as Nova's os-instance-actions record it.
    pub(crate) fn action(self) -> &'static str {
        match self {
            Op::Start => "start",
            Op::Stop => "stop",
            Op::RebootSoft | Op::RebootHard => "reboot",
            Op::Pause => "pause",
            Op::Unpause => "unpause",
            Op::Suspend => "suspend",
            Op::Resume => "resume",
            Op::Rebuild => "rebuild",
            Op::Resize => "resize",
            Op::ConfirmResize => "confirmResize",
            Op::RevertResize => "revertResize",
            Op::CreateImage => "createImage",
            Op::CreateBackup => "createBackup",
            Op::Rescue => "rescue",
            Op::Unrescue => "unrescue",
            Op::Shelve => "shelve",
            Op::ShelveOffload => "shelveOffload",
            Op::Unshelve => "unshelve",
            Op::Delete => "delete",
            Op::AttachInterface => "attach_interface",
            Op::DetachInterface => "detach_interface",
        }
    }

    /// The API's name for the action in 409 messages.
    fn api_name(self) -> &'static str {
        match self {
            Op::Start => "start",
            Op::Stop => "stop",
            Op::RebootSoft | Op::RebootHard => "reboot",
            Op::Pause => "pause",
            Op::Unpause => "unpause",
            Op::Suspend => "suspend",
            Op::Resume => "resume",
            Op::Rebuild => "rebuild",
            Op::Resize => "resize",
            Op::ConfirmResize => "confirmResize",
            Op::RevertResize => "revertResize",
            Op::CreateImage => "createImage",
            Op::CreateBackup => "createBackup",
            Op::Rescue => "rescue",
            Op::Unrescue => "unrescue",
            Op::Shelve => "shelve",
            Op::ShelveOffload => "shelveOffload",
            Op::Unshelve => "unshelve",
            Op::Delete => "delete",
            Op::AttachInterface => "attach_interface",
            Op::DetachInterface => "detach_interface",
        }
    }
}

/// Decides whether `op` may start from (vm, task) and which task_state it sets, as
/// Nova's `check_instance_state` decorators do. Illegal moves are 409 with Nova's
/// message. Interface attach/detach set no task state: see
/// `interface_change_allowed`.
pub(crate) fn begin(vm: VmState, task: Option<TaskState>, op: Op) -> Result<TaskState, ApiError> {
    use TaskState as T;
    use VmState as V;
    let next = match (op, vm, task) {
        // Delete is allowed from any state, even with a task in progress.
        (Op::Delete, _, _) => Some(T::Deleting),
        // A hard reboot may interrupt a stuck soft reboot or a start/stop.
        (Op::RebootHard, V::Active | V::Stopped | V::Paused | V::Suspended | V::Error, t)
            if t.is_none()
                || matches!(
                    t,
                    Some(
                        T::Rebooting
                            | T::RebootingHard
                            | T::PoweringOn
                            | T::PoweringOff
                            | T::Pausing
                            | T::Unpausing
                            | T::Suspending
                            | T::Resuming
                    )
                ) =>
        {
            Some(T::RebootingHard)
        }
        (_, _, Some(_)) => None,
        (Op::Start, V::Stopped, None) => Some(T::PoweringOn),
        (Op::Stop, V::Active | V::Error, None) => Some(T::PoweringOff),
        (Op::RebootSoft, V::Active, None) => Some(T::Rebooting),
        (Op::Pause, V::Active, None) => Some(T::Pausing),
        (Op::Unpause, V::Paused, None) => Some(T::Unpausing),
        (Op::Suspend, V::Active, None) => Some(T::Suspending),
        (Op::Resume, V::Suspended, None) => Some(T::Resuming),
        (Op::Rebuild, V::Active | V::Stopped | V::Error, None) => Some(T::RebuildSpawning),
        (Op::Resize, V::Active | V::Stopped, None) => Some(T::ResizePrep),
        (Op::ConfirmResize, V::Resized, None) => Some(T::ResizeConfirming),
        (Op::RevertResize, V::Resized, None) => Some(T::ResizeReverting),
        (Op::CreateImage, V::Active | V::Stopped | V::Paused | V::Suspended, None) => {
            Some(T::ImageSnapshot)
        }
        (Op::CreateBackup, V::Active | V::Stopped | V::Paused | V::Suspended, None) => {
            Some(T::ImageBackup)
        }
        (Op::Rescue, V::Active | V::Stopped | V::Error, None) => Some(T::Rescuing),
        (Op::Unrescue, V::Rescued, None) => Some(T::Unrescuing),
        (Op::Shelve, V::Active | V::Stopped | V::Paused | V::Suspended, None) => Some(T::Shelving),
        (Op::ShelveOffload, V::Shelved, None) => Some(T::ShelvingOffloading),
        (Op::Unshelve, V::Shelved | V::ShelvedOffloaded, None) => Some(T::Unshelving),
        _ => None,
    };
    next.ok_or_else(|| conflict(vm, task, op))
}

/// Whether an interface attach/detach is allowed (no task_state is set for it).
pub(crate) fn interface_change_allowed(
    vm: VmState,
    task: Option<TaskState>,
    op: Op,
) -> Result<(), ApiError> {
    match (vm, task) {
        (VmState::Active | VmState::Stopped | VmState::Paused, None) => Ok(()),
        _ => Err(conflict(vm, task, op)),
    }
}

fn conflict(vm: VmState, task: Option<TaskState>, op: Op) -> ApiError {
    match task {
        Some(t) => ApiError::Conflict(format!(
            "Cannot '{}' instance while it is in task_state {}",
            op.api_name(),
            t.as_str()
        )),
        None => ApiError::Conflict(format!(
            "Cannot '{}' instance while it is in vm_state {}",
            op.api_name(),
            vm.as_str()
        )),
    }
}

/// The vm_state an operation ends in when it succeeds.
pub(crate) fn finish(vm: VmState, op: Op) -> VmState {
    match op {
        Op::Start | Op::RebootSoft | Op::RebootHard | Op::Unpause | Op::Resume => VmState::Active,
        Op::Stop => VmState::Stopped,
        Op::Pause => VmState::Paused,
        Op::Suspend => VmState::Suspended,
        Op::Rebuild => match vm {
            VmState::Stopped => VmState::Stopped,
            _ => VmState::Active,
        },
        Op::Resize => VmState::Resized,
        Op::ConfirmResize => vm_after_resize(vm),
        Op::RevertResize => vm_after_resize(vm),
        Op::CreateImage | Op::CreateBackup | Op::AttachInterface | Op::DetachInterface => vm,
        Op::Rescue => VmState::Rescued,
        Op::Unrescue | Op::Unshelve => VmState::Active,
        Op::Shelve => VmState::Shelved,
        Op::ShelveOffload => VmState::ShelvedOffloaded,
        Op::Delete => VmState::Deleted,
    }
}

fn vm_after_resize(_vm: VmState) -> VmState {
    VmState::Active
}

/// An instance fault, shown as `fault` when the server is in ERROR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServerFault {
    pub code: u16,
    pub message: String,
    pub details: String,
    pub created: String,
}

/// A NIC of the server: a Neutron port, and whether Nova made it (and so deletes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServerPort {
    pub port_id: String,
    pub network_id: String,
    pub created_by_compute: bool,
    /// Device tag (2.32+).
    pub tag: Option<String>,
}

/// A server as stored: everything Nova's instance record holds that we use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Server {
    pub id: String,
    /// `instance-0000000a`, from the row's sequence number.
    pub instance_name: String,
    pub name: String,
    pub description: Option<String>,
    pub project_id: String,
    pub user_id: String,
    /// Empty when booted from a volume.
    pub image_id: String,
    pub flavor: Flavor,
    /// The flavor before a resize, until it is confirmed or reverted.
    pub old_flavor: Option<Flavor>,
    pub key_name: Option<String>,
    pub key_data: Option<String>,
    /// Base64 as the API received it.
    pub user_data: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<String>,
    /// Security group names requested at boot (applied to the ports Nova makes).
    pub security_groups: Vec<String>,
    pub availability_zone: String,
    pub config_drive: bool,
    /// `OS-DCF:diskConfig`: AUTO or MANUAL, as requested (the guest grows its
    /// root partition itself either way).
    #[serde(default = "manual")]
    pub disk_config: String,
    #[serde(default)]
    pub access_ipv4: String,
    #[serde(default)]
    pub access_ipv6: String,
    pub hostname: String,
    pub vm_state: VmState,
    pub task_state: Option<TaskState>,
    /// Nova's power_state integer.
    pub power_state: i64,
    pub locked: bool,
    pub locked_reason: Option<String>,
    pub locked_by: Option<String>,
    pub launch_index: u32,
    pub reservation_id: String,
    pub fault: Option<ServerFault>,
    pub ports: Vec<ServerPort>,
    /// The requested networks, kept so a build resumed after a crash asks the same.
    pub requested_networks: serde_json::Value,
    pub server_group: Option<String>,
    /// The image a rescue boots from (kept so a restart resumes the rescue).
    #[serde(default)]
    pub rescue_image_id: Option<String>,
    /// The snapshot a shelve made (`<name>-shelved`); unshelve boots it, then deletes it.
    #[serde(default)]
    pub shelved_image_id: Option<String>,
    /// The image a volume-backed rebuild writes onto the root volume (2.93),
    /// kept until the rebuild ends so a restart resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuild_image_id: Option<String>,
    /// Assisted-snapshot overlays (`os-assisted-volume-snapshots`) of attached
    /// volumes: per volume, the qcow2 files stacked on its own file, oldest
    /// first; the guest runs on the newest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_overlays: BTreeMap<String, Vec<String>>,
    /// The volumes of `block_device_mapping_v2` (Nova's block device mappings): a
    /// build makes and attaches them, a delete deletes those marked
    /// `delete_on_termination`. The one with boot index 0 is the root disk of a
    /// volume-backed server (its `image_id` is then empty).
    #[serde(default)]
    pub block_devices: Vec<BlockDevice>,
    /// The zone the server was asked into at create (Nova's request spec
    /// `availability_zone`): where later moves must keep it. None = unpinned.
    #[serde(default)]
    pub pinned_availability_zone: Option<String>,
    /// The scheduler hints given at create, as Nova's request spec keeps them
    /// (every value a list of strings); shown from 2.100.
    #[serde(default)]
    pub scheduler_hints: BTreeMap<String, Vec<String>>,
    /// The image's standard properties (`hw_*`, `os_*`, ...) when the server was
    /// built or rebuilt from it, as Nova copies them into the instance's system
    /// metadata; shown from 2.98.
    #[serde(default)]
    pub image_properties: BTreeMap<String, String>,
    /// Attached volumes to delete with the server (`delete_on_termination`,
    /// given at attach from 2.79 and changed by an attachment update from 2.85).
    #[serde(default)]
    pub attached_delete_on_termination: std::collections::BTreeSet<String>,
    pub progress: u8,
    pub created_at: String,
    pub updated_at: String,
    pub launched_at: Option<String>,
    pub terminated_at: Option<String>,
    pub deleted_at: Option<String>,
    /// Bumped on every write; a writer holding an older copy loses (optimistic
    /// concurrency between the API and the task runner).
    pub generation: i64,
}

/// One volume of a server's block device mapping. New volumes get their id when
/// the server is recorded, so a build resumed after a crash finds the volume it
/// began to make instead of making a second one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BlockDevice {
    pub volume_id: String,
    /// 0: the root disk (`/dev/vda`); None: attached after the others.
    pub boot_index: Option<i64>,
    /// Where a new volume comes from; `Existing` is the user's volume.
    pub source: BlockSource,
    /// GiB of a new volume (0: the snapshot's size).
    pub size: i64,
    pub volume_type: Option<String>,
    pub delete_on_termination: bool,
    /// The device name asked for (`/dev/vdb`), if any.
    pub device_name: Option<String>,
    pub tag: Option<String>,
}

/// `source_type` of a mapping whose destination is a volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum BlockSource {
    Existing,
    Image { id: String },
    Snapshot { id: String },
    Blank,
}

impl Server {
    /// The root volume of a volume-backed server.
    pub(crate) fn boot_volume(&self) -> Option<&BlockDevice> {
        self.block_devices.iter().find(|b| b.boot_index == Some(0))
    }

    /// Whether `volume_id` is to be deleted with the server: its block device
    /// mapping says so, or its attachment did (2.79) or was updated to (2.85).
    pub(crate) fn delete_on_termination(&self, volume_id: &str) -> bool {
        self.attached_delete_on_termination.contains(volume_id)
            || self
                .block_devices
                .iter()
                .any(|b| b.volume_id == volume_id && b.delete_on_termination)
    }
}

/// The names of Nova's standard image properties (`ImageMetaProps` fields and
/// their legacy aliases, nova/objects/image_meta.py): what the instance keeps of
/// an image, and what 2.98 shows.
pub(crate) const STANDARD_IMAGE_PROPERTIES: &[&str] = &[
    "architecture",
    "auto_disk_config",
    "bdm_v2",
    "bittorrent",
    "block_device_mapping",
    "cache_in_nova",
    "hw_architecture",
    "hw_auto_disk_config",
    "hw_boot_menu",
    "hw_cdrom_bus",
    "hw_cpu_cores",
    "hw_cpu_max_cores",
    "hw_cpu_max_sockets",
    "hw_cpu_max_threads",
    "hw_cpu_policy",
    "hw_cpu_realtime_mask",
    "hw_cpu_sockets",
    "hw_cpu_thread_policy",
    "hw_cpu_threads",
    "hw_device_id",
    "hw_disk_bus",
    "hw_disk_type",
    "hw_emulation_architecture",
    "hw_ephemeral_encryption",
    "hw_ephemeral_encryption_format",
    "hw_ephemeral_encryption_secret_uuid",
    "hw_firmware_stateless",
    "hw_firmware_type",
    "hw_floppy_bus",
    "hw_input_bus",
    "hw_ipxe_boot",
    "hw_locked_memory",
    "hw_machine_type",
    "hw_maxphysaddr_bits",
    "hw_maxphysaddr_mode",
    "hw_mem_encryption",
    "hw_mem_encryption_model",
    "hw_mem_page_size",
    "hw_numa_cpus",
    "hw_numa_mem",
    "hw_numa_nodes",
    "hw_pci_numa_affinity_policy",
    "hw_pmu",
    "hw_pointer_model",
    "hw_qemu_guest_agent",
    "hw_redirected_usb_ports",
    "hw_rescue_bus",
    "hw_rescue_device",
    "hw_rng_model",
    "hw_scsi_model",
    "hw_serial_port_count",
    "hw_sound_model",
    "hw_time_hpet",
    "hw_tpm_model",
    "hw_tpm_version",
    "hw_usb_model",
    "hw_video_model",
    "hw_video_ram",
    "hw_vif_model",
    "hw_vif_multiqueue_enabled",
    "hw_viommu_model",
    "hw_virtio_packed_ring",
    "hw_vm_mode",
    "hw_watchdog_action",
    "hypervisor_type",
    "hypervisor_version_requires",
    "img_bdm_v2",
    "img_bittorrent",
    "img_block_device_mapping",
    "img_cache_in_nova",
    "img_compression_level",
    "img_config_drive",
    "img_hide_hypervisor_id",
    "img_hv_requested_version",
    "img_hv_type",
    "img_linked_clone",
    "img_mappings",
    "img_owner_id",
    "img_root_device_name",
    "img_signature",
    "img_signature_certificate_uuid",
    "img_signature_hash_method",
    "img_signature_key_type",
    "img_use_agent",
    "img_version",
    "ipxe_boot",
    "mappings",
    "os_admin_user",
    "os_command_line",
    "os_distro",
    "os_require_quiesce",
    "os_secure_boot",
    "os_skip_agent_inject_files_at_boot",
    "os_skip_agent_inject_ssh",
    "os_type",
    "owner_id",
    "root_device_name",
    "traits_required",
    "vm_mode",
    "vmware_disktype",
    "vmware_image_version",
    "vmware_linked_clone",
    "vmware_ostype",
    "xenapi_device_id",
    "xenapi_image_compression_level",
    "xenapi_skip_agent_inject_files_at_boot",
    "xenapi_skip_agent_inject_ssh",
    "xenapi_use_agent",
];

/// The standard properties of an image, as strings (Nova keeps them as such).
pub(crate) fn image_properties(
    props: &serde_json::Map<String, serde_json::Value>,
) -> BTreeMap<String, String> {
    props
        .iter()
        .filter(|(k, _)| STANDARD_IMAGE_PROPERTIES.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => return None,
                serde_json::Value::Bool(true) => "True".into(),
                serde_json::Value::Bool(false) => "False".into(),
                other => other.to_string(),
            };
            Some((k.clone(), s))
        })
        .collect()
}

/// Scheduler hints as Nova's request spec keeps them: every value a list of
/// strings (a scalar becomes a one-item list; a JSON `query` stays its text).
pub(crate) fn request_spec_hints(
    hints: &BTreeMap<String, serde_json::Value>,
) -> BTreeMap<String, Vec<String>> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    hints
        .iter()
        .map(|(k, v)| {
            let list = match v {
                serde_json::Value::Array(a) => a.iter().map(text).collect(),
                other => vec![text(other)],
            };
            (k.clone(), list)
        })
        .collect()
}

fn manual() -> String {
    "MANUAL".into()
}

impl Server {
    pub(crate) fn status(&self) -> &'static str {
        status(self.vm_state, self.task_state)
    }
}

/// One `os-instance-actions` record and its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InstanceAction {
    pub request_id: String,
    pub server_id: String,
    pub action: String,
    pub project_id: String,
    pub user_id: String,
    pub start_time: String,
    pub updated_at: String,
    pub message: Option<String>,
    pub events: Vec<ActionEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ActionEvent {
    pub event: String,
    pub start_time: String,
    pub finish_time: Option<String>,
    /// `Success` or `Error`; None while running.
    pub result: Option<String>,
    pub traceback: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopped_server_without_vmm_reports_shutdown() {
        use crate::virt::PowerState as P;
        assert_eq!(VmState::Stopped.power_code(P::NoState), 4);
        assert_eq!(VmState::Stopped.power_code(P::Shutdown), 4);
        assert_eq!(VmState::Active.power_code(P::Running), 1);
        assert_eq!(VmState::Error.power_code(P::NoState), 0);
        assert_eq!(
            VmState::Suspended.power_code(P::Suspended),
            P::Suspended.code()
        );
    }

    #[test]
    fn status_derivation_matches_nova() {
        assert_eq!(
            status(VmState::Building, Some(TaskState::Spawning)),
            "BUILD"
        );
        assert_eq!(status(VmState::Active, None), "ACTIVE");
        assert_eq!(
            status(VmState::Active, Some(TaskState::Rebooting)),
            "REBOOT"
        );
        assert_eq!(
            status(VmState::Active, Some(TaskState::RebootingHard)),
            "HARD_REBOOT"
        );
        assert_eq!(status(VmState::Stopped, None), "SHUTOFF");
        assert_eq!(
            status(VmState::Active, Some(TaskState::ResizePrep)),
            "RESIZE"
        );
        assert_eq!(status(VmState::Resized, None), "VERIFY_RESIZE");
        assert_eq!(
            status(VmState::Active, Some(TaskState::RebuildSpawning)),
            "REBUILD"
        );
        assert_eq!(status(VmState::Error, None), "ERROR");
    }

    #[test]
    fn illegal_moves_are_conflicts_with_novas_message() {
        let e = begin(VmState::Stopped, None, Op::Stop).expect_err("stop a stopped server");
        assert!(
            matches!(&e, ApiError::Conflict(m) if m == "Cannot 'stop' instance while it is in vm_state stopped")
        );
        let e = begin(VmState::Active, Some(TaskState::Pausing), Op::Stop).expect_err("busy");
        assert!(matches!(&e, ApiError::Conflict(m) if m.contains("task_state pausing")));
        assert!(begin(VmState::Paused, None, Op::Start).is_err());
        assert!(begin(VmState::Active, None, Op::Resume).is_err());
        assert!(begin(VmState::Active, None, Op::ConfirmResize).is_err());
    }

    #[test]
    fn legal_moves_set_the_task_state() {
        assert_eq!(
            begin(VmState::Active, None, Op::Stop).ok(),
            Some(TaskState::PoweringOff)
        );
        assert_eq!(
            begin(VmState::Stopped, None, Op::Start).ok(),
            Some(TaskState::PoweringOn)
        );
        assert_eq!(
            begin(VmState::Resized, None, Op::ConfirmResize).ok(),
            Some(TaskState::ResizeConfirming)
        );
        assert_eq!(
            begin(VmState::Building, Some(TaskState::Spawning), Op::Delete).ok(),
            Some(TaskState::Deleting)
        );
        assert_eq!(
            begin(VmState::Active, Some(TaskState::Rebooting), Op::RebootHard).ok(),
            Some(TaskState::RebootingHard)
        );
        assert_eq!(
            begin(VmState::Error, None, Op::RebootHard).ok(),
            Some(TaskState::RebootingHard)
        );
    }

    #[test]
    fn rescue_and_shelve_follow_novas_state_machine() {
        assert_eq!(
            begin(VmState::Active, None, Op::Rescue).ok(),
            Some(TaskState::Rescuing)
        );
        let e = begin(VmState::Paused, None, Op::Rescue).expect_err("rescue paused");
        assert!(
            matches!(&e, ApiError::Conflict(m) if m == "Cannot 'rescue' instance while it is in vm_state paused")
        );
        assert!(begin(VmState::Rescued, None, Op::RebootHard).is_err());
        assert!(begin(VmState::Rescued, None, Op::Rebuild).is_err());
        assert_eq!(
            begin(VmState::Rescued, None, Op::Unrescue).ok(),
            Some(TaskState::Unrescuing)
        );
        assert_eq!(
            begin(VmState::Paused, None, Op::Shelve).ok(),
            Some(TaskState::Shelving)
        );
        let e = begin(VmState::ShelvedOffloaded, None, Op::Shelve).expect_err("shelve twice");
        assert!(
            matches!(&e, ApiError::Conflict(m) if m == "Cannot 'shelve' instance while it is in vm_state shelved_offloaded")
        );
        assert!(begin(VmState::Active, None, Op::Unshelve).is_err());
        assert!(begin(VmState::Shelved, None, Op::ShelveOffload).is_ok());
        assert!(begin(VmState::ShelvedOffloaded, None, Op::ShelveOffload).is_err());
        assert!(begin(VmState::ShelvedOffloaded, None, Op::Delete).is_ok());
        assert_eq!(status(VmState::Rescued, None), "RESCUE");
        assert_eq!(status(VmState::Shelved, None), "SHELVED");
        assert_eq!(status(VmState::ShelvedOffloaded, None), "SHELVED_OFFLOADED");
        assert_eq!(
            begin(VmState::Suspended, None, Op::CreateBackup).ok(),
            Some(TaskState::ImageBackup)
        );
    }

    #[test]
    fn finish_states() {
        assert_eq!(finish(VmState::Active, Op::Stop), VmState::Stopped);
        assert_eq!(finish(VmState::Stopped, Op::Rebuild), VmState::Stopped);
        assert_eq!(finish(VmState::Active, Op::Resize), VmState::Resized);
        assert_eq!(finish(VmState::Resized, Op::RevertResize), VmState::Active);
    }
}
