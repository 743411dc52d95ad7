//! IP address management: subnet validation, default gateway and pools, and
//! picking a free address. The database's unique key on (subnet, address) is what
//! guarantees an address is never handed out twice, even across restarts.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::model::AllocationPool;
use crate::http::error::{ApiError, ApiResult};

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(format!("Invalid input for operation: {}", msg.into()))
}

pub fn to_u128(ip: IpAddr) -> u128 {
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
pub fn parse_cidr(cidr: &str, ip_version: u8) -> ApiResult<IpNet> {
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

pub fn parse_ip(s: &str) -> ApiResult<IpAddr> {
    s.parse()
        .map_err(|_| bad(format!("'{s}' is not a valid IP address.")))
}

/// First and last usable host addresses of a subnet.
pub fn host_range(net: &IpNet) -> (u128, u128) {
    let first = to_u128(net.network()) + 1;
    let last = match net {
        IpNet::V4(_) => to_u128(net.broadcast()) - 1,
        IpNet::V6(_) => to_u128(net.broadcast()),
    };
    (first, last)
}

pub fn default_gateway(net: &IpNet) -> IpAddr {
    from_u128(host_range(net).0, net.addr().is_ipv6())
}

/// The whole host range minus the gateway, as at most two pools.
pub fn default_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<AllocationPool> {
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
pub fn check_pools(
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
        return Err(ApiError::Conflict(format!(
            "Gateway ip {g} conflicts with allocation pool."
        )));
    }
    Ok(ranges)
}

/// Whether an address lies inside one of the pools.
pub fn in_pools(ip: IpAddr, pools: &[AllocationPool]) -> bool {
    let n = to_u128(ip);
    pools.iter().any(
        |p| match (p.start.parse::<IpAddr>(), p.end.parse::<IpAddr>()) {
            (Ok(a), Ok(b)) => (to_u128(a)..=to_u128(b)).contains(&n),
            _ => false,
        },
    )
}

/// The lowest free address of the pools, or 409 when the subnet is full.
pub fn next_free(
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
    Err(ApiError::Conflict(format!(
        "No more IP addresses available on subnet {net}."
    )))
}

pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A random MAC with OpenStack's `fa:16:3e` prefix.
pub fn random_mac() -> String {
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
            Err(ApiError::Conflict(_))
        ));
        assert!(overlaps(&"10.0.0.0/16".parse().expect("n"), &net));
    }
}
