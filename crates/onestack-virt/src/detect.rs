//! Host capability detection and driver selection: is KVM really usable, where are
//! the VMM binaries, and which driver (with which accelerator) serves this host.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Hypervisor;
use super::cloud_hypervisor::CloudHypervisorDriver;
use super::qemu::{Accel, QemuDriver};

/// The profile's `[compute] hypervisor`: one driver, or `auto` to let `select` pick
/// from what the host can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Choice {
    Auto,
    Qemu,
    CloudHypervisor,
}

/// Where the VMMs and their firmware live; every field falls back to a default.
#[derive(Debug, Clone)]
pub struct VirtConfig {
    /// `qemu-system-x86_64`; None = looked up on PATH.
    pub qemu_binary: Option<PathBuf>,
    /// `cloud-hypervisor`; None = looked up on PATH.
    pub cloud_hypervisor_binary: Option<PathBuf>,
    /// qboot BIOS for direct kernel boot under QEMU (much faster than SeaBIOS);
    /// None = `/usr/share/qemu/qboot.rom` when it exists.
    pub qboot: Option<PathBuf>,
    /// Firmware cloud-hypervisor boots disk images with (rust-hypervisor-fw or
    /// CLOUDHV.fd); None = the first of the usual install paths that exists.
    pub ch_firmware: Option<PathBuf>,
    /// How long a soft reboot waits for the guest to honour the ACPI power button
    /// before falling back to a reset.
    pub soft_reboot_grace: Duration,
    /// How long a NIC detach waits for the guest to release the device.
    pub detach_timeout: Duration,
}

impl Default for VirtConfig {
    fn default() -> Self {
        VirtConfig {
            qemu_binary: None,
            cloud_hypervisor_binary: None,
            qboot: None,
            ch_firmware: None,
            soft_reboot_grace: Duration::from_secs(30),
            detach_timeout: Duration::from_secs(20),
        }
    }
}

const QBOOT_PATHS: &[&str] = &["/usr/share/qemu/qboot.rom"];
const CH_FIRMWARE_PATHS: &[&str] = &[
    "/usr/share/cloud-hypervisor/hypervisor-fw",
    "/usr/share/cloud-hypervisor/CLOUDHV.fd",
    "/usr/share/ovmf/CLOUDHV.fd",
    "/usr/share/qemu/CLOUDHV.fd",
];

fn first_existing(configured: &Option<PathBuf>, defaults: &[&str]) -> Option<PathBuf> {
    match configured {
        Some(p) => p.is_file().then(|| p.clone()),
        None => defaults.iter().map(PathBuf::from).find(|p| p.is_file()),
    }
}

impl VirtConfig {
    pub fn qboot_path(&self) -> Option<PathBuf> {
        first_existing(&self.qboot, QBOOT_PATHS)
    }

    pub fn ch_firmware_path(&self) -> Option<PathBuf> {
        first_existing(&self.ch_firmware, CH_FIRMWARE_PATHS)
    }

    fn binary(configured: &Option<PathBuf>, name: &str) -> Option<PathBuf> {
        match configured {
            Some(p) => is_executable(p).then(|| p.clone()),
            None => which(name),
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first executable called `binary` on PATH.
pub fn which(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable(candidate))
}

/// Ok when KVM can run a guest here; otherwise the reason it cannot. All three
/// checks matter: a /dev/kvm backed by a software layer without vmx/svm (nested
/// PVM) opens fine yet cannot run a normal guest.
pub fn kvm_usable() -> Result<(), String> {
    kvm_usable_from(
        Path::new("/dev/kvm"),
        Path::new("/proc/cpuinfo"),
        Path::new("/proc/modules"),
    )
}

fn kvm_usable_from(dev: &Path, cpuinfo: &Path, modules: &Path) -> Result<(), String> {
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(dev) {
        return Err(if dev.exists() {
            format!("{} cannot be opened read-write: {e}", dev.display())
        } else {
            format!("{} does not exist", dev.display())
        });
    }
    let cpuinfo = std::fs::read_to_string(cpuinfo)
        .map_err(|e| format!("cannot read {}: {e}", cpuinfo.display()))?;
    let has_flag = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .flat_map(|l| l.split_whitespace())
        .any(|f| f == "vmx" || f == "svm");
    if !has_flag {
        return Err(format!(
            "{} exists but the CPU exposes no vmx/svm flag",
            dev.display()
        ));
    }
    let modules = std::fs::read_to_string(modules)
        .map_err(|e| format!("cannot read {}: {e}", modules.display()))?;
    let loaded = modules
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .any(|m| m == "kvm_intel" || m == "kvm_amd");
    if !loaded {
        return Err("neither kvm_intel nor kvm_amd is loaded".into());
    }
    Ok(())
}

/// Picks the driver for `choice` on this host and says why, in words fit for the
/// log and for users. Auto prefers cloud-hypervisor (needs KVM), then QEMU with
/// KVM, then QEMU with TCG; a forced choice that cannot work is an error.
pub fn select(choice: Choice, cfg: VirtConfig) -> Result<(Arc<dyn Hypervisor>, String), String> {
    let kvm = kvm_usable();
    let ch = VirtConfig::binary(&cfg.cloud_hypervisor_binary, "cloud-hypervisor");
    let qemu = VirtConfig::binary(&cfg.qemu_binary, "qemu-system-x86_64");
    let qemu_driver = |binary: PathBuf| -> (Arc<dyn Hypervisor>, String) {
        match &kvm {
            Ok(()) => (
                Arc::new(QemuDriver::new(binary, Accel::Kvm, cfg.clone())),
                "QEMU with KVM acceleration".to_string(),
            ),
            Err(why) => (
                Arc::new(QemuDriver::new(binary, Accel::Tcg, cfg.clone())),
                format!("QEMU with TCG emulation: {why}"),
            ),
        }
    };
    match choice {
        Choice::CloudHypervisor => {
            let binary = ch.ok_or("cloud-hypervisor was chosen but its binary is not installed")?;
            kvm.map_err(|why| format!("cloud-hypervisor was chosen but needs KVM: {why}"))?;
            Ok((
                Arc::new(CloudHypervisorDriver::new(binary, cfg.clone())),
                "cloud-hypervisor with KVM".into(),
            ))
        }
        Choice::Qemu => {
            let binary = qemu.ok_or("QEMU was chosen but qemu-system-x86_64 is not installed")?;
            Ok(qemu_driver(binary))
        }
        Choice::Auto => match (ch, &kvm, qemu) {
            (Some(binary), Ok(()), _) => Ok((
                Arc::new(CloudHypervisorDriver::new(binary, cfg.clone())),
                "cloud-hypervisor with KVM (installed, KVM usable)".into(),
            )),
            (ch, _, Some(binary)) => {
                let (driver, mut reason) = qemu_driver(binary);
                if ch.is_none() {
                    reason.push_str(" (cloud-hypervisor is not installed)");
                } else {
                    reason.push_str(" (cloud-hypervisor needs KVM)");
                }
                Ok((driver, reason))
            }
            (_, _, None) => Err(format!(
                "no usable hypervisor: qemu-system-x86_64 is not installed{}",
                match &kvm {
                    Ok(()) => " and cloud-hypervisor is not installed".to_string(),
                    Err(why) => format!(" and cloud-hypervisor cannot run: {why}"),
                }
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(cpuinfo: &str, modules: &str) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("kvm");
        std::fs::write(&dev, "").unwrap();
        let c = dir.path().join("cpuinfo");
        std::fs::write(&c, cpuinfo).unwrap();
        let m = dir.path().join("modules");
        std::fs::write(&m, modules).unwrap();
        (dir, dev, c, m)
    }

    #[test]
    fn kvm_needs_device_flag_and_module() {
        let good_cpu = "processor : 0\nflags\t\t: fpu vme vmx sse\n";
        let good_mod = "kvm_intel 409600 0 - Live 0x0\nkvm 1 1 kvm_intel, Live 0x0\n";
        let (_d, dev, c, m) = files(good_cpu, good_mod);
        assert_eq!(kvm_usable_from(&dev, &c, &m), Ok(()));

        let (_d, dev, c, m) = files("flags : fpu sse\n", good_mod);
        let why = kvm_usable_from(&dev, &c, &m).unwrap_err();
        assert!(why.contains("no vmx/svm flag"), "{why}");

        let (_d, dev, c, m) = files("flags : svm\n", "kvm 1 0 - Live 0x0\n");
        let why = kvm_usable_from(&dev, &c, &m).unwrap_err();
        assert!(why.contains("kvm_intel nor kvm_amd"), "{why}");

        let (d, _dev, c, m) = files(good_cpu, good_mod);
        let why = kvm_usable_from(&d.path().join("absent"), &c, &m).unwrap_err();
        assert!(why.contains("does not exist"), "{why}");
    }

    #[test]
    fn this_host_reports_a_reason() {
        match kvm_usable() {
            Ok(()) => eprintln!("KVM is usable on this host"),
            Err(why) => {
                eprintln!("KVM not usable here: {why}");
                assert!(!why.is_empty());
            }
        }
    }

    #[test]
    fn which_finds_sh_and_not_nonsense() {
        assert!(which("sh").is_some());
        assert!(which("no-such-binary-7c2e").is_none());
    }

    #[test]
    fn forced_choices_fail_with_a_reason() {
        let cfg = VirtConfig {
            cloud_hypervisor_binary: Some("/nonexistent/cloud-hypervisor".into()),
            qemu_binary: Some("/nonexistent/qemu".into()),
            ..VirtConfig::default()
        };
        let err = select(Choice::CloudHypervisor, cfg.clone()).err().unwrap();
        assert!(err.contains("not installed"), "{err}");
        let err = select(Choice::Qemu, cfg.clone()).err().unwrap();
        assert!(err.contains("qemu-system-x86_64"), "{err}");
        let err = select(Choice::Auto, cfg).err().unwrap();
        assert!(err.starts_with("no usable hypervisor"), "{err}");
    }

    #[test]
    fn auto_falls_back_to_qemu_with_the_reason() {
        let Some(qemu) = which("qemu-system-x86_64") else {
            eprintln!("SKIP auto_falls_back_to_qemu_with_the_reason: qemu-system-x86_64 missing");
            return;
        };
        let cfg = VirtConfig {
            qemu_binary: Some(qemu),
            cloud_hypervisor_binary: Some("/nonexistent/cloud-hypervisor".into()),
            ..VirtConfig::default()
        };
        let (driver, reason) = select(Choice::Auto, cfg).unwrap();
        assert_eq!(driver.kind(), crate::HypervisorKind::Qemu);
        assert!(reason.starts_with("QEMU with"), "{reason}");
        assert!(
            reason.contains("cloud-hypervisor is not installed"),
            "{reason}"
        );
        if kvm_usable().is_err() {
            assert!(reason.contains("TCG"), "{reason}");
        }
    }
}
