//! Port interfaces (api-ref: compute "Port Interfaces"): attach a NIC to a
//! server (a new port on a network, or a port the user made) and detach it,
//! hot-plugging the VMM when the guest runs.

use crate::logged::OrLog;
use serde::Deserialize;

use super::model::{Op, ServerPort, interface_change_allowed};
use super::servers::new_action;
use super::{ComputeService, may_change, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::network::instance::InstanceNic;
use crate::network::model::Port;
use crate::virt::PowerState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InterfaceAttach {
    pub net_id: Option<String>,
    pub port_id: Option<String>,
    pub fixed_ips: Option<Vec<FixedIpArg>>,
    pub tag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixedIpArg {
    pub ip_address: String,
}

impl ComputeService {
    /// `POST /servers/{id}/os-interface`: bind the port (or make one on the
    /// network), record it on the server, then hot-plug it into a running guest;
    /// a failed hot-plug undoes the attach.
    pub(crate) async fn interface_attach(
        &self,
        ctx: &RequestContext,
        id: String,
        req: InterfaceAttach,
        request_id: String,
    ) -> ApiResult<InstanceNic> {
        let s = self.server_get(ctx, id.clone()).await?;
        may_change(ctx, &s.project_id)?;
        interface_change_allowed(s.vm_state, s.task_state, Op::AttachInterface)?;
        if s.locked && !ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT) {
            return Err(ApiError::Conflict(format!("Instance {} is locked", s.id)));
        }
        let lock = self.server_lock(&id);
        let _held = lock.lock().await;
        let (port, created) = self
            .interface_port(ctx, &s.id, req.port_id, req.net_id, req.fixed_ips)
            .await?;
        let record = ServerPort {
            port_id: port.std.id.clone(),
            network_id: port.network_id.clone(),
            created_by_compute: created,
            tag: req.tag,
        };
        let ctx2 = ctx.clone();
        let updated = self
            .write(move |c| {
                let mut s = store::server_get(c, &id)?
                    .ok_or_else(|| super::servers::server_not_found(&id))?;
                s.ports.push(record);
                store::server_put(c, &mut s)?;
                store::action_put(c, &new_action(&s, "attach_interface", &request_id, &ctx2))?;
                Ok(s)
            })
            .await?;
        let nics = self.server_nics(&updated).await?;
        let spec = self.vm_spec(&updated, &nics);
        let running = matches!(
            self.inner.hypervisor.power_state(&spec).await,
            Ok(PowerState::Running | PowerState::Paused)
        );
        let nic = nics
            .into_iter()
            .find(|n| n.port.std.id == port.std.id)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("attached port vanished")))?;
        if running {
            self.interface_hot_plug(&updated.id, &spec, &port.std.id, created)
                .await?;
        }
        Ok(nic)
    }

    /// The port to attach and whether compute made it: the caller's port bound to
    /// the server, or a new port on the network asked for (or the auto network).
    async fn interface_port(
        &self,
        ctx: &RequestContext,
        server_id: &str,
        port_id: Option<String>,
        net_id: Option<String>,
        fixed_ips: Option<Vec<FixedIpArg>>,
    ) -> ApiResult<(Port, bool)> {
        let host = self.inner.config.host.clone();
        let network = &self.inner.network;
        match (port_id, net_id) {
            (Some(_), Some(_)) => Err(ApiError::bad_request(
                "Must not input both network_id and port_id",
            )),
            (Some(_), None) if fixed_ips.is_some() => Err(ApiError::bad_request(
                "Must input network_id when requesting IP address",
            )),
            (Some(p), None) => {
                let port = network
                    .instance_port_bind(ctx, p, server_id.to_owned(), host)
                    .await?;
                Ok((port, false))
            }
            (None, net) => {
                let net = match net {
                    Some(n) => n,
                    None => network.network_auto(ctx).await?,
                };
                network.network_for_boot(ctx, net.clone()).await?;
                let ip = fixed_ips
                    .and_then(|f| f.into_iter().next())
                    .map(|f| f.ip_address);
                let port = network
                    .instance_port_create(ctx, net, ip, vec![], server_id.to_owned(), host)
                    .await?;
                Ok((port, true))
            }
        }
    }

    /// Plugs the attached port into the running guest once the dataplane has its
    /// tap; on failure takes the port off the server and releases it.
    async fn interface_hot_plug(
        &self,
        server_id: &str,
        spec: &crate::virt::VmSpec,
        port_id: &str,
        created: bool,
    ) -> ApiResult<()> {
        if self.inner.config.dataplane {
            self.inner
                .network
                .wait_converged(std::time::Duration::from_secs(20))
                .await;
        }
        let nic_spec = spec.nics.iter().find(|n| n.port_id == port_id).cloned();
        let Some(n) = nic_spec else { return Ok(()) };
        let Err(e) = self.inner.hypervisor.attach_nic(spec, &n).await else {
            return Ok(());
        };
        tracing::warn!(server = server_id, error = %e, "hot-plug failed; rolling back the attach");
        let pid = port_id.to_owned();
        let sid = server_id.to_owned();
        self.write(move |c| {
            if let Some(mut s) = store::server_get(c, &sid)? {
                s.ports.retain(|p| p.port_id != pid);
                store::server_put(c, &mut s)?;
            }
            Ok::<(), ApiError>(())
        })
        .await
        .or_log(
            server_id,
            "removing the port of a failed hot-plug from the server",
        );
        self.inner
            .network
            .instance_port_release(port_id.to_owned(), created)
            .await
            .or_log(server_id, "releasing the port of a failed hot-plug");
        Err(ApiError::Internal(anyhow::anyhow!(
            "Failed to attach network adapter device: {e}"
        )))
    }

    pub(crate) async fn interface_detach(
        &self,
        ctx: &RequestContext,
        id: String,
        port_id: String,
        request_id: String,
    ) -> ApiResult<()> {
        let s = self.server_get(ctx, id.clone()).await?;
        may_change(ctx, &s.project_id)?;
        interface_change_allowed(s.vm_state, s.task_state, Op::DetachInterface)?;
        if s.locked && !ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT) {
            return Err(ApiError::Conflict(format!("Instance {} is locked", s.id)));
        }
        let record = s
            .ports
            .iter()
            .find(|p| p.port_id == port_id)
            .cloned()
            .ok_or_else(|| ApiError::Missing(format!("Port {port_id} is not attached")))?;
        let lock = self.server_lock(&id);
        let _held = lock.lock().await;
        let nics = self.server_nics(&s).await?;
        let spec = self.vm_spec(&s, &nics);
        if matches!(
            self.inner.hypervisor.power_state(&spec).await,
            Ok(PowerState::Running | PowerState::Paused)
        ) {
            self.inner
                .hypervisor
                .detach_nic(&spec, &port_id)
                .await
                .map_err(|e| {
                    ApiError::Internal(anyhow::anyhow!(
                        "Failed to detach network adapter device: {e}"
                    ))
                })?;
        }
        let ctx2 = ctx.clone();
        self.write(move |c| {
            let mut s =
                store::server_get(c, &id)?.ok_or_else(|| super::servers::server_not_found(&id))?;
            s.ports.retain(|p| p.port_id != port_id);
            store::server_put(c, &mut s)?;
            store::action_put(c, &new_action(&s, "detach_interface", &request_id, &ctx2))
        })
        .await?;
        self.inner
            .network
            .instance_port_release(record.port_id, record.created_by_compute)
            .await
    }
}
