//! Nova's deprecated network proxies, up to microversion 2.35 (api-ref: compute
//! "Floating IPs (os-floating-ips) (DEPRECATED)", "Networks (os-networks)
//! (DEPRECATED)", "Project Networks (os-tenant-networks) (DEPRECATED)") and the
//! addFloatingIp/removeFloatingIp server actions (up to 2.43): Nova's shapes and
//! faults over the network service's floating IPs and networks.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::Microversion;
use super::hosts::until;
use crate::cloud::Cloud;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::{ApiError, ApiResult, neutron};
use crate::network::instance::InstanceNic;
use crate::network::model::{FloatingIp, Network};
use crate::network::routers::FloatingIpInput;

/// The last microversion of the proxy APIs (2.36 removed them).
const LAST: u32 = 35;
/// The last microversion of addFloatingIp/removeFloatingIp (2.44 removed them).
const LAST_ACTIONS: u32 = 43;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-floating-ips", get(fip_list).post(fip_create))
        .route("/os-floating-ips/{id}", get(fip_show).delete(fip_delete))
        .route("/os-floating-ip-pools", get(pool_list))
        .route("/os-networks", get(network_list))
        .route("/os-networks/{id}", get(network_show))
        .route("/os-tenant-networks", get(tenant_network_list))
        .route("/os-tenant-networks/{id}", get(tenant_network_show))
}

fn fip_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Floating IP not found for ID {id}"))
}

/// Nova's view of a floating IP: the pool is the external network's name and the
/// instance is the device of the port it points at.
async fn fip_view(cloud: &Cloud, ctx: &RequestContext, f: &FloatingIp) -> Value {
    let pool = cloud
        .network
        .network_get(ctx, f.floating_network_id.clone())
        .await
        .map(|n| n.name)
        .unwrap_or_else(|_| f.floating_network_id.clone());
    let instance = match &f.port_id {
        Some(p) => cloud
            .network
            .port_get(ctx, p.clone())
            .await
            .ok()
            .map(|p| p.device_id)
            .filter(|d| !d.is_empty()),
        None => None,
    };
    json!({
        "id": f.std.id, "ip": f.floating_ip_address, "pool": pool,
        "fixed_ip": f.fixed_ip_address, "instance_id": instance,
    })
}

async fn fip_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let project = ctx.project_id().unwrap_or_default().to_owned();
    let mut out = Vec::new();
    for f in cloud.network.floating_ip_list(&ctx).await? {
        // As Nova's proxy: the caller's project's floating IPs.
        if f.std.project_id == project {
            out.push(fip_view(&cloud, &ctx, &f).await);
        }
    }
    Ok(axum::Json(json!({"floating_ips": out})))
}

async fn fip_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let f = cloud
        .network
        .floating_ip_get(&ctx, id.clone())
        .await
        .map_err(|_| fip_not_found(&id))?;
    Ok(axum::Json(
        json!({"floating_ip": fip_view(&cloud, &ctx, &f).await}),
    ))
}

/// The external network a pool name (or id) names.
async fn pool_network(cloud: &Cloud, ctx: &RequestContext, pool: &str) -> ApiResult<Network> {
    let nets: Vec<Network> = cloud
        .network
        .network_list(ctx)
        .await?
        .into_iter()
        .filter(|n| n.external && (n.name == pool || n.std.id == pool))
        .collect();
    match nets.len() {
        0 => Err(ApiError::Missing("Floating IP pool not found.".into())),
        1 => Ok(nets
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::Missing("Floating IP pool not found.".into()))?),
        _ => Err(ApiError::bad_request(format!(
            "Multiple floating IP pools matches found for name '{pool}'"
        ))),
    }
}

/// Allocate: `{"pool": name}` or no body (the default pool, `public`).
async fn fip_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let doc: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        crate::http::json::parse(&body)?
    };
    let pool = match doc.get("pool") {
        None | Some(Value::Null) => "public".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute pool.",
            ));
        }
    };
    let net = pool_network(&cloud, &ctx, &pool).await?;
    let input = FloatingIpInput {
        floating_network_id: Some(net.std.id.clone()),
        ..FloatingIpInput::default()
    };
    let f = cloud
        .network
        .floating_ip_create(&ctx, input)
        .await
        .map_err(|e| match e {
            ApiError::OverQuota(_)
            | ApiError::Typed {
                code: neutron::OVER_QUOTA,
                ..
            } => ApiError::Forbidden(format!("IP allocation over quota in pool {pool}.")),
            e if e.status() == StatusCode::CONFLICT => {
                ApiError::Missing(format!("No more floating IPs in pool {pool}."))
            }
            other => other,
        })?;
    Ok(axum::Json(
        json!({"floating_ip": fip_view(&cloud, &ctx, &f).await}),
    ))
}

/// Deallocate -> 202 (an associated address is disassociated with it).
async fn fip_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    until(mv, LAST)?;
    cloud
        .network
        .floating_ip_get(&ctx, id.clone())
        .await
        .map_err(|_| fip_not_found(&id))?;
    cloud.network.floating_ip_delete(&ctx, id).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn pool_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let pools: Vec<Value> = cloud
        .network
        .network_list(&ctx)
        .await?
        .into_iter()
        .filter(|n| n.external)
        .map(|n| json!({"name": n.name}))
        .collect();
    Ok(axum::Json(json!({"floating_ip_pools": pools})))
}

/// Nova's `network_dict` for a Neutron network: the id and the name as `label`;
/// the nova-network fields have no Neutron counterpart and are null (admins see
/// the admin-only ones too, as in Nova).
fn network_view(ctx: &RequestContext, n: &Network) -> Value {
    let mut v = json!({
        "id": n.std.id, "label": n.name, "cidr": null, "netmask": null,
        "gateway": null, "broadcast": null, "dns1": null, "dns2": null,
        "cidr_v6": null, "gateway_v6": null, "netmask_v6": null,
    });
    if ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT) {
        for k in [
            "created_at",
            "updated_at",
            "deleted_at",
            "deleted",
            "injected",
            "bridge",
            "vlan",
            "vpn_public_address",
            "vpn_public_port",
            "vpn_private_address",
            "dhcp_start",
            "host",
            "bridge_interface",
            "multi_host",
            "priority",
            "rxtx_base",
            "dhcp_server",
            "enable_dhcp",
            "share_address",
        ] {
            v[k] = Value::Null;
        }
        v["project_id"] = json!(n.std.project_id);
        v["mtu"] = json!(n.mtu);
    }
    v
}

fn network_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Network {id} could not be found."))
}

/// The caller's networks in one of the two proxies' views (os-networks,
/// os-tenant-networks): both list what Neutron shows the caller.
async fn networks_view(
    cloud: &Cloud,
    ctx: &RequestContext,
    mv: Microversion,
    view: impl Fn(&RequestContext, &Network) -> Value,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let nets: Vec<Value> = cloud
        .network
        .network_list(ctx)
        .await?
        .iter()
        .map(|n| view(ctx, n))
        .collect();
    Ok(axum::Json(json!({"networks": nets})))
}

/// One network in a proxy's view; 404 in Nova's words when the caller does not see it.
async fn network_view_of(
    cloud: &Cloud,
    ctx: &RequestContext,
    mv: Microversion,
    id: String,
    view: impl Fn(&RequestContext, &Network) -> Value,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let n = cloud
        .network
        .network_get(ctx, id.clone())
        .await
        .map_err(|_| network_not_found(&id))?;
    Ok(axum::Json(json!({"network": view(ctx, &n)})))
}

async fn network_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
) -> ApiResult<axum::Json<Value>> {
    networks_view(&cloud, &ctx, mv, network_view).await
}

async fn network_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    network_view_of(&cloud, &ctx, mv, id, network_view).await
}

/// os-tenant-networks' view: id, name as `label`, and `cidr` (always null with Neutron).
fn tenant_network_view(_: &RequestContext, n: &Network) -> Value {
    json!({"id": n.std.id, "label": n.name, "cidr": null})
}

async fn tenant_network_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
) -> ApiResult<axum::Json<Value>> {
    networks_view(&cloud, &ctx, mv, tenant_network_view).await
}

async fn tenant_network_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    network_view_of(&cloud, &ctx, mv, id, tenant_network_view).await
}

/// The floating IP with `address` among those the caller sees.
async fn fip_by_address(
    cloud: &Cloud,
    ctx: &RequestContext,
    address: &str,
) -> ApiResult<FloatingIp> {
    cloud
        .network
        .floating_ip_list(ctx)
        .await?
        .into_iter()
        .find(|f| f.floating_ip_address == address)
        .ok_or_else(|| ApiError::Missing("floating IP not found".into()))
}

fn address_of(action: &str, value: &Value) -> ApiResult<String> {
    match value.get("address") {
        Some(Value::String(a)) => Ok(a.clone()),
        _ => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {action}. Value: {value}. 'address' is a required property"
        ))),
    }
}

/// addFloatingIp / removeFloatingIp; None when `action` is neither.
pub(super) async fn dispatch(
    cloud: &Cloud,
    ctx: &RequestContext,
    mv: Microversion,
    id: String,
    action: &str,
    value: Value,
) -> Option<ApiResult<Response>> {
    let r = match action {
        "addFloatingIp" => add_floating_ip(cloud, ctx, mv, id, value).await,
        "removeFloatingIp" => remove_floating_ip(cloud, ctx, mv, id, value).await,
        _ => return None,
    };
    Some(r)
}

async fn add_floating_ip(
    cloud: &Cloud,
    ctx: &RequestContext,
    mv: Microversion,
    id: String,
    value: Value,
) -> ApiResult<Response> {
    if mv.at_least(LAST_ACTIONS + 1) {
        return Err(ApiError::bad_request(
            "There is no such action: addFloatingIp",
        ));
    }
    let address = address_of("addFloatingIp", &value)?;
    let fixed_wanted = value
        .get("fixed_address")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let s = cloud.compute.server_get(ctx, id.clone()).await?;
    crate::compute::may_change(ctx, &s.project_id)?;
    let nics = cloud.compute.server_nics(&s).await?;
    let fixed = server_fixed_ips(&nics)?;
    let (port, fixed_address) = fixed_ip_for_floating(&fixed, fixed_wanted, &address, &id)?;
    let fip = fip_by_address(cloud, ctx, &address).await?;
    let input = FloatingIpInput {
        port_id: Some(Some(port)),
        fixed_ip_address: Some(fixed_address.clone()),
        ..FloatingIpInput::default()
    };
    cloud
        .network
        .floating_ip_update(ctx, fip.std.id, input, None)
        .await
        .map_err(|e| match e {
            ApiError::Forbidden(_) | ApiError::NotFound { .. } | ApiError::Missing(_) => e,
            other => ApiError::bad_request(format!(
                "Unable to associate floating IP {address} to fixed IP {fixed_address} for instance {id}. Error: {other}"
            )),
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// The server's (port, fixed address) pairs; a server without ports or
/// without addresses cannot take a floating IP yet.
fn server_fixed_ips(nics: &[InstanceNic]) -> ApiResult<Vec<(String, String)>> {
    if nics.is_empty() {
        return Err(ApiError::bad_request("Instance network is not ready yet"));
    }
    let fixed: Vec<(String, String)> = nics
        .iter()
        .flat_map(|n| {
            n.port
                .fixed_ips
                .iter()
                .map(|f| (n.port.std.id.clone(), f.ip_address.clone()))
        })
        .collect();
    if fixed.is_empty() {
        return Err(ApiError::bad_request("No fixed IPs associated to instance"));
    }
    Ok(fixed)
}

/// The fixed address the floating IP maps to: the one asked for, or else the
/// server's first IPv4 address, as Nova picks it.
fn fixed_ip_for_floating(
    fixed: &[(String, String)],
    fixed_wanted: Option<String>,
    address: &str,
    id: &str,
) -> ApiResult<(String, String)> {
    match &fixed_wanted {
        Some(want) => fixed.iter().find(|(_, a)| a == want).cloned().ok_or_else(|| {
            ApiError::bad_request("Specified fixed address not assigned to instance")
        }),
        None => fixed
            .iter()
            .find(|(_, a)| a.parse::<std::net::Ipv4Addr>().is_ok())
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Unable to associate floating IP {address} to any fixed IPs for instance {id}. Instance has no fixed IPv4 addresses to associate."
                ))
            }),
    }
}

async fn remove_floating_ip(
    cloud: &Cloud,
    ctx: &RequestContext,
    mv: Microversion,
    id: String,
    value: Value,
) -> ApiResult<Response> {
    if mv.at_least(LAST_ACTIONS + 1) {
        return Err(ApiError::bad_request(
            "There is no such action: removeFloatingIp",
        ));
    }
    let address = address_of("removeFloatingIp", &value)?;
    let s = cloud.compute.server_get(ctx, id.clone()).await?;
    crate::compute::may_change(ctx, &s.project_id)?;
    let fip = fip_by_address(cloud, ctx, &address).await?;
    let on_server = s
        .ports
        .iter()
        .any(|p| Some(&p.port_id) == fip.port_id.as_ref());
    if !on_server {
        return Err(ApiError::Conflict(format!(
            "Floating IP {address} is not associated with instance {id}."
        )));
    }
    let input = FloatingIpInput {
        port_id: Some(None),
        ..FloatingIpInput::default()
    };
    cloud
        .network
        .floating_ip_update(ctx, fip.std.id, input, None)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
