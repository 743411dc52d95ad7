//! The informational compute APIs' logic: this host's hypervisor resources (from
//! Placement, or from the host itself until Placement has an inventory) and the
//! per-project usage report of os-simple-tenant-usage.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::ComputeService;
use super::model::{Server, VmState};
use crate::http::context::RequestContext;
use crate::http::error::ApiResult;

/// What os-hypervisors shows for the one compute node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HypervisorStats {
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub vcpus_used: i64,
    pub memory_mb_used: i64,
    pub local_gb_used: i64,
    pub running_vms: i64,
    pub free_disk_gb: i64,
}

/// CPUs, memory (MiB) and disk (GiB) of the host, for when Placement has no
/// inventory for the node yet.
fn host_capacity(dir: &std::path::Path) -> (i64, i64, i64, i64) {
    let vcpus = std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1);
    let memory_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| meminfo_total_kb(&t))
        .map(|kb| kb / 1024)
        .unwrap_or(0);
    let (total_gb, free_gb) = disk_gb(dir).unwrap_or((0, 0));
    (vcpus, memory_mb, total_gb, free_gb)
}

/// `MemTotal` in kB from /proc/meminfo.
pub(crate) fn meminfo_total_kb(text: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// (total, free) GiB of the filesystem holding `dir` (or its nearest existing parent).
// statvfs field widths differ between libc targets, hence the casts.
#[allow(clippy::unnecessary_cast)]
fn disk_gb(dir: &std::path::Path) -> Option<(i64, i64)> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    let path = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid NUL-terminated string and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    let gib = 1u64 << 30;
    let frsize = st.f_frsize as u64;
    Some((
        (st.f_blocks as u64 * frsize / gib) as i64,
        (st.f_bavail as u64 * frsize / gib) as i64,
    ))
}

/// One server's line in a usage report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServerUsage {
    pub server: Server,
    pub hours: f64,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub uptime: i64,
}

/// A project's totals over a period.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TenantUsage {
    pub tenant_id: String,
    pub total_hours: f64,
    pub total_vcpus_usage: f64,
    pub total_memory_mb_usage: f64,
    pub total_local_gb_usage: f64,
    pub servers: Vec<ServerUsage>,
}

fn parse_time(s: &Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref().and_then(|t| crate::http::time::parse(t).ok())
}

/// Hours a server ran inside [start, end], as Nova's `_hours_for`: from launch
/// (clamped to the period) to termination (or the period's end). None when the
/// server did not run in the period at all, or never launched (deleted while
/// building: it used nothing, and Nova's usage view has no start time to show).
pub(crate) fn server_usage(
    s: &Server,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<ServerUsage> {
    let launched = parse_time(&s.launched_at)?;
    let terminated = parse_time(&s.terminated_at).or_else(|| parse_time(&s.deleted_at));
    if terminated.is_some_and(|t| t < start) || launched > end {
        return None;
    }
    let from = launched.max(start);
    let to = terminated.map_or(end, |t| t.min(end));
    let hours = ((to - from).num_milliseconds().max(0) as f64) / 3_600_000.0;
    let uptime = (terminated.unwrap_or(now) - launched).num_seconds().max(0);
    Some(ServerUsage {
        server: s.clone(),
        hours,
        started_at: Some(launched),
        ended_at: terminated,
        uptime,
    })
}

/// Groups servers by project and totals their usage over the period.
pub(crate) fn tenant_usages(
    servers: &[Server],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<TenantUsage> {
    let mut by_project: BTreeMap<String, TenantUsage> = BTreeMap::new();
    // Oldest first, as Nova reports them.
    for s in servers.iter().rev() {
        let Some(u) = server_usage(s, start, end, now) else {
            continue;
        };
        let t = by_project
            .entry(s.project_id.clone())
            .or_insert_with(|| TenantUsage {
                tenant_id: s.project_id.clone(),
                total_hours: 0.0,
                total_vcpus_usage: 0.0,
                total_memory_mb_usage: 0.0,
                total_local_gb_usage: 0.0,
                servers: Vec::new(),
            });
        let f = &s.flavor;
        t.total_hours += u.hours;
        t.total_vcpus_usage += u.hours * f.vcpus as f64;
        t.total_memory_mb_usage += u.hours * f.ram as f64;
        t.total_local_gb_usage += u.hours * (f.disk + f.ephemeral) as f64;
        t.servers.push(u);
    }
    by_project.into_values().collect()
}

/// The `state` a usage line shows: `terminated` once deleted, else the vm_state.
pub(crate) fn usage_state(s: &Server) -> &'static str {
    if s.deleted_at.is_some() || s.vm_state == VmState::Deleted {
        "terminated"
    } else {
        s.vm_state.as_str()
    }
}

impl ComputeService {
    /// The node's resources: Placement's inventory and usage when it has them,
    /// otherwise the host's capacity and the servers' flavors.
    pub(crate) async fn hypervisor_stats(&self) -> ApiResult<HypervisorStats> {
        let provider = self.config().provider_uuid.clone();
        let inventories = self.inner.placement.provider_inventories(&provider).await?;
        let usages = self.inner.placement.provider_usages(&provider).await?;
        let servers = self
            .read(|c| super::store::server_list(c, None, false))
            .await?;
        let dir = self.config().instances_dir.clone();
        let (host_vcpus, host_mem, host_disk, host_free) =
            tokio::task::spawn_blocking(move || host_capacity(&dir))
                .await
                .unwrap_or((1, 0, 0, 0));
        let total = |rc: &str, fallback: i64| {
            inventories
                .iter()
                .find(|i| i.resource_class == rc)
                .map_or(fallback, |i| i.total)
        };
        let flavor_sum = |f: fn(&Server) -> i64| servers.iter().map(f).sum::<i64>();
        let used = |rc: &str, fallback: i64| {
            usages
                .iter()
                .find(|(c, _)| c == rc)
                .map_or(fallback, |(_, n)| *n)
        };
        let local_gb = total("DISK_GB", host_disk);
        let local_gb_used = used(
            "DISK_GB",
            flavor_sum(|s| s.flavor.disk + s.flavor.ephemeral),
        );
        Ok(HypervisorStats {
            vcpus: total("VCPU", host_vcpus),
            memory_mb: total("MEMORY_MB", host_mem),
            local_gb,
            vcpus_used: used("VCPU", flavor_sum(|s| s.flavor.vcpus)),
            memory_mb_used: used("MEMORY_MB", flavor_sum(|s| s.flavor.ram)),
            local_gb_used,
            running_vms: servers.len() as i64,
            free_disk_gb: if inventories.is_empty() {
                host_free
            } else {
                local_gb - local_gb_used
            },
        })
    }

    /// (id, instance name) of the servers on this host, for `with_servers`.
    pub(crate) async fn hypervisor_servers(&self) -> ApiResult<Vec<(String, String)>> {
        let servers = self
            .read(|c| super::store::server_list(c, None, false))
            .await?;
        Ok(servers
            .into_iter()
            .map(|s| (s.id, s.instance_name))
            .collect())
    }

    /// Usage of every project (admin) or of one project (admin or its members),
    /// over [start, end], counting deleted servers too.
    pub(crate) async fn tenant_usage(
        &self,
        ctx: &RequestContext,
        project: Option<String>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> ApiResult<Vec<TenantUsage>> {
        match &project {
            Some(p) => ctx.require_project_read(p)?,
            None => ctx.require_admin()?,
        }
        let servers = self
            .read(move |c| super::store::server_list(c, project.as_deref(), true))
            .await?;
        Ok(tenant_usages(&servers, start, end, Utc::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::compute::quotas::tests::server;

    fn t(s: &str) -> DateTime<Utc> {
        crate::http::time::parse(s).expect("time")
    }

    #[test]
    fn usage_hours_are_clamped_to_the_period() {
        let (start, end, now) = (
            t("2030-01-01T00:00:00Z"),
            t("2030-01-02T00:00:00Z"),
            t("2030-01-03T00:00:00Z"),
        );
        // Launched before the period and still running: the whole day.
        let s = server("a", "p", 2, 512, Some("2029-12-31T00:00:00Z"), None);
        let u = server_usage(&s, start, end, now).expect("in period");
        assert_eq!(u.hours, 24.0);
        assert_eq!(u.uptime, 3 * 86400);
        // Launched at noon, deleted at 18:00: six hours.
        let s = server(
            "b",
            "p",
            1,
            256,
            Some("2030-01-01T12:00:00Z"),
            Some("2030-01-01T18:00:00Z"),
        );
        assert_eq!(
            server_usage(&s, start, end, now).expect("in period").hours,
            6.0
        );
        // Deleted before the period, or launched after it: not in the report.
        let s = server(
            "c",
            "p",
            1,
            256,
            Some("2029-01-01T00:00:00Z"),
            Some("2029-06-01T00:00:00Z"),
        );
        assert!(server_usage(&s, start, end, now).is_none());
        let s = server("d", "p", 1, 256, Some("2030-02-01T00:00:00Z"), None);
        assert!(server_usage(&s, start, end, now).is_none());
        // Deleted while building, never launched: it used nothing and has no start.
        let s = server("e", "p", 1, 256, None, Some("2030-01-01T06:00:00Z"));
        assert!(server_usage(&s, start, end, now).is_none());
        // Totals per project.
        let servers = vec![
            server("a", "p", 2, 512, Some("2029-12-31T00:00:00Z"), None),
            server(
                "b",
                "p",
                1,
                256,
                Some("2030-01-01T12:00:00Z"),
                Some("2030-01-01T18:00:00Z"),
            ),
            server("e", "q", 4, 1024, Some("2030-01-01T23:00:00Z"), None),
        ];
        let usages = tenant_usages(&servers, start, end, now);
        assert_eq!(usages.len(), 2);
        let p = &usages[0];
        assert_eq!(p.tenant_id, "p");
        assert_eq!(p.total_hours, 30.0);
        assert_eq!(p.total_vcpus_usage, 2.0 * 24.0 + 6.0);
        assert_eq!(p.total_memory_mb_usage, 512.0 * 24.0 + 256.0 * 6.0);
        assert_eq!(p.total_local_gb_usage, 30.0);
        assert_eq!(usages[1].total_vcpus_usage, 4.0);
        assert_eq!(usage_state(&servers[1]), "terminated");
        assert_eq!(usage_state(&servers[0]), "active");
    }

    #[test]
    fn meminfo() {
        let t = "MemTotal:        8048576 kB\nMemFree:  100 kB\n";
        assert_eq!(meminfo_total_kb(t), Some(8048576));
        assert_eq!(meminfo_total_kb("nothing"), None);
    }

    #[test]
    fn disk_of_a_missing_dir_uses_its_parent() {
        let d = disk_gb(std::path::Path::new("/tmp/does/not/exist/yet"));
        assert!(d.is_some());
    }
}
