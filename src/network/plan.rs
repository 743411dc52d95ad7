//! Turns the networking database into the dataplane's `HostPlan`.
//! IPv6 subnets reach the dataplane as router legs (the gateway address and, with
//! an `ipv6_ra_mode`, the router's advertisements), DHCP (DHCPv6, and the
//! advertisements of subnets no router advertises) and security groups. An IPv6
//! subnet on the external network gives router gateways an IPv6 leg and the host an
//! address and routes to the tenant IPv6 subnets (routed, no NAT66); SNAT, floating
//! IPs and their port forwardings stay IPv4 only.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use rusqlite::Connection;

use super::model::*;
use super::store;
use crate::dataplane::plan::*;
use crate::http::error::ApiResult;

/// Whether a port stands for an instance NIC the dataplane must wire: bound to a
/// host, or owned by compute.
pub(crate) fn is_instance_port(p: &Port) -> bool {
    !p.device_owner.starts_with("network:")
        && (!p.binding_host_id.is_empty() || p.device_owner.starts_with("compute:"))
}

struct Index {
    networks: HashMap<String, Network>,
    subnets: HashMap<String, Subnet>,
    ports: Vec<Port>,
}

impl Index {
    fn bridge(&self, network_id: &str, external_bridge: &str) -> String {
        match self.networks.get(network_id) {
            Some(n) if n.external => external_bridge.to_owned(),
            _ => bridge_name(network_id),
        }
    }

    /// `10.0.0.5/24` for an address of a subnet.
    fn with_prefix(&self, f: &FixedIp) -> Option<String> {
        let s = self.subnets.get(&f.subnet_id)?;
        let prefix = s.cidr.split('/').nth(1)?;
        Some(format!("{}/{prefix}", f.ip_address))
    }

    fn v4(&self, ips: &[FixedIp]) -> Vec<Ipv4Addr> {
        ips.iter()
            .filter_map(|f| f.ip_address.parse().ok())
            .collect()
    }

    fn v6(&self, ips: &[FixedIp]) -> Vec<Ipv6Addr> {
        ips.iter()
            .filter_map(|f| f.ip_address.parse().ok())
            .collect()
    }
}

/// A subnet's IPv6 address mode: `ipv6_address_mode`, else `ipv6_ra_mode`, else
/// DHCPv6-stateful (what Neutron's dnsmasq serves for a DHCP-enabled IPv6 subnet
/// without modes).
fn address_mode(s: &Subnet) -> Ipv6Mode {
    s.ipv6_address_mode
        .as_deref()
        .or(s.ipv6_ra_mode.as_deref())
        .and_then(Ipv6Mode::parse)
        .unwrap_or(Ipv6Mode::Dhcpv6Stateful)
}

impl Index {
    /// Every network, subnet and port, read once for the whole plan.
    fn load(c: &Connection) -> ApiResult<Self> {
        Ok(Index {
            networks: store::list::<Network>(c)?
                .into_iter()
                .map(|n| (n.std.id.clone(), n))
                .collect(),
            subnets: store::list::<Subnet>(c)?
                .into_iter()
                .map(|s| (s.std.id.clone(), s))
                .collect(),
            ports: store::list::<Port>(c)?,
        })
    }
}

/// The host plan: the external network, the routers that are up, every network
/// with its DHCP, the instance ports and the security groups they need.
pub(crate) fn build(
    c: &Connection,
    external_bridge: &str,
    masquerade: bool,
) -> ApiResult<HostPlan> {
    let idx = Index::load(c)?;
    let mut plan = HostPlan {
        external: external(&idx, external_bridge, masquerade),
        routers: router_plans(c, &idx, external_bridge)?,
        ..Default::default()
    };
    if let Some(ext) = plan.external.as_mut().filter(|e| e.host_address6.is_some()) {
        ext.routes6 = host_routes6(&plan.routers);
    }
    plan.networks = network_plans(&idx, &plan.routers, external_bridge);
    plan.ports = port_plans(&idx, external_bridge);
    plan.security_groups = security_group_plans(c, &idx)?;
    Ok(plan)
}

/// The routers that are up, each with its port forwardings.
fn router_plans(c: &Connection, idx: &Index, external_bridge: &str) -> ApiResult<Vec<RouterPlan>> {
    let fips = store::list::<FloatingIp>(c)?;
    let forwardings = store::pf_list(c, None)?;
    Ok(store::list::<Router>(c)?
        .into_iter()
        .filter(|r| r.admin_state_up)
        .map(|router| {
            let mut r = router_plan(idx, &router, &fips, external_bridge);
            r.port_forwardings = port_forwardings(&router, &fips, &forwardings);
            r
        })
        .collect())
}

/// Every network in id order, with its bridge and DHCP service.
fn network_plans(idx: &Index, routers: &[RouterPlan], external_bridge: &str) -> Vec<NetworkPlan> {
    let advertised = router_advertised(idx, routers);
    let mut networks: Vec<&Network> = idx.networks.values().collect();
    networks.sort_by(|a, b| a.std.id.cmp(&b.std.id));
    networks
        .into_iter()
        .map(|net| NetworkPlan {
            id: net.std.id.clone(),
            bridge: idx.bridge(&net.std.id, external_bridge),
            mtu: net.mtu,
            admin_state_up: net.admin_state_up,
            dhcp: dhcp(idx, net, &advertised),
        })
        .collect()
}

/// The instance NICs the dataplane wires: tap, bridge, addresses and filtering.
fn port_plans(idx: &Index, external_bridge: &str) -> Vec<PortPlan> {
    idx.ports
        .iter()
        .filter(|p| is_instance_port(p))
        .map(|p| PortPlan {
            id: p.std.id.clone(),
            tap: tap_name(&p.std.id),
            bridge: idx.bridge(&p.network_id, external_bridge),
            mac: p.mac_address.clone(),
            ips: idx.v4(&p.fixed_ips),
            ips6: idx.v6(&p.fixed_ips),
            admin_state_up: p.admin_state_up,
            port_security: p.port_security_enabled,
            security_groups: p.security_groups.clone(),
            allowed_address_pairs: p
                .allowed_address_pairs
                .iter()
                .map(|a| (a.ip_address.clone(), a.mac_address.clone()))
                .collect(),
        })
        .collect()
}

/// The security groups of instance ports, and the remote groups their rules
/// name (whose member addresses the rules match), in id order.
fn security_group_plans(c: &Connection, idx: &Index) -> ApiResult<Vec<SecurityGroupPlan>> {
    let mut groups: BTreeSet<String> = idx
        .ports
        .iter()
        .filter(|p| is_instance_port(p))
        .flat_map(|p| p.security_groups.iter().cloned())
        .collect();
    let rules = store::list::<SecurityGroupRule>(c)?;
    let remote: Vec<String> = rules
        .iter()
        .filter(|r| groups.contains(&r.security_group_id))
        .filter_map(|r| r.remote_group_id.clone())
        .collect();
    groups.extend(remote);
    Ok(groups
        .into_iter()
        .map(|g| security_group_plan(idx, &rules, g))
        .collect())
}

/// One group's rules and the addresses of the ports in it.
fn security_group_plan(idx: &Index, rules: &[SecurityGroupRule], g: String) -> SecurityGroupPlan {
    let members = || idx.ports.iter().filter(|p| p.security_groups.contains(&g));
    SecurityGroupPlan {
        rules: rules
            .iter()
            .filter(|r| r.security_group_id == g)
            .map(rule_plan)
            .collect(),
        member_ips: members().flat_map(|p| idx.v4(&p.fixed_ips)).collect(),
        member_ips6: members().flat_map(|p| idx.v6(&p.fixed_ips)).collect(),
        id: g,
    }
}

fn external(idx: &Index, bridge: &str, masquerade: bool) -> Option<ExternalPlan> {
    let mut nets: Vec<&Network> = idx.networks.values().filter(|n| n.external).collect();
    nets.sort_by(|a, b| a.std.created_at.cmp(&b.std.created_at));
    let net = nets.first()?;
    let first = |version: u8| {
        idx.subnets
            .values()
            .filter(|s| s.network_id == net.std.id && s.ip_version == version)
            .min_by(|a, b| a.std.created_at.cmp(&b.std.created_at))
    };
    let subnet = first(4);
    Some(ExternalPlan {
        host_address6: first(6).and_then(|s| {
            let prefix = s.cidr.split('/').nth(1)?;
            let gw: Ipv6Addr = s.gateway_ip.as_ref()?.parse().ok()?;
            Some(format!("{gw}/{prefix}"))
        }),
        routes6: Vec::new(),
        network_id: net.std.id.clone(),
        bridge: bridge.to_owned(),
        host_address: subnet.and_then(|s| {
            let prefix = s.cidr.split('/').nth(1)?;
            Some(format!("{}/{prefix}", s.gateway_ip.as_ref()?))
        }),
        cidr: subnet.map(|s| s.cidr.clone()).unwrap_or_default(),
        masquerade,
    })
}

/// How the host reaches tenant IPv6 subnets (routed, no NAT): each IPv6 subnet
/// attached to a router with an external IPv6 address, via that address.
fn host_routes6(routers: &[RouterPlan]) -> Vec<(String, Ipv6Addr)> {
    let mut routes: Vec<(String, Ipv6Addr)> = routers
        .iter()
        .filter_map(|r| {
            let g = r.gateway.as_ref()?;
            let via = g.address6.as_deref()?.split('/').next()?.parse().ok()?;
            Some((r, via))
        })
        .flat_map(|(r, via)| {
            r.interfaces
                .iter()
                .filter_map(|i| i.address.parse::<ipnet::Ipv6Net>().ok())
                .map(move |n| (n.trunc().to_string(), via))
        })
        .collect();
    routes.sort();
    // Two routers cannot both own one subnet: the first keeps it.
    routes.dedup_by(|a, b| a.0 == b.0);
    routes
}

/// IPv6 subnets a planned router advertises (a leg in the subnet with an RA
/// mode): their DHCP namespace must not advertise the same prefix too.
fn router_advertised(idx: &Index, routers: &[RouterPlan]) -> BTreeSet<String> {
    let planned: BTreeSet<&str> = routers.iter().map(|r| r.id.as_str()).collect();
    idx.ports
        .iter()
        .filter(|p| p.device_owner == OWNER_ROUTER_INTERFACE)
        .filter(|p| planned.contains(p.device_id.as_str()))
        .flat_map(|p| &p.fixed_ips)
        .filter(|f| {
            idx.subnets
                .get(&f.subnet_id)
                .is_some_and(|s| s.ip_version == 6 && ra_mode(s).is_some())
        })
        .map(|f| f.subnet_id.clone())
        .collect()
}

/// Neutron's `ipv6_ra_mode` of a subnet, when it has one.
fn ra_mode(s: &Subnet) -> Option<Ipv6Mode> {
    s.ipv6_ra_mode.as_deref().and_then(Ipv6Mode::parse)
}

/// Each address a network's ports (its DHCP port aside) hold on one of `subnets`,
/// with the port: what dnsmasq gets as host entries.
fn served_addresses<'a, A: std::str::FromStr>(
    idx: &'a Index,
    net: &'a Network,
    dhcp_port: &'a Port,
    subnets: &'a BTreeSet<&str>,
) -> impl Iterator<Item = (&'a Port, A)> + 'a {
    idx.ports
        .iter()
        .filter(move |p| p.network_id == net.std.id && p.std.id != dhcp_port.std.id)
        .flat_map(move |p| {
            p.fixed_ips
                .iter()
                .filter(move |f| subnets.contains(f.subnet_id.as_str()))
                .filter_map(move |f| Some((p, f.ip_address.parse::<A>().ok()?)))
        })
}

/// A network's DHCP service, when it has a DHCP port: the dnsmasq hosts and
/// subnets for IPv4 and for IPv6.
fn dhcp(idx: &Index, net: &Network, router_advertised: &BTreeSet<String>) -> Option<DhcpPlan> {
    let port = idx
        .ports
        .iter()
        .find(|p| p.network_id == net.std.id && p.device_owner == OWNER_DHCP)?;
    let subnets = dhcp_subnets_of(idx, net, 4);
    let subnets6 = dhcp_subnets_of(idx, net, 6);
    Some(DhcpPlan {
        namespace: format!("qdhcp-{}", net.std.id),
        port_id: port.std.id.clone(),
        mac: port.mac_address.clone(),
        addresses: port
            .fixed_ips
            .iter()
            .filter_map(|f| idx.with_prefix(f))
            .collect(),
        hosts: dhcp_hosts(idx, net, port, &subnets),
        subnets: dhcp_subnet_plans(net, &subnets),
        hosts6: dhcp6_hosts(idx, net, port, &subnets6),
        subnets6: dhcp6_subnet_plans(net, &subnets6, router_advertised),
    })
}

/// The network's DHCP-enabled subnets of one IP version.
fn dhcp_subnets_of<'a>(idx: &'a Index, net: &Network, ip_version: u8) -> Vec<&'a Subnet> {
    idx.subnets
        .values()
        .filter(|s| s.network_id == net.std.id && s.enable_dhcp && s.ip_version == ip_version)
        .collect()
}

/// DHCPv4 host entries, by address; a port without a DNS name gets
/// `host-10-0-0-5` as Neutron names it.
fn dhcp_hosts(idx: &Index, net: &Network, port: &Port, subnets: &[&Subnet]) -> Vec<DhcpHost> {
    let ids: BTreeSet<&str> = subnets.iter().map(|s| s.std.id.as_str()).collect();
    let mut hosts: Vec<DhcpHost> = served_addresses(idx, net, port, &ids)
        .map(|(p, ip): (&Port, Ipv4Addr)| DhcpHost {
            mac: p.mac_address.clone(),
            ip,
            hostname: if p.dns_name.is_empty() {
                format!("host-{}", ip.to_string().replace('.', "-"))
            } else {
                p.dns_name.clone()
            },
        })
        .collect();
    hosts.sort_by_key(|h| h.ip);
    hosts
}

/// The IPv4 subnets dnsmasq serves, by subnet id.
fn dhcp_subnet_plans(net: &Network, subnets: &[&Subnet]) -> Vec<DhcpSubnet> {
    let mut plans: Vec<DhcpSubnet> = subnets
        .iter()
        .map(|s| DhcpSubnet {
            subnet_id: s.std.id.clone(),
            cidr: s.cidr.clone(),
            gateway: s.gateway_ip.as_ref().and_then(|g| g.parse().ok()),
            dns_servers: s
                .dns_nameservers
                .iter()
                .filter_map(|d| d.parse().ok())
                .collect(),
            host_routes: s
                .host_routes
                .iter()
                .filter_map(|r| Some((r.destination.clone(), r.nexthop.parse().ok()?)))
                .collect(),
            lease_seconds: 86_400,
            mtu: net.mtu,
        })
        .collect();
    plans.sort_by(|a, b| a.subnet_id.cmp(&b.subnet_id));
    plans
}

/// DHCPv6 host entries, by address: only stateful subnets hand out addresses.
fn dhcp6_hosts(idx: &Index, net: &Network, port: &Port, subnets6: &[&Subnet]) -> Vec<Dhcp6Host> {
    let stateful6: BTreeSet<&str> = subnets6
        .iter()
        .filter(|s| address_mode(s) == Ipv6Mode::Dhcpv6Stateful)
        .map(|s| s.std.id.as_str())
        .collect();
    let mut hosts6: Vec<Dhcp6Host> = served_addresses(idx, net, port, &stateful6)
        .map(|(p, ip)| Dhcp6Host {
            mac: p.mac_address.clone(),
            ip,
            hostname: p.dns_name.clone(),
        })
        .collect();
    hosts6.sort_by_key(|h| h.ip);
    hosts6
}

/// The IPv6 subnets dnsmasq serves, by subnet id; it advertises those with an RA
/// mode that no router advertises already.
fn dhcp6_subnet_plans(
    net: &Network,
    subnets6: &[&Subnet],
    router_advertised: &BTreeSet<String>,
) -> Vec<Dhcp6Subnet> {
    let mut plans: Vec<Dhcp6Subnet> = subnets6
        .iter()
        .map(|s| Dhcp6Subnet {
            subnet_id: s.std.id.clone(),
            cidr: s.cidr.clone(),
            address_mode: address_mode(s),
            advertise: ra_mode(s).is_some() && !router_advertised.contains(&s.std.id),
            dns_servers: s
                .dns_nameservers
                .iter()
                .filter_map(|d| d.parse().ok())
                .collect(),
            lease_seconds: 86_400,
            mtu: net.mtu,
        })
        .collect();
    plans.sort_by(|a, b| a.subnet_id.cmp(&b.subnet_id));
    plans
}

/// A router's namespace as the dataplane builds it: its interface legs, its
/// gateway leg (with SNAT for the internal IPv4 subnets), floating IPs and routes.
fn router_plan(
    idx: &Index,
    router: &Router,
    fips: &[FloatingIp],
    external_bridge: &str,
) -> RouterPlan {
    let ports: Vec<&Port> = idx
        .ports
        .iter()
        .filter(|p| p.device_id == router.std.id)
        .collect();
    let (interfaces, internal) = router_interfaces(idx, &ports, external_bridge);
    let gateway = ports
        .iter()
        .find(|p| p.device_owner == OWNER_ROUTER_GATEWAY)
        .and_then(|p| router_gateway(idx, router, p, external_bridge, internal));
    let floating_ips = fips
        .iter()
        .filter(|f| f.router_id.as_deref() == Some(router.std.id.as_str()))
        .filter_map(|f| {
            Some(FloatingIpPlan {
                floating_ip: f.floating_ip_address.parse().ok()?,
                fixed_ip: f.fixed_ip_address.as_ref()?.parse().ok()?,
            })
        })
        .collect();
    RouterPlan {
        id: router.std.id.clone(),
        namespace: format!("qrouter-{}", router.std.id),
        interfaces,
        gateway,
        floating_ips,
        routes: router
            .routes
            .iter()
            .filter_map(|r| Some((r.destination.clone(), r.nexthop.parse().ok()?)))
            .collect(),
        port_forwardings: vec![],
    }
}

/// One leg address per fixed IP of the router's interface ports, and the IPv4
/// subnets behind them (SNAT is IPv4 only; IPv6 is routed as it is).
fn router_interfaces(
    idx: &Index,
    ports: &[&Port],
    external_bridge: &str,
) -> (Vec<RouterInterface>, Vec<String>) {
    let mut interfaces = Vec::new();
    let mut internal = Vec::new();
    for p in ports
        .iter()
        .filter(|p| p.device_owner == OWNER_ROUTER_INTERFACE)
    {
        for f in &p.fixed_ips {
            let Some(address) = idx.with_prefix(f) else {
                continue;
            };
            let Some(s) = idx.subnets.get(&f.subnet_id) else {
                continue;
            };
            if s.ip_version == 4 {
                internal.push(s.cidr.clone());
            }
            let ra_mode = if s.ip_version == 6 { ra_mode(s) } else { None };
            let dns_servers = match ra_mode {
                Some(Ipv6Mode::Slaac) => s
                    .dns_nameservers
                    .iter()
                    .filter_map(|d| d.parse().ok())
                    .collect(),
                _ => Vec::new(),
            };
            interfaces.push(RouterInterface {
                port_id: p.std.id.clone(),
                bridge: idx.bridge(&p.network_id, external_bridge),
                mac: p.mac_address.clone(),
                address,
                ra_mode,
                dns_servers,
            });
        }
    }
    (interfaces, internal)
}

/// The gateway leg on the external network, from the gateway port's IPv4
/// address; none when it has none.
fn router_gateway(
    idx: &Index,
    router: &Router,
    p: &Port,
    external_bridge: &str,
    internal_cidrs: Vec<String>,
) -> Option<RouterGateway> {
    let f = p
        .fixed_ips
        .iter()
        .find(|f| f.ip_address.parse::<Ipv4Addr>().is_ok())?;
    // Neutron gives the gateway port one address on the first IPv6 subnet
    // of the external network too; that leg routes the tenant IPv6 subnets.
    let f6 = p
        .fixed_ips
        .iter()
        .find(|f| f.ip_address.parse::<Ipv6Addr>().is_ok());
    Some(RouterGateway {
        address6: f6.and_then(|f| idx.with_prefix(f)),
        next_hop6: f6
            .and_then(|f| idx.subnets.get(&f.subnet_id))
            .and_then(|s| s.gateway_ip.as_ref()?.parse().ok()),
        port_id: p.std.id.clone(),
        bridge: external_bridge.to_owned(),
        mac: p.mac_address.clone(),
        address: idx.with_prefix(f)?,
        next_hop: idx
            .subnets
            .get(&f.subnet_id)
            .and_then(|s| s.gateway_ip.as_ref()?.parse().ok()),
        snat: router
            .external_gateway_info
            .as_ref()
            .is_some_and(|g| g.enable_snat),
        internal_cidrs,
    })
}

/// The port forwardings of the floating IPs bound to `router`, in a stable order.
fn port_forwardings(
    router: &Router,
    fips: &[FloatingIp],
    forwardings: &[PortForwarding],
) -> Vec<PortForwardPlan> {
    let mut out: Vec<PortForwardPlan> = forwardings
        .iter()
        .filter_map(|pf| {
            let fip = fips.iter().find(|f| f.std.id == pf.floatingip_id)?;
            if fip.router_id.as_deref() != Some(router.std.id.as_str()) {
                return None;
            }
            Some(PortForwardPlan {
                floating_ip: fip.floating_ip_address.parse().ok()?,
                protocol: pf.protocol.clone(),
                external: pf.external,
                internal_ip: pf.internal_ip_address.parse().ok()?,
                internal: pf.internal,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (a.floating_ip, &a.protocol, a.external).cmp(&(b.floating_ip, &b.protocol, b.external))
    });
    out
}

fn rule_plan(r: &SecurityGroupRule) -> RulePlan {
    RulePlan {
        id: r.std.id.clone(),
        direction: r.direction.clone(),
        ethertype: r.ethertype.clone(),
        protocol: r.protocol.clone(),
        port_range_min: r.port_range_min.and_then(|p| u16::try_from(p).ok()),
        port_range_max: r.port_range_max.and_then(|p| u16::try_from(p).ok()),
        remote_ip_prefix: r.remote_ip_prefix.clone(),
        remote_group_id: r.remote_group_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn std(id: &str) -> Std {
        let mut s = Std::new("p", None);
        s.id = id.into();
        s
    }

    fn network(id: &str) -> Network {
        Network {
            std: std(id),
            name: String::new(),
            admin_state_up: true,
            status: "ACTIVE".into(),
            subnets: vec![],
            shared: false,
            external: false,
            mtu: 1450,
            port_security_enabled: true,
            network_type: "vxlan".into(),
            physical_network: None,
            segmentation_id: None,
            availability_zone_hints: vec![],
            availability_zones: vec![],
            ipv4_address_scope: None,
            ipv6_address_scope: None,
            is_default: false,
            dns_domain: String::new(),
            l2_adjacency: true,
        }
    }

    fn subnet6(id: &str, n: u16, ra: Option<&str>, address: Option<&str>) -> Subnet {
        Subnet {
            std: std(id),
            name: String::new(),
            network_id: "net".into(),
            ip_version: 6,
            cidr: format!("fd00:{n:x}::/64"),
            gateway_ip: Some(format!("fd00:{n:x}::1")),
            allocation_pools: vec![],
            dns_nameservers: vec![format!("fd00:{n:x}::53")],
            host_routes: vec![],
            enable_dhcp: true,
            ipv6_ra_mode: ra.map(String::from),
            ipv6_address_mode: address.map(String::from),
            subnetpool_id: None,
            service_types: vec![],
            segment_id: None,
            router_external: false,
        }
    }

    fn port(id: &str, owner: &str, device: &str, ips: &[(&str, String)]) -> Port {
        Port {
            std: std(id),
            name: String::new(),
            network_id: "net".into(),
            mac_address: "fa:16:3e:00:00:01".into(),
            admin_state_up: true,
            status: "ACTIVE".into(),
            fixed_ips: ips
                .iter()
                .map(|(s, ip)| FixedIp {
                    subnet_id: (*s).into(),
                    ip_address: ip.clone(),
                })
                .collect(),
            device_id: device.into(),
            device_owner: owner.into(),
            security_groups: vec![],
            allowed_address_pairs: vec![],
            extra_dhcp_opts: vec![],
            port_security_enabled: false,
            binding_host_id: String::new(),
            binding_vif_type: String::new(),
            binding_vnic_type: "normal".into(),
            binding_profile: serde_json::json!({}),
            binding_vif_details: serde_json::json!({}),
            dns_name: String::new(),
            dns_assignment: vec![],
            qos_policy_id: None,
            propagate_uplink_status: false,
        }
    }

    fn router(id: &str) -> Router {
        Router {
            std: std(id),
            name: String::new(),
            admin_state_up: true,
            status: "ACTIVE".into(),
            external_gateway_info: None,
            routes: vec![],
            distributed: false,
            ha: false,
            availability_zone_hints: vec![],
            availability_zones: vec![],
            flavor_id: None,
        }
    }

    /// A router on a SLAAC and a stateful subnet advertises both (RDNSS for SLAAC
    /// only), and the DHCP namespace then advertises neither; a SLAAC subnet no
    /// router serves is still advertised from the DHCP namespace.
    #[test]
    fn the_router_advertises_its_subnets_the_dhcp_namespace_the_others() {
        let subnets = [
            subnet6("s-slaac", 1, Some("slaac"), Some("slaac")),
            subnet6("s-stateful", 2, Some("dhcpv6-stateful"), None),
            subnet6("s-alone", 3, Some("slaac"), Some("slaac")),
        ];
        let ip = |n: u16, last: &str| format!("fd00:{n:x}::{last}");
        let idx = Index {
            networks: [("net".to_string(), network("net"))].into(),
            subnets: subnets
                .iter()
                .map(|s| (s.std.id.clone(), s.clone()))
                .collect(),
            ports: vec![
                port(
                    "p-r1",
                    OWNER_ROUTER_INTERFACE,
                    "r",
                    &[("s-slaac", ip(1, "1"))],
                ),
                port(
                    "p-r2",
                    OWNER_ROUTER_INTERFACE,
                    "r",
                    &[("s-stateful", ip(2, "1"))],
                ),
                port(
                    "p-dhcp",
                    OWNER_DHCP,
                    "dhcp",
                    &[
                        ("s-slaac", ip(1, "2")),
                        ("s-stateful", ip(2, "2")),
                        ("s-alone", ip(3, "2")),
                    ],
                ),
            ],
        };
        let rp = router_plan(&idx, &router("r"), &[], "br-ex");
        let modes: Vec<_> = rp
            .interfaces
            .iter()
            .map(|i| (i.address.as_str(), i.ra_mode, i.dns_servers.len()))
            .collect();
        assert_eq!(
            modes,
            vec![
                ("fd00:1::1/64", Some(Ipv6Mode::Slaac), 1),
                ("fd00:2::1/64", Some(Ipv6Mode::Dhcpv6Stateful), 0),
            ]
        );
        let advertised = router_advertised(&idx, std::slice::from_ref(&rp));
        let d = dhcp(&idx, &idx.networks["net"], &advertised).expect("dhcp");
        let adv: Vec<(&str, bool)> = d
            .subnets6
            .iter()
            .map(|s| (s.subnet_id.as_str(), s.advertise))
            .collect();
        assert_eq!(
            adv,
            vec![("s-alone", true), ("s-slaac", false), ("s-stateful", false)]
        );
        // A router that is not planned (admin down) advertises nothing.
        let none = router_advertised(&idx, &[]);
        let d = dhcp(&idx, &idx.networks["net"], &none).expect("dhcp");
        assert!(d.subnets6.iter().all(|s| s.advertise));
    }
}
