//! DevStack's default networking, made once on first start: the shared default subnet
//! pool, the external `public` network with the floating range, and for the demo
//! project a `private` network, its subnet (from the pool) and `router1` with a
//! gateway on `public` (DevStack's `create_neutron_initial_network`). With
//! `ip_version = "4+6"` (DevStack's IP_VERSION default) also the IPv6 half: the pool
//! `shared-default-subnetpool-v6`, `ipv6-private-subnet` (SLAAC) on router1 and
//! `ipv6-public-subnet` on `public`, router1's gateway holding an address on it.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde_json::json;

use super::NetworkService;
use super::model::{AllocationPool, OWNER_ROUTER_INTERFACE, Resource, SubnetPool};
use super::networks::{NetworkInput, SubnetInput};
use super::ports::FixedIpRequest;
use super::routers::{GatewayRequest, InterfaceRequest, RouterInput};
use super::subnetpools::SubnetPoolInput;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::profile::NetworkSection;

/// An admin acting inside `project_id`, for work the cloud does on its own behalf.
fn service_context(project_id: &str, project_name: &str) -> RequestContext {
    RequestContext::internal(project_id, project_name, chrono::Duration::minutes(5))
}

const MARKER: &str = "network_defaults_created";

/// The shared default IPv4 pool's name in DevStack (SUBNETPOOL_NAME_V4).
pub(super) const DEFAULT_POOL_V4: &str = "shared-default-subnetpool-v4";

/// The shared default IPv6 pool's name in DevStack (SUBNETPOOL_NAME_V6).
pub(super) const DEFAULT_POOL_V6: &str = "shared-default-subnetpool-v6";

/// DevStack's `fd$IPV6_GLOBAL_ID::/56`: a random 40-bit global ID (RFC 4193).
fn random_ula56() -> Ipv6Net {
    let b = uuid::Uuid::new_v4().into_bytes();
    let word = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let addr = Ipv6Addr::new(0xfd00 | u16::from(b[0]), word(1), word(3), 0, 0, 0, 0, 0);
    Ipv6Net::new(addr, 56).unwrap_or_default()
}

/// The ids `default_public` made or found.
struct Public {
    network: String,
    subnet4: String,
    subnet6: Option<String>,
}

/// What an interrupted bootstrap already made: the resource named `name` in
/// `project`, so a restart before the marker is written finishes the work instead of
/// making a second `public` (or a second default pool, which would be refused).
fn made_before<T: Resource>(
    found: Vec<T>,
    project: &str,
    name: &str,
    name_of: impl Fn(&T) -> &str,
) -> Option<T> {
    found
        .into_iter()
        .find(|r| r.std().project_id == project && name_of(r) == name)
}

/// `private-subnet` as DevStack asks for it: a block of the pool's default size, or
/// the profile's fixed range (taken from the pool when it lies inside it, so the
/// pool never lends the same addresses again), or with no pool the fixed range.
fn private_subnet_input(
    cfg: &NetworkSection,
    network_id: String,
    pool: Option<&SubnetPool>,
) -> SubnetInput {
    let (cidr, subnetpool_id) = match (cfg.fixed_range, pool) {
        (None, Some(pool)) => (None, Some(pool.std.id.clone())),
        (Some(fixed), Some(pool)) if cfg.ipv4_addrs_safe_to_use.contains(&fixed) => {
            (Some(fixed.into()), Some(pool.std.id.clone()))
        }
        _ => (Some(cfg.private_range().into()), None),
    };
    SubnetInput {
        name: Some("private-subnet".into()),
        network_id: Some(network_id),
        ip_version: Some(4),
        cidr,
        subnetpool_id,
        ..Default::default()
    }
}

/// `public` as DevStack makes it: external, flat on physnet `public`.
fn public_network_input(cfg: &NetworkSection) -> NetworkInput {
    NetworkInput {
        name: Some("public".into()),
        external: Some(true),
        // DevStack's `--is-default`, given with the default pools.
        is_default: Some(cfg.use_subnetpool),
        shared: Some(false),
        network_type: Some("flat".into()),
        physical_network: Some("public".into()),
        ..Default::default()
    }
}

/// `public-subnet`: the floating range, its pool when the profile bounds it, no DHCP.
fn public_subnet_input(cfg: &NetworkSection, network_id: String) -> SubnetInput {
    SubnetInput {
        name: Some("public-subnet".into()),
        network_id: Some(network_id),
        ip_version: Some(4),
        cidr: Some(cfg.floating_range.into()),
        gateway_ip: Some(Some(cfg.public_gateway.to_string())),
        allocation_pools: match (cfg.floating_pool_start, cfg.floating_pool_end) {
            (Some(start), Some(end)) => Some(vec![AllocationPool {
                start: start.to_string(),
                end: end.to_string(),
            }]),
            _ => None,
        },
        enable_dhcp: Some(false),
        ..Default::default()
    }
}

/// `ipv6-public-subnet`: IPV6_PUBLIC_RANGE with the host's end as gateway, no DHCP.
fn public_subnet6_input(cfg: &NetworkSection, network_id: String) -> SubnetInput {
    SubnetInput {
        name: Some("ipv6-public-subnet".into()),
        network_id: Some(network_id),
        ip_version: Some(6),
        cidr: Some(cfg.ipv6_public_range.to_string()),
        gateway_ip: Some(Some(cfg.ipv6_public_network_gateway.to_string())),
        enable_dhcp: Some(false),
        ..Default::default()
    }
}

/// `router1`'s gateway on `public`. Without IPv6 the gateway takes what Neutron
/// picks; with it, router1 holds DevStack's IPV6_ROUTER_GW_IP, the next hop of the
/// host's IPv6 route.
fn router1_gateway(cfg: &NetworkSection, public: Public) -> GatewayRequest {
    let external_fixed_ips = public.subnet6.as_ref().map(|v6| {
        vec![
            FixedIpRequest {
                subnet_id: Some(public.subnet4.clone()),
                ip_address: None,
            },
            FixedIpRequest {
                subnet_id: Some(v6.clone()),
                ip_address: Some(cfg.ipv6_router_gw_ip.to_string()),
            },
        ]
    });
    GatewayRequest {
        network_id: public.network,
        enable_snat: None,
        external_fixed_ips,
    }
}

/// `ipv6-private-subnet` as DevStack asks for it: IPV6_RA_MODE / IPV6_ADDRESS_MODE,
/// a block of the IPv6 pool's default size, or without a pool FIXED_RANGE_V6 (the
/// first /64 of the IPv6 space).
fn private_subnet6_input(
    cfg: &NetworkSection,
    network_id: String,
    pool: Option<&SubnetPool>,
    safe6: Ipv6Net,
) -> SubnetInput {
    let (cidr, subnetpool_id) = match pool {
        Some(pool) => (None, Some(pool.std.id.clone())),
        None => {
            let len = safe6.prefix_len().max(64);
            let fixed = Ipv6Net::new(safe6.network(), len).unwrap_or(safe6);
            (Some(fixed.to_string()), None)
        }
    };
    SubnetInput {
        name: Some("ipv6-private-subnet".into()),
        network_id: Some(network_id),
        ip_version: Some(6),
        cidr,
        subnetpool_id,
        ipv6_ra_mode: Some(cfg.ipv6_ra_mode.clone()),
        ipv6_address_mode: Some(cfg.ipv6_address_mode.clone()),
        ..Default::default()
    }
}

impl NetworkService {
    /// Creates the default networks unless they were made before (even if a user
    /// deleted them since: a deliberate deletion is respected).
    pub(crate) async fn create_default_networks(
        &self,
        cfg: &NetworkSection,
        admin_project: &str,
        demo_project: &str,
    ) -> ApiResult<bool> {
        let done = self
            .read(|c| Ok::<_, ApiError>(crate::db::settings::get(c, MARKER)?))
            .await?;
        if done.is_some() {
            return Ok(false);
        }
        let admin = service_context(admin_project, "admin");
        let demo = service_context(demo_project, "demo");
        let pool = if cfg.use_subnetpool {
            Some(self.default_pool_v4(&admin, cfg, admin_project).await?)
        } else {
            None
        };
        // The IPv6 space, drawn at random once when the profile leaves it unset; a
        // pool made before keeps whatever prefix it was made with.
        let safe6 = cfg.ipv6_addrs_safe_to_use.unwrap_or_else(random_ula56);
        let pool6 = if cfg.with_ipv6() && cfg.use_subnetpool {
            Some(
                self.default_pool_v6(&admin, cfg, admin_project, safe6)
                    .await?,
            )
        } else {
            None
        };
        let public = self.default_public(&admin, cfg, admin_project).await?;
        let (private, subnet) = self
            .default_private(&demo, cfg, demo_project, pool.as_ref())
            .await?;
        let mut subnets = vec![subnet];
        if cfg.with_ipv6() {
            let input = private_subnet6_input(cfg, private, pool6.as_ref(), safe6);
            subnets.push(self.default_private6(&demo, demo_project, input).await?);
        }
        self.default_router(&demo, cfg, demo_project, public, subnets)
            .await?;
        self.write(|c| Ok::<_, ApiError>(crate::db::settings::put(c, MARKER, "1")?))
            .await?;
        Ok(true)
    }

    /// DevStack's `subnet pool create <name> --share --default` by the admin:
    /// `shared-default-subnetpool-v4` on IPV4_ADDRS_SAFE_TO_USE with SUBNETPOOL_SIZE_V4
    /// blocks, `shared-default-subnetpool-v6` on IPV6_ADDRS_SAFE_TO_USE with
    /// SUBNETPOOL_SIZE_V6 blocks.
    async fn default_pool(
        &self,
        admin: &RequestContext,
        admin_project: &str,
        name: &str,
        prefix: String,
        size: u8,
    ) -> ApiResult<SubnetPool> {
        let found = self.subnetpool_list(admin).await?;
        if let Some(pool) = made_before(found, admin_project, name, |p| &p.name) {
            return Ok(pool);
        }
        let pool = self
            .subnetpool_create(
                admin,
                SubnetPoolInput {
                    name: Some(name.into()),
                    prefixes: Some(vec![prefix]),
                    default_prefixlen: Some(json!(size)),
                    shared: Some(true),
                    is_default: Some(true),
                    ..Default::default()
                },
            )
            .await?;
        tracing::info!(id = %pool.std.id, name, prefixes = ?pool.prefixes, "created a default subnet pool");
        Ok(pool)
    }

    /// The IPv4 default pool from the profile.
    async fn default_pool_v4(
        &self,
        admin: &RequestContext,
        cfg: &NetworkSection,
        admin_project: &str,
    ) -> ApiResult<SubnetPool> {
        let prefix = cfg.ipv4_addrs_safe_to_use.into();
        self.default_pool(
            admin,
            admin_project,
            DEFAULT_POOL_V4,
            prefix,
            cfg.subnetpool_size_v4,
        )
        .await
    }

    /// The IPv6 default pool on `safe6` (the profile's, or the one drawn at random).
    async fn default_pool_v6(
        &self,
        admin: &RequestContext,
        cfg: &NetworkSection,
        admin_project: &str,
        safe6: Ipv6Net,
    ) -> ApiResult<SubnetPool> {
        let prefix = safe6.to_string();
        self.default_pool(
            admin,
            admin_project,
            DEFAULT_POOL_V6,
            prefix,
            cfg.subnetpool_size_v6,
        )
        .await
    }

    /// The admin's external `public` network, `public-subnet` (the floating range)
    /// and with IPv6 `ipv6-public-subnet`.
    async fn default_public(
        &self,
        admin: &RequestContext,
        cfg: &NetworkSection,
        admin_project: &str,
    ) -> ApiResult<Public> {
        let found = self.network_list(admin).await?;
        let public = match made_before(found, admin_project, "public", |n| &n.name) {
            Some(n) => n,
            None => {
                self.network_create(admin, public_network_input(cfg))
                    .await?
            }
        };
        let subnets = self.subnet_list(admin).await?;
        let on_public = |name: &str| {
            made_before(subnets.clone(), admin_project, name, |s| &s.name)
                .filter(|s| s.network_id == public.std.id)
                .map(|s| s.std.id)
        };
        let mut subnet6 = on_public("ipv6-public-subnet");
        let subnet4 = match on_public("public-subnet") {
            Some(id) => id,
            None => {
                let input = public_subnet_input(cfg, public.std.id.clone());
                self.subnet_create(admin, input).await?.std.id
            }
        };
        if cfg.with_ipv6() && subnet6.is_none() {
            let input = public_subnet6_input(cfg, public.std.id.clone());
            let made = self.subnet_create(admin, input).await?;
            tracing::info!(cidr = %made.cidr, "created ipv6-public-subnet");
            subnet6 = Some(made.std.id);
        }
        Ok(Public {
            network: public.std.id,
            subnet4,
            subnet6: subnet6.filter(|_| cfg.with_ipv6()),
        })
    }

    /// The demo project's `ipv6-private-subnet` on `private`; returns its id.
    async fn default_private6(
        &self,
        demo: &RequestContext,
        demo_project: &str,
        input: SubnetInput,
    ) -> ApiResult<String> {
        let network = input.network_id.clone().unwrap_or_default();
        let subnets = self.subnet_list(demo).await?;
        if let Some(s) = made_before(subnets, demo_project, "ipv6-private-subnet", |s| &s.name)
            .filter(|s| s.network_id == network)
        {
            return Ok(s.std.id);
        }
        let subnet = self.subnet_create(demo, input).await?;
        tracing::info!(cidr = %subnet.cidr, pool = ?subnet.subnetpool_id, "created ipv6-private-subnet");
        Ok(subnet.std.id)
    }

    /// The demo project's `private` network and `private-subnet`; returns the
    /// network's and the subnet's id.
    async fn default_private(
        &self,
        demo: &RequestContext,
        cfg: &NetworkSection,
        demo_project: &str,
        pool: Option<&SubnetPool>,
    ) -> ApiResult<(String, String)> {
        let found = self.network_list(demo).await?;
        let private = match made_before(found, demo_project, "private", |n| &n.name) {
            Some(n) => n,
            None => {
                self.network_create(
                    demo,
                    NetworkInput {
                        name: Some("private".into()),
                        ..Default::default()
                    },
                )
                .await?
            }
        };
        let subnets = self.subnet_list(demo).await?;
        if let Some(s) = made_before(subnets, demo_project, "private-subnet", |s| &s.name)
            .filter(|s| s.network_id == private.std.id)
        {
            return Ok((private.std.id, s.std.id));
        }
        let subnet = self
            .subnet_create(
                demo,
                private_subnet_input(cfg, private.std.id.clone(), pool),
            )
            .await?;
        tracing::info!(cidr = %subnet.cidr, pool = ?subnet.subnetpool_id, "created private-subnet");
        Ok((private.std.id, subnet.std.id))
    }

    /// The demo project's `router1`, its gateway on `public` (on
    /// `ipv6-public-subnet` at IPV6_ROUTER_GW_IP too) and its legs on `subnets`.
    async fn default_router(
        &self,
        demo: &RequestContext,
        cfg: &NetworkSection,
        demo_project: &str,
        public: Public,
        subnets: Vec<String>,
    ) -> ApiResult<()> {
        let found = self.router_list(demo).await?;
        let router = match made_before(found, demo_project, "router1", |r| &r.name) {
            Some(r) => r,
            None => {
                let input = RouterInput {
                    name: Some("router1".into()),
                    external_gateway_info: Some(Some(router1_gateway(cfg, public))),
                    ..Default::default()
                };
                self.router_create(demo, input).await?
            }
        };
        for subnet_id in subnets {
            let attached = self.port_list(demo).await?.into_iter().any(|p| {
                p.device_id == router.std.id
                    && p.device_owner == OWNER_ROUTER_INTERFACE
                    && p.fixed_ips.iter().any(|ip| ip.subnet_id == subnet_id)
            });
            if !attached {
                let leg = InterfaceRequest {
                    subnet_id: Some(subnet_id),
                    port_id: None,
                };
                self.router_add_interface(demo, router.std.id.clone(), leg)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::profile::Profile;

    const ADMIN: &str = "admin-project";
    const DEMO: &str = "demo-project";

    fn service(dir: &tempfile::TempDir) -> NetworkService {
        NetworkService::new(Db::open(&dir.path().join("state.db")).expect("db"))
    }

    /// The default profile's network section with IP_VERSION=4.
    fn network_cfg() -> NetworkSection {
        let mut cfg = Profile::load("default").expect("default").network;
        cfg.ip_version = crate::profile::IpVersion::V4;
        cfg
    }

    async fn counts(net: &NetworkService) -> (usize, usize, usize, usize, usize) {
        let ctx = service_context(ADMIN, "admin");
        let pools = net.subnetpool_list(&ctx).await.expect("pools");
        let nets = net.network_list(&ctx).await.expect("networks");
        let subnets = net.subnet_list(&ctx).await.expect("subnets");
        let routers = net.router_list(&ctx).await.expect("routers");
        let legs = net.port_list(&ctx).await.expect("ports");
        let legs = legs
            .iter()
            .filter(|p| p.device_owner == OWNER_ROUTER_INTERFACE)
            .count();
        (pools.len(), nets.len(), subnets.len(), routers.len(), legs)
    }

    #[tokio::test]
    async fn an_interrupted_first_start_is_finished_without_duplicates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let net = service(&dir);
        let cfg = network_cfg();
        // A first start that stopped after the pool, `public` and the private network.
        let admin = service_context(ADMIN, "admin");
        let demo = service_context(DEMO, "demo");
        let pool = net
            .default_pool_v4(&admin, &cfg, ADMIN)
            .await
            .expect("pool");
        net.default_public(&admin, &cfg, ADMIN)
            .await
            .expect("public");
        net.network_create(
            &demo,
            NetworkInput {
                name: Some("private".into()),
                ..Default::default()
            },
        )
        .await
        .expect("private");
        assert_eq!(counts(&net).await, (1, 2, 1, 0, 0));

        assert!(
            net.create_default_networks(&cfg, ADMIN, DEMO)
                .await
                .expect("resume")
        );
        assert_eq!(counts(&net).await, (1, 2, 2, 1, 1));
        let subnets = net.subnet_list(&admin).await.expect("subnets");
        let private = subnets
            .iter()
            .find(|s| s.name == "private-subnet")
            .expect("private-subnet");
        assert_eq!(private.cidr, "10.0.0.0/26");
        assert_eq!(private.subnetpool_id.as_deref(), Some(pool.std.id.as_str()));
        assert!(
            !net.create_default_networks(&cfg, ADMIN, DEMO)
                .await
                .expect("again"),
            "runs once"
        );
        assert_eq!(counts(&net).await, (1, 2, 2, 1, 1));
    }

    #[tokio::test]
    async fn private_subnet_follows_the_profile() {
        let cases = [
            // (use_subnetpool, fixed_range, cidr, from the pool, pools)
            (true, None, "10.0.0.0/26", true, 1),
            (true, Some("10.0.1.0/24"), "10.0.1.0/24", true, 1),
            (true, Some("192.168.100.0/24"), "192.168.100.0/24", false, 1),
            (false, None, "10.0.0.0/22", false, 0),
            (false, Some("10.0.0.0/24"), "10.0.0.0/24", false, 0),
        ];
        for (use_pool, fixed, cidr, pooled, pools) in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            let net = service(&dir);
            let mut cfg = network_cfg();
            cfg.use_subnetpool = use_pool;
            cfg.fixed_range = fixed.map(|f| f.to_owned().try_into().expect("cidr"));
            net.create_default_networks(&cfg, ADMIN, DEMO)
                .await
                .expect("bootstrap");
            let admin = service_context(ADMIN, "admin");
            let subnets = net.subnet_list(&admin).await.expect("subnets");
            let private = subnets
                .iter()
                .find(|s| s.name == "private-subnet")
                .expect("private-subnet");
            let case = format!("use_subnetpool={use_pool} fixed_range={fixed:?}");
            assert_eq!(private.cidr, cidr, "{case}");
            assert_eq!(private.subnetpool_id.is_some(), pooled, "{case}");
            assert_eq!(counts(&net).await.0, pools, "{case}");
        }
    }

    /// IP_VERSION=4+6 after a crash that left the pools and `public` (both
    /// subnets): the rest is made once, router1's gateway holds IPV6_ROUTER_GW_IP,
    /// and the host plan routes `ipv6-private-subnet` via it.
    #[tokio::test]
    async fn the_ipv6_half_is_made_once_and_routed_from_the_host() {
        let dir = tempfile::tempdir().expect("tempdir");
        let net = service(&dir);
        let mut cfg = Profile::load("default").expect("default").network;
        cfg.ip_version = crate::profile::IpVersion::V4V6;
        cfg.ipv6_addrs_safe_to_use = Some("fd12:3456:789a::/56".parse().expect("net"));
        let safe6 = cfg.ipv6_addrs_safe_to_use.expect("set");
        let admin = service_context(ADMIN, "admin");
        net.default_pool_v4(&admin, &cfg, ADMIN)
            .await
            .expect("pool");
        let pool6 = net
            .default_pool_v6(&admin, &cfg, ADMIN, safe6)
            .await
            .expect("pool6");
        net.default_public(&admin, &cfg, ADMIN)
            .await
            .expect("public");
        assert_eq!(counts(&net).await, (2, 1, 2, 0, 0));

        assert!(
            net.create_default_networks(&cfg, ADMIN, DEMO)
                .await
                .expect("resume")
        );
        let made = counts(&net).await;
        assert_eq!((made.0, made.1, made.2, made.3), (2, 2, 4, 1));
        let subnets = net.subnet_list(&admin).await.expect("subnets");
        let by_name = |n: &str| {
            subnets
                .iter()
                .find(|s| s.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        let private6 = by_name("ipv6-private-subnet");
        assert_eq!(private6.cidr, "fd12:3456:789a::/64");
        assert_eq!(
            private6.subnetpool_id.as_deref(),
            Some(pool6.std.id.as_str())
        );
        assert_eq!(private6.ipv6_ra_mode.as_deref(), Some("slaac"));
        assert_eq!(private6.ipv6_address_mode.as_deref(), Some("slaac"));
        let public6 = by_name("ipv6-public-subnet");
        assert_eq!(public6.cidr, "2001:db8::/64");
        assert_eq!(public6.gateway_ip.as_deref(), Some("2001:db8::2"));
        assert!(!public6.enable_dhcp);
        let router = net.router_list(&admin).await.expect("routers").remove(0);
        let gw = router.external_gateway_info.expect("gateway");
        let ips: Vec<&str> = gw
            .external_fixed_ips
            .iter()
            .map(|f| f.ip_address.as_str())
            .collect();
        assert_eq!(ips.len(), 2, "{ips:?}");
        assert!(ips.contains(&"2001:db8::1"), "{ips:?}");

        let plan = net.host_plan("br-ex".into(), true).await.expect("plan");
        let ext = plan.external.expect("external");
        assert_eq!(ext.host_address6.as_deref(), Some("2001:db8::2/64"));
        let via: Ipv6Addr = "2001:db8::1".parse().expect("ip");
        assert_eq!(ext.routes6, vec![("fd12:3456:789a::/64".to_string(), via)]);
        let rgw = plan.routers[0].gateway.clone().expect("router gateway");
        assert_eq!(rgw.address6.as_deref(), Some("2001:db8::1/64"));
        assert_eq!(rgw.next_hop6, "2001:db8::2".parse().ok());
        assert!(rgw.address.starts_with("172.24.4."), "{}", rgw.address);
        let legs6: Vec<_> = plan.routers[0]
            .interfaces
            .iter()
            .filter(|i| i.address.starts_with("fd12:3456:789a::"))
            .collect();
        assert_eq!(legs6.len(), 1);
        assert_eq!(legs6[0].address, "fd12:3456:789a::1/64");

        // `public` now holds more than 2^64 addresses: the count saturates.
        let avail = net
            .ip_availability(&admin, None)
            .await
            .expect("availability");
        let public = avail
            .iter()
            .find(|a| a["network_name"] == "public")
            .expect("public");
        assert_eq!(public["total_ips"].as_u64(), Some(u64::MAX));

        assert!(
            !net.create_default_networks(&cfg, ADMIN, DEMO)
                .await
                .expect("again"),
            "runs once"
        );
        assert_eq!(counts(&net).await, made);
    }

    #[tokio::test]
    async fn without_a_pool_ipv6_private_subnet_is_the_first_64_of_a_random_ula() {
        let dir = tempfile::tempdir().expect("tempdir");
        let net = service(&dir);
        let mut cfg = Profile::load("default").expect("default").network;
        cfg.ip_version = crate::profile::IpVersion::V4V6;
        cfg.use_subnetpool = false;
        net.create_default_networks(&cfg, ADMIN, DEMO)
            .await
            .expect("bootstrap");
        let admin = service_context(ADMIN, "admin");
        let subnets = net.subnet_list(&admin).await.expect("subnets");
        let private6 = subnets
            .iter()
            .find(|s| s.name == "ipv6-private-subnet")
            .expect("ipv6-private-subnet");
        let cidr: Ipv6Net = private6.cidr.parse().expect("cidr");
        assert_eq!(cidr.prefix_len(), 64);
        assert_eq!(cidr.addr().segments()[0] & 0xff00, 0xfd00, "{cidr}");
        assert_eq!(
            cidr.addr().segments()[3],
            0,
            "the first /64 of a /56: {cidr}"
        );
        assert_eq!(private6.subnetpool_id, None);
        assert_eq!(counts(&net).await.0, 0, "no pools");
    }
}
