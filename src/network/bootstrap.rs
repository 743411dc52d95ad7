//! DevStack's default networking, made once on first start: the shared default subnet
//! pool, the external `public` network with the floating range, and for the demo
//! project a `private` network, its subnet (from the pool) and `router1` with a
//! gateway on `public` (DevStack's `create_neutron_initial_network`).

use serde_json::json;

use super::NetworkService;
use super::model::{AllocationPool, OWNER_ROUTER_INTERFACE, Resource, SubnetPool};
use super::networks::{NetworkInput, SubnetInput};
use super::routers::{GatewayRequest, InterfaceRequest, RouterInput};
use super::subnetpools::SubnetPoolInput;
use crate::http::context::{NamedRef, RequestContext, Scope};
use crate::http::error::ApiResult;
use crate::profile::NetworkSection;

/// An admin acting inside `project_id`, for work the cloud does on its own behalf.
fn service_context(project_id: &str, project_name: &str) -> RequestContext {
    let named = |id: &str, name: &str| NamedRef {
        id: id.to_owned(),
        name: name.to_owned(),
    };
    RequestContext {
        user: named("onestack", "onestack"),
        user_domain: named("default", "Default"),
        scope: Scope::Project {
            project: named(project_id, project_name),
            domain: named("default", "Default"),
        },
        roles: vec![
            named("admin", "admin"),
            named("member", "member"),
            named("reader", "reader"),
        ],
        methods: vec![],
        audit_ids: vec![],
        issued_at: chrono::Utc::now(),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(5),
        application_credential: None,
    }
}

const MARKER: &str = "network_defaults_created";

/// The shared default IPv4 pool's name in DevStack (SUBNETPOOL_NAME_V4).
pub const DEFAULT_POOL_V4: &str = "shared-default-subnetpool-v4";

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

impl NetworkService {
    /// Creates the default networks unless they were made before (even if a user
    /// deleted them since: a deliberate deletion is respected).
    pub async fn create_default_networks(
        &self,
        cfg: &NetworkSection,
        admin_project: &str,
        demo_project: &str,
    ) -> ApiResult<bool> {
        let done = self
            .read(|c| crate::identity::store::setting_get(c, MARKER))
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
        let public = self.default_public(&admin, cfg, admin_project).await?;
        let subnet = self
            .default_private(&demo, cfg, demo_project, pool.as_ref())
            .await?;
        self.default_router(&demo, demo_project, public, subnet)
            .await?;
        self.write(|c| crate::identity::store::setting_put(c, MARKER, "1"))
            .await?;
        Ok(true)
    }

    /// DevStack's `subnet pool create shared-default-subnetpool-v4 --share --default`
    /// by the admin: IPV4_ADDRS_SAFE_TO_USE with SUBNETPOOL_SIZE_V4 blocks. No IPv6
    /// pool: DevStack makes one only with an IPv6 private subnet, which onestack's
    /// bootstrap does not create.
    async fn default_pool_v4(
        &self,
        admin: &RequestContext,
        cfg: &NetworkSection,
        admin_project: &str,
    ) -> ApiResult<SubnetPool> {
        let found = self.subnetpool_list(admin).await?;
        if let Some(pool) = made_before(found, admin_project, DEFAULT_POOL_V4, |p| &p.name) {
            return Ok(pool);
        }
        let pool = self
            .subnetpool_create(
                admin,
                SubnetPoolInput {
                    name: Some(DEFAULT_POOL_V4.into()),
                    prefixes: Some(vec![cfg.ipv4_addrs_safe_to_use.into()]),
                    default_prefixlen: Some(json!(cfg.subnetpool_size_v4)),
                    shared: Some(true),
                    is_default: Some(true),
                    ..Default::default()
                },
            )
            .await?;
        tracing::info!(id = %pool.std.id, prefixes = ?pool.prefixes, "created the default subnet pool");
        Ok(pool)
    }

    /// The admin's external `public` network and `public-subnet` (the floating range);
    /// returns the network's id.
    async fn default_public(
        &self,
        admin: &RequestContext,
        cfg: &NetworkSection,
        admin_project: &str,
    ) -> ApiResult<String> {
        let found = self.network_list(admin).await?;
        let public = match made_before(found, admin_project, "public", |n| &n.name) {
            Some(n) => n,
            None => {
                self.network_create(
                    admin,
                    NetworkInput {
                        name: Some("public".into()),
                        external: Some(true),
                        shared: Some(false),
                        network_type: Some("flat".into()),
                        physical_network: Some("public".into()),
                        ..Default::default()
                    },
                )
                .await?
            }
        };
        let subnets = self.subnet_list(admin).await?;
        let exists = made_before(subnets, admin_project, "public-subnet", |s| &s.name)
            .is_some_and(|s| s.network_id == public.std.id);
        if !exists {
            self.subnet_create(
                admin,
                SubnetInput {
                    name: Some("public-subnet".into()),
                    network_id: Some(public.std.id.clone()),
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
                },
            )
            .await?;
        }
        Ok(public.std.id)
    }

    /// The demo project's `private` network and `private-subnet`; returns the
    /// subnet's id.
    async fn default_private(
        &self,
        demo: &RequestContext,
        cfg: &NetworkSection,
        demo_project: &str,
        pool: Option<&SubnetPool>,
    ) -> ApiResult<String> {
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
            return Ok(s.std.id);
        }
        let subnet = self
            .subnet_create(demo, private_subnet_input(cfg, private.std.id, pool))
            .await?;
        tracing::info!(cidr = %subnet.cidr, pool = ?subnet.subnetpool_id, "created private-subnet");
        Ok(subnet.std.id)
    }

    /// The demo project's `router1`, its gateway on `public` and its leg on
    /// `private-subnet`.
    async fn default_router(
        &self,
        demo: &RequestContext,
        demo_project: &str,
        public_id: String,
        subnet_id: String,
    ) -> ApiResult<()> {
        let found = self.router_list(demo).await?;
        let router = match made_before(found, demo_project, "router1", |r| &r.name) {
            Some(r) => r,
            None => {
                self.router_create(
                    demo,
                    RouterInput {
                        name: Some("router1".into()),
                        external_gateway_info: Some(Some(GatewayRequest {
                            network_id: public_id,
                            enable_snat: None,
                            external_fixed_ips: None,
                        })),
                        ..Default::default()
                    },
                )
                .await?
            }
        };
        let attached = self.port_list(demo).await?.into_iter().any(|p| {
            p.device_id == router.std.id
                && p.device_owner == OWNER_ROUTER_INTERFACE
                && p.fixed_ips.iter().any(|ip| ip.subnet_id == subnet_id)
        });
        if !attached {
            self.router_add_interface(
                demo,
                router.std.id,
                InterfaceRequest {
                    subnet_id: Some(subnet_id),
                    port_id: None,
                },
            )
            .await?;
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

    fn network_cfg() -> NetworkSection {
        Profile::load("default").expect("default").network
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
}
