//! Ports and their addresses (Networking API v2.0: Ports), including the ports the
//! service makes for itself: DHCP, router legs and floating IPs.

use std::collections::HashSet;
use std::net::IpAddr;

use rusqlite::Connection;
use serde::Deserialize;
use serde_json::Value;

use super::model::*;
use super::{
    NetworkService, ipam, load_visible, may_change, not_found, owner_project, quotas, security,
    store,
};
use crate::dataplane::plan::{Ipv6Mode, eui64};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult, neutron};

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixedIpRequest {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub network_id: Option<String>,
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    pub mac_address: Option<String>,
    pub admin_state_up: Option<bool>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
    pub security_groups: Option<Vec<String>>,
    pub allowed_address_pairs: Option<Vec<AddressPairRequest>>,
    pub port_security_enabled: Option<bool>,
    #[serde(rename = "binding:host_id")]
    pub binding_host_id: Option<String>,
    #[serde(rename = "binding:vnic_type")]
    pub binding_vnic_type: Option<String>,
    #[serde(rename = "binding:profile")]
    pub binding_profile: Option<Value>,
    pub dns_name: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub extra_dhcp_opts: Option<Vec<Value>>,
    pub tags: Option<Vec<String>>,
    pub qos_policy_id: Option<String>,
    pub propagate_uplink_status: Option<bool>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddressPairRequest {
    pub ip_address: String,
    pub mac_address: Option<String>,
}

fn check_mac(mac: &str) -> ApiResult<String> {
    let parts: Vec<&str> = mac.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok());
    let multicast = parts
        .first()
        .and_then(|p| u8::from_str_radix(p, 16).ok())
        .is_some_and(|b| b & 1 == 1);
    if !ok || multicast {
        return Err(ApiError::bad_request(format!(
            "Invalid input for mac_address: '{mac}' is not a valid unicast MAC address."
        )));
    }
    Ok(mac.to_ascii_lowercase())
}

fn subnets_of(c: &Connection, network_id: &str) -> ApiResult<Vec<Subnet>> {
    Ok(store::list::<Subnet>(c)?
        .into_iter()
        .filter(|s| s.network_id == network_id)
        .collect())
}

fn used_ips(c: &Connection, subnet_id: &str) -> ApiResult<HashSet<String>> {
    Ok(store::ips_in_subnet(c, subnet_id)?
        .into_iter()
        .map(|(ip, _)| ip)
        .collect())
}

/// Whether hosts on the subnet form their address from the prefix and their MAC
/// (IPv6 `slaac` / `dhcpv6-stateless`), so IPAM must record exactly that address.
fn is_auto_address(s: &Subnet) -> bool {
    s.ip_version == 6
        && s.ipv6_address_mode
            .as_deref()
            .or(s.ipv6_ra_mode.as_deref())
            .and_then(Ipv6Mode::parse)
            .is_some_and(Ipv6Mode::is_auto_address)
}

/// Resolves requested fixed IPs into concrete (subnet, address) pairs and records
/// them. With no request, the addresses Neutron picks by default
/// (`default_requests`).
fn allocate(
    c: &Connection,
    net: &Network,
    port_id: &str,
    mac: &str,
    requests: Option<Vec<FixedIpRequest>>,
) -> ApiResult<Vec<FixedIp>> {
    let subnets = subnets_of(c, &net.std.id)?;
    let requests = requests.unwrap_or_else(|| default_requests(&subnets));
    let mut out = Vec::new();
    for r in requests {
        let subnet = requested_subnet(&subnets, &net.std.id, &r)?;
        let ip = choose_address(c, subnet, mac, r.ip_address.as_deref(), &out)?;
        store::ip_allocate(c, &subnet.std.id, &ip.to_string(), port_id, &net.std.id)?;
        out.push(FixedIp {
            subnet_id: subnet.std.id.clone(),
            ip_address: ip.to_string(),
        });
    }
    Ok(out)
}

/// Neutron's choice when a port asks for no address: one from the first IPv4
/// subnet (or the first subnet when there is none), one from the first stateful
/// IPv6 subnet, and the SLAAC address on every auto-address IPv6 subnet.
fn default_requests(subnets: &[Subnet]) -> Vec<FixedIpRequest> {
    let mut chosen: Vec<&Subnet> = Vec::new();
    if let Some(s) = subnets.iter().find(|s| s.ip_version == 4) {
        chosen.push(s);
    }
    if let Some(s) = subnets
        .iter()
        .find(|s| s.ip_version == 6 && !is_auto_address(s))
    {
        chosen.push(s);
    }
    chosen.extend(subnets.iter().filter(|s| is_auto_address(s)));
    if chosen.is_empty() {
        chosen.extend(subnets.first());
    }
    chosen
        .into_iter()
        .map(|s| FixedIpRequest {
            subnet_id: Some(s.std.id.clone()),
            ip_address: None,
        })
        .collect()
}

/// The subnet a fixed-IP request names, or the one whose CIDR holds its address.
fn requested_subnet<'a>(
    subnets: &'a [Subnet],
    network_id: &str,
    r: &FixedIpRequest,
) -> ApiResult<&'a Subnet> {
    match (&r.subnet_id, &r.ip_address) {
        (Some(id), _) => subnets.iter().find(|s| s.std.id == *id).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input for operation: Failed to find subnet {id} on network {network_id}."
            ))
        }),
        (None, Some(ip)) => {
            let addr = ipam::parse_ip(ip)?;
            subnets
                .iter()
                .find(|s| s.cidr.parse::<ipnet::IpNet>().is_ok_and(|n| n.contains(&addr)))
                .ok_or_else(|| ApiError::bad_request(format!("Invalid input for operation: IP address {ip} is not a valid IP for the specified network.")))
        }
        (None, None) => Err(ApiError::bad_request(
            "Invalid input for fixed_ips: each entry needs a subnet_id or an ip_address.",
        )),
    }
}

/// The address a port gets on `subnet`: the requested one, its SLAAC address, or
/// the next free one (not counting addresses `taken` earlier in the same request).
fn choose_address(
    c: &Connection,
    subnet: &Subnet,
    mac: &str,
    requested: Option<&str>,
    taken: &[FixedIp],
) -> ApiResult<IpAddr> {
    let cidr = ipam::parse_cidr(&subnet.cidr, subnet.ip_version)?;
    match requested {
        Some(ip) => requested_address(&cidr, ip),
        None if is_auto_address(subnet) => slaac_address(&cidr, mac),
        None => {
            let mut used = used_ips(c, &subnet.std.id)?;
            used.extend(
                taken
                    .iter()
                    .filter(|f| f.subnet_id == subnet.std.id)
                    .map(|f| f.ip_address.clone()),
            );
            ipam::next_free(&cidr, &subnet.allocation_pools, &used)
        }
    }
}

/// A requested address, if it is a host address of the subnet.
fn requested_address(cidr: &ipnet::IpNet, ip: &str) -> ApiResult<IpAddr> {
    let addr = ipam::parse_ip(ip)?;
    if !cidr.contains(&addr)
        || addr == cidr.network()
        || (cidr.addr().is_ipv4() && addr == cidr.broadcast())
    {
        return Err(ApiError::bad_request(format!(
            "Invalid input for operation: IP address {ip} is not a valid IP for the specified subnet."
        )));
    }
    Ok(addr)
}

/// The address a host forms from the subnet's prefix and its MAC (EUI-64).
fn slaac_address(cidr: &ipnet::IpNet, mac: &str) -> ApiResult<IpAddr> {
    let IpAddr::V6(prefix) = cidr.network() else {
        return Err(ApiError::bad_request("An IPv6 subnet has an IPv4 cidr."));
    };
    let addr = eui64(prefix, mac)
        .ok_or_else(|| ApiError::bad_request(format!("Invalid mac_address {mac} for SLAAC.")))?;
    Ok(IpAddr::V6(addr))
}

/// What the service itself asks for when it makes a port.
pub(crate) struct PortSpec {
    pub project_id: String,
    pub network_id: String,
    pub name: String,
    pub device_id: String,
    pub device_owner: String,
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
}

/// Creates a port for the service's own use (DHCP, router leg, gateway, floating IP).
pub(crate) fn create_service_port(c: &Connection, spec: PortSpec) -> ApiResult<Port> {
    let net: Network =
        store::get(c, &spec.network_id)?.ok_or_else(|| not_found(NETWORK, &spec.network_id))?;
    let mut std = Std::new(&spec.project_id, None);
    std.id = uuid::Uuid::new_v4().to_string();
    let mac = ipam::random_mac();
    store::mac_allocate(c, &mac, &std.id)?;
    let fixed_ips = allocate(c, &net, &std.id, &mac, spec.fixed_ips)?;
    let port = Port {
        std,
        name: spec.name,
        network_id: spec.network_id,
        mac_address: mac,
        admin_state_up: true,
        status: "ACTIVE".into(),
        fixed_ips,
        device_id: spec.device_id,
        device_owner: spec.device_owner,
        security_groups: vec![],
        allowed_address_pairs: vec![],
        extra_dhcp_opts: vec![],
        port_security_enabled: false,
        binding_host_id: String::new(),
        binding_vif_type: "unbound".into(),
        binding_vnic_type: "normal".into(),
        binding_profile: Value::Object(Default::default()),
        binding_vif_details: Value::Object(Default::default()),
        dns_name: String::new(),
        dns_assignment: vec![],
        qos_policy_id: None,
        propagate_uplink_status: false,
    };
    store::put(c, &port)?;
    Ok(port)
}

/// Removes a port with its addresses and MAC, unhooks floating IPs from it and
/// drops the port forwardings to it.
pub(crate) fn delete_port_tx(c: &Connection, port: &Port) -> ApiResult<()> {
    super::port_forwarding::forget_port(c, &port.std.id, &[])?;
    store::ip_release_port(c, &port.std.id)?;
    store::mac_release_port(c, &port.std.id)?;
    for mut fip in store::list::<FloatingIp>(c)?
        .into_iter()
        .filter(|f| f.port_id.as_deref() == Some(port.std.id.as_str()))
    {
        fip.port_id = None;
        fip.fixed_ip_address = None;
        fip.router_id = None;
        fip.status = "DOWN".into();
        fip.std.touch();
        store::put(c, &fip)?;
    }
    store::delete::<Port>(c, &port.std.id)
}

/// Keeps the network's DHCP port in step with its DHCP-enabled subnets: created
/// with the first one, one address per such subnet, removed with the last.
pub(crate) fn sync_dhcp_port(c: &Connection, network_id: &str) -> ApiResult<()> {
    let Some(net) = store::get::<Network>(c, network_id)? else {
        return Ok(());
    };
    let dhcp_subnets: Vec<Subnet> = subnets_of(c, network_id)?
        .into_iter()
        .filter(|s| s.enable_dhcp)
        .collect();
    let existing = store::list::<Port>(c)?
        .into_iter()
        .find(|p| p.network_id == network_id && p.device_owner == OWNER_DHCP);
    match (existing, dhcp_subnets.is_empty()) {
        (None, true) => Ok(()),
        (Some(p), true) => delete_port_tx(c, &p),
        (None, false) => {
            let requests = dhcp_subnets
                .iter()
                .map(|s| FixedIpRequest {
                    subnet_id: Some(s.std.id.clone()),
                    ip_address: None,
                })
                .collect();
            create_service_port(
                c,
                PortSpec {
                    project_id: net.std.project_id.clone(),
                    network_id: network_id.to_owned(),
                    name: String::new(),
                    device_id: format!("dhcp-{network_id}"),
                    device_owner: OWNER_DHCP.into(),
                    fixed_ips: Some(requests),
                },
            )
            .map(drop)
        }
        (Some(mut p), false) => {
            let wanted: HashSet<&str> = dhcp_subnets.iter().map(|s| s.std.id.as_str()).collect();
            let have: HashSet<String> = p.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect();
            if wanted.len() == have.len() && have.iter().all(|h| wanted.contains(h.as_str())) {
                return Ok(());
            }
            store::ip_release_port(c, &p.std.id)?;
            let keep: Vec<FixedIpRequest> = dhcp_subnets
                .iter()
                .map(|s| FixedIpRequest {
                    subnet_id: Some(s.std.id.clone()),
                    ip_address: p
                        .fixed_ips
                        .iter()
                        .find(|f| f.subnet_id == s.std.id)
                        .map(|f| f.ip_address.clone()),
                })
                .collect();
            p.fixed_ips = allocate(c, &net, &p.std.id, &p.mac_address, Some(keep))?;
            p.std.touch();
            store::put(c, &p)
        }
    }
}

/// What Neutron does for ports that exist when an IPv6 subnet is added to their
/// network: on an auto-address subnet (SLAAC, DHCPv6-stateless) every port but
/// router interfaces gets its address, since its host forms it anyway; on an
/// external network a new stateful IPv6 subnet gives each router gateway port that
/// has no IPv6 address one (so a gateway set before `ipv6-public-subnet` existed
/// routes IPv6 too). DHCP ports follow `sync_dhcp_port`.
pub(crate) fn add_subnet_to_existing_ports(
    c: &Connection,
    net: &Network,
    subnet: &Subnet,
) -> ApiResult<()> {
    if subnet.ip_version != 6 {
        return Ok(());
    }
    let auto = is_auto_address(subnet);
    let ports: Vec<Port> = store::list::<Port>(c)?
        .into_iter()
        .filter(|p| p.network_id == net.std.id && p.device_owner != OWNER_DHCP)
        .filter(|p| !p.fixed_ips.iter().any(|f| f.subnet_id == subnet.std.id))
        .collect();
    for mut port in ports {
        let wanted = if auto {
            port.device_owner != OWNER_ROUTER_INTERFACE
        } else {
            net.external
                && port.device_owner == OWNER_ROUTER_GATEWAY
                && !port.fixed_ips.iter().any(|f| f.ip_address.contains(':'))
        };
        if !wanted {
            continue;
        }
        let request = FixedIpRequest {
            subnet_id: Some(subnet.std.id.clone()),
            ip_address: None,
        };
        let added = allocate(c, net, &port.std.id, &port.mac_address, Some(vec![request]))?;
        port.fixed_ips.extend(added);
        port.std.touch();
        store::put(c, &port)?;
        if port.device_owner == OWNER_ROUTER_GATEWAY {
            sync_router_gateway(c, &port)?;
        }
    }
    Ok(())
}

/// The router's `external_gateway_info` mirrors its gateway port's addresses.
fn sync_router_gateway(c: &Connection, port: &Port) -> ApiResult<()> {
    let Some(mut router) = store::get::<Router>(c, &port.device_id)? else {
        return Ok(());
    };
    if let Some(gw) = router.external_gateway_info.as_mut() {
        gw.external_fixed_ips = port.fixed_ips.clone();
        router.std.touch();
        store::put(c, &router)?;
    }
    Ok(())
}

fn address_pairs(reqs: Vec<AddressPairRequest>, port_mac: &str) -> ApiResult<Vec<AddressPair>> {
    reqs.into_iter()
        .map(|r| {
            r.ip_address
                .parse::<ipnet::IpNet>()
                .map(drop)
                .or_else(|_| ipam::parse_ip(&r.ip_address).map(drop))
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid allowed address pair ip_address '{}'.",
                        r.ip_address
                    ))
                })?;
            let mac = match r.mac_address {
                Some(m) => check_mac(&m)?,
                None => port_mac.to_owned(),
            };
            Ok(AddressPair {
                ip_address: r.ip_address,
                mac_address: mac,
            })
        })
        .collect()
}

/// Security groups for a new or updated port: named ones must be the project's own.
fn resolve_groups(
    c: &Connection,
    project_id: &str,
    requested: Option<Vec<String>>,
    port_security: bool,
    service_port: bool,
) -> ApiResult<Vec<String>> {
    if service_port {
        return Ok(vec![]);
    }
    let groups = match requested {
        Some(g) => g,
        None if port_security => vec![security::ensure_default_group(c, project_id)?],
        None => vec![],
    };
    if !port_security && !groups.is_empty() {
        return Err(ApiError::conflict_typed(
            neutron::PORT_SECURITY_PORT_HAS_SECURITY_GROUP,
            "Port has security group associated. Cannot disable port security or IP address until security group is removed.",
        ));
    }
    for g in &groups {
        let sg = store::get::<SecurityGroup>(c, g)?
            .filter(|sg| sg.std.project_id == project_id || sg.shared);
        if sg.is_none() {
            return Err(ApiError::Missing(format!(
                "Security group {g} does not exist"
            )));
        }
    }
    Ok(groups)
}

impl NetworkService {
    /// `POST /v2.0/ports`.
    pub(crate) async fn port_create(
        &self,
        ctx: &RequestContext,
        input: PortCreate,
    ) -> ApiResult<Port> {
        let ctx = ctx.clone();
        self.write(move |c| port_create_tx(c, &ctx, input)).await
    }

    pub(crate) async fn port_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Port> {
        self.get_visible(ctx, id).await
    }

    pub(crate) async fn port_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Port>> {
        self.list_owned(ctx).await
    }

    /// `PUT /v2.0/ports/{id}`.
    pub(crate) async fn port_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: PortCreate,
        if_match: Option<String>,
    ) -> ApiResult<Port> {
        let ctx = ctx.clone();
        self.write(move |c| port_update_tx(c, &ctx, &id, input, if_match.as_deref()))
            .await
    }

    /// `DELETE /v2.0/ports/{id}`: router legs and gateways go through the router API.
    pub(crate) async fn port_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let p: Port = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &p.std.project_id)?;
            if [
                OWNER_ROUTER_INTERFACE,
                OWNER_ROUTER_GATEWAY,
                OWNER_FLOATING_IP,
            ]
            .contains(&p.device_owner.as_str())
            {
                return Err(ApiError::conflict_typed(
                    neutron::SERVICE_PORT_IN_USE,
                    format!(
                        "Port {id} cannot be deleted directly via the port API: has device owner {}.",
                        p.device_owner
                    ),
                ));
            }
            delete_port_tx(c, &p)
        })
        .await
    }
}

/// Checks an update against the port's revision and the update policy, then
/// applies it attribute group by attribute group.
fn port_update_tx(
    c: &Connection,
    ctx: &RequestContext,
    id: &str,
    mut input: PortCreate,
    if_match: Option<&str>,
) -> ApiResult<Port> {
    let mut p: Port = load_visible(c, ctx, id)?;
    may_change(ctx, &p.std.project_id)?;
    super::check_revision(&p.std, if_match)?;
    if input
        .network_id
        .as_ref()
        .is_some_and(|n| *n != p.network_id)
    {
        return Err(ApiError::bad_request(
            "Cannot update read-only attribute network_id",
        ));
    }
    let net: Network =
        store::get(c, &p.network_id)?.ok_or_else(|| not_found(NETWORK, &p.network_id))?;
    check_update_policy(ctx, &net, &input)?;
    update_descriptive(&mut p, &mut input);
    if let Some(host) = input.binding_host_id.take() {
        bind_host(&mut p, host);
    }
    if let Some(mac) = input.mac_address.take() {
        change_mac(c, &mut p, &mac)?;
    }
    if let Some(pairs) = input.allowed_address_pairs.take() {
        p.allowed_address_pairs = address_pairs(pairs, &p.mac_address)?;
    }
    update_security(
        c,
        &mut p,
        input.port_security_enabled,
        input.security_groups,
    )?;
    if let Some(reqs) = input.fixed_ips {
        store::ip_release_port(c, &p.std.id)?;
        p.fixed_ips = allocate(c, &net, &p.std.id, &p.mac_address, Some(reqs))?;
        // Forwardings to an address the port no longer has go, as in Neutron.
        super::port_forwarding::forget_port(c, &p.std.id, &p.fixed_ips)?;
    }
    p.std.touch();
    store::put(c, &p)?;
    Ok(p)
}

/// The attributes an update simply overwrites when given.
fn update_descriptive(p: &mut Port, input: &mut PortCreate) {
    if let Some(v) = input.name.take() {
        p.name = v;
    }
    if let Some(v) = input.description.take() {
        p.std.description = v;
    }
    if let Some(v) = input.admin_state_up {
        p.admin_state_up = v;
    }
    if let Some(v) = input.device_id.take() {
        p.device_id = v;
    }
    if let Some(v) = input.device_owner.take() {
        p.device_owner = v;
    }
    if let Some(v) = input.dns_name.take() {
        p.dns_name = v;
    }
    if let Some(v) = input.tags.take() {
        p.std.tags = v;
    }
    if let Some(v) = input.extra_dhcp_opts.take() {
        p.extra_dhcp_opts = v;
    }
    if let Some(v) = input.binding_profile.take() {
        p.binding_profile = v;
    }
}

/// The VIF type of a port bound to `host` (empty: unbound).
fn vif_type(host: &str) -> String {
    if host.is_empty() { "unbound" } else { "bridge" }.into()
}

/// Binding a port to a host brings it up; unbinding (empty host) takes it down.
fn bind_host(p: &mut Port, host: String) {
    p.binding_vif_type = vif_type(&host);
    p.status = if host.is_empty() { "DOWN" } else { "ACTIVE" }.into();
    p.binding_host_id = host;
}

/// A new MAC replaces the port's reservation of the old one.
fn change_mac(c: &Connection, p: &mut Port, mac: &str) -> ApiResult<()> {
    let mac = check_mac(mac)?;
    if mac != p.mac_address {
        store::mac_release_port(c, &p.std.id)?;
        store::mac_allocate(c, &mac, &p.std.id)?;
        p.mac_address = mac;
    }
    Ok(())
}

/// Port security and security groups change together: turning security on with
/// no groups named keeps the port's groups, turning it off needs none left.
fn update_security(
    c: &Connection,
    p: &mut Port,
    enabled: Option<bool>,
    groups: Option<Vec<String>>,
) -> ApiResult<()> {
    if enabled.is_none() && groups.is_none() {
        return Ok(());
    }
    let port_security = enabled.unwrap_or(p.port_security_enabled);
    let requested = groups.or_else(|| {
        if port_security {
            Some(p.security_groups.clone())
        } else {
            Some(vec![])
        }
    });
    let requested = requested.filter(|g| !g.is_empty() || !port_security);
    p.security_groups = resolve_groups(c, &p.std.project_id, requested, port_security, false)?;
    p.port_security_enabled = port_security;
    Ok(())
}

/// Neutron's default policy: whether the caller is an admin or a member of the
/// project that owns `net` (`ADMIN_OR_NET_OWNER_MEMBER`).
fn net_owner_member(ctx: &RequestContext, net: &Network) -> bool {
    crate::http::policy::NETWORK_OWNER_MEMBER.allows(ctx, Some(net.std.project_id.as_str()))
}

/// 403 in Neutron's words for policy rule `rule`.
fn disallowed(rule: &str) -> ApiError {
    ApiError::Forbidden(format!("({rule}) is disallowed by policy"))
}

/// Whether `owner` names a network device (`network:*`: router legs, DHCP,
/// floating IPs), which only an admin or the network's owner may create.
fn network_device(owner: Option<&str>) -> bool {
    owner.is_some_and(|o| o.starts_with("network:"))
}

/// The attribute rules of Neutron's `create_port` policy defaults.
fn check_create_policy(ctx: &RequestContext, net: &Network, input: &PortCreate) -> ApiResult<()> {
    let owner = net_owner_member(ctx, net);
    // create_port: admin, the network owner, or anyone on a shared network. An
    // external network is visible to every project but not shared with it.
    if !owner && !net.shared {
        return Err(disallowed("rule:create_port"));
    }
    if network_device(input.device_owner.as_deref()) && !owner {
        return Err(disallowed(
            "rule:create_port and rule:create_port:device_owner",
        ));
    }
    if input.mac_address.is_some() && !owner {
        return Err(disallowed(
            "rule:create_port and rule:create_port:mac_address",
        ));
    }
    if input.port_security_enabled.is_some() && !owner {
        return Err(disallowed(
            "rule:create_port and rule:create_port:port_security_enabled",
        ));
    }
    if input
        .fixed_ips
        .as_ref()
        .is_some_and(|f| f.iter().any(|r| r.ip_address.is_some()))
        && !owner
    {
        return Err(disallowed(
            "rule:create_port and rule:create_port:fixed_ips:ip_address",
        ));
    }
    if input.binding_host_id.is_some() && !crate::http::policy::PORT_BINDING_HOST.allows(ctx, None)
    {
        return Err(disallowed(
            "rule:create_port and rule:create_port:binding:host_id",
        ));
    }
    if input.binding_profile.is_some()
        && !crate::http::policy::PORT_BINDING_PROFILE.allows(ctx, None)
    {
        return Err(disallowed(
            "rule:create_port and rule:create_port:binding:profile",
        ));
    }
    Ok(())
}

/// The attribute rules of Neutron's `update_port` policy defaults.
fn check_update_policy(ctx: &RequestContext, net: &Network, input: &PortCreate) -> ApiResult<()> {
    let owner = net_owner_member(ctx, net);
    if network_device(input.device_owner.as_deref()) && !owner {
        return Err(disallowed(
            "rule:update_port and rule:update_port:device_owner",
        ));
    }
    // update_port:mac_address: an admin, or a manager of the network's project.
    let manager =
        crate::http::policy::PORT_MAC_ADDRESS_UPDATE.allows(ctx, Some(net.std.project_id.as_str()));
    if input.mac_address.is_some() && !manager {
        return Err(disallowed(
            "rule:update_port and rule:update_port:mac_address",
        ));
    }
    if input.port_security_enabled.is_some() && !owner {
        return Err(disallowed(
            "rule:update_port and rule:update_port:port_security_enabled",
        ));
    }
    if input
        .fixed_ips
        .as_ref()
        .is_some_and(|f| f.iter().any(|r| r.ip_address.is_some()))
        && !owner
    {
        return Err(disallowed(
            "rule:update_port and rule:update_port:fixed_ips:ip_address",
        ));
    }
    if input.binding_host_id.is_some() && !crate::http::policy::PORT_BINDING_HOST.allows(ctx, None)
    {
        return Err(disallowed(
            "rule:update_port and rule:update_port:binding:host_id",
        ));
    }
    if input.binding_profile.is_some()
        && !crate::http::policy::PORT_BINDING_PROFILE.allows(ctx, None)
    {
        return Err(disallowed(
            "rule:update_port and rule:update_port:binding:profile",
        ));
    }
    Ok(())
}

/// `POST /v2.0/ports` in the write transaction: the caller may use the network,
/// the project has quota left, then the port is made.
pub(crate) fn port_create_tx(
    c: &Connection,
    ctx: &RequestContext,
    input: PortCreate,
) -> ApiResult<Port> {
    let network_id = input
        .network_id
        .clone()
        .ok_or_else(|| ApiError::bad_request("Invalid input: network_id is required."))?;
    let net: Network = load_visible(c, ctx, &network_id)?;
    let project = owner_project(ctx, input.project_id.clone().or(input.tenant_id.clone()))?;
    if !ctx.can_write() {
        return Err(ApiError::forbidden());
    }
    check_create_policy(ctx, &net, &input)?;
    quotas::check(c, PORT, &project)?;
    let port = new_port(c, &net, &project, input)?;
    store::put(c, &port)?;
    Ok(port)
}

/// The port a create request describes, its MAC and addresses reserved. Ports the
/// network owns (`network:*`) are up at once and have no security groups.
fn new_port(c: &Connection, net: &Network, project: &str, input: PortCreate) -> ApiResult<Port> {
    let mut std = Std::new(project, input.description);
    std.tags = input.tags.unwrap_or_default();
    let mac = reserve_mac(c, input.mac_address.as_deref(), &std.id)?;
    let fixed_ips = allocate(c, net, &std.id, &mac, input.fixed_ips)?;
    let device_owner = input.device_owner.unwrap_or_default();
    let service_port = device_owner.starts_with("network:");
    let port_security = input
        .port_security_enabled
        .unwrap_or(net.port_security_enabled);
    let security_groups = resolve_groups(
        c,
        project,
        input.security_groups,
        port_security && !service_port,
        service_port,
    )?;
    let host = input.binding_host_id.unwrap_or_default();
    Ok(Port {
        name: input.name.unwrap_or_default(),
        network_id: net.std.id.clone(),
        allowed_address_pairs: address_pairs(
            input.allowed_address_pairs.unwrap_or_default(),
            &mac,
        )?,
        mac_address: mac,
        admin_state_up: input.admin_state_up.unwrap_or(true),
        status: if service_port || !host.is_empty() {
            "ACTIVE"
        } else {
            "DOWN"
        }
        .into(),
        fixed_ips,
        device_id: input.device_id.unwrap_or_default(),
        device_owner,
        security_groups,
        extra_dhcp_opts: input.extra_dhcp_opts.unwrap_or_default(),
        port_security_enabled: port_security,
        binding_vif_type: vif_type(&host),
        binding_host_id: host,
        binding_vnic_type: input.binding_vnic_type.unwrap_or_else(|| "normal".into()),
        binding_profile: input
            .binding_profile
            .unwrap_or(Value::Object(Default::default())),
        binding_vif_details: Value::Object(Default::default()),
        dns_name: input.dns_name.unwrap_or_default(),
        dns_assignment: vec![],
        qos_policy_id: input.qos_policy_id,
        propagate_uplink_status: input.propagate_uplink_status.unwrap_or(false),
        std,
    })
}

/// Records the port's MAC: the requested one if valid and free, else a random one.
fn reserve_mac(c: &Connection, requested: Option<&str>, port_id: &str) -> ApiResult<String> {
    let mac = match requested {
        Some(m) => check_mac(m)?,
        None => ipam::random_mac(),
    };
    store::mac_allocate(c, &mac, port_id)?;
    Ok(mac)
}
