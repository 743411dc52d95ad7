//! What this host offers: the compute node's stable provider UUID, its inventory
//! read from the kernel (online CPUs, MemTotal, the state directory's filesystem) and
//! its CPU feature traits.

use std::path::Path;

use anyhow::Context;

use super::model::{InventorySpec, X86_CPU_TRAITS};

/// Namespace for the compute node UUID (v5 of the hostname), fixed so the same host
/// keeps the same provider across restarts and reinstalls of the state directory.
const NODE_NAMESPACE: uuid::Uuid = uuid::uuid!("6b3e4c1a-5f0d-5b7e-9c2a-0e5d7f1c3a42");

/// Nova's initial allocation ratios and reserved host memory.
const CPU_RATIO: f64 = 16.0;
const RAM_RATIO: f64 = 1.5;
const DISK_RATIO: f64 = 1.0;
const RESERVED_HOST_MEMORY_MB: i64 = 512;

/// This host's name as the kernel knows it (`localhost` if unreadable).
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The compute node's resource provider UUID: v5 of the hostname.
pub(crate) fn compute_node_uuid() -> String {
    uuid::Uuid::new_v5(&NODE_NAMESPACE, hostname().as_bytes()).to_string()
}

/// VCPU, MEMORY_MB and DISK_GB of this host, with Nova's initial ratios.
pub(crate) fn host_inventory(state_dir: &Path) -> anyhow::Result<Vec<InventorySpec>> {
    let cpus = online_cpus()?;
    let meminfo = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    let mem_mb = mem_total_kb(&meminfo).context("no MemTotal in /proc/meminfo")? / 1024;
    let st = rustix::fs::statvfs(state_dir)
        .with_context(|| format!("statvfs {}", state_dir.display()))?;
    let disk_gb = (st.f_blocks.saturating_mul(st.f_frsize) >> 30) as i64;
    let spec = |class: &str, total: i64, reserved: i64, ratio: f64| InventorySpec {
        resource_class: class.to_owned(),
        total,
        reserved,
        min_unit: 1,
        max_unit: total,
        step_size: 1,
        allocation_ratio: ratio,
    };
    let mut out = vec![
        spec("VCPU", cpus, 0, CPU_RATIO),
        spec(
            "MEMORY_MB",
            mem_mb,
            RESERVED_HOST_MEMORY_MB.min(mem_mb - 1),
            RAM_RATIO,
        ),
    ];
    // A filesystem under 1 GiB offers no disk; Placement refuses a total of 0.
    if disk_gb >= 1 {
        out.push(spec("DISK_GB", disk_gb, 0, DISK_RATIO));
    }
    Ok(out)
}

/// `HW_CPU_X86_*` traits for the flags in /proc/cpuinfo, plus the architecture.
pub(crate) fn host_cpu_traits() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mut traits = cpu_traits(&text);
    if std::env::consts::ARCH == "x86_64" {
        traits.push("COMPUTE_ARCH_X86_64".into());
        traits.push("HW_ARCH_X86_64".into());
    }
    traits.push("COMPUTE_NODE".into());
    traits.sort();
    traits
}

fn cpu_traits(cpuinfo: &str) -> Vec<String> {
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, f)| f.split_whitespace().collect())
        .unwrap_or_default();
    X86_CPU_TRAITS
        .iter()
        .filter(|(_, flag)| flags.contains(flag))
        .map(|(t, _)| t.to_string())
        .collect()
}

/// Online CPUs from /sys (`0-3,6`), else what the scheduler lets us use.
fn online_cpus() -> anyhow::Result<i64> {
    if let Ok(s) = std::fs::read_to_string("/sys/devices/system/cpu/online")
        && let Some(n) = count_cpu_list(s.trim())
    {
        return Ok(n);
    }
    Ok(std::thread::available_parallelism()
        .context("counting CPUs")?
        .get() as i64)
}

fn count_cpu_list(s: &str) -> Option<i64> {
    let mut n = 0;
    for part in s.split(',') {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<i64>().ok()? - a.parse::<i64>().ok()? + 1,
            None => {
                part.parse::<i64>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

fn mem_total_kb(meminfo: &str) -> Option<i64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(count_cpu_list("0-3"), Some(4));
        assert_eq!(count_cpu_list("0-1,4,6-7"), Some(5));
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list("x"), None);
    }

    #[test]
    fn meminfo_and_flags() {
        assert_eq!(
            mem_total_kb("MemTotal:       24683568 kB\nMemFree: 1 kB\n"),
            Some(24683568)
        );
        let t = cpu_traits("processor\t: 0\nflags\t\t: fpu sse sse2 pni avx2 aes\n");
        assert_eq!(
            t,
            [
                "HW_CPU_X86_AVX2",
                "HW_CPU_X86_SSE",
                "HW_CPU_X86_SSE2",
                "HW_CPU_X86_SSE3",
                "HW_CPU_X86_AESNI"
            ]
        );
    }

    #[test]
    fn real_host_inventory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inv = host_inventory(dir.path()).expect("host inventory");
        let vcpu = inv
            .iter()
            .find(|i| i.resource_class == "VCPU")
            .expect("VCPU");
        assert!(vcpu.total >= 1 && vcpu.allocation_ratio == 16.0 && vcpu.max_unit == vcpu.total);
        let mem = inv
            .iter()
            .find(|i| i.resource_class == "MEMORY_MB")
            .expect("RAM");
        assert!(mem.total > 0 && mem.reserved <= 512 && mem.allocation_ratio == 1.5);
        assert_eq!(compute_node_uuid(), compute_node_uuid(), "stable");
    }
}
