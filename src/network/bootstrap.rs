//! DevStack's default networking, made once on first start: the external `public`
//! network with the floating range, and for the demo project a `private` network,
//! its subnet and `router1` with a gateway on `public`.

use std::sync::Arc;

use super::NetworkService;
use super::model::AllocationPool;
use super::networks::{NetworkInput, SubnetInput};
use super::routers::{GatewayRequest, InterfaceRequest, RouterInput};
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
        let admin = Arc::new(service_context(admin_project, "admin"));
        let public = self
            .network_create(
                &admin,
                NetworkInput {
                    name: Some("public".into()),
                    external: Some(true),
                    shared: Some(false),
                    network_type: Some("flat".into()),
                    physical_network: Some("public".into()),
                    ..Default::default()
                },
            )
            .await?;
        let floating = format!("{}/{}", cfg.floating_range.addr, cfg.floating_range.prefix);
        self.subnet_create(
            &admin,
            SubnetInput {
                name: Some("public-subnet".into()),
                network_id: Some(public.std.id.clone()),
                ip_version: Some(4),
                cidr: Some(floating),
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
        let demo = service_context(demo_project, "demo");
        let private = self
            .network_create(
                &demo,
                NetworkInput {
                    name: Some("private".into()),
                    ..Default::default()
                },
            )
            .await?;
        let fixed = format!("{}/{}", cfg.fixed_range.addr, cfg.fixed_range.prefix);
        let subnet = self
            .subnet_create(
                &demo,
                SubnetInput {
                    name: Some("private-subnet".into()),
                    network_id: Some(private.std.id.clone()),
                    ip_version: Some(4),
                    cidr: Some(fixed),
                    ..Default::default()
                },
            )
            .await?;
        let router = self
            .router_create(
                &demo,
                RouterInput {
                    name: Some("router1".into()),
                    external_gateway_info: Some(Some(GatewayRequest {
                        network_id: public.std.id,
                        enable_snat: None,
                        external_fixed_ips: None,
                    })),
                    ..Default::default()
                },
            )
            .await?;
        self.router_add_interface(
            &demo,
            router.std.id,
            InterfaceRequest {
                subnet_id: Some(subnet.std.id),
                port_id: None,
            },
        )
        .await?;
        self.write(|c| crate::identity::store::setting_put(c, MARKER, "1"))
            .await?;
        Ok(true)
    }
}
