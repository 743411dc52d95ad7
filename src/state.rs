//! The state directory: where it is, and the small files that describe a running
//! or last-run cloud to the CLI (`status`, `openrc`, `clouds-yaml`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;

pub(crate) const DB_FILE: &str = "state.db";
pub(crate) const FERNET_DIR: &str = "fernet-keys";
pub(crate) const CLOUD_FILE: &str = "cloud.json";
pub(crate) const RUNTIME_FILE: &str = "runtime.json";
pub(crate) const LOCK_FILE: &str = "onestack.lock";
pub(crate) const COMPUTE_STATUS_FILE: &str = "compute-status.json";

/// `/var/lib/onestack` for root (an installed cloud), else the user's data directory.
pub(crate) fn default_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/var/lib/onestack");
    }
    match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("onestack"),
        _ => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".local/share/onestack"),
    }
}

pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Where clients reach the cloud; recorded by `up` for the credential commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CloudInfo {
    pub auth_url: String,
    pub region: String,
    pub public_url: String,
    /// Where the dataplane lives, so `down --purge-network` can remove it.
    #[serde(default)]
    pub network: Option<crate::profile::NetworkSection>,
}

impl CloudInfo {
    /// Where clients reach the cloud a profile describes.
    pub(crate) fn of(profile: &crate::profile::Profile) -> CloudInfo {
        let public_url = profile.public_url();
        CloudInfo {
            auth_url: format!("{public_url}/identity"),
            region: profile.cloud.region.clone(),
            public_url,
            network: Some(profile.network.clone()),
        }
    }
}

/// The running process, recorded by `up` and removed on a clean stop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RuntimeInfo {
    pub pid: u32,
    pub listen: String,
    pub started_at: String,
    pub services: Vec<String>,
}

/// The compute driver `up` chose and what its start-up instance restore did,
/// rewritten on every start so `status` never shows a previous run's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ComputeStatus {
    /// Nova's hypervisor_type (`QEMU`, `cloud-hypervisor`).
    pub hypervisor: String,
    /// Why this driver was chosen, or why none can run instances.
    pub reason: String,
    pub started_at: String,
    /// None until the restore of this start has finished.
    #[serde(default)]
    pub recovery: Option<crate::compute::recover::RecoveryReport>,
    #[serde(default)]
    pub recovered_at: Option<String>,
}

pub(crate) fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> anyhow::Result<()> {
    write_atomic(&dir.join(name), &serde_json::to_vec_pretty(value)?, 0o600)
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(
    dir: &Path,
    name: &str,
) -> anyhow::Result<Option<T>> {
    match std::fs::read(dir.join(name)) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether a recorded pid still names a live process. A zombie (exited, not yet
/// reaped by its parent) is not alive: it serves nothing and holds no lock.
pub(crate) fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z"),
        Err(_) => false,
    }
}
