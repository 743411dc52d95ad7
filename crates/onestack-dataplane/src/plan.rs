//! The desired host networking, computed from the networking service's database.
//! The dataplane converges the host to a `HostPlan`: whatever the plan names is
//! created or fixed, whatever onestack owns but the plan does not name is removed.
//! Names of host objects are derived from Neutron ids the way Neutron's Linux bridge
//! agent derives them (`brq` + 11 characters of the network id, `tap` + 11 of the
//! port id, `qrouter-<id>`, `qdhcp-<id>`), limited to the 15 characters Linux allows.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// Everything the dataplane must make true on the host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostPlan {
    /// The external (provider) bridge, when an external network exists.
    pub external: Option<ExternalPlan>,
    pub networks: Vec<NetworkPlan>,
    pub routers: Vec<RouterPlan>,
    /// Ports of instances (and test stand-ins): a tap on the network's bridge,
    /// filtered by security groups.
    pub ports: Vec<PortPlan>,
    pub security_groups: Vec<SecurityGroupPlan>,
}

impl HostPlan {
    /// Every port the dataplane wires on the host: instance taps, DHCP legs, router
    /// interfaces and router gateway legs — what `onestack status` reports as ports.
    pub fn wired_ports(&self) -> usize {
        let dhcp = self.networks.iter().filter(|n| n.dhcp.is_some()).count();
        let routers: usize = self
            .routers
            .iter()
            .map(|r| r.interfaces.len() + usize::from(r.gateway.is_some()))
            .sum();
        self.ports.len() + dhcp + routers
    }
}

/// The bridge that carries the external network (DevStack's `br-ex`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalPlan {
    pub network_id: String,
    /// Bridge name, `br-ex` by default.
    pub bridge: String,
    /// Address the host itself holds on the bridge (the external subnet's gateway,
    /// e.g. `172.24.4.1/24`), so the host reaches floating IPs directly.
    pub host_address: Option<String>,
    /// The external subnet, e.g. `172.24.4.0/24`.
    pub cidr: String,
    /// Masquerade traffic from `cidr` leaving the host (NAT to the outside world).
    pub masquerade: bool,
    /// The external IPv6 subnet's gateway the host holds on the bridge (DevStack's
    /// `ip -6 addr replace $ipv6_ext_gw_ip/$len dev br-ex`), e.g. `2001:db8::2/64`.
    #[serde(default)]
    pub host_address6: Option<String>,
    /// Routes the host needs to reach tenant IPv6 subnets, which are routed, never
    /// NATed: (router-attached subnet, that router's IPv6 gateway address), as
    /// DevStack's `ip -6 route replace $FIXED_RANGE_V6 via $IPV6_ROUTER_GW_IP dev br-ex`.
    #[serde(default)]
    pub routes6: Vec<(String, Ipv6Addr)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkPlan {
    pub id: String,
    /// `brq` + first 11 characters of the id; for the external network, the
    /// external bridge.
    pub bridge: String,
    pub mtu: u32,
    pub admin_state_up: bool,
    /// DHCP service for the network, when any of its subnets has DHCP enabled.
    pub dhcp: Option<DhcpPlan>,
}

/// One dnsmasq in the network's `qdhcp-<id>` namespace, plugged into the bridge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DhcpPlan {
    pub namespace: String,
    /// The DHCP port (device_owner network:dhcp): its MAC and addresses.
    pub port_id: String,
    pub mac: String,
    /// `10.0.0.2/24` / `fd00:1::2/64` style, one per DHCP-enabled subnet. dnsmasq
    /// serves (and advertises) an IPv6 subnet only on a leg holding an address in it.
    pub addresses: Vec<String>,
    pub subnets: Vec<DhcpSubnet>,
    /// Fixed leases: every port of the network gets exactly its own address.
    pub hosts: Vec<DhcpHost>,
    /// DHCP-enabled IPv6 subnets: router advertisements and DHCPv6.
    #[serde(default)]
    pub subnets6: Vec<Dhcp6Subnet>,
    /// DHCPv6 fixed leases (stateful subnets only), by MAC as Neutron writes them.
    #[serde(default)]
    pub hosts6: Vec<Dhcp6Host>,
}

/// How hosts on an IPv6 subnet get their address (Neutron's `ipv6_address_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ipv6Mode {
    /// SLAAC from the advertised prefix (A flag), no DHCPv6.
    Slaac,
    /// SLAAC plus DHCPv6 for options only (A and O flags).
    Dhcpv6Stateless,
    /// DHCPv6 hands out the port's address (M flag, no A flag).
    Dhcpv6Stateful,
}

impl Ipv6Mode {
    /// Neutron's `slaac`, `dhcpv6-stateless`, `dhcpv6-stateful`.
    pub fn parse(s: &str) -> Option<Ipv6Mode> {
        match s {
            "slaac" => Some(Ipv6Mode::Slaac),
            "dhcpv6-stateless" => Some(Ipv6Mode::Dhcpv6Stateless),
            "dhcpv6-stateful" => Some(Ipv6Mode::Dhcpv6Stateful),
            _ => None,
        }
    }

    /// Whether hosts form their own address from the prefix and their MAC.
    pub fn is_auto_address(self) -> bool {
        self != Ipv6Mode::Dhcpv6Stateful
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dhcp6Subnet {
    pub subnet_id: String,
    /// `fd00:1::/64`
    pub cidr: String,
    pub address_mode: Ipv6Mode,
    /// Send router advertisements for the prefix from this namespace: the subnet has
    /// an `ipv6_ra_mode` but no router advertises it (see `RouterInterface::ra_mode`),
    /// so hosts still form addresses, though without a default route.
    pub advertise: bool,
    pub dns_servers: Vec<Ipv6Addr>,
    pub lease_seconds: u32,
    pub mtu: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dhcp6Host {
    pub mac: String,
    pub ip: Ipv6Addr,
    pub hostname: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DhcpSubnet {
    pub subnet_id: String,
    pub cidr: String,
    pub gateway: Option<Ipv4Addr>,
    pub dns_servers: Vec<Ipv4Addr>,
    /// (destination CIDR, next hop)
    pub host_routes: Vec<(String, Ipv4Addr)>,
    pub lease_seconds: u32,
    pub mtu: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DhcpHost {
    pub mac: String,
    pub ip: Ipv4Addr,
    /// `host-10-0-0-5` as Neutron names them, or the port's dns_name.
    pub hostname: String,
}

/// A router: the `qrouter-<id>` namespace with a leg on each attached network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterPlan {
    pub id: String,
    pub namespace: String,
    pub interfaces: Vec<RouterInterface>,
    pub gateway: Option<RouterGateway>,
    pub floating_ips: Vec<FloatingIpPlan>,
    /// Static routes (destination CIDR, next hop).
    pub routes: Vec<(String, Ipv4Addr)>,
    /// Floating IP port forwardings (DNAT of one protocol's ports only).
    #[serde(default)]
    pub port_forwardings: Vec<PortForwardPlan>,
}

/// A router leg (`qr-` device in the router namespace, its peer on the bridge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterInterface {
    pub port_id: String,
    pub bridge: String,
    pub mac: String,
    /// `10.0.0.1/24` or `fd00:1::1/64` style.
    pub address: String,
    /// For an IPv6 address: the subnet's `ipv6_ra_mode`, with which the router
    /// advertises the prefix and itself as default router (Neutron's radvd); `None`
    /// for IPv4 and for subnets without an RA mode.
    #[serde(default)]
    pub ra_mode: Option<Ipv6Mode>,
    /// DNS servers announced (RDNSS) with the prefix; Neutron's radvd announces
    /// those of SLAAC subnets only.
    #[serde(default)]
    pub dns_servers: Vec<Ipv6Addr>,
}

/// The router's leg on the external network (`qg-` device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterGateway {
    pub port_id: String,
    pub bridge: String,
    pub mac: String,
    /// `172.24.4.10/24` style.
    pub address: String,
    /// The external subnet's gateway, used as the default route.
    pub next_hop: Option<Ipv4Addr>,
    /// SNAT of the internal subnets to `address`.
    pub snat: bool,
    /// Internal subnets that SNAT applies to.
    pub internal_cidrs: Vec<String>,
    /// The leg's address on the external IPv6 subnet (`2001:db8::1/64` style), when
    /// the external network has one.
    #[serde(default)]
    pub address6: Option<String>,
    /// The external IPv6 subnet's gateway: the router's IPv6 default route.
    #[serde(default)]
    pub next_hop6: Option<Ipv6Addr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatingIpPlan {
    pub floating_ip: Ipv4Addr,
    pub fixed_ip: Ipv4Addr,
}

/// Packets to `floating_ip` on `external` ports of `protocol` go to `internal_ip`
/// on `internal` ports: the same port when both ranges are equal, port for port
/// when they are shifted ranges of one size, one port behind a range (1-N).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForwardPlan {
    pub floating_ip: Ipv4Addr,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// First and last port, equal for one port.
    pub external: (u16, u16),
    pub internal_ip: Ipv4Addr,
    pub internal: (u16, u16),
}

/// An instance port: the tap `tap<id11>` on the network's bridge. The VMM opens the
/// tap; the dataplane creates it when missing so the wiring exists before boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortPlan {
    pub id: String,
    pub tap: String,
    pub bridge: String,
    pub mac: String,
    pub ips: Vec<Ipv4Addr>,
    /// The port's IPv6 fixed addresses (SLAAC ones included); its link-local
    /// address is derived from `mac`.
    #[serde(default)]
    pub ips6: Vec<Ipv6Addr>,
    pub admin_state_up: bool,
    /// When false: no anti-spoofing and no security group filtering.
    pub port_security: bool,
    pub security_groups: Vec<String>,
    /// Extra (CIDR, MAC) pairs the port may send from.
    pub allowed_address_pairs: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupPlan {
    pub id: String,
    pub rules: Vec<RulePlan>,
    /// Addresses of the ports in this group, for rules naming it as remote group.
    pub member_ips: Vec<Ipv4Addr>,
    #[serde(default)]
    pub member_ips6: Vec<Ipv6Addr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulePlan {
    pub id: String,
    /// `ingress` (to the port) or `egress` (from the port).
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// `tcp`, `udp`, `icmp`, a protocol number as a string, or `None` for any.
    pub protocol: Option<String>,
    pub port_range_min: Option<u16>,
    pub port_range_max: Option<u16>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
}

/// Linux interface names are at most 15 characters.
pub fn device_name(prefix: &str, id: &str) -> String {
    let keep = 14usize.saturating_sub(prefix.len()).min(id.len());
    let cut = id
        .char_indices()
        .nth(keep)
        .map(|(i, _)| i)
        .unwrap_or(id.len());
    format!("{prefix}{}", &id[..cut])
}

pub fn bridge_name(network_id: &str) -> String {
    device_name("brq", network_id)
}

pub fn tap_name(port_id: &str) -> String {
    device_name("tap", port_id)
}

/// `fa:16:3e:01:02:03` as six bytes.
pub fn parse_mac(mac: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}

/// The modified EUI-64 address a host forms from `prefix` (its upper 64 bits) and
/// its MAC (RFC 4291 appendix A): what SLAAC gives an instance, and with `fe80::`
/// its link-local address.
pub fn eui64(prefix: Ipv6Addr, mac: &str) -> Option<Ipv6Addr> {
    let m = parse_mac(mac)?;
    let mut o = prefix.octets();
    o[8..].copy_from_slice(&[m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]);
    Some(Ipv6Addr::from(o))
}

/// The link-local address of a port with this MAC.
pub fn link_local(mac: &str) -> Option<Ipv6Addr> {
    eui64(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_linux_limits() {
        let id = "3f2a1b4c-5d6e-7f80-9a1b-2c3d4e5f6a7b";
        assert_eq!(bridge_name(id), "brq3f2a1b4c-5d");
        assert_eq!(tap_name(id), "tap3f2a1b4c-5d");
        assert!(device_name("qr-", id).len() <= 15);
        assert_eq!(device_name("qr-", "short"), "qr-short");
    }

    #[test]
    fn wired_ports_count_every_leg() {
        let plan: HostPlan = serde_json::from_value(serde_json::json!({
            "external": null,
            "networks": [
                {"id": "n1", "bridge": "brqn1", "mtu": 1450, "admin_state_up": true,
                 "dhcp": {"namespace": "qdhcp-n1", "port_id": "d1", "mac": "fa:16:3e:00:00:01",
                          "addresses": ["10.0.0.2/24"], "subnets": [], "hosts": []}},
                {"id": "n2", "bridge": "brqn2", "mtu": 1450, "admin_state_up": true, "dhcp": null}
            ],
            "routers": [],
            "ports": [],
            "security_groups": []
        }))
        .expect("plan");
        // One DHCP leg; no instance ports and no routers.
        assert_eq!(plan.wired_ports(), 1);
        assert_eq!(HostPlan::default().wired_ports(), 0);
    }

    #[test]
    fn eui64_addresses() {
        let mac = "fa:16:3e:12:34:56";
        assert_eq!(
            link_local(mac),
            Some("fe80::f816:3eff:fe12:3456".parse().unwrap())
        );
        assert_eq!(
            eui64("fd00:1::".parse().unwrap(), mac),
            Some("fd00:1::f816:3eff:fe12:3456".parse().unwrap())
        );
        assert_eq!(link_local("nonsense"), None);
        assert_eq!(
            Ipv6Mode::parse("dhcpv6-stateful"),
            Some(Ipv6Mode::Dhcpv6Stateful)
        );
        assert!(Ipv6Mode::Slaac.is_auto_address());
    }
}
