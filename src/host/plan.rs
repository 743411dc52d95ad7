//! The external network choice: which bridge carries floating IPs, on which range,
//! with which NAT, computed from the classified NICs and the routes in use.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::nics::{Addr, Nic, NicRole, Observed, mask};

/// What `onestack install` makes true on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SetupPlan {
    pub(crate) nics: Vec<Nic>,
    /// The NIC instances reach the internet through (the primary default route).
    pub(crate) uplink: Option<String>,
    /// The external bridge (`br-ex`).
    pub(crate) bridge: String,
    /// The host's address on the bridge, `a.b.c.d/len`.
    pub(crate) bridge_address: String,
    /// The NIC the bridge takes over (host-only or bridged), if any.
    pub(crate) takeover: Option<Takeover>,
    /// The external subnet.
    pub(crate) floating_range: String,
    pub(crate) pool_start: Ipv4Addr,
    pub(crate) pool_end: Ipv4Addr,
    /// Gateway of the external subnet: the host's own address on the bridge.
    pub(crate) public_gateway: Ipv4Addr,
    pub(crate) nat: Vec<NatRule>,
    /// The host name put in the catalog.
    pub(crate) public_host: String,
    pub(crate) notes: Vec<String>,
}

/// A NIC whose addresses move to the bridge, which it then joins as a port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Takeover {
    pub(crate) nic: String,
    pub(crate) role: NicRole,
    /// The bridge takes the NIC's MAC, so neighbours' ARP caches and DHCP
    /// reservations stay valid.
    pub(crate) mac: String,
    pub(crate) addresses: Vec<String>,
    /// Gateway routes through the NIC (a bridged NIC's own default route too),
    /// moved to the bridge with their metric.
    pub(crate) routes: Vec<MovedRoute>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MovedRoute {
    pub(crate) dst: String,
    pub(crate) via: Ipv4Addr,
    pub(crate) metric: u32,
}

/// A masquerade rule of the `ip onestack-host` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NatRule {
    pub(crate) source: String,
    pub(crate) out_interface: String,
    pub(crate) comment: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PlanError {
    #[error(
        "no IPv4 range for the external network is free: every 172.24.x.0/24 and 10.x.0.0/24 is in use"
    )]
    NoFreeRange,
    #[error("{nic}: subnet {cidr} is too small to hold floating IPs (need /29 or larger)")]
    SubnetTooSmall { nic: String, cidr: String },
}

/// Chooses the external network. Host-only beats bridged (the laptop reaches it
/// even off-LAN); a NIC carrying the primary default route is never taken over, so
/// the session that runs `install` is not cut.
pub(crate) fn choose(obs: &Observed, nics: Vec<Nic>, bridge: &str) -> Result<SetupPlan, PlanError> {
    let uplink = nics.iter().find(|n| n.primary).map(|n| n.name.clone());
    let pick = |role: NicRole| {
        nics.iter().find(|n| {
            n.role == role
                && !n.primary
                && !n.addrs.is_empty()
                && n.bridge.as_deref().is_none_or(|b| b == bridge)
        })
    };
    let target = pick(NicRole::HostOnly)
        .or_else(|| pick(NicRole::Bridged))
        .cloned();
    let mut notes = Vec::new();
    let mut plan = match target {
        Some(nic) => takeover_plan(obs, &nic, bridge, &mut notes)?,
        None => standalone_plan(obs, bridge)?,
    };
    if let Some(up) = &uplink {
        plan.nat.push(NatRule {
            source: plan.floating_range.clone(),
            out_interface: up.clone(),
            comment: format!(
                "onestack: floating range {} to the outside via {up}",
                plan.floating_range
            ),
        });
    } else {
        notes.push("no default route: instances will not reach the internet".into());
    }
    if plan.takeover.is_none() {
        plan.public_host = nics
            .iter()
            .find(|n| n.primary)
            .and_then(|n| n.addrs.first())
            .map(|a| a.ip.to_string())
            .unwrap_or_else(|| "127.0.0.1".into());
        notes.push(format!(
            "no host-only or bridged NIC: floating IPs live on {} and are reached from this machine only; add a VirtualBox host-only adapter to reach them from the laptop",
            plan.floating_range
        ));
    }
    plan.uplink = uplink;
    plan.nics = nics;
    plan.notes.extend(notes);
    Ok(plan)
}

fn takeover_plan(
    obs: &Observed,
    nic: &Nic,
    bridge: &str,
    notes: &mut Vec<String>,
) -> Result<SetupPlan, PlanError> {
    let Some(addr) = nic.addrs.first().copied() else {
        return Err(PlanError::SubnetTooSmall {
            nic: nic.name.clone(),
            cidr: "none".into(),
        });
    };
    let (start, end) = upper_half(&addr).ok_or_else(|| PlanError::SubnetTooSmall {
        nic: nic.name.clone(),
        cidr: format!("{}/{}", addr.network(), addr.prefix),
    })?;
    let routes = moved_routes(obs, nic, bridge);
    if nic.dhcp {
        notes.push(format!(
            "{} got its address by DHCP; it is kept as a static address on {bridge}: configure it statically (netplan) so a reboot gives the same one",
            nic.name
        ));
    }
    if nic.role == NicRole::Bridged {
        notes.push(format!(
            "floating IPs {start}-{end} are on the LAN: keep them out of the LAN router's DHCP pool"
        ));
    }
    Ok(SetupPlan {
        nics: Vec::new(),
        uplink: None,
        bridge: bridge.to_owned(),
        bridge_address: addr.cidr(),
        takeover: Some(super::plan::Takeover {
            nic: nic.name.clone(),
            role: nic.role,
            mac: nic.mac.clone(),
            addresses: nic.addrs.iter().map(Addr::cidr).collect(),
            routes,
        }),
        floating_range: format!("{}/{}", addr.network(), addr.prefix),
        pool_start: start,
        pool_end: end,
        public_gateway: addr.ip,
        nat: Vec::new(),
        public_host: addr.ip.to_string(),
        notes: Vec::new(),
    })
}

/// The gateway routes through the NIC (or the bridge that already holds it),
/// which move to the bridge with their metric.
fn moved_routes(obs: &Observed, nic: &Nic, bridge: &str) -> Vec<MovedRoute> {
    let dev = nic.bridge.as_deref().unwrap_or(&nic.name);
    obs.routes
        .iter()
        .filter(|r| r.dev == dev || r.dev == bridge || r.dev == nic.name)
        .filter_map(|r| {
            Some(MovedRoute {
                dst: r.dst.clone(),
                via: r.gateway?,
                metric: r.metric,
            })
        })
        .collect()
}

/// The upper half of the subnet, minus the broadcast, the laptop's .1 and the
/// host's own address (the larger side of it when it falls inside).
pub(crate) fn upper_half(addr: &Addr) -> Option<(Ipv4Addr, Ipv4Addr)> {
    if addr.prefix > 29 {
        return None;
    }
    let net = u32::from(addr.network());
    let size = 1u32 << (32 - addr.prefix);
    let (mut start, mut end) = (net + size / 2, net + size - 2);
    let own = u32::from(addr.ip);
    start = start.max(net + 2);
    if (start..=end).contains(&own) {
        if own - start >= end - own {
            end = own - 1;
        } else {
            start = own + 1;
        }
    }
    (start <= end).then(|| (Ipv4Addr::from(start), Ipv4Addr::from(end)))
}

fn standalone_plan(obs: &Observed, bridge: &str) -> Result<SetupPlan, PlanError> {
    let range = free_range(obs, bridge).ok_or(PlanError::NoFreeRange)?;
    let net = u32::from(range);
    Ok(SetupPlan {
        nics: Vec::new(),
        uplink: None,
        bridge: bridge.to_owned(),
        bridge_address: format!("{}/24", Ipv4Addr::from(net + 1)),
        takeover: None,
        floating_range: format!("{range}/24"),
        pool_start: Ipv4Addr::from(net + 2),
        pool_end: Ipv4Addr::from(net + 254),
        public_gateway: Ipv4Addr::from(net + 1),
        nat: Vec::new(),
        public_host: String::new(),
        notes: Vec::new(),
    })
}

/// DevStack's 172.24.4.0/24 unless an address or route (other than the external
/// bridge's own) overlaps it; then the next 172.24.x.0/24, then 10.x.0.0/24.
pub(crate) fn free_range(obs: &Observed, bridge: &str) -> Option<Ipv4Addr> {
    let mut used: Vec<(u32, u8)> = Vec::new();
    for l in obs.links.iter().filter(|l| l.name != bridge) {
        used.extend(l.addrs.iter().map(|a| (u32::from(a.network()), a.prefix)));
    }
    for r in obs
        .routes
        .iter()
        .filter(|r| r.dev != bridge && r.dst != "default")
    {
        if let Some((a, p)) = crate::dataplane::ipv4::parse_cidr(&r.dst) {
            used.push((u32::from(a) & mask(p), p));
        }
    }
    let overlaps = |net: u32| {
        used.iter().any(|&(u, p)| {
            let m = mask(p.min(24));
            (u & m) == (net & m)
        })
    };
    let candidates = (4..=255u8)
        .map(|x| Ipv4Addr::new(172, 24, x, 0))
        .chain((0..=3u8).map(|x| Ipv4Addr::new(172, 24, x, 0)))
        .chain((100..=254u8).map(|x| Ipv4Addr::new(10, x, 0, 0)));
    candidates.into_iter().find(|c| !overlaps(u32::from(*c)))
}

/// A tenant range (the default subnet pool's prefix, or a fixed range): `want` unless
/// a host address or route overlaps it — DevStack's 10.0.0.0/22 contains VirtualBox's
/// NAT network 10.0.2.0/24, and a router would then send instances' traffic for
/// 10.0.2.2 back into the tenant network instead of out through SNAT — then the
/// first free 10.x.0.0 of the same size.
pub(crate) fn free_fixed_range(
    obs: &Observed,
    bridge: &str,
    want: (Ipv4Addr, u8),
) -> (Ipv4Addr, u8) {
    let mut used: Vec<(u32, u8)> = Vec::new();
    for l in obs.links.iter().filter(|l| l.name != bridge) {
        used.extend(l.addrs.iter().map(|a| (u32::from(a.network()), a.prefix)));
    }
    for r in obs
        .routes
        .iter()
        .filter(|r| r.dev != bridge && r.dst != "default")
    {
        if let Some((a, p)) = crate::dataplane::ipv4::parse_cidr(&r.dst) {
            used.push((u32::from(a) & mask(p), p));
        }
    }
    let prefix = want.1;
    let overlaps = |net: u32| {
        used.iter().any(|&(u, p)| {
            let m = mask(p.min(prefix));
            (u & m) == (net & m)
        })
    };
    std::iter::once(want.0)
        .chain((1..=254u8).map(|x| Ipv4Addr::new(10, x, 0, 0)))
        .find(|c| !overlaps(u32::from(*c)))
        .map_or(want, |c| (c, prefix))
}

impl SetupPlan {
    /// The plan as a person reads it.
    pub(crate) fn describe(&self, url: &str) -> String {
        let mut s = String::from("NICs:\n");
        self.describe_nics(&mut s);
        let _ = writeln!(s, "External network:");
        self.describe_external(&mut s);
        let _ = writeln!(s, "NAT (nft table ip {}):", super::apply::NFT_TABLE);
        for r in &self.nat {
            let _ = writeln!(s, "  masquerade {} out of {}", r.source, r.out_interface);
        }
        if self.nat.is_empty() {
            let _ = writeln!(s, "  none");
        }
        let _ = writeln!(s, "URLs:");
        if crate::services::spec(crate::profile::ServiceName::Dashboard)
            .is_some_and(|d| d.implemented)
        {
            let _ = writeln!(s, "  dashboard  {url}/dashboard");
        }
        let _ = writeln!(s, "  identity   {url}/identity/v3");
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }

    /// One line per NIC: name, role, addresses, why, and which is the uplink.
    fn describe_nics(&self, s: &mut String) {
        for n in &self.nics {
            let addrs: Vec<String> = n.addrs.iter().map(Addr::cidr).collect();
            let _ = writeln!(
                s,
                "  {:<10} {:<13} {:<20} {}{}",
                n.name,
                n.role.to_string(),
                if addrs.is_empty() {
                    "-".into()
                } else {
                    addrs.join(",")
                },
                n.reason,
                if n.primary { " [uplink]" } else { "" }
            );
        }
    }

    /// The external bridge (taking over a NIC or standing alone) and its range.
    fn describe_external(&self, s: &mut String) {
        match &self.takeover {
            Some(t) => {
                let _ = writeln!(
                    s,
                    "  {} takes over {} ({}): {} moves from {} to {}",
                    self.bridge,
                    t.nic,
                    t.role,
                    t.addresses.join(","),
                    t.nic,
                    self.bridge
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "  {} standalone with {}",
                    self.bridge, self.bridge_address
                );
            }
        }
        let _ = writeln!(
            s,
            "  floating range {} (pool {} - {}), gateway {}",
            self.floating_range, self.pool_start, self.pool_end, self.public_gateway
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::nics::{ObservedLink, Route, classify};
    use super::*;

    fn l(name: &str, cidr: &str) -> ObservedLink {
        let (ip, p) = crate::dataplane::ipv4::parse_cidr(cidr).expect("cidr");
        ObservedLink {
            name: name.into(),
            kind: None,
            link_type: "ether".into(),
            mac: "08:00:27:00:00:02".into(),
            master: None,
            alias: None,
            up: true,
            addrs: vec![Addr {
                ip,
                prefix: p,
                dynamic: false,
            }],
        }
    }

    fn nat_route() -> Route {
        Route {
            dst: "default".into(),
            gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
            dev: "enp0s3".into(),
            protocol: "dhcp".into(),
            metric: 100,
        }
    }

    #[test]
    fn host_only_is_taken_over() {
        let obs = Observed {
            links: vec![l("enp0s3", "10.0.2.15/24"), l("enp0s8", "192.168.56.10/24")],
            routes: vec![nat_route()],
            ..Default::default()
        };
        let p = choose(&obs, classify(&obs), "br-ex").expect("plan");
        assert_eq!(p.takeover.as_ref().map(|t| t.nic.as_str()), Some("enp0s8"));
        assert_eq!(p.bridge_address, "192.168.56.10/24");
        assert_eq!(p.floating_range, "192.168.56.0/24");
        assert_eq!(
            (p.pool_start, p.pool_end),
            (
                Ipv4Addr::new(192, 168, 56, 128),
                Ipv4Addr::new(192, 168, 56, 254)
            )
        );
        assert_eq!(p.public_gateway, Ipv4Addr::new(192, 168, 56, 10));
        assert_eq!(p.nat[0].out_interface, "enp0s3");
        assert_eq!(p.public_host, "192.168.56.10");
    }

    #[test]
    fn tenant_range_avoids_the_virtualbox_nat_network() {
        let devstack = (Ipv4Addr::new(10, 0, 0, 0), 22);
        let mut obs = Observed {
            links: vec![l("enp0s8", "192.168.56.10/24")],
            ..Default::default()
        };
        assert_eq!(free_fixed_range(&obs, "br-ex", devstack), devstack);
        obs.links.push(l("enp0s3", "10.0.2.15/24"));
        obs.routes.push(nat_route());
        assert_eq!(
            free_fixed_range(&obs, "br-ex", devstack),
            (Ipv4Addr::new(10, 1, 0, 0), 22)
        );
    }

    #[test]
    fn nat_only_standalone_avoids_used_ranges() {
        let mut obs = Observed {
            links: vec![l("enp0s3", "10.0.2.15/24")],
            routes: vec![nat_route()],
            ..Default::default()
        };
        let p = choose(&obs, classify(&obs), "br-ex").expect("plan");
        assert_eq!(p.floating_range, "172.24.4.0/24");
        assert_eq!(p.bridge_address, "172.24.4.1/24");
        // A route over 172.24.4.0/22 pushes the choice past it.
        obs.routes.push(Route {
            dst: "172.24.4.0/22".into(),
            gateway: Some(Ipv4Addr::new(10, 0, 2, 9)),
            dev: "enp0s3".into(),
            protocol: "static".into(),
            metric: 0,
        });
        let p = choose(&obs, classify(&obs), "br-ex").expect("plan");
        assert_eq!(p.floating_range, "172.24.8.0/24");
        // The bridge's own range does not count as a collision (second run).
        obs.routes.truncate(1);
        obs.links.push(l("br-ex", "172.24.4.1/24"));
        let p = choose(&obs, classify(&obs), "br-ex").expect("plan");
        assert_eq!(p.floating_range, "172.24.4.0/24");
    }

    #[test]
    fn pool_avoids_own_address() {
        let a = |s: &str| {
            let (ip, prefix) = crate::dataplane::ipv4::parse_cidr(s).expect("cidr");
            Addr {
                ip,
                prefix,
                dynamic: false,
            }
        };
        assert_eq!(
            upper_half(&a("192.168.56.200/24")),
            Some((
                Ipv4Addr::new(192, 168, 56, 128),
                Ipv4Addr::new(192, 168, 56, 199)
            ))
        );
        assert_eq!(
            upper_half(&a("192.168.56.130/24")),
            Some((
                Ipv4Addr::new(192, 168, 56, 131),
                Ipv4Addr::new(192, 168, 56, 254)
            ))
        );
        assert_eq!(upper_half(&a("10.1.1.1/30")), None);
    }
}
