//! Networks and subnets (Networking API v2.0: Networks, Subnets).

use std::collections::HashSet;

use rusqlite::Connection;
use serde::Deserialize;

use super::model::*;
use super::{
    NetworkService, ipam, load_visible, may_change, not_found, owner_project, ports, quotas, sees,
    store, subnetpools,
};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult, neutron};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub shared: Option<bool>,
    #[serde(rename = "router:external")]
    pub external: Option<bool>,
    pub mtu: Option<u32>,
    pub port_security_enabled: Option<bool>,
    #[serde(rename = "provider:network_type")]
    pub network_type: Option<String>,
    #[serde(rename = "provider:physical_network")]
    pub physical_network: Option<String>,
    #[serde(rename = "provider:segmentation_id")]
    pub segmentation_id: Option<u32>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub availability_zone_hints: Option<Vec<String>>,
    pub dns_domain: Option<String>,
    pub is_default: Option<bool>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubnetInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub network_id: Option<String>,
    pub ip_version: Option<u8>,
    pub cidr: Option<String>,
    /// `Some(None)` is an explicit `null`: no gateway.
    #[serde(default, deserialize_with = "explicit_null")]
    pub gateway_ip: Option<Option<String>>,
    pub allocation_pools: Option<Vec<AllocationPool>>,
    pub dns_nameservers: Option<Vec<String>>,
    pub host_routes: Option<Vec<HostRoute>>,
    pub enable_dhcp: Option<bool>,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    pub subnetpool_id: Option<String>,
    /// A number or a numeric string (the openstack CLI sends `"24"`).
    pub prefixlen: Option<serde_json::Value>,
    pub use_default_subnetpool: Option<bool>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub service_types: Option<Vec<String>>,
    pub segment_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

fn explicit_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

const DEFAULT_MTU: u32 = 1500;

fn check_name(name: &Option<String>) -> ApiResult<()> {
    if name.as_ref().is_some_and(|n| n.len() > 255) {
        return Err(ApiError::bad_request(
            "Invalid input for name: the name is longer than 255 characters.",
        ));
    }
    Ok(())
}

/// Neutron's rule for `is_default`: at most one default external network.
fn only_default_external(c: &Connection, net: &Network) -> ApiResult<()> {
    if !net.is_default {
        return Ok(());
    }
    let other = store::list::<Network>(c)?
        .into_iter()
        .find(|n| n.external && n.is_default && n.std.id != net.std.id);
    match other {
        Some(n) => Err(ApiError::conflict_typed(
            neutron::DEFAULT_EXTERNAL_NETWORK_EXISTS,
            format!("A default external network already exists: {}.", n.std.id),
        )),
        None => Ok(()),
    }
}

fn provider_requested(i: &NetworkInput) -> bool {
    i.network_type.is_some() || i.physical_network.is_some() || i.segmentation_id.is_some()
}

/// Sharing, external and provider attributes are admin-only by default; the
/// name and MTU must be valid.
fn check_network_create(ctx: &RequestContext, input: &NetworkInput) -> ApiResult<()> {
    let privileged = input.shared == Some(true)
        || input.external == Some(true)
        || input.is_default == Some(true)
        || provider_requested(input);
    if privileged && !crate::http::policy::NETWORK_PRIVILEGED_ATTRIBUTES.allows(ctx, None) {
        return Err(ApiError::Forbidden(
            "(rule:create_network and (rule:create_network:shared or rule:create_network:router:external or rule:create_network:provider)) is disallowed by policy".into(),
        ));
    }
    check_name(&input.name)?;
    if input.mtu.is_some_and(|m| !(68..=9000).contains(&m)) {
        return Err(ApiError::bad_request(
            "Invalid input for mtu: it must be between 68 and 9000.",
        ));
    }
    Ok(())
}

/// The network a create request describes, with Neutron's defaults: an external
/// network is flat on physnet `public`, any other `local`.
fn new_network(project: &str, input: NetworkInput) -> Network {
    let external = input.external.unwrap_or(false);
    let mut std = Std::new(project, input.description);
    std.tags = input.tags.unwrap_or_default();
    Network {
        std,
        name: input.name.unwrap_or_default(),
        admin_state_up: input.admin_state_up.unwrap_or(true),
        status: "ACTIVE".into(),
        subnets: vec![],
        shared: input.shared.unwrap_or(false),
        external,
        mtu: input.mtu.unwrap_or(DEFAULT_MTU),
        port_security_enabled: input.port_security_enabled.unwrap_or(true),
        network_type: input
            .network_type
            .unwrap_or_else(|| if external { "flat" } else { "local" }.into()),
        physical_network: input
            .physical_network
            .or_else(|| external.then(|| "public".into())),
        segmentation_id: input.segmentation_id,
        availability_zone_hints: input.availability_zone_hints.unwrap_or_default(),
        availability_zones: vec!["nova".into()],
        ipv4_address_scope: None,
        ipv6_address_scope: None,
        // Only an external network can be the default one (Neutron keeps the
        // flag with the network's external record).
        is_default: external && input.is_default.unwrap_or(false),
        dns_domain: input.dns_domain.unwrap_or_default(),
        l2_adjacency: true,
    }
}

/// Changing sharing, external or provider attributes is admin-only by default;
/// the owner is read-only; a new name must be valid.
fn check_network_update(ctx: &RequestContext, input: &NetworkInput) -> ApiResult<()> {
    let privileged = input.shared.is_some()
        || input.external.is_some()
        || input.is_default.is_some()
        || provider_requested(input);
    if privileged && !crate::http::policy::NETWORK_PRIVILEGED_ATTRIBUTES.allows(ctx, None) {
        return Err(ApiError::forbidden());
    }
    if input.project_id.is_some() || input.tenant_id.is_some() {
        return Err(ApiError::bad_request(
            "Cannot update read-only attribute project_id",
        ));
    }
    check_name(&input.name)
}

/// Overwrites the attributes the update gives; only an external network stays
/// the default one.
fn apply_network_update(net: &mut Network, input: NetworkInput) {
    if let Some(v) = input.name {
        net.name = v;
    }
    if let Some(v) = input.description {
        net.std.description = v;
    }
    if let Some(v) = input.admin_state_up {
        net.admin_state_up = v;
    }
    if let Some(v) = input.shared {
        net.shared = v;
    }
    if let Some(v) = input.external {
        net.external = v;
    }
    if let Some(v) = input.is_default {
        net.is_default = v;
    }
    net.is_default &= net.external;
    if let Some(v) = input.mtu {
        net.mtu = v;
    }
    if let Some(v) = input.port_security_enabled {
        net.port_security_enabled = v;
    }
    if let Some(v) = input.dns_domain {
        net.dns_domain = v;
    }
    if let Some(v) = input.tags {
        net.std.tags = v;
    }
}

impl NetworkService {
    /// `POST /v2.0/networks`.
    pub(crate) async fn network_create(
        &self,
        ctx: &RequestContext,
        input: NetworkInput,
    ) -> ApiResult<Network> {
        let project = owner_project(ctx, input.project_id.clone().or(input.tenant_id.clone()))?;
        if !ctx.can_write() {
            return Err(ApiError::forbidden());
        }
        check_network_create(ctx, &input)?;
        let net = new_network(&project, input);
        self.write(move |c| {
            quotas::check(c, NETWORK, &net.std.project_id)?;
            only_default_external(c, &net)?;
            if net.external && store::list::<Network>(c)?.iter().any(|n| n.external) {
                tracing::info!("a second external network shares the external bridge");
            }
            store::put(c, &net)?;
            Ok(net)
        })
        .await
    }

    pub(crate) async fn network_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Network> {
        self.get_visible(ctx, id).await
    }

    pub(crate) async fn network_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Network>> {
        let ctx = ctx.clone();
        self.read(move |c| {
            Ok(store::list::<Network>(c)?
                .into_iter()
                .filter(|n| sees(&ctx, &n.std.project_id) || n.shared || n.external)
                .collect())
        })
        .await
    }

    /// `PUT /v2.0/networks/{id}`.
    pub(crate) async fn network_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: NetworkInput,
        if_match: Option<String>,
    ) -> ApiResult<Network> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut net: Network = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &net.std.project_id)?;
            super::check_revision(&net.std, if_match.as_deref())?;
            check_network_update(&ctx, &input)?;
            apply_network_update(&mut net, input);
            only_default_external(c, &net)?;
            net.std.touch();
            store::put(c, &net)?;
            Ok(net)
        })
        .await
    }

    /// `DELETE /v2.0/networks/{id}`: 409 while ports other than DHCP are in use.
    pub(crate) async fn network_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let net: Network = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &net.std.project_id)?;
            if net.external {
                // Neutron's delete_disassociated_floatingips: free floating IPs
                // (no port, no forwardings) go with their network.
                let forwarded = store::pf_list(c, None)?;
                for f in store::list::<FloatingIp>(c)?.into_iter().filter(|f| {
                    f.floating_network_id == id
                        && f.port_id.is_none()
                        && !forwarded.iter().any(|pf| pf.floatingip_id == f.std.id)
                }) {
                    for p in store::list::<Port>(c)?
                        .into_iter()
                        .filter(|p| p.device_owner == OWNER_FLOATING_IP && p.device_id == f.std.id)
                    {
                        ports::delete_port_tx(c, &p)?;
                    }
                    store::delete::<FloatingIp>(c, &f.std.id)?;
                }
            }
            let ports: Vec<Port> = store::list::<Port>(c)?.into_iter().filter(|p| p.network_id == id).collect();
            if ports.iter().any(|p| p.device_owner != OWNER_DHCP) {
                return Err(ApiError::conflict_typed(neutron::NETWORK_IN_USE, format!(
                    "Unable to complete operation on network {id}. There are one or more ports still in use on the network."
                )));
            }
            for p in ports {
                ports::delete_port_tx(c, &p)?;
            }
            for s in &net.subnets {
                store::delete::<Subnet>(c, s)?;
                store::pool_allocation_release(c, s)?;
            }
            store::delete::<Network>(c, &id)
        })
        .await
    }

    // --- subnets ------------------------------------------------------------------

    /// `POST /v2.0/subnets`.
    pub(crate) async fn subnet_create(
        &self,
        ctx: &RequestContext,
        input: SubnetInput,
    ) -> ApiResult<Subnet> {
        let ctx = ctx.clone();
        self.write(move |c| subnet_create_tx(c, &ctx, input)).await
    }

    pub(crate) async fn subnet_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Subnet> {
        let ctx = ctx.clone();
        self.read(move |c| {
            let s: Subnet = store::get(c, &id)?.ok_or_else(|| not_found(SUBNET, &id))?;
            if sees(&ctx, &s.std.project_id) || super::shared_with_all(c, NETWORK, &s.network_id)? {
                with_external(c, s)
            } else {
                Err(not_found(SUBNET, &id))
            }
        })
        .await
    }

    pub(crate) async fn subnet_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Subnet>> {
        let ctx = ctx.clone();
        self.read(move |c| {
            let mut out = Vec::new();
            for s in store::list::<Subnet>(c)? {
                if sees(&ctx, &s.std.project_id)
                    || super::shared_with_all(c, NETWORK, &s.network_id)?
                {
                    out.push(with_external(c, s)?);
                }
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn subnet_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: SubnetInput,
        if_match: Option<String>,
    ) -> ApiResult<Subnet> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut s: Subnet = store::get(c, &id)?
                .filter(|s: &Subnet| sees(&ctx, &s.std.project_id))
                .ok_or_else(|| not_found(SUBNET, &id))?;
            may_change(&ctx, &s.std.project_id)?;
            super::check_revision(&s.std, if_match.as_deref())?;
            if input.cidr.is_some() || input.network_id.is_some() || input.ip_version.is_some() {
                return Err(ApiError::bad_request(
                    "Cannot update read-only attribute cidr, network_id or ip_version",
                ));
            }
            let net = ipam::parse_cidr(&s.cidr, s.ip_version)?;
            check_name(&input.name)?;
            if let Some(v) = input.name {
                s.name = v;
            }
            if let Some(v) = input.description {
                s.std.description = v;
            }
            if let Some(g) = input.gateway_ip {
                s.gateway_ip = check_gateway(&net, g.as_deref())?.map(|g| g.to_string());
            }
            if let Some(pools) = input.allocation_pools {
                ipam::check_pools(
                    &net,
                    &pools,
                    s.gateway_ip.as_deref().map(ipam::parse_ip).transpose()?,
                )?;
                s.allocation_pools = pools;
            }
            if let Some(v) = input.dns_nameservers {
                s.dns_nameservers = check_dns(v)?;
            }
            if let Some(v) = input.host_routes {
                s.host_routes = check_routes(v)?;
            }
            if let Some(v) = input.tags {
                s.std.tags = v;
            }
            if let Some(v) = input.enable_dhcp {
                s.enable_dhcp = v;
            }
            s.std.touch();
            store::put(c, &s)?;
            ports::sync_dhcp_port(c, &s.network_id)?;
            with_external(c, s)
        })
        .await
    }

    /// `DELETE /v2.0/subnets/{id}`: 409 while addresses other than DHCP are allocated.
    pub(crate) async fn subnet_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let s: Subnet = store::get(c, &id)?.filter(|s: &Subnet| sees(&ctx, &s.std.project_id)).ok_or_else(|| not_found(SUBNET, &id))?;
            may_change(&ctx, &s.std.project_id)?;
            // On a SLAAC/DHCPv6-stateless subnet the addresses are the ports' own
            // (EUI-64): Neutron takes them off the ports, except router legs.
            let auto = [&s.ipv6_ra_mode, &s.ipv6_address_mode]
                .iter()
                .any(|m| matches!(m.as_deref(), Some("slaac" | "dhcpv6-stateless")));
            let mut strip = Vec::new();
            for (_, port_id) in store::ips_in_subnet(c, &id)? {
                let Some(port) = store::get::<Port>(c, &port_id)? else { continue };
                let router_leg = port.device_owner.starts_with("network:router");
                if port.device_owner == OWNER_DHCP || (auto && !router_leg) {
                    if port.device_owner != OWNER_DHCP {
                        strip.push(port);
                    }
                    continue;
                }
                return Err(ApiError::conflict_typed(
                    neutron::SUBNET_IN_USE,
                    format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
                ));
            }
            for mut port in strip {
                port.fixed_ips.retain(|f| f.subnet_id != id);
                store::ip_release(c, &id, &port.std.id)?;
                port.std.touch();
                store::put(c, &port)?;
            }
            store::delete::<Subnet>(c, &id)?;
            store::pool_allocation_release(c, &id)?;
            if let Some(mut net) = store::get::<Network>(c, &s.network_id)? {
                net.subnets.retain(|x| *x != id);
                net.std.touch();
                store::put(c, &net)?;
            }
            ports::sync_dhcp_port(c, &s.network_id)
        })
        .await
    }
}

/// `s` with `router:external` of its network as it is now.
fn with_external(c: &Connection, mut s: Subnet) -> ApiResult<Subnet> {
    s.router_external = store::get::<Network>(c, &s.network_id)?.is_some_and(|n| n.external);
    Ok(s)
}

fn check_gateway(net: &ipnet::IpNet, gateway: Option<&str>) -> ApiResult<Option<std::net::IpAddr>> {
    let Some(g) = gateway else { return Ok(None) };
    let ip = ipam::parse_ip(g)?;
    let (first, last) = ipam::host_range(net);
    let n = ipam::to_u128(ip);
    if !net.contains(&ip) || n < first || n > last {
        return Err(ApiError::bad_request(format!(
            "Invalid input for operation: Gateway IP {g} is not a host address of subnet {net}."
        )));
    }
    Ok(Some(ip))
}

fn check_dns(servers: Vec<String>) -> ApiResult<Vec<String>> {
    let mut seen = HashSet::new();
    for s in &servers {
        ipam::parse_ip(s)?;
        if !seen.insert(s.clone()) {
            return Err(ApiError::bad_request(format!(
                "Duplicate nameserver '{s}'."
            )));
        }
    }
    Ok(servers)
}

fn check_routes(routes: Vec<HostRoute>) -> ApiResult<Vec<HostRoute>> {
    for r in &routes {
        r.destination.parse::<ipnet::IpNet>().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid host route destination '{}'.",
                r.destination
            ))
        })?;
        ipam::parse_ip(&r.nexthop)?;
    }
    Ok(routes)
}

/// Neutron's `_validate_ipv6_attributes` for a new subnet: known modes, only on
/// IPv6, with DHCP on, the same mode twice when both are given, and /64 for
/// the EUI-64 (SLAAC, DHCPv6-stateless) modes.
fn check_ipv6_modes(input: &SubnetInput, ip_version: u8, cidr: &ipnet::IpNet) -> ApiResult<()> {
    const MODES: [&str; 3] = ["dhcpv6-stateful", "dhcpv6-stateless", "slaac"];
    let invalid = |m: String| ApiError::bad_request(format!("Invalid input for operation: {m}"));
    let ra = input.ipv6_ra_mode.as_deref();
    let address = input.ipv6_address_mode.as_deref();
    for (attr, v) in [("ipv6_ra_mode", ra), ("ipv6_address_mode", address)] {
        if let Some(v) = v.filter(|v| !MODES.contains(v)) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for {attr}. Reason: '{v}' is not in ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac']."
            )));
        }
        if v.is_some() && ip_version == 4 {
            return Err(ApiError::bad_request(format!(
                "Invalid input for operation: {attr} is not valid when ip_version is 4."
            )));
        }
    }
    if ra.is_none() && address.is_none() {
        return Ok(());
    }
    if input.enable_dhcp == Some(false) {
        return Err(invalid(
            "ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False"
                .into(),
        ));
    }
    if let (Some(ra), Some(address)) = (ra, address)
        && ra != address
    {
        return Err(invalid(format!(
            "ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{address}' is not valid. If both attributes are set, they must be the same value"
        )));
    }
    let auto = [ra, address]
        .iter()
        .flatten()
        .any(|m| *m == "slaac" || *m == "dhcpv6-stateless");
    if auto && cidr.prefix_len() != 64 {
        return Err(invalid(format!(
            "Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"
        )));
    }
    Ok(())
}

/// `POST /v2.0/subnets` in one transaction: check the network and the caller,
/// choose the CIDR (given, or from a subnet pool), check it against the network's
/// other subnets, then record the subnet and its DHCP port.
fn subnet_create_tx(c: &Connection, ctx: &RequestContext, input: SubnetInput) -> ApiResult<Subnet> {
    let network_id = input
        .network_id
        .clone()
        .ok_or_else(|| ApiError::bad_request("Invalid input: network_id is required."))?;
    let net: Network = load_visible(c, ctx, &network_id)?;
    if !crate::http::policy::NETWORK_OWNER_MEMBER.allows(ctx, Some(net.std.project_id.as_str())) {
        return Err(ApiError::Forbidden(
            "Only the owner of a network may add subnets to it.".into(),
        ));
    }
    let project = owner_project(ctx, input.project_id.clone().or(input.tenant_id.clone()))?;
    if !ctx.can_write() {
        return Err(ApiError::forbidden());
    }
    let (ip_version, cidr, pool) = subnet_cidr(c, ctx, &input, &project)?;
    check_name(&input.name)?;
    check_ipv6_modes(&input, ip_version, &cidr)?;
    check_subnet_overlap(c, &network_id, &cidr)?;
    let gateway = match &input.gateway_ip {
        None => Some(ipam::default_gateway(&cidr)),
        Some(g) => check_gateway(&cidr, g.as_deref())?,
    };
    let pools = match input.allocation_pools {
        Some(p) if !p.is_empty() => {
            ipam::check_pools(&cidr, &p, gateway)?;
            p
        }
        _ => ipam::default_pools(&cidr, gateway),
    };
    quotas::check(c, SUBNET, &project)?;
    let mut std = Std::new(&project, input.description);
    std.tags = input.tags.unwrap_or_default();
    let subnet = Subnet {
        std,
        name: input.name.unwrap_or_default(),
        network_id,
        ip_version,
        cidr: cidr.to_string(),
        gateway_ip: gateway.map(|g| g.to_string()),
        allocation_pools: pools,
        dns_nameservers: check_dns(input.dns_nameservers.unwrap_or_default())?,
        host_routes: check_routes(input.host_routes.unwrap_or_default())?,
        enable_dhcp: input.enable_dhcp.unwrap_or(true),
        ipv6_ra_mode: input.ipv6_ra_mode,
        ipv6_address_mode: input.ipv6_address_mode,
        subnetpool_id: pool.as_ref().map(|p| p.std.id.clone()),
        service_types: input.service_types.unwrap_or_default(),
        segment_id: input.segment_id,
        router_external: net.external,
    };
    subnet_record(c, net, subnet, pool.as_ref(), &project)
}

/// The new subnet's IP version, CIDR and subnet pool: the CIDR given, or one the
/// pool (named, or the default one) allocates at `prefixlen`.
fn subnet_cidr(
    c: &Connection,
    ctx: &RequestContext,
    input: &SubnetInput,
    project: &str,
) -> ApiResult<(u8, ipnet::IpNet, Option<SubnetPool>)> {
    let bad = |msg: &str| ApiError::bad_request(format!("Bad subnets request: {msg}."));
    let prefixlen = input
        .prefixlen
        .as_ref()
        .filter(|v| !v.is_null())
        .map(|v| subnetpools::prefixlen(v, "prefixlen"))
        .transpose()?;
    if input.cidr.is_some() && prefixlen.is_some() {
        return Err(bad("cidr and prefixlen must not be supplied together"));
    }
    let cidr_version = input
        .cidr
        .as_deref()
        .and_then(|t| t.parse::<ipnet::IpNet>().ok())
        .map(|n| if n.addr().is_ipv6() { 6 } else { 4 });
    let pool = subnetpools::requested_pool(
        c,
        ctx,
        input.subnetpool_id.as_deref(),
        input.use_default_subnetpool.unwrap_or(false),
        cidr_version.or(input.ip_version),
    )?;
    let ip_version = input
        .ip_version
        .or(pool.as_ref().map(|p| p.ip_version))
        .unwrap_or(4);
    if ![4, 6].contains(&ip_version) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for ip_version: {ip_version} is not in [4, 6]."
        )));
    }
    let requested = input
        .cidr
        .as_deref()
        .map(|t| ipam::parse_cidr(t, ip_version))
        .transpose()?;
    let cidr = match &pool {
        Some(p) if p.ip_version != ip_version => {
            return Err(bad(&format!(
                "Cannot allocate IPv{ip_version} subnet from IPv{} subnet pool",
                p.ip_version
            )));
        }
        Some(p) => {
            let net = subnetpools::allocate(c, p, project, requested, prefixlen)?;
            // The usual subnet rules still apply (e.g. room for addresses).
            ipam::parse_cidr(&net.to_string(), ip_version)?
        }
        None => requested
            .ok_or_else(|| bad("A cidr must be specified in the absence of a subnet pool"))?,
    };
    Ok((ip_version, cidr, pool))
}

/// A network's subnets may not overlap (Neutron's 400).
fn check_subnet_overlap(c: &Connection, network_id: &str, cidr: &ipnet::IpNet) -> ApiResult<()> {
    for other in store::list::<Subnet>(c)?
        .iter()
        .filter(|s| s.network_id == network_id)
    {
        let overlapping = other
            .cidr
            .parse::<ipnet::IpNet>()
            .is_ok_and(|o| ipam::overlaps(&o, cidr));
        if overlapping {
            return Err(ApiError::bad_request(format!(
                "Invalid input for operation: Requested subnet with cidr: {cidr} for network: {network_id} overlaps with another subnet."
            )));
        }
    }
    Ok(())
}

/// Stores a checked subnet: its pool prefix, the subnet, its network's list, and
/// the network's DHCP port and existing ports updated for it.
fn subnet_record(
    c: &Connection,
    mut net: Network,
    subnet: Subnet,
    pool: Option<&SubnetPool>,
    project: &str,
) -> ApiResult<Subnet> {
    if let Some(p) = pool {
        let cidr = subnet.cidr.as_str();
        store::pool_allocation_add(c, &p.std.id, cidr, &subnet.std.id, project)?;
        tracing::info!(subnet = %subnet.std.id, pool = %p.std.id, cidr, "prefix allocated from subnet pool");
    }
    store::put(c, &subnet)?;
    net.subnets.push(subnet.std.id.clone());
    net.std.touch();
    store::put(c, &net)?;
    ports::sync_dhcp_port(c, &subnet.network_id)?;
    ports::add_subnet_to_existing_ports(c, &net, &subnet)?;
    Ok(subnet)
}
