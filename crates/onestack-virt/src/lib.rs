//! Hypervisor drivers behind one narrow trait: what Nova's compute manager asks of
//! a VMM (launch, power, pause, save, reboot, NIC hot-plug), independent of whether
//! QEMU or cloud-hypervisor runs the guest.

pub mod cloud_hypervisor;
pub mod detect;
pub mod fake;
pub mod process;
pub mod qemu;
pub mod qmp;
pub mod sockpath;

pub use detect::{VirtConfig, kvm_usable, select, which};

use std::path::{Path, PathBuf};

pub mod unavailable;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Which VMM runs the instances, as os-hypervisors reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HypervisorKind {
    Qemu,
    CloudHypervisor,
    /// In-memory driver for unit tests.
    Fake,
}

impl HypervisorKind {
    /// `hypervisor_type` in os-hypervisors.
    pub fn hypervisor_type(self) -> &'static str {
        match self {
            HypervisorKind::Qemu => "QEMU",
            HypervisorKind::CloudHypervisor => "cloud-hypervisor",
            HypervisorKind::Fake => "fake",
        }
    }
}

/// Power state of a guest as the VMM sees it (Nova's power_state values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerState {
    /// No VMM process (never started, shut down, or lost with a host reboot).
    NoState,
    Running,
    Paused,
    /// The process exists but the guest has powered off.
    Shutdown,
    Crashed,
    /// Memory saved to disk, no process (Nova's suspend / managed save).
    Suspended,
}

impl PowerState {
    /// The integer Nova exposes as `OS-EXT-STS:power_state`.
    pub fn code(self) -> i64 {
        match self {
            PowerState::NoState => 0,
            PowerState::Running => 1,
            PowerState::Paused => 3,
            PowerState::Shutdown => 4,
            PowerState::Crashed => 6,
            PowerState::Suspended => 7,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskFormat {
    Qcow2,
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskKind {
    /// A virtio block device.
    Disk,
    /// A read-only CD-ROM (the config drive).
    Cdrom,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskSpec {
    /// Stable device id, e.g. `root`, `config`, or a volume id.
    pub id: String,
    pub path: PathBuf,
    pub format: DiskFormat,
    pub kind: DiskKind,
    pub read_only: bool,
    /// Set when the disk is an iSCSI LUN that QEMU opens with its own initiator
    /// (libiscsi); `path` is then only a label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iscsi: Option<IscsiDisk>,
}

/// An iSCSI LUN with CHAP, as block storage exports a volume (Cinder's `iscsi`
/// connection info).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IscsiDisk {
    /// `address:port` of the target portal.
    pub portal: String,
    /// The target's IQN.
    pub target: String,
    pub lun: u32,
    /// CHAP user name.
    pub user: String,
    /// CHAP secret: handed to QEMU through a secret object, never logged.
    pub password: String,
}

impl std::fmt::Debug for IscsiDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IscsiDisk")
            .field("portal", &self.portal)
            .field("target", &self.target)
            .field("lun", &self.lun)
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicSpec {
    /// The Neutron port id; the device id inside the VMM.
    pub port_id: String,
    /// An existing tap device the VMM opens (the dataplane created and bridged it).
    pub tap: String,
    pub mac: String,
}

/// A block job on a guest's disk chain (`merge_disk`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskMerge {
    /// `block-commit` of `top` into `base`; `active`: `top` is the layer the
    /// guest writes to.
    Commit {
        top: PathBuf,
        base: PathBuf,
        active: bool,
    },
    /// `block-stream` into the active layer down to `base`.
    Stream { base: PathBuf },
}

/// How the guest boots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BootSource {
    /// Firmware (BIOS) boots the first disk.
    Firmware,
    /// Direct kernel boot (aki/ari images).
    Kernel {
        kernel: PathBuf,
        initrd: Option<PathBuf>,
        cmdline: String,
    },
}

/// Everything a driver needs to create and boot one guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSpec {
    /// The server id (UUID); also written into the VMM command line so a process can
    /// be recognised again after a restart.
    pub instance_id: String,
    /// Nova's instance name (`instance-0000000a`).
    pub name: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub disks: Vec<DiskSpec>,
    pub nics: Vec<NicSpec>,
    pub boot: BootSource,
    /// Per-instance directory: control socket, pid file, console log, saved state.
    pub run_dir: PathBuf,
    /// Network namespace the VMM must run in to open its taps (tests run the whole
    /// dataplane inside one); None = the host's.
    pub netns: Option<String>,
}

impl VmSpec {
    /// The serial console log, appended across boots (os-getConsoleOutput reads it).
    pub fn console_log(&self) -> PathBuf {
        self.run_dir.join("console.log")
    }

    /// The unix socket an interactive serial console attaches to (drivers that
    /// offer one; see `Hypervisor::serial_socket`).
    pub fn serial_socket(&self) -> PathBuf {
        self.socket("serial.sock")
    }

    /// A unix socket of the run directory, by a path short enough to bind
    /// (`sockpath`).
    pub fn socket(&self, name: &str) -> PathBuf {
        sockpath::socket_path(&self.run_dir, name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VirtError {
    #[error("no VMM process for instance {0}")]
    NotRunning(String),
    #[error("the VMM is missing: {0}")]
    Unavailable(String),
    #[error("{op} failed: {message}")]
    Failed { op: &'static str, message: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type VirtResult<T> = Result<T, VirtError>;

/// The operations the compute service needs from a VMM. Every call is idempotent
/// where the domain allows (launching a running guest adopts it; destroying a gone
/// one succeeds), so a restarted onestack can replay any step.
#[async_trait]
pub trait Hypervisor: Send + Sync {
    fn kind(&self) -> HypervisorKind;

    /// Starts the VMM process for `spec` and boots the guest. If a process for this
    /// instance is already alive (onestack restarted), it is adopted instead.
    /// If a saved state exists (suspended), the guest resumes from it.
    async fn launch(&self, spec: &VmSpec) -> VirtResult<()>;

    /// What the VMM reports; `NoState` when there is no process and no saved state.
    async fn power_state(&self, spec: &VmSpec) -> VirtResult<PowerState>;

    /// ACPI power-off, waiting up to `grace`, then the process is stopped.
    async fn shutdown(&self, spec: &VmSpec, grace: std::time::Duration) -> VirtResult<()>;

    /// Stops the process at once and removes its sockets and saved state (not disks).
    async fn destroy(&self, spec: &VmSpec) -> VirtResult<()>;

    /// Soft: ACPI reboot request; hard: reset.
    async fn reboot(&self, spec: &VmSpec, hard: bool) -> VirtResult<()>;

    async fn pause(&self, spec: &VmSpec) -> VirtResult<()>;
    async fn unpause(&self, spec: &VmSpec) -> VirtResult<()>;

    /// Saves the guest's memory to `run_dir` and stops the process; `launch`
    /// resumes from it.
    async fn suspend(&self, spec: &VmSpec) -> VirtResult<()>;

    /// Hot-plugs a NIC into a running guest.
    async fn attach_nic(&self, spec: &VmSpec, nic: &NicSpec) -> VirtResult<()>;
    async fn detach_nic(&self, spec: &VmSpec, port_id: &str) -> VirtResult<()>;

    /// Hot-plugs a block device (a volume) into a running guest; plugging one
    /// already present succeeds.
    async fn attach_disk(&self, _spec: &VmSpec, _disk: &DiskSpec) -> VirtResult<()> {
        Err(VirtError::Unavailable(
            "this driver cannot hot-plug volumes".into(),
        ))
    }

    /// Unplugs a hot-plugged or boot-time block device once the guest released
    /// it; unplugging one already gone succeeds.
    async fn detach_disk(&self, _spec: &VmSpec, _disk_id: &str) -> VirtResult<()> {
        Err(VirtError::Unavailable(
            "this driver cannot unplug volumes".into(),
        ))
    }

    /// Tells a running guest that the volume `disk_id` (its file already grown)
    /// is now `bytes` long, as Nova's `extend_volume` does on a `volume-extended`
    /// event; the guest's kernel sees the new capacity at once.
    async fn resize_disk(&self, _spec: &VmSpec, _disk_id: &str, _bytes: u64) -> VirtResult<()> {
        Err(VirtError::Unavailable(
            "this driver cannot resize a guest's disk".into(),
        ))
    }

    /// Puts the qcow2 file `overlay` (already made, backed by the disk's
    /// current top file) on top of the running guest's disk `disk_id`; the
    /// guest writes there from now on (libvirt's external snapshot,
    /// `blockdev-snapshot-sync` in `existing` mode).
    async fn snapshot_disk(
        &self,
        _spec: &VmSpec,
        _disk_id: &str,
        _overlay: &Path,
    ) -> VirtResult<()> {
        Err(VirtError::Unavailable(
            "this driver cannot snapshot a guest's disk".into(),
        ))
    }

    /// Merges the layers of the running guest's disk `disk_id`: `Commit` folds
    /// file `top` into `base` (the guest moves to `base` when `top` is its
    /// active layer), `Stream` pulls every layer above `base` into the active
    /// one. Returns once the block job has finished.
    async fn merge_disk(
        &self,
        _spec: &VmSpec,
        _disk_id: &str,
        _merge: &DiskMerge,
    ) -> VirtResult<()> {
        Err(VirtError::Unavailable(
            "this driver cannot merge a guest's disk layers".into(),
        ))
    }

    /// The VMM's version as os-hypervisors reports it (`hypervisor_version`);
    /// None when unknown.
    fn version(&self) -> Option<u64> {
        None
    }

    /// Process id of the VMM, for status and RSS figures.
    async fn pid(&self, spec: &VmSpec) -> Option<u32>;

    /// The unix socket carrying the guest's serial port interactively, when this
    /// driver offers one (Nova's serial console); None = no interactive console.
    fn serial_socket(&self, _spec: &VmSpec) -> Option<PathBuf> {
        None
    }
}
