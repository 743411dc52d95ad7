//! The calls the compute service makes on behalf of a server: ports for its NICs
//! (created with the user's rights, bound to this host as Nova's admin would),
//! release on delete, the server's network view, and waiting for the dataplane
//! to wire a port before a VMM opens its tap.

use std::time::Duration;

use rusqlite::Connection;

use super::model::*;
use super::ports::{FixedIpRequest, PortCreate, delete_port_tx, port_create_tx};
use super::{NetworkService, load_visible, may_change, not_found, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult, neutron};

/// `device_owner` of ports that carry an instance NIC (Nova: `compute:<az>`).
pub(crate) const OWNER_COMPUTE: &str = "compute:nova";

/// One NIC as the compute service shows and wires it.
#[derive(Debug, Clone)]
pub(crate) struct InstanceNic {
    pub port: Port,
    pub network: Network,
    pub subnets: Vec<Subnet>,
    /// Floating IPs associated with this port.
    pub floating_ips: Vec<String>,
}

impl NetworkService {
    /// Resolves `"auto"`: the one network the project can use (its own or shared,
    /// not external), as Nova's get-me-a-network would settle on.
    pub(crate) async fn network_auto(&self, ctx: &RequestContext) -> ApiResult<String> {
        self.network_if_any(ctx).await?.ok_or_else(|| {
            ApiError::bad_request(
                "Unable to automatically allocate a network for project: no network is available.",
            )
        })
    }

    /// The one network the project can use, or `None` when it has none (Nova then
    /// boots a server that asked for no network in particular without a NIC).
    pub(crate) async fn network_if_any(&self, ctx: &RequestContext) -> ApiResult<Option<String>> {
        let ctx = ctx.clone();
        self.read(move |c| {
            let candidates: Vec<Network> = store::list::<Network>(c)?
                .into_iter()
                .filter(|n| !n.external)
                .filter(|n| n.shared || ctx.project_id() == Some(n.std.project_id.as_str()))
                .collect();
            match candidates.as_slice() {
                [one] => Ok(Some(one.std.id.clone())),
                [] => Ok(None),
                _ => Err(ApiError::Conflict(
                    "Multiple possible networks found, use a Network ID to be more specific."
                        .into(),
                )),
            }
        })
        .await
    }

    /// Checks that a network exists for the caller (400 as Nova answers, not 404).
    pub(crate) async fn network_for_boot(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Network> {
        let ctx = ctx.clone();
        self.read(move |c| {
            let net: Network = load_visible(c, &ctx, &id)
                .map_err(|_| ApiError::bad_request(format!("Network {id} could not be found.")))?;
            if !ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT)
                && net.external
                && !net.shared
            {
                return Err(ApiError::Forbidden(format!(
                    "It is not allowed to create an interface on external network {id}"
                )));
            }
            Ok(net)
        })
        .await
    }

    /// Creates the port of a new NIC with the caller's rights and binds it to
    /// `host` for `device_id`. Security groups may be given by name or id.
    pub(crate) async fn instance_port_create(
        &self,
        ctx: &RequestContext,
        network_id: String,
        fixed_ip: Option<String>,
        security_groups: Vec<String>,
        device_id: String,
        host: String,
    ) -> ApiResult<Port> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let project = ctx
                .project_id()
                .ok_or_else(|| ApiError::bad_request("A project-scoped token is required."))?
                .to_owned();
            let groups = if security_groups.is_empty() {
                None
            } else {
                Some(group_ids(c, &project, &security_groups)?)
            };
            let input = PortCreate {
                network_id: Some(network_id),
                fixed_ips: fixed_ip.map(|ip| {
                    vec![FixedIpRequest {
                        subnet_id: None,
                        ip_address: Some(ip),
                    }]
                }),
                security_groups: groups,
                device_id: Some(device_id.clone()),
                device_owner: Some(OWNER_COMPUTE.into()),
                ..Default::default()
            };
            let port = port_create_tx(c, &ctx, input)?;
            bind(c, port, &device_id, &host)
        })
        .await
    }

    /// Binds a port the user made to `device_id` on `host`: it must be the
    /// caller's and free.
    pub(crate) async fn instance_port_bind(
        &self,
        ctx: &RequestContext,
        port_id: String,
        device_id: String,
        host: String,
    ) -> ApiResult<Port> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let port: Port = load_visible(c, &ctx, &port_id).map_err(|_| {
                ApiError::bad_request(format!("Port {port_id} could not be found."))
            })?;
            may_change(&ctx, &port.std.project_id)?;
            if !port.device_id.is_empty() && port.device_id != device_id {
                return Err(ApiError::conflict_typed(
                    neutron::PORT_IN_USE,
                    format!("Port {port_id} is still in use."),
                ));
            }
            bind(c, port, &device_id, &host)
        })
        .await
    }

    /// Gives a NIC's port back: deleted when compute made it, else unbound. A port
    /// that is already gone is fine (replayed after a crash).
    pub(crate) async fn instance_port_release(
        &self,
        port_id: String,
        delete: bool,
    ) -> ApiResult<()> {
        self.write(move |c| {
            let Some(mut port) = store::get::<Port>(c, &port_id)? else {
                return Ok(());
            };
            if delete {
                return delete_port_tx(c, &port);
            }
            port.device_id.clear();
            port.device_owner.clear();
            port.binding_host_id.clear();
            port.binding_vif_type = "unbound".into();
            port.status = "DOWN".into();
            port.std.touch();
            store::put(c, &port)
        })
        .await
    }

    /// Adds or removes a security group (by name or id) on every given port.
    pub(crate) async fn instance_security_group(
        &self,
        ctx: &RequestContext,
        port_ids: Vec<String>,
        group: String,
        add: bool,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let project = ctx.project_id().unwrap_or_default().to_owned();
            let mut ports = Vec::new();
            for id in &port_ids {
                let p: Port = store::get(c, id)?.ok_or_else(|| not_found(PORT, id))?;
                ports.push(p);
            }
            let owner = ports
                .first()
                .map(|p| p.std.project_id.clone())
                .unwrap_or(project);
            let gid = group_ids(c, &owner, std::slice::from_ref(&group))?
                .pop()
                .ok_or_else(|| ApiError::not_found("security group", group.clone()))?;
            let mut found = false;
            for mut p in ports {
                let has = p.security_groups.contains(&gid);
                found |= has;
                if add && !has {
                    if !p.port_security_enabled {
                        return Err(ApiError::bad_request(
                            "Cannot add security group to a port with port security disabled.",
                        ));
                    }
                    p.security_groups.push(gid.clone());
                } else if !add && has {
                    p.security_groups.retain(|g| *g != gid);
                } else {
                    continue;
                }
                p.std.touch();
                store::put(c, &p)?;
            }
            if !add && !found {
                return Err(ApiError::bad_request(format!(
                    "Security group {group} not associated with the instance"
                )));
            }
            Ok(())
        })
        .await
    }

    /// The NICs behind `port_ids`, in that order (missing ports are skipped).
    pub(crate) async fn instance_nics(&self, port_ids: Vec<String>) -> ApiResult<Vec<InstanceNic>> {
        self.read(move |c| {
            if port_ids.is_empty() {
                return Ok(vec![]);
            }
            let fips = store::list::<FloatingIp>(c)?;
            let all_subnets = store::list::<Subnet>(c)?;
            let mut out = Vec::new();
            for id in port_ids {
                let Some(port) = store::get::<Port>(c, &id)? else {
                    continue;
                };
                let Some(network) = store::get::<Network>(c, &port.network_id)? else {
                    continue;
                };
                let subnets = all_subnets
                    .iter()
                    .filter(|s| s.network_id == network.std.id)
                    .cloned()
                    .collect();
                let floating_ips = fips
                    .iter()
                    .filter(|f| f.port_id.as_deref() == Some(port.std.id.as_str()))
                    .map(|f| f.floating_ip_address.clone())
                    .collect();
                out.push(InstanceNic {
                    port,
                    network,
                    subnets,
                    floating_ips,
                });
            }
            Ok(out)
        })
        .await
    }

    /// The port on `network_id` holding `ip`, for the metadata service.
    pub(crate) async fn port_by_address(
        &self,
        network_id: String,
        ip: String,
    ) -> ApiResult<Option<Port>> {
        self.read(move |c| {
            Ok(store::list::<Port>(c)?.into_iter().find(|p| {
                p.network_id == network_id && p.fixed_ips.iter().any(|f| f.ip_address == ip)
            }))
        })
        .await
    }

    /// Waits until the dataplane converged every change committed before this call
    /// (or `timeout` passes: the caller then goes on and the VMM reports any gap).
    pub(crate) async fn wait_converged(&self, timeout: Duration) -> bool {
        let target = self.change_seq();
        let mut rx = self.inner.converged.subscribe();
        let done = tokio::time::timeout(timeout, rx.wait_for(|seen| *seen >= target)).await;
        matches!(done, Ok(Ok(_)))
    }
}

fn bind(c: &Connection, mut port: Port, device_id: &str, host: &str) -> ApiResult<Port> {
    port.device_id = device_id.to_owned();
    if port.device_owner.is_empty() {
        port.device_owner = OWNER_COMPUTE.into();
    }
    port.binding_host_id = host.to_owned();
    port.binding_vif_type = "bridge".into();
    port.status = "ACTIVE".into();
    port.std.touch();
    store::put(c, &port)?;
    Ok(port)
}

/// Security group ids for names or ids the project may use.
fn group_ids(c: &Connection, project: &str, wanted: &[String]) -> ApiResult<Vec<String>> {
    let groups: Vec<SecurityGroup> = store::list(c)?;
    if wanted.iter().any(|w| w == "default") {
        super::security::ensure_default_group(c, project)?;
    }
    let groups = if wanted.iter().any(|w| w == "default") {
        store::list(c)?
    } else {
        groups
    };
    wanted
        .iter()
        .map(|w| {
            let usable = |g: &&SecurityGroup| g.std.project_id == project || g.shared;
            let by_id = groups.iter().filter(usable).find(|g| g.std.id == *w);
            let mut by_name = groups.iter().filter(usable).filter(|g| g.name == *w);
            match (by_id, by_name.next(), by_name.next()) {
                (Some(g), _, _) => Ok(g.std.id.clone()),
                (None, Some(g), None) => Ok(g.std.id.clone()),
                (None, Some(_), Some(_)) => Err(ApiError::Conflict(format!(
                    "Multiple security groups found matching '{w}'. Use an ID to be more specific."
                ))),
                (None, None, _) => Err(ApiError::bad_request(format!(
                    "Security group {w} not found."
                ))),
            }
        })
        .collect()
}

impl NetworkService {
    /// Security group id → name, for server views.
    pub(crate) async fn security_group_names(
        &self,
    ) -> ApiResult<std::collections::HashMap<String, String>> {
        self.read(|c| {
            Ok(store::list::<SecurityGroup>(c)?
                .into_iter()
                .map(|g| (g.std.id, g.name))
                .collect())
        })
        .await
    }

    /// Ports whose device is `device_id` (a server), for os-interface.
    #[cfg(test)]
    pub(crate) async fn ports_of_device(&self, device_id: String) -> ApiResult<Vec<Port>> {
        self.read(move |c| {
            Ok(store::list::<Port>(c)?
                .into_iter()
                .filter(|p| p.device_id == device_id)
                .collect())
        })
        .await
    }
    /// What Nova's API checks before it accepts a server create: every given
    /// port is the caller's and free, every named security group resolves in
    /// the caller's project (by name or id) or is shared.
    pub(crate) async fn instance_boot_check(
        &self,
        ctx: &RequestContext,
        port_ids: Vec<String>,
        security_groups: Vec<String>,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            for id in &port_ids {
                let port: Port = load_visible(c, &ctx, id)
                    .map_err(|_| ApiError::bad_request(format!("Port {id} could not be found.")))?;
                may_change(&ctx, &port.std.project_id)
                    .map_err(|_| ApiError::bad_request(format!("Port {id} could not be found.")))?;
                if !port.device_id.is_empty() {
                    return Err(ApiError::conflict_typed(
                        neutron::PORT_IN_USE,
                        format!("Port {id} is still in use."),
                    ));
                }
            }
            if !security_groups.is_empty() {
                let project = ctx.project_id().unwrap_or_default().to_owned();
                group_ids(c, &project, &security_groups)?;
            }
            Ok(())
        })
        .await
    }
}
