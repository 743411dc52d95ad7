//! NIC roles the way VirtualBox lays them out (NAT, NAT Network, host-only, bridged,
//! internal), inferred from addresses, routes, neighbours and DHCP leases — never
//! from interface names, which differ between distributions and hypervisors.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dataplane::cmd::{CmdError, Ns, ip_json, run_sync};
use crate::dataplane::links::is_onestack_alias;

/// What VirtualBox network a NIC is attached to, as far as the guest can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum NicRole {
    /// VirtualBox NAT: 10.0.2.0/24, default route via 10.0.2.2.
    Nat,
    /// A VirtualBox NAT Network: a default route via the network's .1.
    NatNetwork,
    /// Host-only: no default route; the laptop is the subnet's .1.
    HostOnly,
    /// Bridged to the laptop's LAN: a LAN router as gateway.
    Bridged,
    /// Internal network: no DHCP, no gateway.
    Internal,
    /// No IPv4 address at all.
    Unconfigured,
}

impl std::fmt::Display for NicRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NicRole::Nat => "NAT",
            NicRole::NatNetwork => "NAT Network",
            NicRole::HostOnly => "host-only",
            NicRole::Bridged => "bridged",
            NicRole::Internal => "internal",
            NicRole::Unconfigured => "unconfigured",
        })
    }
}

/// An IPv4 address on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Addr {
    pub(crate) ip: Ipv4Addr,
    pub(crate) prefix: u8,
    /// Set by a DHCP client (a finite lifetime).
    pub(crate) dynamic: bool,
}

impl Addr {
    pub(crate) fn cidr(&self) -> String {
        format!("{}/{}", self.ip, self.prefix)
    }
    pub(crate) fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.ip) & mask(self.prefix))
    }
}

pub(crate) fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32))
    }
}

/// One device as `ip -d -j addr show` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ObservedLink {
    pub(crate) name: String,
    pub(crate) kind: Option<String>,
    pub(crate) link_type: String,
    pub(crate) mac: String,
    pub(crate) master: Option<String>,
    pub(crate) alias: Option<String>,
    pub(crate) up: bool,
    pub(crate) addrs: Vec<Addr>,
}

/// One IPv4 route of the main table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Route {
    /// `default`, `10.0.2.0/24` or a bare address.
    pub(crate) dst: String,
    pub(crate) gateway: Option<Ipv4Addr>,
    pub(crate) dev: String,
    pub(crate) protocol: String,
    pub(crate) metric: u32,
}

/// A DHCP lease found in a client's lease file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Lease {
    pub(crate) interface: String,
    pub(crate) address: Option<Ipv4Addr>,
    pub(crate) router: Option<Ipv4Addr>,
    pub(crate) server: Option<Ipv4Addr>,
}

/// Everything the classification reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Observed {
    pub(crate) links: Vec<ObservedLink>,
    pub(crate) routes: Vec<Route>,
    /// Neighbours that answered (address, device).
    pub(crate) neighbours: Vec<(Ipv4Addr, String)>,
    pub(crate) leases: Vec<Lease>,
}

/// A NIC and the role it was given, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Nic {
    pub(crate) name: String,
    pub(crate) mac: String,
    pub(crate) role: NicRole,
    /// Its IPv4 addresses (on its bridge when it is enslaved to one).
    pub(crate) addrs: Vec<Addr>,
    /// The bridge it is enslaved to, if any.
    pub(crate) bridge: Option<String>,
    /// Gateway of its default route, if it has one.
    pub(crate) gateway: Option<Ipv4Addr>,
    /// Whether it carries the default route with the lowest metric.
    pub(crate) primary: bool,
    pub(crate) dhcp: bool,
    /// Why this role, in words.
    pub(crate) reason: String,
}

/// Directories searched for DHCP lease files (dhclient, systemd-networkd,
/// NetworkManager); `ONESTACK_LEASE_DIRS` (colon-separated) replaces them.
pub(crate) fn lease_dirs() -> Vec<PathBuf> {
    match std::env::var("ONESTACK_LEASE_DIRS") {
        Ok(v) if !v.is_empty() => v.split(':').map(PathBuf::from).collect(),
        _ => [
            "/var/lib/dhcp",
            "/var/lib/dhclient",
            "/run/systemd/netif/leases",
            "/var/lib/NetworkManager",
        ]
        .iter()
        .map(PathBuf::from)
        .collect(),
    }
}

/// Reads devices, routes and neighbours of `ns`, and the lease files.
pub(crate) fn observe(ns: &Ns, lease_dirs: &[PathBuf]) -> Result<Observed, CmdError> {
    let addrs = run_sync(&ns.ip(&["-d", "-j", "addr", "show"]), None)?;
    let routes = run_sync(
        &ns.ip(&["-j", "-4", "route", "show", "table", "main"]),
        None,
    )?;
    // Neighbours only help to name the laptop; a namespace without them is fine.
    let neigh = run_sync(&ns.ip(&["-j", "-4", "neigh", "show"]), None).unwrap_or_default();
    let links = parse_links(&addrs)?;
    let mut leases = Vec::new();
    for d in lease_dirs {
        leases.extend(read_leases(d, &links));
    }
    Ok(Observed {
        routes: parse_routes(&routes)?,
        neighbours: parse_neighbours(&neigh)?,
        links,
        leases,
    })
}

pub(crate) fn parse_links(json: &str) -> Result<Vec<ObservedLink>, CmdError> {
    Ok(ip_json(json)?
        .iter()
        .filter_map(|v| {
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            let addrs = v
                .get("addr_info")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(parse_addr).collect())
                .unwrap_or_default();
            Some(ObservedLink {
                name: s("ifname")?,
                kind: v
                    .get("linkinfo")
                    .and_then(|i| i.get("info_kind"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                link_type: s("link_type").unwrap_or_default(),
                mac: s("address").unwrap_or_default().to_lowercase(),
                master: s("master"),
                alias: s("ifalias").filter(|a| !a.is_empty()),
                up: v
                    .get("flags")
                    .and_then(Value::as_array)
                    .is_some_and(|f| f.iter().any(|x| x == "UP")),
                addrs,
            })
        })
        .collect())
}

fn parse_addr(a: &Value) -> Option<Addr> {
    if a.get("family")? != "inet" || a.get("scope")? != "global" {
        return None;
    }
    Some(Addr {
        ip: a.get("local")?.as_str()?.parse().ok()?,
        prefix: u8::try_from(a.get("prefixlen")?.as_u64()?).ok()?,
        dynamic: a.get("dynamic").and_then(Value::as_bool).unwrap_or(false),
    })
}

pub(crate) fn parse_routes(json: &str) -> Result<Vec<Route>, CmdError> {
    Ok(ip_json(json)?
        .iter()
        .filter_map(|v| {
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            Some(Route {
                dst: s("dst")?,
                gateway: s("gateway").and_then(|g| g.parse().ok()),
                dev: s("dev")?,
                protocol: s("protocol").unwrap_or_default(),
                metric: v.get("metric").and_then(Value::as_u64).unwrap_or(0) as u32,
            })
        })
        .collect())
}

fn parse_neighbours(json: &str) -> Result<Vec<(Ipv4Addr, String)>, CmdError> {
    Ok(ip_json(json)?
        .iter()
        .filter_map(|v| {
            let state = v.get("state").and_then(Value::as_array)?;
            if state.iter().any(|s| s == "FAILED" || s == "INCOMPLETE") {
                return None;
            }
            Some((
                v.get("dst")?.as_str()?.parse().ok()?,
                v.get("dev")?.as_str()?.to_string(),
            ))
        })
        .collect())
}

/// Lease files of dhclient (`lease { interface "x"; fixed-address ...; }`) and of
/// systemd-networkd / NetworkManager's internal client (`KEY=value`, named by
/// ifindex or with the interface name in the file name).
pub(crate) fn read_leases(dir: &Path, links: &[ObservedLink]) -> Vec<Lease> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        if text.contains("lease {") {
            out.extend(parse_dhclient(&text));
        } else if text.contains("ADDRESS=") {
            let iface = links
                .iter()
                .map(|l| l.name.as_str())
                .find(|n| file.ends_with(&format!("-{n}.lease")) || file == *n)
                .map(str::to_string);
            if let Some(l) = parse_keyvalue(&text, iface) {
                out.push(l);
            }
        }
    }
    out
}

pub(crate) fn parse_dhclient(text: &str) -> Vec<Lease> {
    let mut out: Vec<Lease> = Vec::new();
    for block in text.split("lease {").skip(1) {
        let body = block.split('}').next().unwrap_or("");
        let mut l = Lease {
            interface: String::new(),
            address: None,
            router: None,
            server: None,
        };
        for line in body.lines().map(|l| l.trim().trim_end_matches(';')) {
            let val = |p: &str| line.strip_prefix(p).map(|v| v.trim().trim_matches('"'));
            if let Some(v) = val("interface") {
                l.interface = v.to_string();
            } else if let Some(v) = val("fixed-address") {
                l.address = v.parse().ok();
            } else if let Some(v) = val("option routers") {
                l.router = v.split(',').next().and_then(|r| r.trim().parse().ok());
            } else if let Some(v) = val("option dhcp-server-identifier") {
                l.server = v.parse().ok();
            }
        }
        // The last lease of an interface is the current one.
        out.retain(|o| o.interface != l.interface);
        if !l.interface.is_empty() {
            out.push(l);
        }
    }
    out
}

/// systemd-networkd leases are named by ifindex; the caller passes the interface
/// when the file name gives it, otherwise the address identifies the device later.
pub(crate) fn parse_keyvalue(text: &str, interface: Option<String>) -> Option<Lease> {
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<Ipv4Addr>().ok())
    };
    let address = get("ADDRESS");
    Some(Lease {
        interface: interface.unwrap_or_default(),
        address,
        router: get("ROUTER"),
        server: get("SERVER_ADDRESS"),
    })
}

/// Whether a device is a candidate NIC: not loopback, not a bridge/tap/tunnel, and
/// not one of the dataplane's own devices.
fn is_nic(l: &ObservedLink) -> bool {
    l.link_type == "ether"
        && !matches!(
            l.kind.as_deref(),
            Some("bridge" | "tun" | "dummy" | "vxlan" | "bond" | "vlan" | "macvlan")
        )
        && !l.alias.as_deref().is_some_and(is_onestack_alias)
}

fn private(ip: Ipv4Addr) -> bool {
    ip.is_private()
}

/// Gives each NIC a role. A NIC enslaved to a bridge is judged by the bridge's
/// addresses and routes, so a second `install` sees the same roles as the first.
pub(crate) fn classify(obs: &Observed) -> Vec<Nic> {
    let primary_dev = obs
        .routes
        .iter()
        .filter(|r| r.dst == "default")
        .min_by_key(|r| r.metric)
        .map(|r| r.dev.clone());
    let mut nics = Vec::new();
    for l in obs.links.iter().filter(|l| is_nic(l)) {
        let dev = l.master.clone().unwrap_or_else(|| l.name.clone());
        let addrs: Vec<Addr> = if l.master.is_some() {
            obs.links
                .iter()
                .find(|m| Some(&m.name) == l.master.as_ref())
                .map(|m| m.addrs.clone())
                .unwrap_or_default()
        } else {
            l.addrs.clone()
        };
        let default = obs
            .routes
            .iter()
            .filter(|r| r.dst == "default" && r.dev == dev)
            .min_by_key(|r| r.metric);
        let lease = obs.leases.iter().find(|le| {
            le.interface == l.name
                || (le.interface.is_empty()
                    && le.address.is_some_and(|a| addrs.iter().any(|x| x.ip == a)))
        });
        let dhcp = addrs.iter().any(|a| a.dynamic)
            || obs
                .routes
                .iter()
                .any(|r| r.dev == dev && r.protocol == "dhcp")
            || lease.is_some();
        let gateway = default.and_then(|r| r.gateway);
        let (role, reason) = role_of(&addrs, gateway, lease, dhcp, &dev, obs);
        nics.push(Nic {
            name: l.name.clone(),
            mac: l.mac.clone(),
            role,
            addrs,
            bridge: l.master.clone(),
            gateway,
            primary: primary_dev.as_deref() == Some(dev.as_str()),
            dhcp,
            reason,
        });
    }
    nics
}

/// The role VirtualBox gave a NIC, judged from its first address, its gateway
/// and its DHCP lease, with the reason shown to the user.
fn role_of(
    addrs: &[Addr],
    gateway: Option<Ipv4Addr>,
    lease: Option<&Lease>,
    dhcp: bool,
    dev: &str,
    obs: &Observed,
) -> (NicRole, String) {
    let Some(addr) = addrs.first() else {
        return (NicRole::Unconfigured, "no IPv4 address".into());
    };
    match gateway.or_else(|| lease.and_then(|l| l.router)) {
        Some(gw) => routed_role(addr, gw, lease),
        None => unrouted_role(addr, lease, dhcp, dev, obs),
    }
}

/// The `n`th address of `addr`'s subnet.
fn nth_host(addr: &Addr, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(addr.network()) + n)
}

/// A NIC with a default route: VirtualBox NAT, a NAT Network, or bridged.
fn routed_role(addr: &Addr, gw: Ipv4Addr, lease: Option<&Lease>) -> (NicRole, String) {
    let net = addr.network();
    if net == Ipv4Addr::new(10, 0, 2, 0) && addr.prefix == 24 && gw == Ipv4Addr::new(10, 0, 2, 2) {
        return (
            NicRole::Nat,
            "default route via 10.0.2.2 in 10.0.2.0/24 (VirtualBox NAT)".into(),
        );
    }
    let natnet_dhcp = lease.and_then(|l| l.server) == Some(nth_host(addr, 3));
    if gw == nth_host(addr, 1)
        && private(gw)
        && (natnet_dhcp || net.octets()[0] == 10 && addr.prefix >= 16 && gw.octets()[1] == 0)
    {
        return (
            NicRole::NatNetwork,
            format!("default route via {gw}, the .1 of a private subnet (VirtualBox NAT Network)"),
        );
    }
    (
        NicRole::Bridged,
        format!("default route via {gw}, a router of a LAN (bridged)"),
    )
}

/// A NIC without a default route: host-only (the laptop answers or serves
/// DHCP) or an internal network.
fn unrouted_role(
    addr: &Addr,
    lease: Option<&Lease>,
    dhcp: bool,
    dev: &str,
    obs: &Observed,
) -> (NicRole, String) {
    let vbox_hostonly =
        (u32::from(addr.ip) & mask(21)) == u32::from(Ipv4Addr::new(192, 168, 56, 0));
    if vbox_hostonly {
        return (
            NicRole::HostOnly,
            format!(
                "no default route, {} is in VirtualBox's host-only range 192.168.56.0/21",
                addr.cidr()
            ),
        );
    }
    if lease.and_then(|l| l.server) == Some(nth_host(addr, 100)) {
        return (
            NicRole::HostOnly,
            "no default route, DHCP from .100 (VirtualBox host-only DHCP server)".into(),
        );
    }
    let dot1 = nth_host(addr, 1);
    let dot1_answers = obs.neighbours.iter().any(|(ip, d)| *ip == dot1 && d == dev);
    if dot1_answers || dhcp {
        return (
            NicRole::HostOnly,
            format!("no default route, {dot1} answers (the laptop)"),
        );
    }
    (
        NicRole::Internal,
        "no DHCP, no gateway (VirtualBox internal network)".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, addrs: &[(&str, u8, bool)], master: Option<&str>) -> ObservedLink {
        ObservedLink {
            name: name.into(),
            kind: None,
            link_type: "ether".into(),
            mac: "08:00:27:00:00:01".into(),
            master: master.map(str::to_string),
            alias: None,
            up: true,
            addrs: addrs
                .iter()
                .map(|(ip, p, d)| Addr {
                    ip: ip.parse().expect("ip"),
                    prefix: *p,
                    dynamic: *d,
                })
                .collect(),
        }
    }

    fn route(dst: &str, gw: Option<&str>, dev: &str, metric: u32) -> Route {
        Route {
            dst: dst.into(),
            gateway: gw.map(|g| g.parse().expect("gw")),
            dev: dev.into(),
            protocol: "dhcp".into(),
            metric,
        }
    }

    fn roles(obs: &Observed) -> Vec<(String, NicRole)> {
        classify(obs)
            .into_iter()
            .map(|n| (n.name, n.role))
            .collect()
    }

    #[test]
    fn nat_and_host_only_whatever_the_names() {
        let obs = Observed {
            links: vec![
                link("wan7", &[("10.0.2.15", 24, true)], None),
                link("foo", &[("192.168.56.10", 24, false)], None),
            ],
            routes: vec![route("default", Some("10.0.2.2"), "wan7", 100)],
            ..Default::default()
        };
        assert_eq!(
            roles(&obs),
            vec![
                ("wan7".into(), NicRole::Nat),
                ("foo".into(), NicRole::HostOnly)
            ]
        );
        assert!(classify(&obs)[0].primary);
    }

    #[test]
    fn enslaved_nic_is_judged_by_its_bridge() {
        let mut br = link("br-ex", &[("192.168.56.10", 24, false)], None);
        br.kind = Some("bridge".into());
        let obs = Observed {
            links: vec![link("enp0s8", &[], Some("br-ex")), br],
            ..Default::default()
        };
        let nics = classify(&obs);
        assert_eq!(nics.len(), 1);
        assert_eq!(nics[0].role, NicRole::HostOnly);
        assert_eq!(nics[0].bridge.as_deref(), Some("br-ex"));
    }

    #[test]
    fn nat_network_bridged_internal() {
        let obs = Observed {
            links: vec![
                link("a", &[("10.0.2.4", 24, true)], None),
                link("b", &[("192.168.1.23", 24, true)], None),
                link("c", &[("172.30.0.5", 24, false)], None),
                link("d", &[], None),
            ],
            routes: vec![
                route("default", Some("10.0.2.1"), "a", 100),
                route("default", Some("192.168.1.1"), "b", 200),
            ],
            ..Default::default()
        };
        assert_eq!(
            roles(&obs),
            vec![
                ("a".into(), NicRole::NatNetwork),
                ("b".into(), NicRole::Bridged),
                ("c".into(), NicRole::Internal),
                ("d".into(), NicRole::Unconfigured),
            ]
        );
    }

    #[test]
    fn host_only_by_dhcp_server_and_bridged_by_lease_router() {
        let obs = Observed {
            links: vec![
                link("x", &[("192.168.99.101", 24, true)], None),
                link("y", &[("192.168.0.40", 24, true)], None),
            ],
            leases: vec![
                Lease {
                    interface: "x".into(),
                    address: None,
                    router: None,
                    server: Some("192.168.99.100".parse().expect("ip")),
                },
                Lease {
                    interface: "y".into(),
                    address: None,
                    router: Some("192.168.0.1".parse().expect("ip")),
                    server: None,
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            roles(&obs),
            vec![
                ("x".into(), NicRole::HostOnly),
                ("y".into(), NicRole::Bridged)
            ]
        );
    }

    #[test]
    fn lease_files() {
        let t = "lease {\n  interface \"enp0s3\";\n  fixed-address 10.0.2.15;\n  option routers 10.0.2.2;\n  option dhcp-server-identifier 10.0.2.2;\n}\nlease {\n  interface \"enp0s3\";\n  fixed-address 10.0.2.16;\n}\n";
        let l = parse_dhclient(t);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].address, Some("10.0.2.16".parse().expect("ip")));
        let k = parse_keyvalue("# This is private data.\nADDRESS=192.168.56.101\nNETMASK=255.255.255.0\nSERVER_ADDRESS=192.168.56.100\n", Some("enp0s8".into())).expect("lease");
        assert_eq!(k.server, Some("192.168.56.100".parse().expect("ip")));
        assert_eq!(k.router, None);
    }

    #[test]
    fn parses_ip_json() {
        let links = parse_links(
            r#"[{"ifindex":2,"ifname":"enp0s3","flags":["BROADCAST","UP"],"mtu":1500,"link_type":"ether","address":"08:00:27:AA:BB:CC","addr_info":[{"family":"inet","local":"10.0.2.15","prefixlen":24,"scope":"global","dynamic":true},{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]},{"ifindex":1,"ifname":"lo","link_type":"loopback","addr_info":[]}]"#,
        )
        .expect("json");
        assert_eq!(links.len(), 2);
        assert_eq!(
            links[0].addrs,
            vec![Addr {
                ip: "10.0.2.15".parse().expect("ip"),
                prefix: 24,
                dynamic: true
            }]
        );
        assert!(links[0].up);
        let routes = parse_routes(
            r#"[{"dst":"default","gateway":"10.0.2.2","dev":"enp0s3","protocol":"dhcp","metric":100,"flags":[]},{"dst":"10.0.2.0/24","dev":"enp0s3","protocol":"kernel","scope":"link","prefsrc":"10.0.2.15","flags":[]}]"#,
        )
        .expect("json");
        assert_eq!(routes[0].gateway, Some("10.0.2.2".parse().expect("ip")));
        assert_eq!(routes[1].metric, 0);
    }
}
