//! Server diagnostics (api-ref: compute "Servers diagnostics"): what the VMM
//! of a server is given and how long it has run, read from its spec and process.

use super::ComputeService;
use super::model::VmState;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::virt::PowerState;

/// One server's diagnostics; counters this cloud does not collect are absent.
#[derive(Debug, Clone)]
pub(crate) struct Diagnostics {
    /// Nova's diagnostics state: running, paused, shutdown, crashed, suspended, pending.
    pub state: &'static str,
    pub hypervisor: String,
    pub uptime: Option<i64>,
    pub config_drive: bool,
    pub num_cpus: u32,
    pub memory_mb: u64,
    pub num_disks: usize,
    pub macs: Vec<String>,
}

fn state_name(p: PowerState) -> &'static str {
    match p {
        PowerState::NoState => "pending",
        PowerState::Running => "running",
        PowerState::Paused => "paused",
        PowerState::Shutdown => "shutdown",
        PowerState::Crashed => "crashed",
        PowerState::Suspended => "suspended",
    }
}

/// Seconds since the process started (procfs stamps `/proc/<pid>` at start).
fn process_uptime(pid: u32) -> Option<i64> {
    let started = std::fs::metadata(format!("/proc/{pid}"))
        .ok()?
        .modified()
        .ok()?;
    let age = std::time::SystemTime::now().duration_since(started).ok()?;
    i64::try_from(age.as_secs()).ok()
}

impl ComputeService {
    /// Show Server Diagnostics (admin only, as in Nova's default policy).
    pub(crate) async fn server_diagnostics(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Diagnostics> {
        ctx.require_admin()?;
        let s = self.server_get(ctx, id).await?;
        if s.vm_state == VmState::Building {
            return Err(ApiError::Conflict(format!(
                "Cannot 'get_diagnostics' instance {} while it is in vm_state building",
                s.id
            )));
        }
        let port_ids = s.ports.iter().map(|p| p.port_id.clone()).collect();
        let nics = self.inner.network.instance_nics(port_ids).await?;
        let spec = self.vm_spec(&s, &nics);
        let hv = self.hypervisor();
        let power = hv.power_state(&spec).await.unwrap_or(PowerState::NoState);
        let uptime = match hv.pid(&spec).await {
            Some(pid) => tokio::task::spawn_blocking(move || process_uptime(pid))
                .await
                .ok()
                .flatten(),
            None => None,
        };
        Ok(Diagnostics {
            state: state_name(power),
            hypervisor: hv.kind().hypervisor_type().to_ascii_lowercase(),
            uptime,
            config_drive: s.config_drive,
            num_cpus: spec.vcpus,
            memory_mb: spec.memory_mb,
            num_disks: spec.disks.len(),
            macs: nics.iter().map(|n| n.port.mac_address.clone()).collect(),
        })
    }
}
