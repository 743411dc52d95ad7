//! IP address management: subnet validation, default gateway and pools, and
//! picking a free address. The database's unique key on (subnet, address) is what
//! guarantees an address is never handed out twice, even across restarts.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::model::AllocationPool;
use crate::http::error::{ApiError, ApiResult, neutron};

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(format!("Invalid input for operation: {}", msg.into()))
}

pub(crate) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(n: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    }
}

/// Parses a subnet CIDR, refusing host bits as Neutron does.
pub(crate) fn parse_cidr(cidr: &str, ip_version: u8) -> ApiResult<IpNet> {
    let net: IpNet = cidr
        .parse()
        .map_err(|_| bad(format!("'{cidr}' is not a valid IP subnet.")))?;
    if net.trunc() != net {
        return Err(bad(format!(
            "'{cidr}' isn't a recognized IP subnet cidr, '{}' is recommended",
            net.trunc()
        )));
    }
    let version = if net.addr().is_ipv4() { 4 } else { 6 };
    if version != ip_version {
        return Err(bad(format!(
            "Subnet CIDR {cidr} does not match ip_version {ip_version}."
        )));
    }
    let max = if version == 4 { 30 } else { 126 };
    if net.prefix_len() > max {
        return Err(bad(format!(
            "The prefix of {cidr} is too long: it leaves no room for addresses."
        )));
    }
    Ok(net)
}

pub(crate) fn parse_ip(s: &str) -> ApiResult<IpAddr> {
    s.parse()
        .map_err(|_| bad(format!("'{s}' is not a valid IP address.")))
}

/// First and last usable host addresses of a subnet.
pub(crate) fn host_range(net: &IpNet) -> (u128, u128) {
    let first = to_u128(net.network()) + 1;
    let last = match net {
        IpNet::V4(_) => to_u128(net.broadcast()) - 1,
        IpNet::V6(_) => to_u128(net.broadcast()),
    };
    (first, last)
}

pub(crate) fn default_gateway(net: &IpNet) -> IpAddr {
    from_u128(host_range(net).0, net.addr().is_ipv6())
}

/// The whole host range minus the gateway, as at most two pools.
pub(crate) fn default_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<AllocationPool> {
    let v6 = net.addr().is_ipv6();
    let (first, last) = host_range(net);
    let mut ranges = vec![(first, last)];
    if let Some(g) = gateway.map(to_u128).filter(|g| (first..=last).contains(g)) {
        ranges = vec![(first, g.saturating_sub(1)), (g + 1, last)];
        ranges.retain(|(a, b)| a <= b && *a >= first && *b <= last);
    }
    ranges
        .into_iter()
        .map(|(a, b)| AllocationPool {
            start: from_u128(a, v6).to_string(),
            end: from_u128(b, v6).to_string(),
        })
        .collect()
}

/// Checks given pools: inside the subnet, ordered, not overlapping, gateway outside.
pub(crate) fn check_pools(
    net: &IpNet,
    pools: &[AllocationPool],
    gateway: Option<IpAddr>,
) -> ApiResult<Vec<(u128, u128)>> {
    let (first, last) = host_range(net);
    let mut ranges = Vec::new();
    for p in pools {
        let (a, b) = (to_u128(parse_ip(&p.start)?), to_u128(parse_ip(&p.end)?));
        if a > b || a < first || b > last {
            return Err(bad(format!(
                "The allocation pool {}-{} spans beyond the subnet cidr {net}.",
                p.start, p.end
            )));
        }
        ranges.push((a, b));
    }
    ranges.sort();
    for w in ranges.windows(2) {
        if w[1].0 <= w[0].1 {
            return Err(bad("Found overlapping allocation pools."));
        }
    }
    if let Some(g) = gateway.filter(|g| {
        let n = to_u128(*g);
        ranges.iter().any(|(a, b)| (*a..=*b).contains(&n))
    }) {
        return Err(ApiError::conflict_typed(
            neutron::GATEWAY_CONFLICT_WITH_ALLOCATION_POOLS,
            format!("Gateway ip {g} conflicts with allocation pool."),
        ));
    }
    Ok(ranges)
}

/// The lowest free address of the pools, or 409 when the subnet is full.
pub(crate) fn next_free(
    net: &IpNet,
    pools: &[AllocationPool],
    used: &HashSet<String>,
) -> ApiResult<IpAddr> {
    let v6 = net.addr().is_ipv6();
    for p in pools {
        let (a, b) = (to_u128(parse_ip(&p.start)?), to_u128(parse_ip(&p.end)?));
        // Bounded: a pool is scanned only until its first free address.
        let mut n = a;
        while n <= b {
            let ip = from_u128(n, v6);
            if !used.contains(&ip.to_string()) {
                return Ok(ip);
            }
            n += 1;
        }
    }
    Err(ApiError::conflict_typed(
        neutron::IP_ADDRESS_GENERATION_FAILURE,
        format!("No more IP addresses available on subnet {net}."),
    ))
}

pub(crate) fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

// --- subnet pool prefixes ---------------------------------------------------------

/// Parses a subnet pool's prefix list as Neutron does: CIDRs without host bits, all
/// of one IP version, merged and sorted. Returns the IP version and the prefixes.
pub(crate) fn pool_prefixes(prefixes: &[String]) -> ApiResult<(u8, Vec<IpNet>)> {
    let mut nets = Vec::with_capacity(prefixes.len());
    for p in prefixes {
        let net: IpNet = p.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid input for prefixes. Reason: '{p}' is not a valid IP subnet."
            ))
        })?;
        if net.trunc() != net {
            return Err(ApiError::bad_request(format!(
                "Invalid input for prefixes. Reason: '{p}' isn't a recognized IP subnet cidr, '{}' is recommended.",
                net.trunc()
            )));
        }
        nets.push(net);
    }
    let Some(first) = nets.first() else {
        return Err(ApiError::bad_request("Empty subnet pool prefix list."));
    };
    let v6 = first.addr().is_ipv6();
    if nets.iter().any(|n| n.addr().is_ipv6() != v6) {
        return Err(ApiError::bad_request(
            "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.",
        ));
    }
    Ok((if v6 { 6 } else { 4 }, IpNet::aggregate(&nets)))
}

fn bounds(n: &IpNet) -> (u128, u128) {
    (to_u128(n.network()), to_u128(n.broadcast()))
}

/// `have` minus `take` as the fewest aligned CIDR blocks, in address order (what
/// netaddr's `IPSet.iter_cidrs()` yields). Both lists must be of one IP version.
pub(crate) fn difference(have: &[IpNet], take: &[IpNet]) -> Vec<IpNet> {
    let v6 = have.first().is_some_and(|n| n.addr().is_ipv6());
    let mut take: Vec<(u128, u128)> = take.iter().map(bounds).collect();
    take.sort_unstable();
    let mut ranges = Vec::new();
    for (a, b) in IpNet::aggregate(&have.to_vec()).iter().map(bounds) {
        // `None` once the cursor passed the very last address of the family.
        let mut cur = Some(a);
        for &(c, d) in take.iter().filter(|(c, d)| *d >= a && *c <= b) {
            let Some(from) = cur else { break };
            if c > from {
                ranges.push((from, c - 1));
            }
            cur = d.checked_add(1).map(|next| next.max(from));
        }
        if let Some(from) = cur.filter(|f| *f <= b) {
            ranges.push((from, b));
        }
    }
    let mut out = Vec::new();
    for (a, b) in ranges {
        if v6 {
            let nets = ipnet::Ipv6Subnets::new(Ipv6Addr::from(a), Ipv6Addr::from(b), 0);
            out.extend(nets.map(IpNet::V6));
        } else {
            let (a, b) = (Ipv4Addr::from(a as u32), Ipv4Addr::from(b as u32));
            out.extend(ipnet::Ipv4Subnets::new(a, b, 0).map(IpNet::V4));
        }
    }
    out
}

/// Neutron's pick for "any /prefixlen" from the free blocks of a pool: the smallest
/// block that can hold it (lowest address first among equals), its first prefix.
/// Taking from the tightest block keeps large blocks whole for large requests.
pub(crate) fn pick_prefix(free: &[IpNet], prefixlen: u8) -> Option<IpNet> {
    let mut blocks = free.to_vec();
    blocks.sort_by_key(|b| std::cmp::Reverse(b.prefix_len()));
    blocks
        .iter()
        .find(|b| b.prefix_len() <= prefixlen)
        .and_then(|b| IpNet::new(b.network(), prefixlen).ok())
}

/// The size of a prefix in subnet pool quota units: addresses for IPv4, /64s for IPv6.
pub(crate) fn quota_units(net: &IpNet) -> u128 {
    match net {
        IpNet::V4(n) => 1u128 << (32 - n.prefix_len()),
        IpNet::V6(n) => 1u128 << 64u8.saturating_sub(n.prefix_len()),
    }
}

/// A random MAC with OpenStack's `fa:16:3e` prefix.
pub(crate) fn random_mac() -> String {
    let b: [u8; 3] = rand::random();
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let net = parse_cidr("10.0.0.0/24", 4).expect("cidr");
        assert_eq!(default_gateway(&net).to_string(), "10.0.0.1");
        let pools = default_pools(&net, Some(default_gateway(&net)));
        assert_eq!(
            pools,
            vec![AllocationPool {
                start: "10.0.0.2".into(),
                end: "10.0.0.254".into()
            }]
        );
        assert!(parse_cidr("10.0.0.5/24", 4).is_err(), "host bits");
        assert!(parse_cidr("10.0.0.0/24", 6).is_err(), "wrong version");
        assert!(parse_cidr("nonsense", 4).is_err());
        let bad_pool = [AllocationPool {
            start: "10.0.0.2".into(),
            end: "10.0.1.9".into(),
        }];
        assert!(check_pools(&net, &bad_pool, None).is_err());
        let gw_in_pool = [AllocationPool {
            start: "10.0.0.1".into(),
            end: "10.0.0.9".into(),
        }];
        assert!(check_pools(&net, &gw_in_pool, Some("10.0.0.1".parse().expect("ip"))).is_err());
        let v6 = parse_cidr("fd00::/64", 6).expect("v6");
        assert_eq!(default_gateway(&v6).to_string(), "fd00::1");
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("net")).collect()
    }

    #[test]
    fn pool_prefixes_merge_and_refuse_bad_lists() {
        let (v, p) = pool_prefixes(&["10.1.0.0/17".into(), "10.1.128.0/17".into()]).expect("ok");
        assert_eq!((v, p), (4, nets(&["10.1.0.0/16"])));
        let (v, _) = pool_prefixes(&["fd00::/48".into()]).expect("v6");
        assert_eq!(v, 6);
        assert!(pool_prefixes(&[]).is_err(), "empty");
        assert!(pool_prefixes(&["10.0.0.5/24".into()]).is_err(), "host bits");
        assert!(
            pool_prefixes(&["10.0.0.0/24".into(), "fd00::/64".into()]).is_err(),
            "mixed"
        );
        assert!(pool_prefixes(&["bogus".into()]).is_err());
    }

    #[test]
    fn difference_and_pick_follow_neutron() {
        let pool = nets(&["10.10.0.0/16"]);
        assert_eq!(difference(&pool, &[]), pool);
        let free = difference(&pool, &nets(&["10.10.0.0/24"]));
        assert_eq!(
            free,
            nets(&[
                "10.10.1.0/24",
                "10.10.2.0/23",
                "10.10.4.0/22",
                "10.10.8.0/21",
                "10.10.16.0/20",
                "10.10.32.0/19",
                "10.10.64.0/18",
                "10.10.128.0/17"
            ])
        );
        // The tightest block that fits: the /24 hole, not the start of the /17.
        assert_eq!(
            pick_prefix(&free, 24),
            Some("10.10.1.0/24".parse().expect("n"))
        );
        assert_eq!(
            pick_prefix(&free, 20),
            Some("10.10.16.0/20".parse().expect("n"))
        );
        assert_eq!(pick_prefix(&free, 8), None);
        let full = difference(
            &nets(&["10.0.0.0/30"]),
            &nets(&["10.0.0.0/31", "10.0.0.2/31"]),
        );
        assert!(full.is_empty());
        let v6 = difference(&nets(&["::/0"]), &nets(&["ffff::/16"]));
        assert_eq!(v6.last(), Some(&"fffe::/16".parse().expect("n")));
        assert_eq!(quota_units(&"10.0.0.0/24".parse().expect("n")), 256);
        assert_eq!(quota_units(&"fd00::/62".parse().expect("n")), 4);
    }

    #[test]
    fn next_free_skips_used_and_reports_full() {
        assert!(
            parse_cidr("10.0.0.0/31", 4).is_err(),
            "no room for addresses"
        );
        let net = parse_cidr("10.0.0.0/29", 4).expect("cidr");
        let pools = default_pools(&net, Some(default_gateway(&net)));
        let mut used = HashSet::new();
        for expect in ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"] {
            let ip = next_free(&net, &pools, &used).expect("free");
            assert_eq!(ip.to_string(), expect);
            used.insert(ip.to_string());
        }
        assert!(matches!(
            next_free(&net, &pools, &used),
            Err(ApiError::Typed {
                code: neutron::IP_ADDRESS_GENERATION_FAILURE,
                ..
            })
        ));
        assert!(overlaps(&"10.0.0.0/16".parse().expect("n"), &net));
    }
}
