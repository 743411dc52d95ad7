//! The cloud-hypervisor driver: one `cloud-hypervisor` process per instance in its
//! own session, driven only through its REST API (HTTP/1.1 over the instance's Unix
//! socket, typed after the project's OpenAPI description).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::detect::VirtConfig;
use super::process;
use super::{
    BootSource, DiskFormat, Hypervisor, HypervisorKind, NicSpec, PowerState, VirtError, VirtResult,
    VmSpec,
};
use onestack_common::logged::OrLog;

const API_TIMEOUT: Duration = Duration::from_secs(30);

// ---- API types (cloud-hypervisor.yaml, components/schemas) ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmConfig {
    pub cpus: CpusConfig,
    pub memory: MemoryConfig,
    pub payload: PayloadConfig,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<DiskConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub net: Vec<NetConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<ConsoleConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpusConfig {
    pub boot_vcpus: u32,
    pub max_vcpus: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryConfig {
    /// Bytes.
    pub size: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PayloadConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initramfs: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskConfig {
    pub path: String,
    #[serde(default)]
    pub readonly: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tap: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsoleConfig {
    /// Off, Pty, Tty, File, Socket, Null.
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VmState {
    Created,
    Running,
    Shutdown,
    Paused,
    BreakPoint,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VmInfo {
    pub state: VmState,
    /// Kept loose: newer releases add fields we do not read.
    pub config: serde_json::Value,
    pub memory_actual_size: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VmmPingResponse {
    pub version: String,
    pub build_version: Option<String>,
    pub pid: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VmRemoveDevice {
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VmResize {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_vcpus: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_ram: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VmSnapshotConfig {
    pub destination_url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreConfig {
    pub source_url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PciDeviceInfo {
    pub id: String,
    pub bdf: String,
}

/// `GET vm.counters`: device -> counter -> value. The VMM keeps its counters as
/// unsigned 64-bit (`Wrapping<u64>`); a latency minimum with no sample yet is
/// `u64::MAX`.
pub type VmCounters = HashMap<String, HashMap<String, u64>>;

/// Nova's view of a cloud-hypervisor VM state.
pub fn power_state_of(state: VmState) -> PowerState {
    match state {
        VmState::Running => PowerState::Running,
        VmState::Paused | VmState::BreakPoint => PowerState::Paused,
        // Created = defined but never booted: the guest is off.
        VmState::Created | VmState::Shutdown => PowerState::Shutdown,
    }
}

// ---- the client ----

/// A thin typed client for one VMM's API socket.
#[derive(Debug, Clone)]
pub struct ChClient {
    socket: PathBuf,
}

impl ChClient {
    pub fn new(socket: impl Into<PathBuf>) -> ChClient {
        ChClient {
            socket: socket.into(),
        }
    }

    /// One request; Ok(None) for 404 (the VM does not exist), Failed with the
    /// body text for any other non-2xx answer.
    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        op: &'static str,
        method: Method,
        endpoint: &str,
        body: Option<&B>,
    ) -> VirtResult<Option<R>> {
        let (status, bytes) = tokio::time::timeout(API_TIMEOUT, self.raw(method, endpoint, body))
            .await
            .map_err(|_| failed(op, format!("{endpoint}: no answer within {API_TIMEOUT:?}")))??;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            return Err(failed(op, format!("{endpoint} answered {status}: {text}")));
        }
        // 204 and empty 200s decode as `()` / unit-like types through `null`.
        let json: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(json)
            .map(Some)
            .map_err(|e| failed(op, format!("{endpoint}: bad answer: {e}")))
    }

    async fn raw<B: Serialize>(
        &self,
        method: Method,
        endpoint: &str,
        body: Option<&B>,
    ) -> VirtResult<(StatusCode, Bytes)> {
        let op = "api";
        let stream = tokio::net::UnixStream::connect(&self.socket).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(op, e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "cloud-hypervisor API connection ended");
            }
        });
        let payload = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| failed(op, e))?,
            None => Vec::new(),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://localhost/api/v1/{endpoint}"))
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::ACCEPT, "application/json");
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| failed(op, e))?;
        let resp = sender.send_request(req).await.map_err(|e| failed(op, e))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| failed(op, e))?
            .to_bytes();
        Ok((status, bytes))
    }

    /// A PUT whose answer we do not read; 404 is an error here.
    pub async fn put<B: Serialize>(
        &self,
        op: &'static str,
        endpoint: &str,
        body: Option<&B>,
    ) -> VirtResult<()> {
        match self
            .call::<B, serde_json::Value>(op, Method::PUT, endpoint, body)
            .await?
        {
            Some(_) => Ok(()),
            None => Err(failed(op, format!("{endpoint} answered 404 Not Found"))),
        }
    }

    pub async fn put_empty(&self, op: &'static str, endpoint: &str) -> VirtResult<()> {
        self.put::<()>(op, endpoint, None).await
    }

    pub async fn ping(&self) -> VirtResult<VmmPingResponse> {
        self.call::<(), _>("ping", Method::GET, "vmm.ping", None)
            .await?
            .ok_or_else(|| failed("ping", "vmm.ping answered 404"))
    }

    /// None when no VM has been created in this VMM.
    pub async fn info(&self) -> VirtResult<Option<VmInfo>> {
        self.call::<(), _>("info", Method::GET, "vm.info", None)
            .await
    }

    pub async fn counters(&self) -> VirtResult<VmCounters> {
        Ok(self
            .call::<(), _>("counters", Method::GET, "vm.counters", None)
            .await?
            .unwrap_or_default())
    }

    pub async fn create(&self, config: &VmConfig) -> VirtResult<()> {
        self.put("launch", "vm.create", Some(config)).await
    }

    pub async fn add_disk(&self, disk: &DiskConfig) -> VirtResult<()> {
        self.put("add_disk", "vm.add-disk", Some(disk)).await
    }

    pub async fn add_net(&self, net: &NetConfig) -> VirtResult<()> {
        self.put("attach_nic", "vm.add-net", Some(net)).await
    }

    pub async fn remove_device(&self, id: &str) -> VirtResult<()> {
        let body = VmRemoveDevice { id: id.to_string() };
        self.put("detach_nic", "vm.remove-device", Some(&body))
            .await
    }

    /// Deletes the VM, keeping the VMM process.
    pub async fn delete(&self) -> VirtResult<()> {
        self.put_empty("delete", "vm.delete").await
    }

    pub async fn resize(&self, resize: &VmResize) -> VirtResult<()> {
        self.put("resize", "vm.resize", Some(resize)).await
    }
}

fn failed(op: &'static str, e: impl std::fmt::Display) -> VirtError {
    VirtError::Failed {
        op,
        message: e.to_string(),
    }
}

/// The `vm.create` body for `spec`.
pub fn vm_config(spec: &VmSpec, firmware: Option<&Path>) -> VirtResult<VmConfig> {
    Ok(VmConfig {
        cpus: CpusConfig {
            boot_vcpus: spec.vcpus.max(1),
            max_vcpus: spec.vcpus.max(1),
        },
        memory: MemoryConfig {
            size: spec.memory_mb * 1024 * 1024,
        },
        payload: payload_config(&spec.boot, firmware)?,
        disks: spec.disks.iter().map(disk_config).collect(),
        net: spec.nics.iter().map(net_config).collect(),
        serial: Some(ConsoleConfig {
            mode: "File".into(),
            file: Some(spec.console_log().display().to_string()),
        }),
        console: Some(ConsoleConfig {
            mode: "Off".into(),
            file: None,
        }),
    })
}

/// What the VM boots: a direct kernel, or the firmware found on this host
/// (a firmware boot without one is unavailable, not a failure).
fn payload_config(boot: &BootSource, firmware: Option<&Path>) -> VirtResult<PayloadConfig> {
    Ok(match boot {
        BootSource::Kernel {
            kernel,
            initrd,
            cmdline,
        } => PayloadConfig {
            kernel: Some(kernel.display().to_string()),
            initramfs: initrd.as_ref().map(|p| p.display().to_string()),
            cmdline: Some(cmdline.clone()),
            firmware: None,
        },
        BootSource::Firmware => PayloadConfig {
            firmware: Some(
                firmware
                    .ok_or_else(|| {
                        VirtError::Unavailable(
                            "no cloud-hypervisor firmware (hypervisor-fw or CLOUDHV.fd) found"
                                .into(),
                        )
                    })?
                    .display()
                    .to_string(),
            ),
            ..PayloadConfig::default()
        },
    })
}

/// One disk; a CD-ROM is always read-only.
fn disk_config(d: &super::DiskSpec) -> DiskConfig {
    DiskConfig {
        path: d.path.display().to_string(),
        readonly: d.read_only || d.kind == super::DiskKind::Cdrom,
        id: Some(d.id.clone()),
        image_type: Some(
            match d.format {
                DiskFormat::Qcow2 => "Qcow2",
                DiskFormat::Raw => "Raw",
            }
            .into(),
        ),
    }
}

fn net_config(n: &NicSpec) -> NetConfig {
    NetConfig {
        tap: Some(n.tap.clone()),
        mac: Some(n.mac.clone()),
        id: Some(n.port_id.clone()),
    }
}

// ---- the driver ----

struct RunFiles {
    pid: PathBuf,
    sock: PathBuf,
    log: PathBuf,
    snapshot: PathBuf,
    snapshot_tmp: PathBuf,
}

impl RunFiles {
    fn of(spec: &VmSpec) -> RunFiles {
        let d = &spec.run_dir;
        RunFiles {
            pid: d.join("ch.pid"),
            sock: spec.socket("ch.sock"),
            log: d.join("vmm.log"),
            snapshot: d.join("suspend.snapshot"),
            snapshot_tmp: d.join("suspend.snapshot.tmp"),
        }
    }
}

pub struct CloudHypervisorDriver {
    binary: PathBuf,
    cfg: VirtConfig,
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// `--version` of the binary, asked once.
    version: std::sync::OnceLock<Option<u64>>,
}

impl CloudHypervisorDriver {
    pub fn new(binary: PathBuf, cfg: VirtConfig) -> CloudHypervisorDriver {
        CloudHypervisorDriver {
            binary,
            cfg,
            locks: std::sync::Mutex::new(HashMap::new()),
            version: std::sync::OnceLock::new(),
        }
    }

    fn lock_for(&self, spec: &VmSpec) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(spec.instance_id.clone()).or_default().clone()
    }

    fn client(spec: &VmSpec) -> ChClient {
        ChClient::new(RunFiles::of(spec).sock)
    }

    /// Our VMM's pid: alive and started with this instance's API socket.
    fn live_pid(spec: &VmSpec) -> Option<u32> {
        let f = RunFiles::of(spec);
        let pid = process::read_pid_file(&f.pid)?;
        process::cmdline_contains(pid, &f.sock.display().to_string()).then_some(pid)
    }

    fn require(spec: &VmSpec) -> VirtResult<ChClient> {
        Self::live_pid(spec)
            .map(|_| Self::client(spec))
            .ok_or_else(|| VirtError::NotRunning(spec.instance_id.clone()))
    }

    fn clean_run_files(spec: &VmSpec) -> VirtResult<()> {
        let f = RunFiles::of(spec);
        process::remove_if_present(&f.pid)?;
        process::remove_if_present(&f.sock)?;
        Ok(())
    }

    /// Starts a VMM for `spec` and waits until its API socket answers.
    async fn spawn_vmm(&self, spec: &VmSpec) -> VirtResult<u32> {
        let f = RunFiles::of(spec);
        std::fs::create_dir_all(&spec.run_dir)?;
        super::sockpath::prepare(&spec.run_dir)?;
        Self::clean_run_files(spec)?;
        let cmd = self.vmm_command(spec, &f)?;
        let pid = self.launch_vmm(cmd, &f)?;
        Self::await_vmm_api(spec, &f, pid).await?;
        Ok(pid)
    }

    /// The VMM command line: in the instance's network namespace if it has one,
    /// output to the VMM log, and in a session of its own.
    fn vmm_command(&self, spec: &VmSpec, f: &RunFiles) -> VirtResult<tokio::process::Command> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&f.log)?;
        let mut cmd = match &spec.netns {
            Some(ns) => {
                let mut c = tokio::process::Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.binary);
                c
            }
            None => tokio::process::Command::new(&self.binary),
        };
        cmd.arg("--api-socket")
            .arg(format!("path={}", f.sock.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(false);
        // SAFETY: setsid() is async-signal-safe; the VMM gets its own session so a
        // signal to onestack's process group or terminal does not reach it.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(cmd)
    }

    /// Spawns the VMM, records its pid file and reaps it in the background.
    fn launch_vmm(&self, mut cmd: tokio::process::Command, f: &RunFiles) -> VirtResult<u32> {
        let mut child = cmd
            .spawn()
            .map_err(|e| failed("launch", format!("{}: {e}", self.binary.display())))?;
        let pid = child
            .id()
            .ok_or_else(|| failed("launch", "cloud-hypervisor exited at once"))?;
        std::fs::write(&f.pid, format!("{pid}\n"))?;
        // Reap it when it exits while we live; after our death init does.
        tokio::spawn(async move {
            child
                .wait()
                .await
                .or_debug("cloud-hypervisor", "reaping the VMM");
        });
        Ok(pid)
    }

    /// Waits up to 10 s for the VMM's API to answer; a VMM that dies or stays
    /// silent is killed so no half-started process is left behind.
    async fn await_vmm_api(spec: &VmSpec, f: &RunFiles, pid: u32) -> VirtResult<()> {
        let client = Self::client(spec);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if client.ping().await.is_ok() {
                return Ok(());
            }
            if !process::alive(pid) || tokio::time::Instant::now() >= deadline {
                process::kill_and_wait(pid)
                    .await
                    .or_warn(&spec.instance_id, "killing a VMM that did not come up");
                return Err(failed(
                    "launch",
                    format!(
                        "cloud-hypervisor API did not come up (see {})",
                        f.log.display()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates and boots the VM in a fresh VMM, or restores it from a snapshot.
    pub async fn boot_vm(&self, client: &ChClient, spec: &VmSpec) -> VirtResult<()> {
        let f = RunFiles::of(spec);
        if f.snapshot.is_dir() {
            let restore = RestoreConfig {
                source_url: format!("file://{}", f.snapshot.display()),
            };
            client.put("launch", "vm.restore", Some(&restore)).await?;
            client.put_empty("launch", "vm.resume").await?;
            std::fs::remove_dir_all(&f.snapshot)?;
            return Ok(());
        }
        let config = vm_config(spec, self.cfg.ch_firmware_path().as_deref())?;
        client.create(&config).await?;
        client.put_empty("launch", "vm.boot").await
    }

    /// Stops the VMM: vmm.shutdown over the API, then SIGKILL by pid.
    async fn stop_vmm(spec: &VmSpec, pid: u32, op: &'static str) -> VirtResult<()> {
        // The reply may be lost as the VMM exits; the wait below decides.
        Self::client(spec)
            .put_empty(op, "vmm.shutdown")
            .await
            .or_debug(&spec.instance_id, "vmm.shutdown");
        if !process::wait_exit(pid, Duration::from_secs(5)).await {
            tracing::warn!(instance = %spec.instance_id, pid, "cloud-hypervisor ignored vmm.shutdown, killing it");
            process::kill_and_wait(pid)
                .await
                .map_err(|e| failed(op, e))?;
        }
        Self::clean_run_files(spec)
    }

    /// Waits up to `wait` for the guest to power off; true when it did (state
    /// Shutdown or the VMM gone).
    async fn wait_guest_off(client: &ChClient, pid: u32, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if !process::alive(pid) {
                return true;
            }
            if let Ok(Some(info)) = client.info().await
                && info.state == VmState::Shutdown
            {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn do_launch(&self, spec: &VmSpec) -> VirtResult<()> {
        if Self::live_pid(spec).is_some() {
            let client = Self::client(spec);
            if client.ping().await.is_ok() {
                return match client.info().await? {
                    Some(info) => {
                        tracing::info!(instance = %spec.instance_id, state = ?info.state, "adopting running cloud-hypervisor");
                        if info.state == VmState::Created {
                            client.put_empty("launch", "vm.boot").await?;
                        }
                        Ok(())
                    }
                    None => self.boot_vm(&client, spec).await,
                };
            }
            if let Some(pid) = Self::live_pid(spec) {
                tracing::warn!(instance = %spec.instance_id, pid, "VMM alive but its API is silent; restarting it");
                process::kill_and_wait(pid)
                    .await
                    .map_err(|e| failed("launch", e))?;
            }
        }
        let pid = self.spawn_vmm(spec).await?;
        if let Err(e) = self.boot_vm(&Self::client(spec), spec).await {
            Self::stop_vmm(spec, pid, "launch")
                .await
                .or_warn(&spec.instance_id, "stopping a VMM whose guest did not boot");
            return Err(e);
        }
        tracing::info!(instance = %spec.instance_id, pid, "cloud-hypervisor running");
        Ok(())
    }
}

#[async_trait]
impl Hypervisor for CloudHypervisorDriver {
    fn kind(&self) -> HypervisorKind {
        HypervisorKind::CloudHypervisor
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
        if Self::live_pid(spec).is_none() {
            return Ok(if RunFiles::of(spec).snapshot.is_dir() {
                PowerState::Suspended
            } else {
                PowerState::NoState
            });
        }
        Ok(match Self::client(spec).info().await? {
            Some(info) => power_state_of(info.state),
            None => PowerState::Shutdown,
        })
    }

    async fn shutdown(&self, spec: &VmSpec, grace: Duration) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let Some(pid) = Self::live_pid(spec) else {
            return Self::clean_run_files(spec);
        };
        let client = Self::client(spec);
        if let Err(e) = client.put_empty("shutdown", "vm.power-button").await {
            tracing::warn!(instance = %spec.instance_id, error = %e, "power button failed");
        }
        if !Self::wait_guest_off(&client, pid, grace).await {
            tracing::info!(instance = %spec.instance_id, ?grace, "guest ignored the power button");
        }
        if process::alive(pid) {
            client
                .put_empty("shutdown", "vm.shutdown")
                .await
                .or_debug(&spec.instance_id, "vm.shutdown before stopping the VMM");
        }
        Self::stop_vmm(spec, pid, "shutdown").await
    }

    async fn destroy(&self, spec: &VmSpec) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        if let Some(pid) = Self::live_pid(spec) {
            Self::stop_vmm(spec, pid, "destroy").await?;
        }
        Self::clean_run_files(spec)?;
        let f = RunFiles::of(spec);
        for dir in [&f.snapshot, &f.snapshot_tmp] {
            match std::fs::remove_dir_all(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        super::sockpath::release(&spec.run_dir)?;
        Ok(())
    }

    async fn reboot(&self, spec: &VmSpec, hard: bool) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let Some(pid) = Self::live_pid(spec) else {
            return self.do_launch(spec).await;
        };
        let client = Self::client(spec);
        if !hard {
            client.put_empty("reboot", "vm.power-button").await?;
            if Self::wait_guest_off(&client, pid, self.cfg.soft_reboot_grace).await {
                if !process::alive(pid) {
                    Self::clean_run_files(spec)?;
                    return self.do_launch(spec).await;
                }
                return client.put_empty("reboot", "vm.boot").await;
            }
            tracing::info!(instance = %spec.instance_id, "guest ignored the power button; resetting");
        }
        client.put_empty("reboot", "vm.reboot").await
    }

    async fn pause(&self, spec: &VmSpec) -> VirtResult<()> {
        Self::require(spec)?.put_empty("pause", "vm.pause").await
    }

    async fn unpause(&self, spec: &VmSpec) -> VirtResult<()> {
        Self::require(spec)?.put_empty("unpause", "vm.resume").await
    }

    async fn suspend(&self, spec: &VmSpec) -> VirtResult<()> {
        let lock = self.lock_for(spec);
        let _g = lock.lock().await;
        let f = RunFiles::of(spec);
        let Some(pid) = Self::live_pid(spec) else {
            return if f.snapshot.is_dir() {
                Ok(())
            } else {
                Err(VirtError::NotRunning(spec.instance_id.clone()))
            };
        };
        let client = Self::client(spec);
        if let Some(info) = client.info().await?
            && info.state != VmState::Paused
        {
            client.put_empty("suspend", "vm.pause").await?;
        }
        match std::fs::remove_dir_all(&f.snapshot_tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        std::fs::create_dir_all(&f.snapshot_tmp)?;
        let snap = VmSnapshotConfig {
            destination_url: format!("file://{}", f.snapshot_tmp.display()),
        };
        if let Err(e) = client.put("suspend", "vm.snapshot", Some(&snap)).await {
            onestack_common::fsutil::discard_dir(&f.snapshot_tmp);
            client.put_empty("suspend", "vm.resume").await.or_warn(
                &spec.instance_id,
                "resuming the guest after a failed snapshot",
            );
            return Err(e);
        }
        // Complete only once renamed; `launch` restores only a complete snapshot.
        std::fs::rename(&f.snapshot_tmp, &f.snapshot)?;
        Self::stop_vmm(spec, pid, "suspend").await
    }

    async fn attach_nic(&self, spec: &VmSpec, nic: &NicSpec) -> VirtResult<()> {
        Self::require(spec)?.add_net(&net_config(nic)).await
    }

    async fn detach_nic(&self, spec: &VmSpec, port_id: &str) -> VirtResult<()> {
        Self::require(spec)?.remove_device(port_id).await
    }

    async fn pid(&self, spec: &VmSpec) -> Option<u32> {
        Self::live_pid(spec)
    }
}

#[cfg(test)]
mod tests;
