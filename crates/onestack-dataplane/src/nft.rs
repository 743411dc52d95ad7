//! nftables: the security-group tables of the host namespace, the NAT table of each
//! router namespace and the external masquerade. Each table is generated whole from
//! the plan and replaced atomically (one `nft -f -` transaction) only when its text
//! or the kernel's listing of it changed since we last wrote it.
//!
//! Security groups need conntrack for bridged traffic. This kernel family has no
//! `nf_conntrack_bridge`, so bridged IPv4 is tracked through br_netfilter instead
//! (each bridge is created with `nf_call_iptables 1`): an `inet` prerouting chain
//! puts each network in its own conntrack zone (overlapping tenant CIDRs) and copies
//! the connection state into bits of the packet mark, and the `bridge` table, which
//! sees the real bridge ports, filters per port on those bits.
//!
//! IPv6 follows Neutron: bridges also pass IPv6 to conntrack (`nf_call_ip6tables`),
//! ICMPv6 for neighbour discovery and MLD always passes (router advertisements
//! only towards ports, never from them), DHCPv6 replies only towards ports, and a
//! port sends IPv6 only from its MAC with its fixed addresses, its link-local
//! address (derived from the MAC) or `::` for duplicate address detection.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use tokio::sync::Mutex;

use super::cmd::{CmdError, Ns, Runner};
use super::ipv4;
use super::plan::{
    ExternalPlan, HostPlan, PortForwardPlan, PortPlan, RouterGateway, RouterPlan, RulePlan,
    SecurityGroupPlan, link_local,
};

/// Name of the tables onestack owns in its router namespaces, and of the installed
/// cloud's host tables (others add their owner tag: `Owner::nft_table`).
pub const TABLE: &str = "onestack";
/// Packet-mark bits carrying conntrack state from the inet to the bridge table.
const MARK_MASK: &str = "0x0f000000";
const MARK_EST: &str = "0x01000000";
const MARK_INVALID: &str = "0x02000000";
/// ICMPv6 a port must always receive: router advertisements, neighbour discovery
/// and MLD queries (Neutron's allowed ingress ICMPv6 types).
const ICMP6_IN: &str =
    "{ nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query }";
/// ICMPv6 a port may always send from its own addresses: solicitations, adverts
/// and MLD reports, never router advertisements or redirects.
const ICMP6_OUT: &str = "{ nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, \
                         mld-listener-report, mld2-listener-report }";

/// The security-group tables for the host namespace (None: table must not exist).
#[derive(Debug, Default, PartialEq)]
pub struct SecurityTables {
    pub inet: Option<String>,
    pub bridge: Option<String>,
    /// Rules that could not be expressed (unknown protocol, bad prefix...).
    pub errors: Vec<String>,
}

/// Generates both security-group tables from the plan.
pub fn security_tables(plan: &HostPlan, table: &str) -> SecurityTables {
    let ports: Vec<&PortPlan> = plan.ports.iter().filter(|p| p.port_security).collect();
    if ports.is_empty() {
        return SecurityTables::default();
    }
    let bridges: BTreeSet<&str> = ports.iter().map(|p| p.bridge.as_str()).collect();
    let groups: HashMap<&str, &SecurityGroupPlan> = plan
        .security_groups
        .iter()
        .map(|g| (g.id.as_str(), g))
        .collect();
    let mut errors = Vec::new();
    let mut chains = String::new();
    for port in &ports {
        chains.push_str(&port_chains(port, &groups, &mut errors));
    }
    SecurityTables {
        inet: Some(inet_table(&bridges, table)),
        bridge: Some(bridge_table(&ports, &chains, table)),
        errors,
    }
}

/// Conntrack zone per bridge, stable across plans (a hash, not a position).
fn zone(bridge: &str) -> u32 {
    let h = bridge.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x01000193)
    });
    1 + h % 65534
}

fn quoted_set<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<String> = items.map(|s| format!("\"{s}\"")).collect();
    format!("{{ {} }}", v.join(", "))
}

fn inet_table(bridges: &BTreeSet<&str>, table: &str) -> String {
    let zones: Vec<String> = bridges
        .iter()
        .map(|b| format!("\"{b}\" : {}", zone(b)))
        .collect();
    let set = quoted_set(bridges.iter().copied());
    format!(
        "table inet {table} {{\n\
         \tchain ct_zone {{\n\
         \t\ttype filter hook prerouting priority raw; policy accept;\n\
         \t\tct zone set iifname map {{ {zones} }} comment \"one conntrack zone per network\"\n\
         \t}}\n\
         \tchain ct_state {{\n\
         \t\ttype filter hook prerouting priority mangle; policy accept;\n\
         \t\tiifname {set} meta mark set meta mark & 0xf0ffffff\n\
         \t\tiifname {set} ct state established,related meta mark set meta mark | {MARK_EST} comment \"established\"\n\
         \t\tiifname {set} ct state invalid meta mark set meta mark | {MARK_INVALID} comment \"invalid\"\n\
         \t}}\n\
         }}\n",
        zones = zones.join(", ")
    )
}

fn chain_id(tap: &str) -> String {
    tap.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn bridge_table(ports: &[&PortPlan], chains: &str, table: &str) -> String {
    let out_map: Vec<String> = ports
        .iter()
        .map(|p| format!("\"{}\" : jump o_{}", p.tap, chain_id(&p.tap)))
        .collect();
    let in_map: Vec<String> = ports
        .iter()
        .map(|p| format!("\"{}\" : jump i_{}", p.tap, chain_id(&p.tap)))
        .collect();
    let (out_map, in_map) = (out_map.join(", "), in_map.join(", "));
    format!(
        "table bridge {table} {{\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname vmap {{ {out_map} }} comment \"from ports\"\n\
         \t\toifname vmap {{ {in_map} }} comment \"to ports\"\n\
         \t}}\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\tiifname vmap {{ {out_map} }} comment \"from ports to the host\"\n\
         \t}}\n\
         {chains}}}\n"
    )
}

fn comment(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| *c != '"' && *c != '\\')
        .take(120)
        .collect();
    format!("comment \"{clean}\"")
}

/// The three chains of a port: `o_` anti-spoofing, `e_` egress rules, `i_` ingress rules.
fn port_chains(
    port: &PortPlan,
    groups: &HashMap<&str, &SecurityGroupPlan>,
    errors: &mut Vec<String>,
) -> String {
    let id = chain_id(&port.tap);
    let mut s = String::new();
    let _ = writeln!(s, "\tchain o_{id} {{");
    for line in spoofing_rules(port, &id) {
        let _ = writeln!(s, "\t\t{line}");
    }
    let _ = writeln!(s, "\t}}\n\tchain e_{id} {{");
    for line in rule_chain(port, groups, "egress", errors) {
        let _ = writeln!(s, "\t\t{line}");
    }
    let _ = writeln!(s, "\t}}\n\tchain i_{id} {{");
    // What reaches a port whatever its groups say: ARP, DHCP and DHCPv6 replies,
    // neighbour discovery; anything that is not IP stops here.
    let always = [
        ("ether type arp return", "arp"),
        (
            "ether type ip udp sport 67 udp dport 68 return",
            "dhcp replies",
        ),
        (
            &*format!("ether type ip6 icmpv6 type {ICMP6_IN} return"),
            "neighbour discovery",
        ),
        (
            "ether type ip6 udp sport 547 udp dport 546 return",
            "dhcpv6 replies",
        ),
        ("ether type != { ip, ip6 } drop", "not IP"),
    ];
    for (rule, what) in always {
        let _ = writeln!(
            s,
            "\t\t{rule} {}",
            comment(&format!("port {}: {what}", port.id))
        );
    }
    for line in rule_chain(port, groups, "ingress", errors) {
        let _ = writeln!(s, "\t\t{line}");
    }
    let _ = writeln!(s, "\t}}");
    s
}

/// What the port may send from: its MAC with its IPs, plus allowed address pairs.
fn spoofing_rules(port: &PortPlan, id: &str) -> Vec<String> {
    let p = &port.id;
    let mac = port.mac.to_lowercase();
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !port.ips.is_empty() {
        let ips: Vec<String> = port.ips.iter().map(|i| i.to_string()).collect();
        pairs.push((mac.clone(), format!("{{ {} }}", ips.join(", "))));
    }
    for (cidr, pmac) in &port.allowed_address_pairs {
        let Some(net) = ipv4::network(cidr) else {
            continue;
        };
        let pmac = if pmac.is_empty() {
            mac.clone()
        } else {
            pmac.to_lowercase()
        };
        pairs.push((pmac, net));
    }
    let mut v = Vec::new();
    for (m, ips) in &pairs {
        v.push(format!(
            "ether type arp ether saddr {m} arp saddr ether {m} arp saddr ip {ips} return {}",
            comment(&format!("port {p}: arp from own address"))
        ));
    }
    v.push(format!(
        "ether type arp ether saddr {mac} arp saddr ether {mac} arp saddr ip 0.0.0.0 return {}",
        comment(&format!("port {p}: arp probe"))
    ));
    v.push(format!(
        "ether type arp drop {}",
        comment(&format!("port {p}: arp spoofing"))
    ));
    v.push(format!(
        "ether type ip ether saddr {mac} udp sport 68 udp dport 67 return {}",
        comment(&format!("port {p}: dhcp client"))
    ));
    v.push(format!(
        "ether type ip udp sport 67 udp dport 68 drop {}",
        comment(&format!("port {p}: no dhcp server"))
    ));
    for (m, ips) in &pairs {
        v.push(format!(
            "ether type ip ether saddr {m} ip saddr {ips} goto e_{id} {}",
            comment(&format!("port {p}: own addresses"))
        ));
    }
    v.extend(spoofing_rules6(port, id));
    v.push(format!(
        "drop {}",
        comment(&format!("port {p}: spoofed or not IP"))
    ));
    v
}

/// The IPv6 part of `spoofing_rules`: DAD and MLD from `::`, neighbour discovery
/// and DHCPv6 from the port's own addresses, then its own addresses to the egress
/// rules. The link-local address always counts as the port's own.
fn spoofing_rules6(port: &PortPlan, id: &str) -> Vec<String> {
    let p = &port.id;
    let mac = port.mac.to_lowercase();
    let own = own_source6(port, &mac);
    let mut pairs: Vec<(String, String)> = own.iter().cloned().collect();
    pairs.extend(pair_sources6(port, &mac));
    let mut v = vec![
        format!(
            "ether type ip6 ether saddr {mac} ip6 saddr :: icmpv6 type \
             {{ nd-neighbor-solicit, nd-router-solicit, mld-listener-report, mld2-listener-report }} \
             return {}",
            comment(&format!("port {p}: duplicate address detection"))
        ),
        format!(
            "ether type ip6 icmpv6 type {{ nd-router-advert, nd-redirect }} drop {}",
            comment(&format!("port {p}: no router advertisements"))
        ),
        format!(
            "ether type ip6 udp sport 547 udp dport 546 drop {}",
            comment(&format!("port {p}: no dhcpv6 server"))
        ),
    ];
    if let Some((m, ips)) = &own {
        v.insert(
            2,
            format!(
                "ether type ip6 ether saddr {m} ip6 saddr {ips} udp sport 546 udp dport 547 return {}",
                comment(&format!("port {p}: dhcpv6 client"))
            ),
        );
    }
    for (m, ips) in &pairs {
        v.push(format!(
            "ether type ip6 ether saddr {m} ip6 saddr {ips} icmpv6 type {ICMP6_OUT} return {}",
            comment(&format!("port {p}: neighbour discovery"))
        ));
    }
    for (m, ips) in &pairs {
        v.push(format!(
            "ether type ip6 ether saddr {m} ip6 saddr {ips} goto e_{id} {}",
            comment(&format!("port {p}: own IPv6 addresses"))
        ));
    }
    v
}

/// The port's own IPv6 sources: its MAC with the set of its link-local and
/// fixed addresses.
fn own_source6(port: &PortPlan, mac: &str) -> Option<(String, String)> {
    let mut own: Vec<String> = link_local(mac).into_iter().map(|a| a.to_string()).collect();
    own.extend(port.ips6.iter().map(|a| a.to_string()));
    (!own.is_empty()).then(|| (mac.to_owned(), format!("{{ {} }}", own.join(", "))))
}

/// The IPv6 allowed address pairs as (MAC, network); a pair without a MAC uses
/// the port's.
fn pair_sources6(port: &PortPlan, mac: &str) -> Vec<(String, String)> {
    port.allowed_address_pairs
        .iter()
        .filter_map(|(cidr, pmac)| {
            let net = network6(cidr)?;
            let pmac = if pmac.is_empty() {
                mac.to_owned()
            } else {
                pmac.to_lowercase()
            };
            Some((pmac, net))
        })
        .collect()
}

/// `fd00::5/64` -> `fd00::/64` (nft refuses host bits); None unless IPv6.
fn network6(s: &str) -> Option<String> {
    let net: ipnet::Ipv6Net = if s.contains('/') {
        s.trim().parse().ok()?
    } else {
        ipnet::Ipv6Net::new(s.trim().parse().ok()?, 128).ok()?
    };
    Some(net.trunc().to_string())
}

/// Stateful part plus the port's group rules for one direction, then drop.
fn rule_chain(
    port: &PortPlan,
    groups: &HashMap<&str, &SecurityGroupPlan>,
    direction: &str,
    errors: &mut Vec<String>,
) -> Vec<String> {
    let p = &port.id;
    let mut v = vec![
        format!(
            "meta mark & {MARK_MASK} == {MARK_INVALID} drop {}",
            comment(&format!("port {p}: {direction} invalid"))
        ),
        format!(
            "meta mark & {MARK_MASK} == {MARK_EST} return {}",
            comment(&format!("port {p}: {direction} established"))
        ),
    ];
    for gid in &port.security_groups {
        let Some(group) = groups.get(gid.as_str()) else {
            errors.push(format!("port {p}: security group {gid} is not in the plan"));
            continue;
        };
        for rule in group.rules.iter().filter(|r| r.direction == direction) {
            match rule_match(rule, groups) {
                Ok(Some(m)) => v.push(format!(
                    "{m} return {}",
                    comment(&format!("port {p} rule {}", rule.id))
                )),
                Ok(None) => {}
                Err(e) => errors.push(format!("port {p} rule {}: {e}", rule.id)),
            }
        }
    }
    v.push(format!(
        "drop {}",
        comment(&format!("port {p}: {direction} default"))
    ));
    v
}

/// The match part of one rule; `Ok(None)` when it can match nothing (a prefix of
/// the other family, an empty remote group).
pub fn rule_match(
    rule: &RulePlan,
    groups: &HashMap<&str, &SecurityGroupPlan>,
) -> Result<Option<String>, String> {
    let v6 = match rule.ethertype.to_ascii_lowercase().as_str() {
        "ipv4" => false,
        "ipv6" => true,
        _ => return Ok(None),
    };
    let side = RemoteSide {
        v6,
        fam: if v6 { "ip6" } else { "ip" },
        field: if rule.direction == "ingress" {
            "saddr"
        } else {
            "daddr"
        },
    };
    let mut m = format!("ether type {}", side.fam);
    let matches = match_remote_prefix(&mut m, rule, &side)?
        && match_remote_group(&mut m, rule, groups, &side)
        && match_protocol(&mut m, rule, v6)?;
    Ok(matches.then_some(m))
}

/// How a rule names the far end: its address family and the address field
/// (`saddr` for ingress, `daddr` for egress).
struct RemoteSide {
    v6: bool,
    fam: &'static str,
    field: &'static str,
}

/// Appends the rule's `remote_ip_prefix` (none for a whole family); false when
/// the prefix is of the other family.
fn match_remote_prefix(m: &mut String, rule: &RulePlan, side: &RemoteSide) -> Result<bool, String> {
    let Some(prefix) = &rule.remote_ip_prefix else {
        return Ok(true);
    };
    if prefix.contains(':') != side.v6 {
        return Ok(false);
    }
    let net = if side.v6 {
        network6(prefix)
    } else {
        ipv4::network(prefix)
    };
    let net = net.ok_or_else(|| format!("bad remote_ip_prefix {prefix}"))?;
    if net != "0.0.0.0/0" && net != "::/0" {
        let _ = write!(m, " {} {} {net}", side.fam, side.field);
    }
    Ok(true)
}

/// Appends the member addresses of the rule's remote group; false when the group
/// has none of the rule's family.
fn match_remote_group(
    m: &mut String,
    rule: &RulePlan,
    groups: &HashMap<&str, &SecurityGroupPlan>,
    side: &RemoteSide,
) -> bool {
    let Some(gid) = &rule.remote_group_id else {
        return true;
    };
    let ips: Vec<String> = match groups.get(gid.as_str()) {
        Some(g) if side.v6 => g.member_ips6.iter().map(|i| i.to_string()).collect(),
        Some(g) => g.member_ips.iter().map(|i| i.to_string()).collect(),
        None => Vec::new(),
    };
    if ips.is_empty() {
        return false;
    }
    let _ = write!(m, " {} {} {{ {} }}", side.fam, side.field, ips.join(", "));
    true
}

/// Appends the rule's protocol and ports or ICMP type and code; false for ICMPv6
/// on an IPv4 rule.
fn match_protocol(m: &mut String, rule: &RulePlan, v6: bool) -> Result<bool, String> {
    let proto = rule.protocol.as_deref().map(str::to_ascii_lowercase);
    match proto.as_deref() {
        None | Some("any") | Some("") => {}
        Some("tcp" | "6") => m.push_str(&ports("tcp", rule)),
        Some("udp" | "17") => m.push_str(&ports("udp", rule)),
        // Neutron reads `icmp` on an IPv6 rule as ICMPv6.
        Some("icmp" | "1" | "ipv6-icmp" | "icmpv6" | "58") if v6 => {
            icmp_match(m, "ipv6-icmp", "icmpv6", rule);
        }
        Some("icmp" | "1") => icmp_match(m, "icmp", "icmp", rule),
        Some("ipv6-icmp" | "icmpv6" | "58") => return Ok(false),
        Some(other) => {
            let n = named_protocol(other)
                .or_else(|| other.parse::<u8>().ok())
                .ok_or_else(|| format!("unknown protocol {other}"))?;
            let _ = write!(m, " meta l4proto {n}");
        }
    }
    Ok(true)
}

/// An ICMP(v6) match: the port range fields carry the type and code.
fn icmp_match(m: &mut String, l4proto: &str, keyword: &str, rule: &RulePlan) {
    let _ = write!(m, " meta l4proto {l4proto}");
    if let Some(t) = rule.port_range_min {
        let _ = write!(m, " {keyword} type {t}");
        if let Some(c) = rule.port_range_max {
            let _ = write!(m, " {keyword} code {c}");
        }
    }
}

fn named_protocol(name: &str) -> Option<u8> {
    Some(match name {
        "igmp" => 2,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "ospf" => 89,
        "vrrp" => 112,
        "sctp" => 132,
        "dccp" => 33,
        _ => return None,
    })
}

fn ports(proto: &str, rule: &RulePlan) -> String {
    match (rule.port_range_min, rule.port_range_max) {
        (Some(a), Some(b)) if a != b => format!(" {proto} dport {a}-{b}"),
        (Some(a), _) | (None, Some(a)) => format!(" {proto} dport {a}"),
        (None, None) => format!(" meta l4proto {proto}"),
    }
}

/// The DNAT rule of one port forwarding. Replies need no rule of their own:
/// conntrack reverses the DNAT, so they leave with the floating IP and external
/// port as source.
fn port_forward_rule(p: &PortForwardPlan) -> String {
    let proto = &p.protocol;
    let span = |(a, b): (u16, u16)| {
        if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        }
    };
    let target = if p.internal.0 == p.internal.1 {
        format!("{}:{}", p.internal_ip, p.internal.0)
    } else if p.internal == p.external {
        p.internal_ip.to_string()
    } else {
        // Shifted ranges of one size: port for port through a map.
        let pairs: Vec<String> = (p.external.0..=p.external.1)
            .zip(p.internal.0..=p.internal.1)
            .map(|(e, i)| format!("{e} : {i}"))
            .collect();
        format!(
            "{} : {proto} dport map {{ {} }}",
            p.internal_ip,
            pairs.join(", ")
        )
    };
    let c = comment(&format!(
        "port forwarding {}:{} {proto}",
        p.floating_ip,
        span(p.external)
    ));
    format!(
        "\t\tip daddr {} {proto} dport {} dnat to {target} {c}",
        p.floating_ip,
        span(p.external)
    )
}

/// The NAT table of a router namespace: port forwardings and floating IPs, then
/// SNAT of internal subnets.
pub fn router_nat(router: &RouterPlan, qg: &str) -> Option<String> {
    let gw: &RouterGateway = router.gateway.as_ref()?;
    let gw_ip = ipv4::parse_cidr(&gw.address)?.0;
    let mut pre = String::new();
    let mut post = String::new();
    for p in &router.port_forwardings {
        let _ = writeln!(pre, "{}", port_forward_rule(p));
    }
    for f in &router.floating_ips {
        let c = comment(&format!("floating ip {}", f.floating_ip));
        let _ = writeln!(
            pre,
            "\t\tip daddr {} dnat to {} {c}",
            f.floating_ip, f.fixed_ip
        );
        let _ = writeln!(
            post,
            "\t\toifname \"{qg}\" ip saddr {} snat to {} {c}",
            f.fixed_ip, f.floating_ip
        );
    }
    if !router.floating_ips.is_empty() || !router.port_forwardings.is_empty() {
        // Hairpin, as Neutron's L3 agent does: an instance reaching another's
        // floating IP from behind this router is DNATed above; without this SNAT
        // the reply would go straight back (same subnet) and miss the un-NAT.
        let _ = writeln!(
            post,
            "\t\tiifname != \"{qg}\" oifname != \"{qg}\" ct status dnat snat to {gw_ip} {}",
            comment(&format!("router {} hairpin", router.id))
        );
    }
    let nets: Vec<String> = gw
        .internal_cidrs
        .iter()
        .filter_map(|c| ipv4::network(c))
        .collect();
    if gw.snat && !nets.is_empty() {
        let _ = writeln!(
            post,
            "\t\toifname \"{qg}\" ip saddr {{ {} }} snat to {gw_ip} {}",
            nets.join(", "),
            comment(&format!("router {} snat", router.id))
        );
    }
    if pre.is_empty() && post.is_empty() {
        return None;
    }
    Some(format!(
        "table ip {TABLE} {{\n\
         \tchain prerouting {{\n\
         \t\ttype nat hook prerouting priority dstnat; policy accept;\n{pre}\t}}\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n{post}\t}}\n\
         }}\n"
    ))
}

/// Masquerade of the external network leaving the host through its uplinks (the
/// devices of its default routes), as DevStack masquerades the floating range out
/// of the default route's device: traffic to any other local network (bridged
/// under br_netfilter, or routed to a second NIC) keeps the floating IP as source.
pub fn host_nat(
    external: Option<&ExternalPlan>,
    uplinks: &[String],
    table: &str,
) -> Option<String> {
    let ext = external.filter(|e| e.masquerade)?;
    let net = ipv4::network(&ext.cidr)?;
    let devices: Vec<String> = uplinks
        .iter()
        .filter(|d| **d != ext.bridge)
        .map(|d| format!("\"{d}\""))
        .collect();
    if devices.is_empty() {
        return None;
    }
    Some(format!(
        "table ip {table} {{\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {net} oifname {{ {} }} masquerade {}\n\
         \t}}\n\
         }}\n",
        devices.join(", "),
        comment("external network to the outside")
    ))
}

/// The devices of the IPv4 default routes in `ip -j route show default` output.
pub fn default_route_devices(json: &str) -> Result<Vec<String>, CmdError> {
    let mut devs: Vec<String> = super::cmd::ip_json(json)?
        .iter()
        .filter_map(|r| r.get("dev")?.as_str().map(str::to_owned))
        .collect();
    devs.sort();
    devs.dedup();
    Ok(devs)
}

/// What we last wrote per (namespace, table) and how the kernel listed it then.
#[derive(Debug, Default)]
pub struct NftCache {
    applied: Mutex<BTreeMap<(String, String), (String, String)>>,
}

impl NftCache {
    /// Makes table `family table` in `ns` exactly `desired` (or absent).
    pub async fn apply(
        &self,
        r: &Runner,
        ns: &Ns,
        family: &str,
        table: &str,
        desired: Option<&str>,
    ) -> Result<(), CmdError> {
        let key = (ns.label().to_string(), format!("{family} {table}"));
        let listing = list_table(r, ns, family, table).await?;
        let mut applied = self.applied.lock().await;
        let Some(text) = desired else {
            applied.remove(&key);
            if listing.is_some() {
                let script = format!("delete table {family} {table}\n");
                r.mutate_stdin(ns.exec(&["nft", "-f", "-"]), Some(script))
                    .await?;
            }
            return Ok(());
        };
        if let (Some(now), Some((t, l))) = (&listing, applied.get(&key))
            && t == text
            && l == now
        {
            return Ok(());
        }
        // `table` first so that `delete` never fails; all three are one transaction.
        let script = format!("table {family} {table}\ndelete table {family} {table}\n{text}");
        r.mutate_stdin(ns.exec(&["nft", "-f", "-"]), Some(script))
            .await?;
        let now = list_table(r, ns, family, table).await?.unwrap_or_default();
        applied.insert(key, (text.to_string(), now));
        Ok(())
    }

    /// Forgets a namespace (it was deleted), so a new one with that name is rewritten.
    pub async fn forget(&self, ns: &Ns) {
        self.applied
            .lock()
            .await
            .retain(|(n, _), _| n != ns.label());
    }
}

async fn list_table(
    r: &Runner,
    ns: &Ns,
    family: &str,
    table: &str,
) -> Result<Option<String>, CmdError> {
    match r
        .query(ns.exec(&["nft", "list", "table", family, table]))
        .await
    {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.stderr().contains("No such file") => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::FloatingIpPlan;

    #[test]
    fn external_masquerade_goes_out_of_the_uplinks_only() {
        let json = r#"[{"dst":"default","gateway":"10.0.2.2","dev":"enp0s3","flags":[]},
                       {"dst":"default","gateway":"192.168.1.1","dev":"wlan0","metric":600,"flags":[]},
                       {"dst":"default","gateway":"172.24.4.1","dev":"br-ex","flags":[]}]"#;
        let uplinks = default_route_devices(json).expect("json");
        assert_eq!(uplinks, vec!["br-ex", "enp0s3", "wlan0"]);
        let ext = ExternalPlan {
            network_id: "e".into(),
            bridge: "br-ex".into(),
            host_address: None,
            cidr: "172.24.4.0/24".into(),
            masquerade: true,
            host_address6: None,
            routes6: vec![],
        };
        let t = host_nat(Some(&ext), &uplinks, TABLE).expect("a table");
        assert!(
            t.contains("ip saddr 172.24.4.0/24 oifname { \"enp0s3\", \"wlan0\" } masquerade"),
            "{t}"
        );
        assert_eq!(
            host_nat(Some(&ext), &["br-ex".to_owned()], TABLE),
            None,
            "no uplink, no rule"
        );
        let off = ExternalPlan {
            masquerade: false,
            ..ext
        };
        assert_eq!(host_nat(Some(&off), &uplinks, TABLE), None);
        assert!(default_route_devices("not json").is_err());
        assert!(default_route_devices("").expect("no routes").is_empty());
    }

    #[test]
    fn ipv6_rules() {
        let sg = SecurityGroupPlan {
            id: "g".into(),
            rules: vec![],
            member_ips: vec!["10.0.0.5".parse().unwrap()],
            member_ips6: vec!["fd00::5".parse().unwrap()],
        };
        let g: HashMap<&str, &SecurityGroupPlan> = [("g", &sg)].into_iter().collect();
        let mut r = rule("ingress", Some("icmp"), None, None);
        r.ethertype = "IPv6".into();
        assert_eq!(
            rule_match(&r, &g).unwrap().as_deref(),
            Some("ether type ip6 meta l4proto ipv6-icmp")
        );
        r.protocol = Some("ipv6-icmp".into());
        r.port_range_min = Some(128);
        assert_eq!(
            rule_match(&r, &g).unwrap().as_deref(),
            Some("ether type ip6 meta l4proto ipv6-icmp icmpv6 type 128")
        );
        r.protocol = Some("tcp".into());
        r.port_range_min = Some(22);
        r.port_range_max = Some(22);
        r.remote_ip_prefix = Some("fd00:1::7/64".into());
        assert_eq!(
            rule_match(&r, &g).unwrap().as_deref(),
            Some("ether type ip6 ip6 saddr fd00:1::/64 tcp dport 22")
        );
        r.remote_ip_prefix = Some("10.0.0.0/8".into());
        assert_eq!(rule_match(&r, &g).unwrap(), None, "v4 prefix on a v6 rule");
        let mut r = rule("ingress", None, None, None);
        r.ethertype = "IPv6".into();
        r.remote_group_id = Some("g".into());
        assert_eq!(
            rule_match(&r, &g).unwrap().as_deref(),
            Some("ether type ip6 ip6 saddr { fd00::5 }")
        );
        // ICMPv6 on an IPv4 rule matches nothing.
        let r = rule("ingress", Some("ipv6-icmp"), None, None);
        assert_eq!(rule_match(&r, &g).unwrap(), None);
    }

    #[test]
    fn ipv6_anti_spoofing() {
        let port = PortPlan {
            id: "p".into(),
            tap: "tapp".into(),
            bridge: "brq".into(),
            mac: "FA:16:3E:12:34:56".into(),
            ips: vec!["10.0.0.5".parse().unwrap()],
            ips6: vec!["fd00::f816:3eff:fe12:3456".parse().unwrap()],
            admin_state_up: true,
            port_security: true,
            security_groups: vec![],
            allowed_address_pairs: vec![("fd00:9::1/64".into(), String::new())],
        };
        let v = spoofing_rules(&port, "tapp").join("\n");
        assert!(v.contains(
            "ether type ip6 ether saddr fa:16:3e:12:34:56 ip6 saddr { fe80::f816:3eff:fe12:3456, fd00::f816:3eff:fe12:3456 } goto e_tapp"
        ), "{v}");
        assert!(v.contains("ip6 saddr fd00:9::/64 goto e_tapp"), "{v}");
        assert!(
            v.contains("icmpv6 type { nd-router-advert, nd-redirect } drop"),
            "{v}"
        );
        assert!(v.contains("ip6 saddr :: icmpv6 type"), "{v}");
        assert_eq!(network6("fd00::1"), Some("fd00::1/128".into()));
    }

    fn rule(dir: &str, proto: Option<&str>, min: Option<u16>, max: Option<u16>) -> RulePlan {
        RulePlan {
            id: "r1".into(),
            direction: dir.into(),
            ethertype: "IPv4".into(),
            protocol: proto.map(String::from),
            port_range_min: min,
            port_range_max: max,
            remote_ip_prefix: None,
            remote_group_id: None,
        }
    }

    #[test]
    fn rule_matches() {
        let g = HashMap::new();
        let m = |r: &RulePlan| rule_match(r, &g).unwrap();
        assert_eq!(
            m(&rule("ingress", Some("tcp"), Some(22), Some(22))).as_deref(),
            Some("ether type ip tcp dport 22")
        );
        assert_eq!(
            m(&rule("ingress", Some("udp"), Some(1000), Some(2000))).as_deref(),
            Some("ether type ip udp dport 1000-2000")
        );
        assert_eq!(
            m(&rule("ingress", Some("icmp"), Some(8), None)).as_deref(),
            Some("ether type ip meta l4proto icmp icmp type 8")
        );
        assert_eq!(
            m(&rule("egress", None, None, None)).as_deref(),
            Some("ether type ip")
        );
        let mut r = rule("egress", Some("gre"), None, None);
        r.remote_ip_prefix = Some("10.1.2.3/8".into());
        assert_eq!(
            m(&r).as_deref(),
            Some("ether type ip ip daddr 10.0.0.0/8 meta l4proto 47")
        );
        r.protocol = Some("bogus".into());
        assert!(rule_match(&r, &g).is_err());
        r.ethertype = "IPv6".into();
        assert_eq!(m(&r), None);
    }

    #[test]
    fn remote_group_uses_members() {
        let sg = SecurityGroupPlan {
            id: "g".into(),
            rules: vec![],
            member_ips: vec!["10.0.0.5".parse().unwrap()],
            member_ips6: vec![],
        };
        let g: HashMap<&str, &SecurityGroupPlan> = [("g", &sg)].into_iter().collect();
        let mut r = rule("ingress", None, None, None);
        r.remote_group_id = Some("g".into());
        assert_eq!(
            rule_match(&r, &g).unwrap().as_deref(),
            Some("ether type ip ip saddr { 10.0.0.5 }")
        );
        r.remote_group_id = Some("missing".into());
        assert_eq!(rule_match(&r, &g).unwrap(), None);
    }

    #[test]
    fn no_secured_ports_no_tables() {
        assert_eq!(
            security_tables(&HostPlan::default(), TABLE),
            SecurityTables::default()
        );
    }

    #[test]
    fn router_nat_has_fip_and_snat() {
        let r = RouterPlan {
            id: "r".into(),
            namespace: "qrouter-r".into(),
            interfaces: vec![],
            gateway: Some(RouterGateway {
                port_id: "p".into(),
                bridge: "br-ex".into(),
                mac: "fa:16:3e:00:00:01".into(),
                address: "172.24.4.10/24".into(),
                next_hop: None,
                snat: true,
                internal_cidrs: vec!["10.0.0.0/24".into()],
                address6: None,
                next_hop6: None,
            }),
            floating_ips: vec![FloatingIpPlan {
                floating_ip: "172.24.4.20".parse().unwrap(),
                fixed_ip: "10.0.0.5".parse().unwrap(),
            }],
            routes: vec![],
            port_forwardings: vec![],
        };
        let t = router_nat(&r, "qg-p").unwrap();
        assert!(t.contains("ip daddr 172.24.4.20 dnat to 10.0.0.5"));
        assert!(t.contains("ip saddr 10.0.0.5 snat to 172.24.4.20"));
        assert!(t.contains("ip saddr { 10.0.0.0/24 } snat to 172.24.4.10"));
        assert!(t.contains(
            "iifname != \"qg-p\" oifname != \"qg-p\" ct status dnat snat to 172.24.4.10"
        ));
    }

    #[test]
    fn router_nat_has_port_forwardings() {
        let fip: std::net::Ipv4Addr = "172.24.4.30".parse().unwrap();
        let vm: std::net::Ipv4Addr = "10.0.0.6".parse().unwrap();
        let pf = |protocol: &str, external, internal| PortForwardPlan {
            floating_ip: fip,
            protocol: protocol.into(),
            external,
            internal_ip: vm,
            internal,
        };
        let r = RouterPlan {
            id: "r".into(),
            namespace: "qrouter-r".into(),
            interfaces: vec![],
            gateway: Some(RouterGateway {
                port_id: "p".into(),
                bridge: "br-ex".into(),
                mac: "fa:16:3e:00:00:01".into(),
                address: "172.24.4.10/24".into(),
                next_hop: None,
                snat: false,
                internal_cidrs: vec![],
                address6: None,
                next_hop6: None,
            }),
            floating_ips: vec![],
            routes: vec![],
            port_forwardings: vec![
                pf("tcp", (2222, 2222), (22, 22)),
                pf("udp", (5000, 5010), (5000, 5010)),
                pf("tcp", (8000, 8002), (80, 82)),
                pf("tcp", (9000, 9009), (443, 443)),
            ],
        };
        let t = router_nat(&r, "qg-p").unwrap();
        assert!(t.contains("ip daddr 172.24.4.30 tcp dport 2222 dnat to 10.0.0.6:22"));
        assert!(t.contains("ip daddr 172.24.4.30 udp dport 5000-5010 dnat to 10.0.0.6 "));
        assert!(t.contains(
            "tcp dport 8000-8002 dnat to 10.0.0.6 : tcp dport map { 8000 : 80, 8001 : 81, 8002 : 82 }"
        ));
        assert!(t.contains("tcp dport 9000-9009 dnat to 10.0.0.6:443"));
        assert!(t.contains("ct status dnat snat to 172.24.4.10"), "hairpin");
        assert!(
            !t.contains("ip daddr 172.24.4.30 dnat"),
            "no whole-address DNAT"
        );
    }
}
