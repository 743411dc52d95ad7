//! The QEMU driver: one daemonized `qemu-system-x86_64` per instance, controlled
//! only over QMP, recognised again after an onestack restart by its pid file and
//! the instance id on its command line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::detect::VirtConfig;
use super::process;
use super::qmp::{
    IdArgs, MigrateArgs, MigrationInfo, NetdevTapArgs, NicDeviceArgs, NoArgs, ObjectProperty,
    PathArgs, Qmp, QmpError, StatusInfo, VersionInfo,
};
use super::{
    BootSource, DiskFormat, DiskKind, DiskMerge, DiskSpec, Hypervisor, HypervisorKind, NicSpec,
    PowerState, VirtError, VirtResult, VmSpec,
};
use onestack_common::logged::OrLog;

/// How QEMU executes guest code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    /// Software emulation (no usable KVM).
    Tcg,
}

const QMP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on waiting for a suspend to reach disk or a resume to load.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(300);

/// Files the driver keeps in the instance's run directory.
struct RunFiles {
    pid: PathBuf,
    qmp: PathBuf,
    state: PathBuf,
    state_tmp: PathBuf,
    log: PathBuf,
}

impl RunFiles {
    fn of(spec: &VmSpec) -> RunFiles {
        let d = &spec.run_dir;
        RunFiles {
            pid: d.join("qemu.pid"),
            qmp: spec.socket("qmp.sock"),
            state: d.join("suspend.state"),
            state_tmp: d.join("suspend.state.tmp"),
            log: d.join("qemu.log"),
        }
    }
}

pub struct QemuDriver {
    binary: PathBuf,
    accel: Accel,
    cfg: VirtConfig,
    /// One operation at a time per instance: QMP serves one client at a time and
    /// multi-step operations must not interleave.
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// `--version` of the binary, asked once.
    version: std::sync::OnceLock<Option<u64>>,
}

fn failed(op: &'static str, e: impl std::fmt::Display) -> VirtError {
    VirtError::Failed {
        op,
        message: e.to_string(),
    }
}

/// QEMU option values escape a comma by doubling it.
fn opt_escape(p: &Path) -> String {
    p.display().to_string().replace(',', ",,")
}

/// QEMU ids must start with a letter and hold only letters, digits, `-`, `.`, `_`.
fn qemu_id(prefix: &str, raw: &str) -> String {
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}-{clean}")
}

/// The block node name of a hot-plugged disk: QEMU limits node names to 31
/// characters, too short for `drive-<uuid>`.
fn node_name(raw: &str) -> String {
    let clean: String = raw.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("vol{}", &clean[..clean.len().min(28)])
}

/// The id of the secret object holding an iSCSI disk's CHAP secret.
fn secret_id(raw: &str) -> String {
    format!("sec{}", node_name(raw))
}

/// Where an iSCSI disk's CHAP secret waits for QEMU to read it at start (owner-only;
/// removed once QEMU runs).
fn secret_file(spec: &VmSpec, raw: &str) -> PathBuf {
    spec.run_dir.join(format!("{}.secret", node_name(raw)))
}

/// The block node of a hot-plugged file disk (a qcow2 or raw image on the host).
fn file_blockdev(node: &str, disk: &DiskSpec) -> Value {
    let fmt = match disk.format {
        DiskFormat::Qcow2 => "qcow2",
        DiskFormat::Raw => "raw",
    };
    serde_json::json!({
        "driver": fmt,
        "node-name": node,
        "read-only": disk.read_only,
        "file": {
            "driver": "file",
            "filename": disk.path,
            "read-only": disk.read_only,
        },
    })
}

/// The block node of a disk QEMU opens with its own iSCSI initiator (libiscsi),
/// authenticating with CHAP through the secret object `secret`.
fn iscsi_blockdev(node: &str, i: &super::IscsiDisk, secret: &str, read_only: bool) -> Value {
    serde_json::json!({
        "driver": "raw",
        "node-name": node,
        "read-only": read_only,
        "file": {
            "driver": "iscsi",
            "transport": "tcp",
            "portal": i.portal,
            "target": i.target,
            "lun": i.lun,
            "user": i.user,
            "password-secret": secret,
            "read-only": read_only,
        },
    })
}

/// The QEMU command line for `spec` (without the binary), pure so it can be tested.
pub fn command_line(
    spec: &VmSpec,
    accel: Accel,
    qboot: Option<&Path>,
    incoming: Option<&Path>,
) -> Vec<String> {
    let mut a = machine_args(spec, accel);
    a.extend(serial_args(spec));
    let root = firmware_root_disk(spec);
    for d in &spec.disks {
        let boot = root == Some(d.id.as_str());
        a.extend(match (d.kind, &d.iscsi) {
            (DiskKind::Disk, Some(i)) => iscsi_disk_args(spec, d, i, boot),
            _ => file_disk_args(d, boot),
        });
    }
    for n in &spec.nics {
        a.extend(nic_args(n));
    }
    if let BootSource::Kernel {
        kernel,
        initrd,
        cmdline,
    } = &spec.boot
    {
        if let Some(q) = qboot {
            a.extend(args(&["-bios", &q.display().to_string()]));
        }
        a.extend(args(&["-kernel", &kernel.display().to_string()]));
        if let Some(i) = initrd {
            a.extend(args(&["-initrd", &i.display().to_string()]));
        }
        a.extend(args(&["-append", cmdline]));
    }
    if let Some(state) = incoming {
        a.extend(args(&["-incoming", &format!("file:{}", state.display())]));
    }
    a
}

/// Owned command-line words.
fn args(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

/// The machine, its accelerator and size, and the daemon's pid file and QMP socket.
fn machine_args(spec: &VmSpec, accel: Accel) -> Vec<String> {
    let f = RunFiles::of(spec);
    let (accel_opt, cpu) = match accel {
        Accel::Kvm => ("kvm".to_string(), "host"),
        // A bounded translation cache keeps an idle TCG guest's RSS small.
        Accel::Tcg => ("tcg,tb-size=64".to_string(), "max"),
    };
    args(&[
        "-name",
        &format!("guest={}", spec.name.replace(',', ",,")),
        "-uuid",
        &spec.instance_id,
        "-machine",
        "pc",
        "-accel",
        &accel_opt,
        "-cpu",
        cpu,
        "-m",
        &spec.memory_mb.to_string(),
        "-smp",
        &spec.vcpus.max(1).to_string(),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-daemonize",
        "-pidfile",
        &opt_escape(&f.pid),
        "-qmp",
        &format!("unix:{},server=on,wait=off", opt_escape(&f.qmp)),
    ])
}

/// The serial port is a listening unix socket (the interactive console) that
/// also tees everything the guest prints into console.log (os-getConsoleOutput).
/// wait=off: the guest runs whether or not anyone is attached.
fn serial_args(spec: &VmSpec) -> Vec<String> {
    args(&[
        "-chardev",
        &format!(
            "socket,id=serial0,path={},server=on,wait=off,logfile={},logappend=on",
            opt_escape(&spec.serial_socket()),
            opt_escape(&spec.console_log())
        ),
        "-device",
        "isa-serial,chardev=serial0",
    ])
}

/// The disk the firmware boots (boot index 0): `root`, else the first disk. None
/// for a direct kernel boot, which takes boot index 0 for QEMU's own linuxboot ROM
/// (a disk claiming it too makes QEMU refuse to start).
fn firmware_root_disk(spec: &VmSpec) -> Option<&str> {
    spec.disks
        .iter()
        .find(|d| d.id == "root" && d.kind == DiskKind::Disk)
        .or_else(|| spec.disks.iter().find(|d| d.kind == DiskKind::Disk))
        .filter(|_| matches!(spec.boot, BootSource::Firmware))
        .map(|d| d.id.as_str())
}

/// A disk QEMU reaches over iSCSI itself; the CHAP secret comes from a file, so it
/// is not on the command line.
fn iscsi_disk_args(
    spec: &VmSpec,
    d: &super::DiskSpec,
    i: &super::IscsiDisk,
    boot: bool,
) -> Vec<String> {
    let node = node_name(&d.id);
    let sid = secret_id(&d.id);
    let boot = if boot { ",bootindex=0" } else { "" };
    args(&[
        "-object",
        &format!(
            "secret,id={sid},format=raw,file={}",
            opt_escape(&secret_file(spec, &d.id))
        ),
        "-blockdev",
        &iscsi_blockdev(&node, i, &sid, d.read_only).to_string(),
        "-device",
        &format!(
            "virtio-blk-pci,drive={node},id={}{boot}",
            qemu_id("disk", &d.id)
        ),
    ])
}

/// A disk or CD-ROM backed by a host file (an image or a local volume).
fn file_disk_args(d: &super::DiskSpec, boot: bool) -> Vec<String> {
    let drive = qemu_id("drive", &d.id);
    let fmt = match d.format {
        DiskFormat::Qcow2 => "qcow2",
        DiskFormat::Raw => "raw",
    };
    let boot = if boot { ",bootindex=0" } else { "" };
    match d.kind {
        DiskKind::Disk => args(&[
            "-drive",
            &format!(
                "if=none,id={drive},file={},format={fmt},readonly={}",
                opt_escape(&d.path),
                if d.read_only { "on" } else { "off" }
            ),
            "-device",
            &format!(
                "virtio-blk-pci,drive={drive},id={}{boot}",
                qemu_id("disk", &d.id)
            ),
        ]),
        DiskKind::Cdrom => args(&[
            "-drive",
            &format!(
                "if=none,id={drive},file={},format={fmt},media=cdrom,readonly=on",
                opt_escape(&d.path)
            ),
            "-device",
            &format!("ide-cd,drive={drive},id={}", qemu_id("disk", &d.id)),
        ]),
    }
}

/// A NIC on the port's tap device.
fn nic_args(n: &super::NicSpec) -> Vec<String> {
    let netdev = qemu_id("net", &n.port_id);
    args(&[
        "-netdev",
        &format!(
            "tap,id={netdev},ifname={},script=no,downscript=no,vhost=off",
            n.tap
        ),
        "-device",
        &format!(
            "virtio-net-pci,netdev={netdev},mac={},id={}",
            n.mac,
            qemu_id("nic", &n.port_id)
        ),
    ])
}

/// How often an unanswered volume unplug request is repeated to the guest, and
/// how long in all the guest is given (Nova's libvirt driver: 8 attempts of 20 s).
const DETACH_RESEND: Duration = Duration::from_secs(5);
const VOLUME_DETACH_TIMEOUT: Duration = Duration::from_secs(160);

/// Nova's view of a QEMU run state (`query-status`).
pub fn power_state_of(status: &str) -> PowerState {
    match status {
        "running" | "colo" => PowerState::Running,
        "shutdown" => PowerState::Shutdown,
        "guest-panicked" | "internal-error" | "io-error" | "watchdog" => PowerState::Crashed,
        // paused, suspended, debug, prelaunch, inmigrate, postmigrate, finish-migrate,
        // save-vm, restore-vm: the guest is not executing.
        _ => PowerState::Paused,
    }
}

impl QemuDriver {
    pub fn new(binary: PathBuf, accel: Accel, cfg: VirtConfig) -> QemuDriver {
        QemuDriver {
            binary,
            accel,
            cfg,
            locks: std::sync::Mutex::new(HashMap::new()),
            version: std::sync::OnceLock::new(),
        }
    }

    pub fn accel(&self) -> Accel {
        self.accel
    }

    fn lock_for(&self, spec: &VmSpec) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(spec.instance_id.clone()).or_default().clone()
    }

    /// The pid of this instance's QEMU if it is alive and really ours.
    fn live_pid(spec: &VmSpec) -> Option<u32> {
        let pid = process::read_pid_file(&RunFiles::of(spec).pid)?;
        process::cmdline_contains(pid, &spec.instance_id).then_some(pid)
    }

    async fn qmp(spec: &VmSpec, op: &'static str) -> VirtResult<Qmp> {
        Qmp::connect(&RunFiles::of(spec).qmp, QMP_TIMEOUT)
            .await
            .map_err(|e| failed(op, e))
    }

    async fn status(qmp: &mut Qmp, op: &'static str) -> VirtResult<StatusInfo> {
        qmp.execute("query-status", None::<&NoArgs>)
            .await
            .map_err(|e| failed(op, e))
    }

    fn clean_run_files(spec: &VmSpec) -> VirtResult<()> {
        let f = RunFiles::of(spec);
        process::remove_if_present(&f.pid)?;
        process::remove_if_present(&f.qmp)?;
        process::remove_if_present(&spec.serial_socket())?;
        Ok(())
    }

    /// Ends the process: `quit` over QMP, then SIGKILL by pid.
    async fn stop_process(spec: &VmSpec, pid: u32, op: &'static str) -> VirtResult<()> {
        if let Ok(mut qmp) = Qmp::connect(&RunFiles::of(spec).qmp, Duration::from_secs(3)).await {
            // The reply may be lost as QEMU exits; the wait below decides.
            qmp.run("quit")
                .await
                .or_debug(&spec.instance_id, "QMP quit");
        }
        if !process::wait_exit(pid, Duration::from_secs(5)).await {
            tracing::warn!(instance = %spec.instance_id, pid, "QEMU ignored quit, killing it");
            process::kill_and_wait(pid)
                .await
                .map_err(|e| failed(op, e))?;
        }
        Self::clean_run_files(spec)
    }

    async fn start(&self, spec: &VmSpec) -> VirtResult<()> {
        let f = RunFiles::of(spec);
        std::fs::create_dir_all(&spec.run_dir)?;
        super::sockpath::prepare(&spec.run_dir)?;
        Self::clean_run_files(spec)?;
        let incoming = f.state.is_file().then(|| f.state.clone());
        let qboot = self.cfg.qboot_path();
        let args = command_line(spec, self.accel, qboot.as_deref(), incoming.as_deref());
        let secrets = write_secrets(spec)?;
        let started = self.start_with(spec, &f, args, incoming.is_some()).await;
        for p in secrets {
            if let Err(e) = std::fs::remove_file(&p) {
                tracing::warn!(instance = %spec.instance_id, error = %e, "removing a disk secret file");
            }
        }
        started
    }

    async fn start_with(
        &self,
        spec: &VmSpec,
        f: &RunFiles,
        args: Vec<String>,
        resume: bool,
    ) -> VirtResult<()> {
        let mut cmd = match &spec.netns {
            Some(ns) => {
                let mut c = tokio::process::Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.binary);
                c
            }
            None => tokio::process::Command::new(&self.binary),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&f.log)?;
        // Files, not pipes, and its own process group: the daemon must not die with
        // us or block on a pipe nobody reads. QEMU itself setsid()s as it daemonizes.
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .kill_on_drop(false);
        tracing::info!(instance = %spec.instance_id, accel = ?self.accel, resume, "starting QEMU");
        let status = cmd
            .status()
            .await
            .map_err(|e| failed("launch", format!("{}: {e}", self.binary.display())))?;
        if !status.success() {
            return Err(failed(
                "launch",
                format!("QEMU exited with {status}: {}", log_tail(&f.log)),
            ));
        }
        let pid = Self::live_pid(spec).ok_or_else(|| {
            failed(
                "launch",
                format!("QEMU daemonized but is not running: {}", log_tail(&f.log)),
            )
        })?;
        let mut qmp = Self::qmp(spec, "launch").await?;
        if resume && let Err(e) = Self::finish_resume(&mut qmp, f).await {
            // The saved state stays: a later launch can retry, destroy drops it.
            drop(qmp);
            Self::stop_process(spec, pid, "launch")
                .await
                .or_warn(&spec.instance_id, "stopping QEMU after a failed resume");
            return Err(e);
        }
        tracing::info!(instance = %spec.instance_id, pid, "QEMU running");
        Ok(())
    }

    /// After `-incoming file:`: wait for the state to load, run the guest, and drop
    /// the file once it runs again.
    async fn finish_resume(qmp: &mut Qmp, f: &RunFiles) -> VirtResult<()> {
        let deadline = tokio::time::Instant::now() + MIGRATION_TIMEOUT;
        loop {
            let st = Self::status(qmp, "launch").await?;
            if st.status != "inmigrate" {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(failed("launch", "restoring the saved state timed out"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mig: MigrationInfo = qmp
            .execute("query-migrate", None::<&NoArgs>)
            .await
            .map_err(|e| failed("launch", e))?;
        if mig.status.as_deref() == Some("failed") {
            return Err(failed(
                "launch",
                format!(
                    "restoring the saved state failed: {}",
                    mig.error_desc.unwrap_or_default()
                ),
            ));
        }
        if !Self::status(qmp, "launch").await?.running {
            qmp.run("cont").await.map_err(|e| failed("launch", e))?;
        }
        if !Self::status(qmp, "launch").await?.running {
            return Err(failed("launch", "guest did not run after restore"));
        }
        process::remove_if_present(&f.state)?;
        Ok(())
    }

    async fn wait_migration(qmp: &mut Qmp) -> VirtResult<()> {
        let deadline = tokio::time::Instant::now() + MIGRATION_TIMEOUT;
        loop {
            let info: MigrationInfo = qmp
                .execute("query-migrate", None::<&NoArgs>)
                .await
                .map_err(|e| failed("suspend", e))?;
            match info.status.as_deref() {
                Some("completed") => return Ok(()),
                Some("failed") | Some("cancelled") => {
                    return Err(failed(
                        "suspend",
                        format!(
                            "saving the guest failed: {}",
                            info.error_desc.unwrap_or_default()
                        ),
                    ));
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(failed("suspend", "saving the guest timed out"));
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn device_present(qmp: &mut Qmp, id: &str, op: &'static str) -> VirtResult<bool> {
        let props: Vec<ObjectProperty> = qmp
            .execute(
                "qom-list",
                Some(&PathArgs {
                    path: "/machine/peripheral",
                }),
            )
            .await
            .map_err(|e| failed(op, e))?;
        Ok(props
            .iter()
            .any(|p| p.name == id && p.kind.starts_with("child<")))
    }

    async fn do_launch(&self, spec: &VmSpec) -> VirtResult<()> {
        if let Some(pid) = Self::live_pid(spec) {
            let answers = match Qmp::connect(&RunFiles::of(spec).qmp, QMP_TIMEOUT).await {
                Ok(mut qmp) => Self::status(&mut qmp, "launch").await.is_ok(),
                Err(_) => false,
            };
            if answers {
                tracing::info!(instance = %spec.instance_id, pid, "adopting running QEMU");
                return Ok(());
            }
            tracing::warn!(instance = %spec.instance_id, pid, "QEMU alive but QMP silent; restarting it");
            Self::stop_process(spec, pid, "launch").await?;
        }
        self.start(spec).await
    }

    async fn require_qmp(spec: &VmSpec, op: &'static str) -> VirtResult<(u32, Qmp)> {
        let pid =
            Self::live_pid(spec).ok_or_else(|| VirtError::NotRunning(spec.instance_id.clone()))?;
        Ok((pid, Self::qmp(spec, op).await?))
    }

    /// Adds the block node of a hot-plugged disk: a file image, or an iSCSI LUN
    /// behind its CHAP secret object. Both steps accept what an attach that died
    /// half way left behind.
    async fn add_disk_node(qmp: &mut Qmp, disk: &DiskSpec, node: &str) -> VirtResult<()> {
        let args = match &disk.iscsi {
            Some(i) => {
                let sid = secret_id(&disk.id);
                Self::add_chap_secret(qmp, &sid, &i.password).await?;
                iscsi_blockdev(node, i, &sid, disk.read_only)
            }
            None => file_blockdev(node, disk),
        };
        let add = qmp.execute::<_, Value>("blockdev-add", Some(&args)).await;
        if let Err(e) = add {
            // Left over from an attach that died between the two steps.
            if !matches!(&e, QmpError::Command { desc, .. } if desc.contains("Duplicate")) {
                return Err(failed("attach_disk", e));
            }
        }
        Ok(())
    }

    /// The secret object `id` holding an iSCSI disk's CHAP password.
    async fn add_chap_secret(qmp: &mut Qmp, id: &str, password: &str) -> VirtResult<()> {
        let secret = qmp
            .execute::<_, Value>(
                "object-add",
                Some(&serde_json::json!({
                    "qom-type": "secret",
                    "id": id,
                    "format": "raw",
                    "data": password,
                })),
            )
            .await;
        if let Err(e) = secret {
            // Left over from an attach that died half way: same secret id.
            if !e.to_string().contains("uplicate") {
                return Err(failed("attach_disk", e));
            }
        }
        Ok(())
    }

    /// Asks the guest to release device `dev` and waits until it has: its
    /// `DEVICE_DELETED` event, or the device gone from the tree (the event may
    /// have gone to another connection). With `resend`, the request is repeated
    /// that often: a guest still booting when asked (no ACPI hotplug handler
    /// yet) never answers it, so Nova's libvirt driver asks again.
    async fn unplug_device(
        qmp: &mut Qmp,
        dev: &str,
        op: &'static str,
        timeout: Duration,
        resend: Option<Duration>,
    ) -> VirtResult<()> {
        match qmp
            .execute::<_, Value>("device_del", Some(&IdArgs { id: dev }))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(failed(op, e)),
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut resend_at = resend.map(|every| tokio::time::Instant::now() + every);
        loop {
            if qmp
                .wait_device_event("DEVICE_DELETED", dev, Duration::from_millis(250))
                .await
                || !Self::device_present(qmp, dev, op).await?
            {
                return Ok(());
            }
            if let (Some(every), Some(at)) = (resend, resend_at)
                && tokio::time::Instant::now() >= at
            {
                resend_at = Some(tokio::time::Instant::now() + every);
                if let Err(e) = qmp
                    .execute::<_, Value>("device_del", Some(&IdArgs { id: dev }))
                    .await
                {
                    tracing::debug!(device = %dev, error = %e, "unplug request repeated");
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(failed(
                    op,
                    format!("the guest did not release {dev} within {timeout:?}"),
                ));
            }
        }
    }

    /// Removes a hot-plugged disk's block node (a boot-time `-drive` went with
    /// its device) and an iSCSI disk's CHAP secret object (file disks have none).
    async fn remove_disk_node(qmp: &mut Qmp, disk_id: &str) -> VirtResult<()> {
        match qmp
            .execute::<_, Value>(
                "blockdev-del",
                Some(&serde_json::json!({ "node-name": node_name(disk_id) })),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) || e.to_string().contains("Failed to find") => {}
            Err(e) => return Err(failed("detach_disk", e)),
        }
        if let Err(e) = qmp
            .execute::<_, Value>(
                "object-del",
                Some(&IdArgs {
                    id: &secret_id(disk_id),
                }),
            )
            .await
        {
            tracing::debug!(disk = disk_id, error = %e, "no secret object to remove");
        }
        Ok(())
    }
}

/// Writes the CHAP secret of each iSCSI disk where the command line's secret
/// objects read it (owner-only); returns the files to remove once QEMU runs.
fn write_secrets(spec: &VmSpec) -> VirtResult<Vec<PathBuf>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut out = Vec::new();
    for d in &spec.disks {
        if let (DiskKind::Disk, Some(i)) = (d.kind, &d.iscsi) {
            let p = secret_file(spec, &d.id);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&p)?;
            f.write_all(i.password.as_bytes())?;
            out.push(p);
        }
    }
    Ok(out)
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

fn is_not_found(e: &QmpError) -> bool {
    matches!(e, QmpError::Command { class, desc } if class == "DeviceNotFound" || desc.contains("not found"))
}

#[async_trait]
impl Hypervisor for QemuDriver {
    fn kind(&self) -> HypervisorKind {
        HypervisorKind::Qemu
    }

    fn version(&self) -> Option<u64> {
        *self
            .version
            .get_or_init(|| process::binary_version(&self.binary))
    }

    async fn launch(&self, spec: &VmSpec) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        self.do_launch(spec).await
    }

    async fn power_state(&self, spec: &VmSpec) -> VirtResult<PowerState> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        if Self::live_pid(spec).is_none() {
            return Ok(if RunFiles::of(spec).state.is_file() {
                PowerState::Suspended
            } else {
                PowerState::NoState
            });
        }
        let mut qmp = Self::qmp(spec, "power_state").await?;
        let st = Self::status(&mut qmp, "power_state").await?;
        Ok(power_state_of(&st.status))
    }

    async fn shutdown(&self, spec: &VmSpec, grace: Duration) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let Some(pid) = Self::live_pid(spec) else {
            return Self::clean_run_files(spec);
        };
        if let Ok(mut qmp) = Self::qmp(spec, "shutdown").await
            && let Err(e) = qmp.run("system_powerdown").await
        {
            tracing::warn!(instance = %spec.instance_id, error = %e, "system_powerdown failed");
        }
        if process::wait_exit(pid, grace).await {
            tracing::info!(instance = %spec.instance_id, "guest powered off");
            return Self::clean_run_files(spec);
        }
        tracing::info!(instance = %spec.instance_id, ?grace, "guest ignored the power button; stopping QEMU");
        Self::stop_process(spec, pid, "shutdown").await
    }

    async fn destroy(&self, spec: &VmSpec) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        if let Some(pid) = Self::live_pid(spec) {
            Self::stop_process(spec, pid, "destroy").await?;
        }
        let f = RunFiles::of(spec);
        Self::clean_run_files(spec)?;
        process::remove_if_present(&f.state)?;
        process::remove_if_present(&f.state_tmp)?;
        super::sockpath::release(&spec.run_dir)?;
        Ok(())
    }

    async fn reboot(&self, spec: &VmSpec, hard: bool) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let Some(pid) = Self::live_pid(spec) else {
            return self.do_launch(spec).await;
        };
        let mut qmp = Self::qmp(spec, "reboot").await?;
        if !hard {
            qmp.run("system_powerdown")
                .await
                .map_err(|e| failed("reboot", e))?;
            drop(qmp);
            if process::wait_exit(pid, self.cfg.soft_reboot_grace).await {
                Self::clean_run_files(spec)?;
                return self.start(spec).await;
            }
            tracing::info!(instance = %spec.instance_id, "guest ignored the power button; resetting");
            qmp = Self::qmp(spec, "reboot").await?;
        }
        qmp.run("system_reset")
            .await
            .map_err(|e| failed("reboot", e))?;
        let st = Self::status(&mut qmp, "reboot").await?;
        if !st.running {
            qmp.run("cont").await.map_err(|e| failed("reboot", e))?;
        }
        Ok(())
    }

    async fn pause(&self, spec: &VmSpec) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let (_, mut qmp) = Self::require_qmp(spec, "pause").await?;
        qmp.run("stop").await.map_err(|e| failed("pause", e))
    }

    async fn unpause(&self, spec: &VmSpec) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let (_, mut qmp) = Self::require_qmp(spec, "unpause").await?;
        qmp.run("cont").await.map_err(|e| failed("unpause", e))
    }

    async fn suspend(&self, spec: &VmSpec) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let f = RunFiles::of(spec);
        let Some(pid) = Self::live_pid(spec) else {
            return if f.state.is_file() {
                Ok(())
            } else {
                Err(VirtError::NotRunning(spec.instance_id.clone()))
            };
        };
        let mut qmp = Self::qmp(spec, "suspend").await?;
        let v: VersionInfo = qmp
            .execute("query-version", None::<&NoArgs>)
            .await
            .map_err(|e| failed("suspend", e))?;
        if (v.qemu.major, v.qemu.minor) < (8, 2) {
            return Err(failed(
                "suspend",
                format!(
                    "QEMU {}.{}.{} cannot save to a file (needs 8.2 or later)",
                    v.qemu.major, v.qemu.minor, v.qemu.micro
                ),
            ));
        }
        process::remove_if_present(&f.state_tmp)?;
        qmp.run("stop").await.map_err(|e| failed("suspend", e))?;
        let uri = format!("file:{}", f.state_tmp.display());
        let saved = match qmp
            .execute::<_, Value>("migrate", Some(&MigrateArgs { uri: &uri }))
            .await
        {
            Ok(_) => Self::wait_migration(&mut qmp).await,
            Err(e) => Err(failed("suspend", e)),
        };
        if let Err(e) = saved {
            onestack_common::fsutil::discard(&f.state_tmp);
            qmp.run("cont")
                .await
                .or_warn(&spec.instance_id, "resuming the guest after a failed save");
            return Err(e);
        }
        // The state is complete only once renamed: a crash before leaves no file
        // `launch` would try to resume from.
        std::fs::rename(&f.state_tmp, &f.state)?;
        drop(qmp);
        Self::stop_process(spec, pid, "suspend").await?;
        tracing::info!(instance = %spec.instance_id, "guest saved to disk");
        Ok(())
    }

    async fn attach_nic(&self, spec: &VmSpec, nic: &NicSpec) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let (_, mut qmp) = Self::require_qmp(spec, "attach_nic").await?;
        let dev = qemu_id("nic", &nic.port_id);
        let netdev = qemu_id("net", &nic.port_id);
        if Self::device_present(&mut qmp, &dev, "attach_nic").await? {
            return Ok(());
        }
        let add = qmp
            .execute::<_, Value>(
                "netdev_add",
                Some(&NetdevTapArgs {
                    kind: "tap",
                    id: &netdev,
                    ifname: &nic.tap,
                    script: "no",
                    downscript: "no",
                    vhost: false,
                }),
            )
            .await;
        if let Err(e) = add {
            // Left over from an attach that died between the two steps.
            if !matches!(&e, QmpError::Command { desc, .. } if desc.contains("Duplicate")) {
                return Err(failed("attach_nic", e));
            }
        }
        let added = qmp
            .execute::<_, Value>(
                "device_add",
                Some(&NicDeviceArgs {
                    driver: "virtio-net-pci",
                    id: &dev,
                    netdev: &netdev,
                    mac: &nic.mac,
                }),
            )
            .await;
        if let Err(e) = added {
            qmp.execute::<_, Value>("netdev_del", Some(&IdArgs { id: &netdev }))
                .await
                .or_warn(
                    &spec.instance_id,
                    "removing the netdev of a failed NIC plug",
                );
            return Err(failed("attach_nic", e));
        }
        Ok(())
    }

    async fn detach_nic(&self, spec: &VmSpec, port_id: &str) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let (_, mut qmp) = Self::require_qmp(spec, "detach_nic").await?;
        let dev = qemu_id("nic", port_id);
        let netdev = qemu_id("net", port_id);
        if Self::device_present(&mut qmp, &dev, "detach_nic").await? {
            let timeout = self.cfg.detach_timeout;
            Self::unplug_device(&mut qmp, &dev, "detach_nic", timeout, None).await?;
        }
        match qmp
            .execute::<_, Value>("netdev_del", Some(&IdArgs { id: &netdev }))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(failed("detach_nic", e)),
        }
    }

    async fn attach_disk(&self, spec: &VmSpec, disk: &DiskSpec) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let (_, mut qmp) = Self::require_qmp(spec, "attach_disk").await?;
        let dev = qemu_id("disk", &disk.id);
        if Self::device_present(&mut qmp, &dev, "attach_disk").await? {
            return Ok(());
        }
        let node = node_name(&disk.id);
        Self::add_disk_node(&mut qmp, disk, &node).await?;
        let added = qmp
            .execute::<_, Value>(
                "device_add",
                Some(&serde_json::json!({
                    "driver": "virtio-blk-pci",
                    "id": dev,
                    "drive": node,
                })),
            )
            .await;
        if let Err(e) = added {
            qmp.execute::<_, Value>(
                "blockdev-del",
                Some(&serde_json::json!({ "node-name": node })),
            )
            .await
            .or_warn(
                &spec.instance_id,
                "removing the block node of a failed disk plug",
            );
            return Err(failed("attach_disk", e));
        }
        Ok(())
    }

    async fn resize_disk(&self, spec: &VmSpec, disk_id: &str, bytes: u64) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let (_, mut qmp) = Self::require_qmp(spec, "resize_disk").await?;
        // A hot-plugged volume is a named node; one the guest was started with
        // is the `-drive` backend.
        let by_node = qmp
            .execute::<_, Value>(
                "block_resize",
                Some(&serde_json::json!({ "node-name": node_name(disk_id), "size": bytes })),
            )
            .await;
        if by_node.is_ok() {
            return Ok(());
        }
        qmp.execute::<_, Value>(
            "block_resize",
            Some(&serde_json::json!({ "device": qemu_id("drive", disk_id), "size": bytes })),
        )
        .await
        .map(drop)
        .map_err(|e| failed("resize_disk", e))
    }

    async fn detach_disk(&self, spec: &VmSpec, disk_id: &str) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let (_, mut qmp) = Self::require_qmp(spec, "detach_disk").await?;
        let dev = qemu_id("disk", disk_id);
        if Self::device_present(&mut qmp, &dev, "detach_disk").await? {
            let (timeout, resend) = (VOLUME_DETACH_TIMEOUT, Some(DETACH_RESEND));
            Self::unplug_device(&mut qmp, &dev, "detach_disk", timeout, resend).await?;
        }
        Self::remove_disk_node(&mut qmp, disk_id).await
    }

    async fn snapshot_disk(&self, spec: &VmSpec, disk_id: &str, overlay: &Path) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let (_, mut qmp) = Self::require_qmp(spec, "snapshot_disk").await?;
        let top = blockjob::top_node(&mut qmp, disk_id).await?;
        let node = blockjob::overlay_node(overlay);
        qmp.execute::<_, Value>(
            "blockdev-snapshot-sync",
            Some(&serde_json::json!({
                "node-name": top,
                "snapshot-file": overlay,
                "snapshot-node-name": node,
                "format": "qcow2",
                "mode": "existing",
            })),
        )
        .await
        .map(drop)
        .map_err(|e| failed("snapshot_disk", e))
    }

    async fn merge_disk(&self, spec: &VmSpec, disk_id: &str, merge: &DiskMerge) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let (_, mut qmp) = Self::require_qmp(spec, "merge_disk").await?;
        let top = blockjob::top_node(&mut qmp, disk_id).await?;
        let job = format!("merge-{}", node_name(disk_id));
        let args = match merge {
            DiskMerge::Commit {
                top: t,
                base,
                active,
            } => {
                let base_node = blockjob::node_of_file(&mut qmp, base).await?;
                let mut a = serde_json::json!({
                    "job-id": job,
                    "device": top,
                    "base-node": base_node,
                    "auto-dismiss": false,
                });
                if !active {
                    a["top-node"] = blockjob::node_of_file(&mut qmp, t).await?.into();
                }
                ("block-commit", a)
            }
            DiskMerge::Stream { base } => {
                let base_node = blockjob::node_of_file(&mut qmp, base).await?;
                (
                    "block-stream",
                    serde_json::json!({
                        "job-id": job,
                        "device": top,
                        "base-node": base_node,
                        "auto-dismiss": false,
                    }),
                )
            }
        };
        qmp.execute::<_, Value>(args.0, Some(&args.1))
            .await
            .map_err(|e| failed("merge_disk", e))?;
        blockjob::wait(&mut qmp, &job).await
    }

    async fn pid(&self, spec: &VmSpec) -> Option<u32> {
        Self::live_pid(spec)
    }

    fn serial_socket(&self, spec: &VmSpec) -> Option<PathBuf> {
        Some(spec.serial_socket())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DiskSpec, NicSpec};

    fn spec() -> VmSpec {
        VmSpec {
            instance_id: "6f0c4b3e-0000-4000-8000-000000000001".into(),
            name: "instance-00000001".into(),
            vcpus: 2,
            memory_mb: 256,
            disks: vec![
                DiskSpec {
                    id: "config".into(),
                    path: "/r/config.iso".into(),
                    format: DiskFormat::Raw,
                    kind: DiskKind::Cdrom,
                    read_only: true,
                    iscsi: None,
                },
                DiskSpec {
                    id: "root".into(),
                    path: "/r/a,b.qcow2".into(),
                    format: DiskFormat::Qcow2,
                    kind: DiskKind::Disk,
                    read_only: false,
                    iscsi: None,
                },
            ],
            nics: vec![NicSpec {
                port_id: "p1".into(),
                tap: "tapp1".into(),
                mac: "fa:16:3e:00:00:01".into(),
            }],
            boot: BootSource::Kernel {
                kernel: "/k/vmlinux".into(),
                initrd: Some("/k/initrd".into()),
                cmdline: "console=ttyS0".into(),
            },
            run_dir: "/run/x".into(),
            netns: None,
        }
    }

    #[test]
    fn command_line_has_every_part() {
        let args = command_line(
            &spec(),
            Accel::Tcg,
            Some(Path::new("/q/qboot.rom")),
            Some(Path::new("/run/x/suspend.state")),
        );
        let line = args.join(" ");
        for want in [
            "-name guest=instance-00000001",
            "-uuid 6f0c4b3e-0000-4000-8000-000000000001",
            "-machine pc -accel tcg,tb-size=64 -cpu max",
            "-m 256 -smp 2",
            "-nodefaults -no-user-config -display none -daemonize -pidfile /run/x/qemu.pid",
            "-qmp unix:/run/x/qmp.sock,server=on,wait=off",
            "socket,id=serial0,path=/run/x/serial.sock,server=on,wait=off,logfile=/run/x/console.log,logappend=on",
            "if=none,id=drive-root,file=/r/a,,b.qcow2,format=qcow2,readonly=off",
            "virtio-blk-pci,drive=drive-root,id=disk-root ",
            "media=cdrom,readonly=on",
            "ide-cd,drive=drive-config,id=disk-config",
            "tap,id=net-p1,ifname=tapp1,script=no,downscript=no,vhost=off",
            "virtio-net-pci,netdev=net-p1,mac=fa:16:3e:00:00:01,id=nic-p1",
            "-bios /q/qboot.rom -kernel /k/vmlinux -initrd /k/initrd -append console=ttyS0",
            "-incoming file:/run/x/suspend.state",
        ] {
            assert!(line.contains(want), "missing `{want}` in {line}");
        }
        assert!(!line.contains("-no-reboot"));
        // The kernel boots through QEMU's linuxboot ROM, which holds boot index 0:
        // a root disk claiming it too stops QEMU ("bootindex 0 has already been used").
        assert!(!line.contains("bootindex"), "{line}");
        let mut firmware = spec();
        firmware.boot = BootSource::Firmware;
        let line = command_line(&firmware, Accel::Tcg, None, None).join(" ");
        assert!(
            line.contains("virtio-blk-pci,drive=drive-root,id=disk-root,bootindex=0"),
            "{line}"
        );
        assert!(!line.contains("-kernel"));
        let kvm = command_line(&spec(), Accel::Kvm, None, None).join(" ");
        assert!(kvm.contains("-accel kvm -cpu host"));
        assert!(!kvm.contains("-bios") && !kvm.contains("-incoming"));
    }

    #[test]
    fn an_iscsi_disk_is_a_libiscsi_blockdev_with_its_secret_in_a_file() {
        let mut sp = spec();
        sp.disks.push(DiskSpec {
            id: "0b8f4c6e-1111-2222-3333-444455556666".into(),
            path: PathBuf::from("iscsi"),
            format: DiskFormat::Raw,
            kind: DiskKind::Disk,
            read_only: false,
            iscsi: Some(crate::IscsiDisk {
                portal: "127.0.0.1:3260".into(),
                target: "iqn.2010-10.org.openstack:os-c:volume-v".into(),
                lun: 1,
                user: "os-v".into(),
                password: "sup3rs3cr3tsup3r".into(),
            }),
        });
        let args = command_line(&sp, Accel::Tcg, None, None);
        let line = args.join(" ");
        assert!(
            !line.contains("sup3rs3cr3t"),
            "the secret is never on the command line"
        );
        let node = node_name("0b8f4c6e-1111-2222-3333-444455556666");
        assert!(
            line.contains(&format!(
                "-object secret,id=sec{node},format=raw,file=/run/x/{node}.secret"
            )),
            "{line}"
        );
        let i = args
            .iter()
            .position(|a| a == "-blockdev")
            .expect("blockdev");
        let v: Value = serde_json::from_str(&args[i + 1]).expect("JSON blockdev");
        assert_eq!(v["driver"], "raw");
        assert_eq!(v["node-name"], node.as_str());
        assert_eq!(v["file"]["driver"], "iscsi");
        assert_eq!(v["file"]["portal"], "127.0.0.1:3260");
        assert_eq!(
            v["file"]["target"],
            "iqn.2010-10.org.openstack:os-c:volume-v"
        );
        assert_eq!(v["file"]["lun"], 1);
        assert_eq!(v["file"]["user"], "os-v");
        assert_eq!(v["file"]["password-secret"], format!("sec{node}"));
        assert_eq!(args[i + 2], "-device");
        assert!(args[i + 3].starts_with(&format!("virtio-blk-pci,drive={node},id=disk-")));
        assert!(
            !format!("{:?}", sp).contains("sup3rs3cr3t"),
            "Debug redacts it"
        );
    }

    #[test]
    fn run_states_map_to_power_states() {
        assert_eq!(power_state_of("running"), PowerState::Running);
        assert_eq!(power_state_of("paused"), PowerState::Paused);
        assert_eq!(power_state_of("inmigrate"), PowerState::Paused);
        assert_eq!(power_state_of("postmigrate"), PowerState::Paused);
        assert_eq!(power_state_of("shutdown"), PowerState::Shutdown);
        assert_eq!(power_state_of("guest-panicked"), PowerState::Crashed);
        assert_eq!(power_state_of("internal-error"), PowerState::Crashed);
    }

    #[test]
    fn ids_are_sanitised() {
        assert_eq!(qemu_id("nic", "a b/c"), "nic-a_b_c");
    }
}

/// Block jobs on a disk's chain of files (assisted volume snapshots).
mod blockjob {
    use super::*;

    /// How long a commit or stream of a volume's overlay may take.
    const JOB_TIMEOUT: Duration = Duration::from_secs(600);

    /// The node name QEMU knows an overlay by: short (QEMU allows 31
    /// characters) and fixed by the file's name, so a restart names it again.
    pub(super) fn overlay_node(overlay: &Path) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        overlay.hash(&mut h);
        format!("ovl{:016x}", h.finish())
    }

    /// Every named format node: (node name, file name).
    async fn nodes(qmp: &mut Qmp) -> VirtResult<Vec<(String, String, String)>> {
        let list: Vec<Value> = qmp
            .execute(
                "query-named-block-nodes",
                Some(&serde_json::json!({"flat": true})),
            )
            .await
            .map_err(|e| failed("query-named-block-nodes", e))?;
        Ok(list
            .iter()
            .filter_map(|n| {
                Some((
                    n.get("node-name")?.as_str()?.to_owned(),
                    n.get("file")?.as_str()?.to_owned(),
                    n.get("drv")?.as_str()?.to_owned(),
                ))
            })
            .collect())
    }

    /// The format node over file `path` (not its protocol node).
    pub(super) async fn node_of_file(qmp: &mut Qmp, path: &Path) -> VirtResult<String> {
        let want = path.to_string_lossy();
        nodes(qmp)
            .await?
            .into_iter()
            .find(|(_, f, drv)| *f == want && drv != "file")
            .map(|(n, _, _)| n)
            .ok_or_else(|| failed("merge_disk", format!("no block node holds {want}")))
    }

    /// The node the guest's device `disk_id` writes to now.
    pub(super) async fn top_node(qmp: &mut Qmp, disk_id: &str) -> VirtResult<String> {
        let dev = qemu_id("disk", disk_id);
        let blocks: Vec<Value> = qmp
            .execute("query-block", None::<&NoArgs>)
            .await
            .map_err(|e| failed("query-block", e))?;
        blocks
            .iter()
            .find(|b| {
                b.get("qdev").and_then(Value::as_str).is_some_and(|q| {
                    q == dev || q.ends_with(&format!("/{dev}")) || q.contains(&format!("/{dev}/"))
                }) || b.get("device").and_then(Value::as_str) == Some(&qemu_id("drive", disk_id))
            })
            .and_then(|b| {
                b.get("inserted")?
                    .get("node-name")?
                    .as_str()
                    .map(str::to_owned)
            })
            .ok_or_else(|| failed("merge_disk", format!("the guest has no disk {disk_id}")))
    }

    /// Waits for block job `job` (started with `auto-dismiss: false`): a commit
    /// of the active layer is completed (the guest pivots) once ready; the job
    /// is dismissed and its error, if any, returned.
    pub(super) async fn wait(qmp: &mut Qmp, job: &str) -> VirtResult<()> {
        let deadline = tokio::time::Instant::now() + JOB_TIMEOUT;
        let mut completing = false;
        loop {
            let jobs: Vec<Value> = qmp
                .execute("query-jobs", None::<&NoArgs>)
                .await
                .map_err(|e| failed("query-jobs", e))?;
            let Some(j) = jobs
                .iter()
                .find(|j| j.get("id").and_then(Value::as_str) == Some(job))
            else {
                return Err(failed("merge_disk", format!("block job {job} vanished")));
            };
            match j.get("status").and_then(Value::as_str).unwrap_or_default() {
                "ready" if !completing => {
                    completing = true;
                    qmp.execute::<_, Value>("job-complete", Some(&IdArgs { id: job }))
                        .await
                        .map_err(|e| failed("job-complete", e))?;
                }
                "concluded" => {
                    let error = j.get("error").and_then(Value::as_str).map(str::to_owned);
                    qmp.execute::<_, Value>("job-dismiss", Some(&IdArgs { id: job }))
                        .await
                        .map_err(|e| failed("job-dismiss", e))?;
                    return match error {
                        None => Ok(()),
                        Some(e) => Err(failed("merge_disk", e)),
                    };
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(failed(
                    "merge_disk",
                    format!("block job {job} did not finish within {JOB_TIMEOUT:?}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
