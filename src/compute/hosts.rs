//! What the deprecated os-hosts API reports about this cloud's one compute host:
//! its capacity and what each project's servers use of it.

use std::collections::BTreeMap;

use super::ComputeService;

/// CPUs, memory (MiB) and disk (GiB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HostUse {
    pub cpu: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
}

impl HostUse {
    fn add(&mut self, o: HostUse) {
        self.cpu += o.cpu;
        self.memory_mb += o.memory_mb;
        self.disk_gb += o.disk_gb;
    }
}

/// The host's total, what is used now, and the use per project.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostResources {
    pub total: HostUse,
    pub used_now: HostUse,
    pub projects: BTreeMap<String, HostUse>,
}

impl ComputeService {
    pub(crate) async fn host_resources(&self) -> crate::http::error::ApiResult<HostResources> {
        let stats = self.hypervisor_stats().await?;
        let servers = self
            .read(|c| super::store::server_list(c, None, false))
            .await?;
        let mut r = HostResources {
            total: HostUse {
                cpu: stats.vcpus,
                memory_mb: stats.memory_mb,
                disk_gb: stats.local_gb,
            },
            ..HostResources::default()
        };
        for s in &servers {
            let u = HostUse {
                cpu: s.flavor.vcpus,
                memory_mb: s.flavor.ram,
                disk_gb: s.flavor.disk + s.flavor.ephemeral,
            };
            r.used_now.add(u);
            r.projects.entry(s.project_id.clone()).or_default().add(u);
        }
        Ok(r)
    }
}
