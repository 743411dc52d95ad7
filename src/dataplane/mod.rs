//! The Linux dataplane: bridges, taps, namespaces, nftables and dnsmasq, converged
//! to a plan computed from the networking service's database.

pub mod plan;
