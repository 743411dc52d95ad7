//! Checks before touching the host: supported OS, memory, disk, and whether KVM
//! can really run a guest. Findings are warnings with the fix, never silent.

use std::path::Path;

/// `/etc/os-release` fields onestack cares about.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct OsRelease {
    pub(crate) id: String,
    pub(crate) version_id: String,
    pub(crate) pretty_name: String,
}

pub(crate) fn parse_os_release(text: &str) -> OsRelease {
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    OsRelease {
        id: get("ID"),
        version_id: get("VERSION_ID"),
        pretty_name: get("PRETTY_NAME"),
    }
}

pub(crate) fn os_release() -> OsRelease {
    parse_os_release(&std::fs::read_to_string("/etc/os-release").unwrap_or_default())
}

/// Whether a guest can run under KVM, and if not, why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kvm {
    Usable,
    Unusable(String),
}

/// KVM needs the vmx/svm CPU flag *and* the kvm_intel/kvm_amd module: a `/dev/kvm`
/// alone (e.g. a paravirtual KVM) may still be unable to run a guest.
pub(crate) fn kvm(cpuinfo: &str, modules: &str, dev_kvm: bool) -> Kvm {
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let (flag, module) = if flags.contains(&"vmx") {
        ("vmx", "kvm_intel")
    } else if flags.contains(&"svm") {
        ("svm", "kvm_amd")
    } else {
        return Kvm::Unusable(
            "the CPU shows no vmx/svm flag (hardware virtualization is not passed to this machine)"
                .into(),
        );
    };
    if !modules
        .lines()
        .any(|l| l.split_whitespace().next() == Some(module))
    {
        return Kvm::Unusable(format!(
            "the CPU has {flag} but the {module} module is not loaded (modprobe {module})"
        ));
    }
    if !dev_kvm {
        return Kvm::Unusable("/dev/kvm is missing".into());
    }
    Kvm::Usable
}

/// VirtualBox names itself in the DMI tables.
pub(crate) fn in_virtualbox(sys_vendor: &str, product_name: &str) -> bool {
    sys_vendor.trim() == "innotek GmbH" || product_name.trim() == "VirtualBox"
}

/// Minimums below which onestack still runs but instances will not fit.
pub(crate) const MIN_MEMORY_MB: u64 = 2048;
pub(crate) const MIN_DISK_GB: u64 = 10;

#[derive(Debug, Clone, Default)]
pub(crate) struct Preflight {
    pub(crate) os: OsRelease,
    /// One line per finding, `ok:` or `warning:`.
    pub(crate) lines: Vec<String>,
}

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Runs every check against this machine; `state_dir` is where disks will live.
pub(crate) fn run(state_dir: &Path) -> Preflight {
    let os = os_release();
    let mut lines = vec![os_finding(&os), memory_finding(), disk_finding(state_dir)];
    lines.extend(kvm_findings());
    Preflight { os, lines }
}

/// Whether the OS is one onestack is tested on.
fn os_finding(os: &OsRelease) -> String {
    let supported = matches!(
        (os.id.as_str(), os.version_id.as_str()),
        ("ubuntu", "22.04" | "24.04") | ("debian", "12")
    );
    if supported {
        format!("ok: {} is supported", os.pretty_name)
    } else {
        format!(
            "warning: {} is not tested (supported: Ubuntu 22.04/24.04, Debian 12); continuing",
            if os.pretty_name.is_empty() {
                "this OS"
            } else {
                &os.pretty_name
            }
        )
    }
}

/// Whether the machine has the memory instances need.
fn memory_finding() -> String {
    let memory_mb = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024;
    if memory_mb >= MIN_MEMORY_MB {
        format!("ok: {memory_mb} MB of memory")
    } else {
        format!(
            "warning: {memory_mb} MB of memory; give the VM at least {MIN_MEMORY_MB} MB (VBoxManage modifyvm <vm> --memory 4096) or instances will not fit"
        )
    }
}

/// Whether the disk holding `state_dir` has room for images and disks.
fn disk_finding(state_dir: &Path) -> String {
    match free_gb(state_dir) {
        Some(g) if g >= MIN_DISK_GB => format!("ok: {g} GB free for {}", state_dir.display()),
        Some(g) => format!(
            "warning: only {g} GB free for {}; images and disks need at least {MIN_DISK_GB} GB",
            state_dir.display()
        ),
        None => format!(
            "warning: could not measure free space for {}",
            state_dir.display()
        ),
    }
}

/// Whether guests get KVM, and if not why, with a hint for VirtualBox.
fn kvm_findings() -> Vec<String> {
    let k = kvm(
        &read("/proc/cpuinfo"),
        &read("/proc/modules"),
        Path::new("/dev/kvm").exists(),
    );
    let why = match k {
        Kvm::Usable => return vec!["ok: KVM can run guests".into()],
        Kvm::Unusable(why) => why,
    };
    let mut lines = vec![format!(
        "warning: {why}: instances will use QEMU emulation (TCG), several times slower"
    )];
    if in_virtualbox(
        &read("/sys/class/dmi/id/sys_vendor"),
        &read("/sys/class/dmi/id/product_name"),
    ) {
        lines.push("hint: this is a VirtualBox VM; power it off and on the laptop run: VBoxManage modifyvm <vm> --nested-hw-virt on".into());
    }
    lines
}

/// Free space of the filesystem holding `dir` (or its nearest existing parent).
fn free_gb(dir: &Path) -> Option<u64> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    let argv: Vec<String> = vec!["df".into(), "-Pk".into(), existing.display().to_string()];
    let out = crate::dataplane::cmd::run_sync(&argv, None).ok()?;
    let kb: u64 = out
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kb / 1024 / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields() {
        let o = parse_os_release(
            "PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nID=ubuntu\nVERSION_ID=\"24.04\"\n",
        );
        assert_eq!((o.id.as_str(), o.version_id.as_str()), ("ubuntu", "24.04"));
    }

    #[test]
    fn kvm_needs_flag_and_module() {
        let intel = "processor: 0\nflags\t\t: fpu vme vmx sse\n";
        assert_eq!(
            kvm(
                intel,
                "kvm_intel 409600 0 - Live\nkvm 1 1 kvm_intel\n",
                true
            ),
            Kvm::Usable
        );
        assert!(
            matches!(kvm(intel, "kvm 1 0\n", true), Kvm::Unusable(w) if w.contains("kvm_intel"))
        );
        assert!(
            matches!(kvm("flags : fpu sse\n", "", true), Kvm::Unusable(w) if w.contains("vmx/svm"))
        );
        assert!(
            matches!(kvm("flags : svm\n", "kvm_amd 1 0\n", false), Kvm::Unusable(w) if w.contains("/dev/kvm"))
        );
    }

    #[test]
    fn virtualbox_dmi() {
        assert!(in_virtualbox("innotek GmbH\n", "VirtualBox\n"));
        assert!(!in_virtualbox("QEMU\n", "Standard PC\n"));
    }
}
