//! Small IPv4 helpers for the plan's `a.b.c.d/len` strings, so rules and dnsmasq
//! options are written in the canonical form the tools accept.

use std::net::Ipv4Addr;

/// Parses `a.b.c.d/len` (or a bare address, taken as /32).
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, l.parse::<u8>().ok()?),
        None => (s, 32),
    };
    let addr: Ipv4Addr = a.trim().parse().ok()?;
    (len <= 32).then_some((addr, len))
}

pub fn mask(len: u8) -> Ipv4Addr {
    let bits = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ipv4Addr::from(bits)
}

/// `10.0.0.5/24` -> `10.0.0.0/24`; nft refuses prefixes with host bits set.
pub fn network(s: &str) -> Option<String> {
    let (addr, len) = parse_cidr(s)?;
    let net = Ipv4Addr::from(u32::from(addr) & u32::from(mask(len)));
    Some(format!("{net}/{len}"))
}

/// The form `ip route` prints: `default`, `10.1.0.0/24`, or a bare host address.
pub fn route_dst(s: &str) -> Option<String> {
    let (addr, len) = parse_cidr(s)?;
    Some(match len {
        0 => "default".to_string(),
        32 => addr.to_string(),
        _ => network(s)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        assert_eq!(network("10.0.0.5/24").as_deref(), Some("10.0.0.0/24"));
        assert_eq!(network("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(mask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(route_dst("0.0.0.0/0").as_deref(), Some("default"));
        assert_eq!(route_dst("10.2.0.9/32").as_deref(), Some("10.2.0.9"));
        assert_eq!(
            parse_cidr("10.0.0.1"),
            Some((Ipv4Addr::new(10, 0, 0, 1), 32))
        );
        assert!(parse_cidr("10.0.0.1/33").is_none());
        assert!(parse_cidr("fe80::/64").is_none());
    }
}
