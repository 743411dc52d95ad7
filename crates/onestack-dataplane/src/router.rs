//! Routers: one namespace per router with a `qr-` leg on each attached network and
//! a `qg-` leg on the external bridge (with an IPv6 address and IPv6 default route
//! when the external network has an IPv6 subnet), forwarding on, routes from the plan, and an
//! nftables NAT table for SNAT, floating IPs and their port forwardings. A leg on
//! an IPv6 subnet carries the subnet's gateway address and the namespace forwards
//! IPv6 too; IPv6 is routed, never NATed (Neutron has no IPv6 NAT either). Legs on
//! subnets with an RA mode advertise their prefixes and the router as default
//! router (see `ra.rs`).

use std::collections::{BTreeMap, BTreeSet};

use super::cmd::{CmdError, Ns, ip_json};
use super::garp;
use super::ipv4;
use super::links::{self, Links};
use super::plan::{RouterPlan, device_name, tap_name};
use super::{Dataplane, NsLeg};

/// One veth leg of a router: host end on `bridge`, inner end in the router.
struct Leg<'a> {
    port_id: &'a str,
    prefix: &'static str,
    bridge: &'a str,
    mac: &'a str,
    addrs: Vec<String>,
    /// Sends router advertisements (an IPv6 subnet with an RA mode).
    advertises: bool,
}

/// Converges one router; returns the host devices it uses and its errors.
pub async fn converge(
    dp: &Dataplane,
    host_links: &mut Links,
    mtus: &BTreeMap<String, u32>,
    router: &RouterPlan,
) -> (Vec<String>, Vec<String>) {
    let item = format!("router {}", router.id);
    let (ns, mut inner_links, mut errors) = match prepare_namespace(dp, router, &item).await {
        Ok(prepared) => prepared,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let mut host_devices = Vec::new();
    let mut inner_devices = BTreeSet::from(["lo".to_string()]);
    let mut relinked = false;
    let mtu_of = |bridge: &str| mtus.get(bridge).copied().unwrap_or(1500);
    for leg in &router_legs(router) {
        let inner = device_name(leg.prefix, leg.port_id);
        let outer = tap_name(leg.port_id);
        let ends = NsLeg {
            outer: &outer,
            inner: &inner,
            bridge: leg.bridge,
            mac: leg.mac,
            mtu: mtu_of(leg.bridge),
        };
        let (recreated, errs) = ensure_leg(dp, host_links, &ns, &mut inner_links, leg, &ends).await;
        relinked |= recreated && leg.advertises;
        errors.extend(
            errs.into_iter()
                .map(|e| format!("{item} port {}: {e}", leg.port_id)),
        );
        host_devices.push(outer);
        inner_devices.insert(inner);
    }
    for e in remove_stale_links(dp, &ns, &inner_links, &inner_devices).await {
        errors.push(format!("{item}: {e}"));
    }
    errors.extend(super::ra::converge(dp, router, mtu_of, relinked).await);
    errors.extend(
        sync_routes(dp, &ns, router)
            .await
            .into_iter()
            .map(|e| format!("{item}: {e}")),
    );
    (host_devices, errors)
}

/// The router's namespace, its devices, forwarding on and its NAT table. Err
/// when there is no namespace to work in; forwarding and NAT errors are
/// reported with the rest.
async fn prepare_namespace(
    dp: &Dataplane,
    router: &RouterPlan,
    item: &str,
) -> Result<(Ns, Links, Vec<String>), String> {
    let name = dp.ns_name(&router.namespace);
    links::ensure_namespace(&dp.runner, &dp.config.owner, &name)
        .await
        .map_err(|e| format!("{item}: {e}"))?;
    let ns = Ns::Named(name);
    let inner_links = links::dump(&dp.runner, &ns)
        .await
        .map_err(|e| format!("{item}: {e}"))?;
    let mut errors = Vec::new();
    if let Err(e) = ensure_forwarding(dp, &ns).await {
        errors.push(format!("{item}: {e}"));
    }
    if let Err(e) = apply_nat(dp, &ns, router).await {
        errors.push(format!("{item}: nat: {e}"));
    }
    Ok((ns, inner_links, errors))
}

/// Deletes the router namespace's devices that are no longer legs of it.
async fn remove_stale_links(
    dp: &Dataplane,
    ns: &Ns,
    inner_links: &Links,
    keep: &BTreeSet<String>,
) -> Vec<CmdError> {
    let mut errors = Vec::new();
    for stale in inner_links.keys().filter(|n| !keep.contains(*n)) {
        if let Err(e) = links::delete_link(&dp.runner, ns, stale).await {
            errors.push(e);
        }
    }
    errors
}

/// NAT before addresses (its rules name devices, which need not exist yet): a
/// floating IP on the qg- leg without its DNAT would be answered by the router
/// itself, and announced by gratuitous ARP, while the instance is unreachable.
async fn apply_nat(dp: &Dataplane, ns: &Ns, router: &RouterPlan) -> Result<(), CmdError> {
    let qg = router
        .gateway
        .as_ref()
        .map(|g| device_name("qg-", &g.port_id));
    let nat = qg.and_then(|qg| super::nft::router_nat(router, &qg));
    dp.nft
        .apply(&dp.runner, ns, "ip", super::nft::TABLE, nat.as_deref())
        .await
}

/// The router's legs: one `qr-` per interface port (a port with an IPv4 and an
/// IPv6 address is one device), and the `qg-` leg on the external network.
fn router_legs(router: &RouterPlan) -> Vec<Leg<'_>> {
    let mut legs: Vec<Leg> = Vec::new();
    for i in &router.interfaces {
        match legs.iter_mut().find(|l| l.port_id == i.port_id) {
            Some(leg) => {
                leg.addrs.push(i.address.clone());
                leg.advertises |= i.ra_mode.is_some();
            }
            None => legs.push(Leg {
                port_id: &i.port_id,
                prefix: "qr-",
                bridge: &i.bridge,
                mac: &i.mac,
                addrs: vec![i.address.clone()],
                advertises: i.ra_mode.is_some(),
            }),
        }
    }
    if let Some(gw) = &router.gateway {
        // The qg- leg answers ARP for every floating IP it NATs, those that only
        // carry port forwardings included.
        let fips: BTreeSet<std::net::Ipv4Addr> = router
            .floating_ips
            .iter()
            .map(|f| f.floating_ip)
            .chain(router.port_forwardings.iter().map(|p| p.floating_ip))
            .collect();
        let mut addrs = vec![gw.address.clone()];
        addrs.extend(gw.address6.clone());
        addrs.extend(fips.iter().map(|f| format!("{f}/32")));
        legs.push(Leg {
            port_id: &gw.port_id,
            prefix: "qg-",
            bridge: &gw.bridge,
            mac: &gw.mac,
            addrs,
            advertises: false,
        });
    }
    legs
}

/// One leg: its veth pair, both ends fixed, its addresses; returns whether the
/// pair was (re)created, and the errors.
async fn ensure_leg(
    dp: &Dataplane,
    host_links: &mut Links,
    ns: &Ns,
    inner_links: &mut Links,
    leg: &Leg<'_>,
    ends: &NsLeg<'_>,
) -> (bool, Vec<CmdError>) {
    let relinked = match dp
        .ensure_leg_veth(host_links, ns.label(), inner_links, ends)
        .await
    {
        Ok(v) => v,
        Err(e) => return (false, vec![e]),
    };
    let have = inner_links[ends.inner].clone();
    let mut errors = dp.fix_leg_ends(host_links, ns, &have, ends).await;
    errors.extend(sync_leg_addrs(dp, ns, &have, leg, ends.inner).await);
    (relinked, errors)
}

/// Gives the leg's inner end exactly its addresses. The external leg announces
/// the addresses it just took on (its gateway IP, a floating IP), so the outside
/// stops sending to wherever they were before.
async fn sync_leg_addrs(
    dp: &Dataplane,
    ns: &Ns,
    have: &links::Link,
    leg: &Leg<'_>,
    inner: &str,
) -> Vec<CmdError> {
    let want_addrs: Vec<String> = leg.addrs.iter().filter_map(|a| canonical_addr(a)).collect();
    let added = new_ipv4(&have.addrs, &want_addrs);
    let addr_errors = links::sync_addrs(&dp.runner, ns, inner, &have.addrs, &want_addrs).await;
    if leg.prefix == "qg-" && addr_errors.is_empty() && !added.is_empty() {
        garp::announce(garp::Announcement {
            netns: match ns {
                Ns::Named(n) => Some(std::path::PathBuf::from(format!("/run/netns/{n}"))),
                Ns::Root => None,
            },
            device: inner.to_owned(),
            mac: leg.mac.to_owned(),
            addresses: added,
        });
    }
    addr_errors
}

/// IPv4 addresses in `want` (`a.b.c.d/len`) that `have` lacks.
fn new_ipv4(have: &[String], want: &[String]) -> Vec<std::net::Ipv4Addr> {
    want.iter()
        .filter(|a| !have.contains(a))
        .filter_map(|a| a.split('/').next()?.parse().ok())
        .collect()
}

/// `10.0.0.1/24` or `fd00:1::1/64` as `ip` prints it (no leading zeros, IPv6
/// compressed, explicit prefix).
pub fn canonical_addr(a: &str) -> Option<String> {
    if a.contains(':') {
        let (ip, len) = a.split_once('/').unwrap_or((a, "128"));
        let ip: std::net::Ipv6Addr = ip.trim().parse().ok()?;
        let len: u8 = len.parse().ok().filter(|l| *l <= 128)?;
        return Some(format!("{ip}/{len}"));
    }
    let (ip, len) = ipv4::parse_cidr(a)?;
    Some(format!("{ip}/{len}"))
}

/// Routers forward IPv4 and IPv6; a fresh namespace starts with both off.
async fn ensure_forwarding(dp: &Dataplane, ns: &Ns) -> Result<(), CmdError> {
    for key in ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"] {
        let cur = dp.runner.query(ns.exec(&["sysctl", "-n", key])).await?;
        if cur.trim() != "1" {
            let set = format!("{key}=1");
            dp.runner
                .mutate(ns.exec(&["sysctl", "-q", "-w", &set]))
                .await?;
        }
    }
    Ok(())
}

/// Default routes via the external next hops (IPv4, and IPv6 when the external
/// network has an IPv6 subnet) plus the static routes, all `proto static` so routes
/// the kernel adds for connected subnets are never touched.
async fn sync_routes(dp: &Dataplane, ns: &Ns, router: &RouterPlan) -> Vec<CmdError> {
    let mut want: BTreeSet<(String, String)> = BTreeSet::new();
    if let Some(nh) = router.gateway.as_ref().and_then(|g| g.next_hop) {
        want.insert(("default".into(), nh.to_string()));
    }
    if let Some(nh) = router.gateway.as_ref().and_then(|g| g.next_hop6) {
        want.insert(("default".into(), nh.to_string()));
    }
    for (dst, nh) in &router.routes {
        if let Some(d) = ipv4::route_dst(dst) {
            want.insert((d, nh.to_string()));
        }
    }
    let mut have = BTreeSet::new();
    for family in ["-4", "-6"] {
        let argv = ns.ip(&[family, "-j", "route", "show", "proto", "static"]);
        match dp.runner.query(argv).await {
            Ok(out) => match parse_routes(&out) {
                Ok(routes) => have.extend(routes),
                Err(e) => return vec![e],
            },
            Err(e) => return vec![e],
        }
    }
    let family = |via: &str| if via.contains(':') { "-6" } else { "-4" };
    let mut errors = Vec::new();
    for (dst, via) in have.difference(&want) {
        let argv = [
            family(via),
            "route",
            "del",
            dst,
            "via",
            via,
            "proto",
            "static",
        ];
        if let Err(e) = dp.runner.mutate(ns.ip(&argv)).await {
            errors.push(e);
        }
    }
    for (dst, via) in want.difference(&have) {
        let argv = [
            family(via),
            "route",
            "replace",
            dst,
            "via",
            via,
            "proto",
            "static",
        ];
        if let Err(e) = dp.runner.mutate(ns.ip(&argv)).await {
            errors.push(e);
        }
    }
    errors
}

pub(crate) fn parse_routes(json: &str) -> Result<BTreeSet<(String, String)>, CmdError> {
    Ok(ip_json(json)?
        .iter()
        .filter_map(|r| {
            let dst = r.get("dst")?.as_str()?.to_string();
            let via = r.get("gateway")?.as_str()?.to_string();
            Some((dst, via))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        let j = r#"[{"dst":"default","gateway":"172.24.4.1","dev":"qg-x","protocol":"static","flags":[]},
                    {"dst":"10.9.0.0/24","gateway":"10.0.0.7","dev":"qr-y","flags":[]}]"#;
        let r = parse_routes(j).expect("json");
        assert!(parse_routes("").expect("nothing printed").is_empty());
        assert!(parse_routes("[{\"dst\":").is_err());
        assert!(r.contains(&("default".into(), "172.24.4.1".into())));
        assert!(r.contains(&("10.9.0.0/24".into(), "10.0.0.7".into())));
        assert_eq!(
            canonical_addr("10.0.0.1/24").as_deref(),
            Some("10.0.0.1/24")
        );
        assert_eq!(
            canonical_addr("FD00:0001:0:0::1/64").as_deref(),
            Some("fd00:1::1/64")
        );
        assert_eq!(canonical_addr("fd00::1/129"), None);
    }

    #[test]
    fn only_new_ipv4_addresses_are_announced() {
        let have = vec!["172.24.4.10/24".to_string()];
        let want = vec![
            "172.24.4.10/24".to_string(),
            "172.24.4.20/32".to_string(),
            "2001:db8::1/64".to_string(),
        ];
        assert_eq!(
            new_ipv4(&have, &want),
            vec![std::net::Ipv4Addr::new(172, 24, 4, 20)]
        );
    }
}
