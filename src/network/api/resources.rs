//! CRUD routes of the Neutron collections, thin over the service: networks,
//! subnets, ports, routers and security group rules through the generic handlers
//! of `crud`; router interfaces, floating IPs (shown with their port forwardings),
//! security groups (shown with their rules) and tags written out here.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::crud::{collection, create, created, delete, if_match, list, one, query, show, update};
use super::view::{list_body, view};
use crate::cloud::Cloud;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::network::TagOp;
use crate::network::model::{
    self, FloatingIp, Network, Port, PortForwarding, SecurityGroup, SecurityGroupRule, Subnet,
};
use crate::network::networks::{NetworkInput, SubnetInput};
use crate::network::ports::PortCreate;
use crate::network::routers::{FloatingIpInput, InterfaceInfo, InterfaceRequest, RouterInput};
use crate::network::security::{GroupInput, RuleInput};

/// Neutron's core resources and the L3 and security group extensions.
pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .merge(core_routes())
        .merge(l3_routes())
        .merge(security_group_routes())
}

/// Networks, subnets and ports.
fn core_routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/v2.0/networks",
            get(list::<Network>).post(create::<Network>),
        )
        .route(
            "/v2.0/networks/{id}",
            get(show::<Network>)
                .put(update::<Network>)
                .delete(delete::<Network>),
        )
        .route("/v2.0/subnets", get(list::<Subnet>).post(create::<Subnet>))
        .route(
            "/v2.0/subnets/{id}",
            get(show::<Subnet>)
                .put(update::<Subnet>)
                .delete(delete::<Subnet>),
        )
        .route("/v2.0/ports", get(list::<Port>).post(create::<Port>))
        .route(
            "/v2.0/ports/{id}",
            get(show::<Port>).put(update::<Port>).delete(delete::<Port>),
        )
}

/// Routers, their interfaces, and floating IPs.
fn l3_routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/v2.0/routers",
            get(list::<model::Router>).post(create::<model::Router>),
        )
        .route(
            "/v2.0/routers/{id}",
            get(show::<model::Router>)
                .put(update::<model::Router>)
                .delete(delete::<model::Router>),
        )
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            put(router_add_interface),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            put(router_remove_interface),
        )
        .route(
            "/v2.0/floatingips",
            get(floating_ip_list).post(floating_ip_create),
        )
        .route(
            "/v2.0/floatingips/{id}",
            get(floating_ip_show)
                .put(floating_ip_update)
                .delete(floating_ip_delete),
        )
}

/// Security groups and their rules.
fn security_group_routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/v2.0/security-groups",
            get(security_group_list).post(security_group_create),
        )
        .route(
            "/v2.0/security-groups/{id}",
            get(security_group_show)
                .put(security_group_update)
                .delete(security_group_delete),
        )
        .route(
            "/v2.0/security-group-rules",
            get(list::<SecurityGroupRule>).post(create::<SecurityGroupRule>),
        )
        // Rules are immutable: no PUT.
        .route(
            "/v2.0/security-group-rules/{id}",
            get(show::<SecurityGroupRule>).delete(delete::<SecurityGroupRule>),
        )
}

fn group_view(g: &SecurityGroup, rules: &[SecurityGroupRule], ctx: &RequestContext) -> Value {
    let mut v = view(g, ctx);
    v["security_group_rules"] = json!(rules.iter().map(|r| view(r, ctx)).collect::<Vec<_>>());
    v
}

// Envelopes: `{"network": {...}}` and friends.
#[derive(Deserialize)]
pub(crate) struct NetworkBody {
    network: NetworkInput,
}
#[derive(Deserialize)]
pub(crate) struct SubnetBody {
    subnet: SubnetInput,
}
#[derive(Deserialize)]
pub(crate) struct PortBody {
    port: PortCreate,
}
#[derive(Deserialize)]
pub(crate) struct RouterBody {
    router: RouterInput,
}
#[derive(Deserialize)]
struct FloatingIpBody {
    floatingip: FloatingIpInput,
}
#[derive(Deserialize)]
struct GroupBody {
    security_group: GroupInput,
}
#[derive(Deserialize)]
pub(crate) struct RuleBody {
    security_group_rule: RuleInput,
}

// --- the collections of the common shape ---------------------------------------------

collection! {
    Network, "network", "networks", NetworkBody { network }, network: crate::network::NetworkService,
    view_ctx: super::view::view,
    [network_list, network_create, network_get, network_delete], update_if_match: network_update
}
collection! {
    Subnet, "subnet", "subnets", SubnetBody { subnet }, network: crate::network::NetworkService,
    view_ctx: super::view::view,
    [subnet_list, subnet_create, subnet_get, subnet_delete], update_if_match: subnet_update
}
collection! {
    Port, "port", "ports", PortBody { port }, network: crate::network::NetworkService,
    view_ctx: super::view::view,
    [port_list, port_create, port_get, port_delete], update_if_match: port_update
}
collection! {
    model::Router, "router", "routers", RouterBody { router }, network: crate::network::NetworkService,
    view_ctx: super::view::view,
    [router_list, router_create, router_get, router_delete], update_if_match: router_update
}
// Rules are immutable: no update.
collection! {
    SecurityGroupRule, "security_group_rule", "security_group_rules", RuleBody { security_group_rule }, network: crate::network::NetworkService,
    view_ctx: super::view::view,
    [security_group_rule_list, security_group_rule_create, security_group_rule_get, security_group_rule_delete]
}

// --- router interfaces ----------------------------------------------------------------

fn interface_view(i: &InterfaceInfo) -> Value {
    json!({
        "id": i.router_id, "tenant_id": i.project_id, "project_id": i.project_id, "port_id": i.port_id,
        "subnet_id": i.subnet_id, "subnet_ids": [i.subnet_id], "network_id": i.network_id,
    })
}

/// `PUT /v2.0/routers/{id}/add_router_interface` -> 200 with the interface info.
async fn router_add_interface(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(b): Json<InterfaceRequest>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(interface_view(
        &cloud.network.router_add_interface(&ctx, id, b).await?,
    )))
}
async fn router_remove_interface(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(b): Json<InterfaceRequest>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(interface_view(
        &cloud.network.router_remove_interface(&ctx, id, b).await?,
    )))
}

// --- floating IPs -------------------------------------------------------------------
// Written out: a floating IP is shown with its port forwardings, read in one batch.

/// A floating IP's view with its `port_forwardings` (expose-port-forwarding-in-fip).
async fn fip_views(
    cloud: &Cloud,
    fips: &[FloatingIp],
    ctx: &RequestContext,
) -> ApiResult<Vec<Value>> {
    let by_fip = cloud.network.port_forwardings_by_fip().await?;
    Ok(fips
        .iter()
        .map(|f| {
            let mut v = view(f, ctx);
            let pfs: Vec<Value> = by_fip
                .get(&f.std.id)
                .map(|l| l.iter().map(PortForwarding::summary).collect())
                .unwrap_or_default();
            v["port_forwardings"] = json!(pfs);
            v
        })
        .collect())
}

async fn fip_view(cloud: &Cloud, fip: FloatingIp, ctx: &RequestContext) -> ApiResult<Value> {
    Ok(fip_views(cloud, &[fip], ctx)
        .await?
        .pop()
        .unwrap_or(Value::Null))
}

async fn floating_ip_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let fips = cloud.network.floating_ip_list(&ctx).await?;
    let items = fip_views(&cloud, &fips, &ctx).await?;
    Ok(axum::Json(list_body(
        &h,
        "floatingips",
        items,
        &query(raw)?,
    )?))
}
async fn floating_ip_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(b): Json<FloatingIpBody>,
) -> ApiResult<Response> {
    let f = cloud.network.floating_ip_create(&ctx, b.floatingip).await?;
    Ok(created("floatingip", fip_view(&cloud, f, &ctx).await?))
}
async fn floating_ip_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let f = cloud.network.floating_ip_get(&ctx, id).await?;
    one("floatingip", fip_view(&cloud, f, &ctx).await?, raw)
}
async fn floating_ip_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<FloatingIpBody>,
) -> ApiResult<axum::Json<Value>> {
    let f = cloud
        .network
        .floating_ip_update(&ctx, id, b.floatingip, if_match(&h))
        .await?;
    Ok(axum::Json(
        json!({"floatingip": fip_view(&cloud, f, &ctx).await?}),
    ))
}
async fn floating_ip_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.network.floating_ip_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- security groups ----------------------------------------------------------------
// Written out: a group is shown with its rules, created then read back, and updated
// without `If-Match`.

async fn security_group_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let items = cloud
        .network
        .security_group_list(&ctx)
        .await?
        .iter()
        .map(|(g, r)| group_view(g, r, &ctx))
        .collect();
    Ok(axum::Json(list_body(
        &h,
        "security_groups",
        items,
        &query(raw)?,
    )?))
}
async fn security_group_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    crate::http::json::JsonDoc(b, doc): crate::http::json::JsonDoc<GroupBody>,
) -> ApiResult<Response> {
    crate::http::validate::max_lens(
        &doc,
        "security_group",
        &[("name", 255), ("description", 255)],
    )?;
    let g = cloud
        .network
        .security_group_create(&ctx, b.security_group)
        .await?;
    let (g, rules) = cloud
        .network
        .security_group_get(&ctx, g.std.id.clone())
        .await?;
    Ok(created("security_group", group_view(&g, &rules, &ctx)))
}
async fn security_group_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let (g, rules) = cloud.network.security_group_get(&ctx, id).await?;
    one("security_group", group_view(&g, &rules, &ctx), raw)
}
async fn security_group_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    crate::http::json::JsonDoc(b, doc): crate::http::json::JsonDoc<GroupBody>,
) -> ApiResult<axum::Json<Value>> {
    crate::http::validate::max_lens(
        &doc,
        "security_group",
        &[("name", 255), ("description", 255)],
    )?;
    let (g, rules) = cloud
        .network
        .security_group_update(&ctx, id, b.security_group)
        .await?;
    Ok(axum::Json(
        json!({"security_group": group_view(&g, &rules, &ctx)}),
    ))
}
async fn security_group_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.network.security_group_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tag routes of every taggable collection.
pub(super) fn tag_routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/v2.0/{collection}/{id}/tags",
            get(tags_get).put(tags_replace).delete(tags_clear),
        )
        .route(
            "/v2.0/{collection}/{id}/tags/{tag}",
            get(tag_check).put(tag_add).delete(tag_remove),
        )
}

#[derive(Deserialize)]
struct TagsBody {
    tags: Vec<String>,
}

async fn tags_get(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((coll, id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(
        json!({"tags": cloud.network.tags(&ctx, coll, id, TagOp::Get).await?}),
    ))
}

async fn tags_replace(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((coll, id)): Path<(String, String)>,
    Json(b): Json<TagsBody>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(
        json!({"tags": cloud.network.tags(&ctx, coll, id, TagOp::ReplaceAll(b.tags)).await?}),
    ))
}

async fn tags_clear(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((coll, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud.network.tags(&ctx, coll, id, TagOp::RemoveAll).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_check(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((coll, id, tag)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    cloud
        .network
        .tags(&ctx, coll, id, TagOp::Check(tag))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_add(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((coll, id, tag)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    cloud.network.tags(&ctx, coll, id, TagOp::Add(tag)).await?;
    Ok(StatusCode::CREATED)
}

async fn tag_remove(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((coll, id, tag)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    cloud
        .network
        .tags(&ctx, coll, id, TagOp::Remove(tag))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
