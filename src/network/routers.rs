//! Routers with their interfaces, external gateway and static routes, and floating
//! IPs (Networking API v2.0: Routers, Floating IPs).

use rusqlite::Connection;
use serde::Deserialize;

use super::model::*;
use super::ports::{FixedIpRequest, PortSpec, create_service_port, delete_port_tx};
use super::{
    NetworkService, ipam, load_visible, may_change, not_found, owner_project, quotas, sees, store,
};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult, neutron};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouterInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    /// `Some(None)` clears the gateway.
    #[serde(default, deserialize_with = "explicit_null")]
    pub external_gateway_info: Option<Option<GatewayRequest>>,
    /// `null` clears the routes, as `[]` does.
    #[serde(default, deserialize_with = "null_is_empty")]
    pub routes: Option<Vec<Route>>,
    pub distributed: Option<bool>,
    pub ha: Option<bool>,
    pub availability_zone_hints: Option<Vec<String>>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// `null` and `{}` both clear the gateway (what `router unset --external-gateway` sends).
fn explicit_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<GatewayRequest>>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None => Ok(Some(None)),
        Some(serde_json::Value::Object(o)) if o.is_empty() => Ok(Some(None)),
        Some(v) => serde_json::from_value(v)
            .map(|g| Some(Some(g)))
            .map_err(serde::de::Error::custom),
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayRequest {
    pub network_id: String,
    pub enable_snat: Option<bool>,
    pub external_fixed_ips: Option<Vec<FixedIpRequest>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InterfaceRequest {
    pub subnet_id: Option<String>,
    pub port_id: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FloatingIpInput {
    pub floating_network_id: Option<String>,
    pub floating_ip_address: Option<String>,
    pub subnet_id: Option<String>,
    /// `Some(None)` disassociates.
    #[serde(default, deserialize_with = "explicit_null_str")]
    pub port_id: Option<Option<String>>,
    pub fixed_ip_address: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub dns_domain: Option<String>,
    pub dns_name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub qos_policy_id: Option<String>,
}

fn null_is_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<Route>>, D::Error> {
    Option::<Vec<Route>>::deserialize(d).map(|r| Some(r.unwrap_or_default()))
}

fn explicit_null_str<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// What `add_router_interface` / `remove_router_interface` answer.
#[derive(Debug, Clone)]
pub(crate) struct InterfaceInfo {
    pub router_id: String,
    pub project_id: String,
    pub port_id: String,
    pub subnet_id: String,
    pub network_id: String,
}

fn router_ports(c: &Connection, router_id: &str) -> ApiResult<Vec<Port>> {
    Ok(store::list::<Port>(c)?
        .into_iter()
        .filter(|p| p.device_id == router_id && p.device_owner.starts_with("network:router"))
        .collect())
}

/// Sets, changes or clears a router's external gateway. On the same network with
/// no addresses asked for, only SNAT may change; otherwise the old gateway port
/// goes and a new one is made.
fn set_gateway(
    c: &Connection,
    ctx: &RequestContext,
    router: &mut Router,
    request: Option<GatewayRequest>,
) -> ApiResult<()> {
    if let (Some(cur), Some(req)) = (&router.external_gateway_info, &request)
        && cur.network_id == req.network_id
        && req.external_fixed_ips.is_none()
    {
        if let Some(snat) = req.enable_snat {
            router.external_gateway_info = Some(GatewayInfo {
                enable_snat: snat,
                ..cur.clone()
            });
        }
        return Ok(());
    }
    if router.external_gateway_info.is_some() {
        clear_gateway(c, router, request.is_none())?;
    }
    match request {
        Some(req) => attach_gateway(c, ctx, router, req),
        None => Ok(()),
    }
}

/// Removes the router's gateway ports. Clearing the gateway for good is refused
/// while floating IPs go through the router.
fn clear_gateway(c: &Connection, router: &mut Router, for_good: bool) -> ApiResult<()> {
    if for_good
        && store::list::<FloatingIp>(c)?
            .iter()
            .any(|f| f.router_id.as_deref() == Some(router.std.id.as_str()))
    {
        return Err(ApiError::conflict_typed(
            neutron::ROUTER_EXTERNAL_GATEWAY_IN_USE_BY_FLOATING_IP,
            format!(
                "Gateway cannot be updated for router {}, since a gateway to external network is required by one or more floating IPs.",
                router.std.id
            ),
        ));
    }
    for p in router_ports(c, &router.std.id)?
        .into_iter()
        .filter(|p| p.device_owner == OWNER_ROUTER_GATEWAY)
    {
        delete_port_tx(c, &p)?;
    }
    router.external_gateway_info = None;
    Ok(())
}

/// Gives the router a gateway port on an external network.
fn attach_gateway(
    c: &Connection,
    ctx: &RequestContext,
    router: &mut Router,
    req: GatewayRequest,
) -> ApiResult<()> {
    let net: Network =
        store::get(c, &req.network_id)?.ok_or_else(|| not_found(NETWORK, &req.network_id))?;
    check_gateway_request(ctx, &net, &req)?;
    let port = create_service_port(
        c,
        PortSpec {
            project_id: String::new(),
            network_id: net.std.id.clone(),
            name: String::new(),
            device_id: router.std.id.clone(),
            device_owner: OWNER_ROUTER_GATEWAY.into(),
            fixed_ips: req.external_fixed_ips,
        },
    )?;
    router.external_gateway_info = Some(GatewayInfo {
        network_id: net.std.id,
        enable_snat: req.enable_snat.unwrap_or(true),
        external_fixed_ips: port.fixed_ips,
    });
    Ok(())
}

/// A gateway goes on an external network; turning SNAT off and choosing the
/// gateway's addresses are admin-only by default.
fn check_gateway_request(
    ctx: &RequestContext,
    net: &Network,
    req: &GatewayRequest,
) -> ApiResult<()> {
    if !net.external {
        return Err(ApiError::bad_request(format!(
            "Bad router request: Network {} is not an external network.",
            net.std.id
        )));
    }
    if req.enable_snat == Some(false) && !crate::http::policy::ROUTER_GATEWAY_SNAT.allows(ctx, None)
    {
        return Err(ApiError::forbidden());
    }
    if req.external_fixed_ips.is_some()
        && !crate::http::policy::ROUTER_GATEWAY_FIXED_IPS.allows(ctx, None)
    {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

/// Routes must point at a next hop on a subnet the router is attached to.
/// Neutron's rule: an IPv6 subnet with an address mode but no RA mode expects
/// advertisements from a router outside OpenStack, so no Neutron router may serve it.
fn refuse_external_ra(subnet: &Subnet) -> ApiResult<()> {
    if subnet.ip_version == 6 && subnet.ipv6_ra_mode.is_none() && subnet.ipv6_address_mode.is_some()
    {
        return Err(ApiError::bad_request(format!(
            "Bad router request: IPv6 subnet {} configured to receive RAs from an external router cannot be added to Neutron Router.",
            subnet.std.id
        )));
    }
    Ok(())
}

/// A router cannot join two subnets whose CIDRs overlap (Neutron's
/// `_check_for_dup_router_subnets`): 400.
fn refuse_overlap(c: &Connection, attached: &[String], subnet: &Subnet) -> ApiResult<()> {
    let Ok(cidr) = subnet.cidr.parse::<ipnet::IpNet>() else {
        return Ok(());
    };
    for id in attached {
        let Some(other) = store::get::<Subnet>(c, id)? else {
            continue;
        };
        let Ok(o) = other.cidr.parse::<ipnet::IpNet>() else {
            continue;
        };
        if o.contains(&cidr.network()) || cidr.contains(&o.network()) {
            return Err(ApiError::bad_request(format!(
                "Bad router request: Cidr {} of subnet {} overlaps with cidr {} of subnet {}.",
                subnet.cidr, subnet.std.id, other.cidr, other.std.id
            )));
        }
    }
    Ok(())
}

fn check_routes(c: &Connection, router_id: &str, routes: &[Route]) -> ApiResult<()> {
    let mut cidrs = Vec::new();
    for p in router_ports(c, router_id)? {
        for f in &p.fixed_ips {
            if let Some(s) = store::get::<Subnet>(c, &f.subnet_id)? {
                cidrs.push(
                    s.cidr
                        .parse::<ipnet::IpNet>()
                        .map_err(|e| ApiError::Internal(e.into()))?,
                );
            }
        }
    }
    for r in routes {
        r.destination.parse::<ipnet::IpNet>().map_err(|_| {
            ApiError::bad_request(format!("Invalid route destination '{}'.", r.destination))
        })?;
        let hop = ipam::parse_ip(&r.nexthop)?;
        if !cidrs.iter().any(|n| n.contains(&hop)) {
            return Err(ApiError::bad_request(format!(
                "Invalid format for routes: the nexthop {} is not connected with router {router_id}.",
                r.nexthop
            )));
        }
    }
    Ok(())
}

/// The subnets a router's legs hold already.
struct AttachedSubnets {
    /// On any leg, the gateway's included: a subnet is attached once.
    all: Vec<String>,
    /// On interface legs only: what a new subnet must not overlap.
    interfaces: Vec<String>,
}

impl AttachedSubnets {
    fn of(c: &Connection, router_id: &str) -> ApiResult<Self> {
        let legs = router_ports(c, router_id)?;
        let subnets = |p: &Port| {
            p.fixed_ips
                .iter()
                .map(|f| f.subnet_id.clone())
                .collect::<Vec<_>>()
        };
        Ok(Self {
            all: legs.iter().flat_map(subnets).collect(),
            interfaces: legs
                .iter()
                .filter(|p| p.device_owner == OWNER_ROUTER_INTERFACE)
                .flat_map(subnets)
                .collect(),
        })
    }
}

/// `add_router_interface` in the write transaction: by subnet (a new leg on its
/// gateway address) or by port (an existing port becomes the leg).
fn add_interface_tx(
    c: &Connection,
    ctx: &RequestContext,
    id: &str,
    req: InterfaceRequest,
) -> ApiResult<InterfaceInfo> {
    let mut router: Router = load_visible(c, ctx, id)?;
    may_change(ctx, &router.std.project_id)?;
    let attached = AttachedSubnets::of(c, id)?;
    let port = match (req.subnet_id, req.port_id) {
        (Some(_), Some(_)) | (None, None) => Err(ApiError::bad_request(
            "Bad router request: Cannot specify both subnet-id and port-id, or neither.",
        )),
        (Some(subnet_id), None) => interface_on_subnet(c, ctx, &router, &attached, subnet_id),
        (None, Some(port_id)) => interface_from_port(c, ctx, id, &attached, &port_id),
    }?;
    router.std.touch();
    store::put(c, &router)?;
    Ok(InterfaceInfo {
        router_id: id.to_owned(),
        project_id: router.std.project_id,
        subnet_id: port
            .fixed_ips
            .first()
            .map(|f| f.subnet_id.clone())
            .unwrap_or_default(),
        network_id: port.network_id,
        port_id: port.std.id,
    })
}

/// A new interface leg holding the subnet's gateway address.
fn interface_on_subnet(
    c: &Connection,
    ctx: &RequestContext,
    router: &Router,
    attached: &AttachedSubnets,
    subnet_id: String,
) -> ApiResult<Port> {
    let subnet: Subnet = store::get(c, &subnet_id)?
        .filter(|s: &Subnet| {
            sees(ctx, &s.std.project_id)
                || super::shared_with_all(c, NETWORK, &s.network_id).unwrap_or(false)
        })
        .ok_or_else(|| not_found(SUBNET, &subnet_id))?;
    let gateway = subnet.gateway_ip.clone().ok_or_else(|| {
        ApiError::bad_request(format!(
            "Bad router request: Subnet {subnet_id} does not have a gateway IP."
        ))
    })?;
    if attached.all.contains(&subnet_id) {
        return Err(ApiError::bad_request(format!(
            "Bad router request: Router already has a port on subnet {subnet_id}."
        )));
    }
    refuse_overlap(c, &attached.interfaces, &subnet)?;
    refuse_external_ra(&subnet)?;
    create_service_port(
        c,
        PortSpec {
            project_id: router.std.project_id.clone(),
            network_id: subnet.network_id.clone(),
            name: String::new(),
            device_id: router.std.id.clone(),
            device_owner: OWNER_ROUTER_INTERFACE.into(),
            fixed_ips: Some(vec![FixedIpRequest {
                subnet_id: Some(subnet_id),
                ip_address: Some(gateway),
            }]),
        },
    )
}

/// An unused port with addresses on new, non-overlapping subnets becomes an
/// interface leg of router `router_id`.
fn interface_from_port(
    c: &Connection,
    ctx: &RequestContext,
    router_id: &str,
    attached: &AttachedSubnets,
    port_id: &str,
) -> ApiResult<Port> {
    let mut port: Port = load_visible(c, ctx, port_id)?;
    check_interface_port(c, &port, attached)?;
    port.device_id = router_id.to_owned();
    port.device_owner = OWNER_ROUTER_INTERFACE.into();
    port.security_groups.clear();
    port.port_security_enabled = false;
    port.status = "ACTIVE".into();
    port.std.touch();
    store::put(c, &port)?;
    Ok(port)
}

/// Whether `port` may become a router leg: unused, with addresses, none on a
/// subnet the router has, none overlapping its interfaces or served by an
/// outside router.
fn check_interface_port(c: &Connection, port: &Port, attached: &AttachedSubnets) -> ApiResult<()> {
    let port_id = &port.std.id;
    if !port.device_id.is_empty() || !port.device_owner.is_empty() {
        return Err(ApiError::conflict_typed(
            neutron::PORT_IN_USE,
            format!("Port {port_id} is in use by {}.", port.device_owner),
        ));
    }
    if port.fixed_ips.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Bad router request: Router port {port_id} must have at least one fixed IP."
        )));
    }
    if port
        .fixed_ips
        .iter()
        .any(|f| attached.all.contains(&f.subnet_id))
    {
        return Err(ApiError::bad_request(
            "Bad router request: Router already has a port on that subnet.",
        ));
    }
    for f in &port.fixed_ips {
        if let Some(subnet) = store::get::<Subnet>(c, &f.subnet_id)? {
            refuse_overlap(c, &attached.interfaces, &subnet)?;
            refuse_external_ra(&subnet)?;
        }
    }
    Ok(())
}

impl NetworkService {
    pub(crate) async fn router_create(
        &self,
        ctx: &RequestContext,
        input: RouterInput,
    ) -> ApiResult<Router> {
        let project = owner_project(ctx, input.project_id.clone().or(input.tenant_id.clone()))?;
        if !ctx.can_write() {
            return Err(ApiError::forbidden());
        }
        if input.distributed == Some(true) || input.ha == Some(true) {
            return Err(ApiError::bad_request(
                "Distributed and HA routers are not supported on a single node.",
            ));
        }
        let ctx = ctx.clone();
        self.write(move |c| {
            quotas::check(c, ROUTER, &project)?;
            let mut std = Std::new(&project, input.description);
            std.tags = input.tags.unwrap_or_default();
            let mut router = Router {
                std,
                name: input.name.unwrap_or_default(),
                admin_state_up: input.admin_state_up.unwrap_or(true),
                status: "ACTIVE".into(),
                external_gateway_info: None,
                routes: vec![],
                distributed: false,
                ha: false,
                availability_zone_hints: input.availability_zone_hints.unwrap_or_default(),
                availability_zones: vec!["nova".into()],
                flavor_id: None,
            };
            if let Some(gw) = input.external_gateway_info {
                set_gateway(c, &ctx, &mut router, gw)?;
            }
            if input.routes.is_some_and(|r| !r.is_empty()) {
                return Err(ApiError::bad_request(
                    "A new router has no interfaces to route through yet.",
                ));
            }
            store::put(c, &router)?;
            Ok(router)
        })
        .await
    }

    pub(crate) async fn router_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Router> {
        self.get_visible(ctx, id).await
    }

    pub(crate) async fn router_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Router>> {
        self.list_owned(ctx).await
    }

    pub(crate) async fn router_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: RouterInput,
        if_match: Option<String>,
    ) -> ApiResult<Router> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut router: Router = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &router.std.project_id)?;
            super::check_revision(&router.std, if_match.as_deref())?;
            if let Some(v) = input.name {
                router.name = v;
            }
            if let Some(v) = input.description {
                router.std.description = v;
            }
            if let Some(v) = input.admin_state_up {
                router.admin_state_up = v;
            }
            if let Some(v) = input.tags {
                router.std.tags = v;
            }
            if let Some(gw) = input.external_gateway_info {
                set_gateway(c, &ctx, &mut router, gw)?;
            }
            if let Some(routes) = input.routes {
                check_routes(c, &id, &routes)?;
                router.routes = routes;
            }
            router.std.touch();
            store::put(c, &router)?;
            Ok(router)
        })
        .await
    }

    /// `DELETE /v2.0/routers/{id}`: 409 while interfaces are attached.
    pub(crate) async fn router_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut router: Router = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &router.std.project_id)?;
            if router_ports(c, &id)?
                .iter()
                .any(|p| p.device_owner == OWNER_ROUTER_INTERFACE)
            {
                return Err(ApiError::conflict_typed(
                    neutron::ROUTER_IN_USE,
                    format!("Router {id} still has ports"),
                ));
            }
            set_gateway(c, &ctx, &mut router, None)?;
            store::delete::<Router>(c, &id)
        })
        .await
    }

    /// `PUT /v2.0/routers/{id}/add_router_interface`.
    pub(crate) async fn router_add_interface(
        &self,
        ctx: &RequestContext,
        id: String,
        req: InterfaceRequest,
    ) -> ApiResult<InterfaceInfo> {
        let ctx = ctx.clone();
        self.write(move |c| add_interface_tx(c, &ctx, &id, req))
            .await
    }

    /// `PUT /v2.0/routers/{id}/remove_router_interface`.
    pub(crate) async fn router_remove_interface(
        &self,
        ctx: &RequestContext,
        id: String,
        req: InterfaceRequest,
    ) -> ApiResult<InterfaceInfo> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut router: Router = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &router.std.project_id)?;
            let ports: Vec<Port> = router_ports(c, &id)?.into_iter().filter(|p| p.device_owner == OWNER_ROUTER_INTERFACE).collect();
            let port = ports
                .into_iter()
                .find(|p| {
                    req.port_id.as_ref().is_some_and(|pid| *pid == p.std.id)
                        || req.subnet_id.as_ref().is_some_and(|sid| p.fixed_ips.iter().any(|f| f.subnet_id == *sid))
                })
                .ok_or_else(|| {
                    ApiError::Missing(format!(
                        "Router {id} has no interface on {}.",
                        req.subnet_id.clone().or(req.port_id.clone()).unwrap_or_default()
                    ))
                })?;
            let subnet_id = port.fixed_ips.first().map(|f| f.subnet_id.clone()).unwrap_or_default();
            let in_use = store::list::<FloatingIp>(c)?.iter().any(|f| {
                f.router_id.as_deref() == Some(id.as_str())
                    && f.port_id.as_ref().and_then(|p| store::get::<Port>(c, p).ok().flatten()).is_some_and(|p| p.fixed_ips.iter().any(|x| x.subnet_id == subnet_id))
            });
            if in_use || super::port_forwarding::router_subnet_in_use(c, &id, &subnet_id)? {
                return Err(ApiError::conflict_typed(neutron::ROUTER_INTERFACE_IN_USE_BY_FLOATING_IP, format!(
                    "Router interface for subnet {subnet_id} on router {id} cannot be deleted, as it is required by one or more floating IPs."
                )));
            }
            if router.routes.iter().any(|r| {
                let hop = r.nexthop.parse::<std::net::IpAddr>().ok();
                store::get::<Subnet>(c, &subnet_id).ok().flatten().and_then(|s| s.cidr.parse::<ipnet::IpNet>().ok()).zip(hop).is_some_and(|(n, h)| n.contains(&h))
            }) {
                return Err(ApiError::conflict_typed(neutron::ROUTER_INTERFACE_IN_USE_BY_ROUTE, format!("Router interface for subnet {subnet_id} on router {id} cannot be deleted, as it is required by one or more routes.")));
            }
            delete_port_tx(c, &port)?;
            router.std.touch();
            store::put(c, &router)?;
            Ok(InterfaceInfo { router_id: id, project_id: router.std.project_id, subnet_id, network_id: port.network_id, port_id: port.std.id })
        })
        .await
    }

    // --- floating IPs -----------------------------------------------------------------

    pub(crate) async fn floating_ip_create(
        &self,
        ctx: &RequestContext,
        input: FloatingIpInput,
    ) -> ApiResult<FloatingIp> {
        let project = owner_project(ctx, input.project_id.clone().or(input.tenant_id.clone()))?;
        if !ctx.can_write() {
            return Err(ApiError::forbidden());
        }
        let ctx = ctx.clone();
        self.write(move |c| {
            let net_id = input.floating_network_id.clone().ok_or_else(|| ApiError::bad_request("Invalid input: floating_network_id is required."))?;
            let net: Network = store::get(c, &net_id)?.filter(|n: &Network| n.external || sees(&ctx, &n.std.project_id)).ok_or_else(|| not_found(NETWORK, &net_id))?;
            if !net.external {
                return Err(ApiError::bad_request(format!("Bad floatingip request: Network {net_id} is not a valid external network.")));
            }
            if input.floating_ip_address.is_some() && !crate::http::policy::FLOATINGIP_ADDRESS.allows(&ctx, None) {
                return Err(ApiError::forbidden());
            }
            quotas::check(c, FLOATING_IP, &project)?;
            let mut std = Std::new(&project, input.description);
            std.tags = input.tags.unwrap_or_default();
            let request = FixedIpRequest { subnet_id: input.subnet_id, ip_address: input.floating_ip_address };
            let requests = (request.subnet_id.is_some() || request.ip_address.is_some()).then(|| vec![request]);
            let port = create_service_port(
                c,
                PortSpec {
                    project_id: String::new(),
                    network_id: net_id.clone(),
                    name: String::new(),
                    device_id: std.id.clone(),
                    device_owner: OWNER_FLOATING_IP.into(),
                    fixed_ips: requests,
                },
            )?;
            let address = port.fixed_ips.first().map(|f| f.ip_address.clone()).ok_or_else(|| {
                ApiError::bad_request(format!("Bad floatingip request: Network {net_id} has no subnet to take an address from."))
            })?;
            let mut fip = FloatingIp {
                std,
                floating_ip_address: address,
                floating_network_id: net_id,
                router_id: None,
                port_id: None,
                fixed_ip_address: None,
                status: "DOWN".into(),
                dns_domain: input.dns_domain.unwrap_or_default(),
                dns_name: input.dns_name.unwrap_or_default(),
                qos_policy_id: input.qos_policy_id,
            };
            if let Some(Some(port_id)) = input.port_id {
                associate(c, &ctx, &mut fip, &port_id, input.fixed_ip_address.as_deref())?;
            }
            store::put(c, &fip)?;
            Ok(fip)
        })
        .await
    }

    pub(crate) async fn floating_ip_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<FloatingIp> {
        self.get_visible(ctx, id).await
    }

    pub(crate) async fn floating_ip_list(
        &self,
        ctx: &RequestContext,
    ) -> ApiResult<Vec<FloatingIp>> {
        self.list_owned(ctx).await
    }

    /// `PUT /v2.0/floatingips/{id}`: associate with a port, or disassociate with null.
    pub(crate) async fn floating_ip_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: FloatingIpInput,
        if_match: Option<String>,
    ) -> ApiResult<FloatingIp> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut fip: FloatingIp = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &fip.std.project_id)?;
            super::check_revision(&fip.std, if_match.as_deref())?;
            if input.floating_network_id.is_some() || input.floating_ip_address.is_some() {
                return Err(ApiError::bad_request(
                    "Cannot update read-only attribute floating_network_id or floating_ip_address",
                ));
            }
            if let Some(d) = input.description {
                fip.std.description = d;
            }
            if let Some(t) = input.tags {
                fip.std.tags = t;
            }
            match input.port_id {
                None => {}
                // A floating IP that serves port forwardings stays on its router.
                Some(None) if fip.port_id.is_none() => {}
                Some(None) => {
                    fip.port_id = None;
                    fip.fixed_ip_address = None;
                    fip.router_id = None;
                    fip.status = "DOWN".into();
                }
                Some(Some(port_id)) => {
                    super::port_forwarding::check_fip_free(c, &id)?;
                    associate(
                        c,
                        &ctx,
                        &mut fip,
                        &port_id,
                        input.fixed_ip_address.as_deref(),
                    )?
                }
            }
            fip.std.touch();
            store::put(c, &fip)?;
            Ok(fip)
        })
        .await
    }

    pub(crate) async fn floating_ip_delete(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let fip: FloatingIp = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &fip.std.project_id)?;
            super::port_forwarding::check_fip_free(c, &id)?;
            for p in store::list::<Port>(c)?
                .into_iter()
                .filter(|p| p.device_owner == OWNER_FLOATING_IP && p.device_id == id)
            {
                delete_port_tx(c, &p)?;
            }
            store::delete::<FloatingIp>(c, &id)
        })
        .await
    }
}

/// Points a floating IP at a port's fixed address, through a router that has a
/// gateway on the floating network and an interface on the port's subnet.
fn associate(
    c: &Connection,
    ctx: &RequestContext,
    fip: &mut FloatingIp,
    port_id: &str,
    fixed: Option<&str>,
) -> ApiResult<()> {
    let port: Port = store::get(c, port_id)?
        .filter(|p: &Port| sees(ctx, &p.std.project_id))
        .ok_or_else(|| not_found(PORT, port_id))?;
    let fixed_ip = floating_target(&port, fixed)?;
    let taken = store::list::<FloatingIp>(c)?.into_iter().find(|f| {
        f.std.id != fip.std.id
            && f.port_id.as_deref() == Some(port_id)
            && f.fixed_ip_address.as_deref() == Some(fixed_ip.ip_address.as_str())
    });
    if let Some(other) = taken {
        return Err(ApiError::conflict_typed(
            neutron::FLOATING_IP_PORT_ALREADY_ASSOCIATED,
            format!(
                "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {}, as that fixed IP already has a floating IP on external network {}.",
                fip.floating_ip_address, fip.std.id, fixed_ip.ip_address, other.floating_network_id
            ),
        ));
    }
    let router = router_for_subnet(c, &fip.floating_network_id, &fixed_ip.subnet_id)?;
    let router = router.ok_or_else(|| {
        ApiError::Missing(format!(
            "External network {} is not reachable from subnet {}. Therefore, cannot associate Port {port_id} with a Floating IP.",
            fip.floating_network_id, fixed_ip.subnet_id
        ))
    })?;
    fip.port_id = Some(port_id.to_owned());
    fip.fixed_ip_address = Some(fixed_ip.ip_address);
    fip.router_id = Some(router);
    fip.status = "ACTIVE".into();
    Ok(())
}

/// The port's fixed IP a floating IP maps to: the one asked for, or the port's
/// first IPv4 address.
fn floating_target(port: &Port, fixed: Option<&str>) -> ApiResult<FixedIp> {
    let port_id = &port.std.id;
    match fixed {
        Some(ip) => port
            .fixed_ips
            .iter()
            .find(|f| f.ip_address == ip)
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Bad floatingip request: Port {port_id} does not have fixed ip {ip}."
                ))
            }),
        None => port
            .fixed_ips
            .iter()
            .find(|f| {
                f.ip_address
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|a| a.is_ipv4())
            })
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Bad floatingip request: Port {port_id} has no IPv4 address."
                ))
            }),
    }
}

/// The router with a gateway on `external_network_id` and an interface on
/// `subnet_id`: the one that carries a floating IP of that network to the subnet.
pub(super) fn router_for_subnet(
    c: &Connection,
    external_network_id: &str,
    subnet_id: &str,
) -> ApiResult<Option<String>> {
    for r in store::list::<Router>(c)? {
        let gateway = r
            .external_gateway_info
            .as_ref()
            .is_some_and(|g| g.network_id == external_network_id);
        if gateway
            && router_ports(c, &r.std.id)?.iter().any(|p| {
                p.device_owner == OWNER_ROUTER_INTERFACE
                    && p.fixed_ips.iter().any(|f| f.subnet_id == subnet_id)
            })
        {
            return Ok(Some(r.std.id));
        }
    }
    Ok(None)
}
