//! CRUD routes of the Neutron collections, thin over the service.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::view::{list_body, select_fields, view};
use crate::cloud::Cloud;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::network::TagOp;
use crate::network::model::{FloatingIp, PortForwarding, SecurityGroup, SecurityGroupRule};
use crate::network::networks::{NetworkInput, SubnetInput};
use crate::network::ports::PortCreate;
use crate::network::routers::{FloatingIpInput, InterfaceInfo, InterfaceRequest, RouterInput};
use crate::network::security::{GroupInput, RuleInput};

pub fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v2.0/networks", get(network_list).post(network_create))
        .route(
            "/v2.0/networks/{id}",
            get(network_show).put(network_update).delete(network_delete),
        )
        .route("/v2.0/subnets", get(subnet_list).post(subnet_create))
        .route(
            "/v2.0/subnets/{id}",
            get(subnet_show).put(subnet_update).delete(subnet_delete),
        )
        .route("/v2.0/ports", get(port_list).post(port_create))
        .route(
            "/v2.0/ports/{id}",
            get(port_show).put(port_update).delete(port_delete),
        )
        .route("/v2.0/routers", get(router_list).post(router_create))
        .route(
            "/v2.0/routers/{id}",
            get(router_show).put(router_update).delete(router_delete),
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
            get(security_group_rule_list).post(security_group_rule_create),
        )
        .route(
            "/v2.0/security-group-rules/{id}",
            get(security_group_rule_show).delete(security_group_rule_delete),
        )
}

pub fn query(raw: Option<String>) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(&raw.unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}")))
}

pub(super) fn if_match(h: &HeaderMap) -> Option<String> {
    h.get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(super) fn created(key: &str, v: Value) -> Response {
    (StatusCode::CREATED, axum::Json(json!({ key: v }))).into_response()
}

pub(super) fn one(key: &str, v: Value, raw: Option<String>) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(json!({ key: select_fields(v, &query(raw)?) })))
}

fn group_view(g: &SecurityGroup, rules: &[SecurityGroupRule], ctx: &RequestContext) -> Value {
    let mut v = view(g, ctx);
    v["security_group_rules"] = json!(rules.iter().map(|r| view(r, ctx)).collect::<Vec<_>>());
    v
}

// Envelopes: `{"network": {...}}` and friends.
#[derive(Deserialize)]
struct NetworkBody {
    network: NetworkInput,
}
#[derive(Deserialize)]
struct SubnetBody {
    subnet: SubnetInput,
}
#[derive(Deserialize)]
struct PortBody {
    port: PortCreate,
}
#[derive(Deserialize)]
struct RouterBody {
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
struct RuleBody {
    security_group_rule: RuleInput,
}

// --- networks -----------------------------------------------------------------------

async fn network_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let items = cloud
        .network
        .network_list(&ctx)
        .await?
        .iter()
        .map(|n| view(n, &ctx))
        .collect();
    Ok(axum::Json(list_body(&h, "networks", items, &query(raw)?)?))
}
async fn network_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(b): Json<NetworkBody>,
) -> ApiResult<Response> {
    Ok(created(
        "network",
        view(&cloud.network.network_create(&ctx, b.network).await?, &ctx),
    ))
}
async fn network_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    one(
        "network",
        view(&cloud.network.network_get(&ctx, id).await?, &ctx),
        raw,
    )
}
async fn network_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<NetworkBody>,
) -> ApiResult<axum::Json<Value>> {
    let n = cloud
        .network
        .network_update(&ctx, id, b.network, if_match(&h))
        .await?;
    Ok(axum::Json(json!({"network": view(&n, &ctx)})))
}
async fn network_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.network.network_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- subnets ------------------------------------------------------------------------

async fn subnet_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let items = cloud
        .network
        .subnet_list(&ctx)
        .await?
        .iter()
        .map(|s| view(s, &ctx))
        .collect();
    Ok(axum::Json(list_body(&h, "subnets", items, &query(raw)?)?))
}
async fn subnet_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(b): Json<SubnetBody>,
) -> ApiResult<Response> {
    Ok(created(
        "subnet",
        view(&cloud.network.subnet_create(&ctx, b.subnet).await?, &ctx),
    ))
}
async fn subnet_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    one(
        "subnet",
        view(&cloud.network.subnet_get(&ctx, id).await?, &ctx),
        raw,
    )
}
async fn subnet_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<SubnetBody>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud
        .network
        .subnet_update(&ctx, id, b.subnet, if_match(&h))
        .await?;
    Ok(axum::Json(json!({"subnet": view(&s, &ctx)})))
}
async fn subnet_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.network.subnet_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- ports --------------------------------------------------------------------------

async fn port_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let items = cloud
        .network
        .port_list(&ctx)
        .await?
        .iter()
        .map(|p| view(p, &ctx))
        .collect();
    Ok(axum::Json(list_body(&h, "ports", items, &query(raw)?)?))
}
async fn port_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(b): Json<PortBody>,
) -> ApiResult<Response> {
    Ok(created(
        "port",
        view(&cloud.network.port_create(&ctx, b.port).await?, &ctx),
    ))
}
async fn port_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    one(
        "port",
        view(&cloud.network.port_get(&ctx, id).await?, &ctx),
        raw,
    )
}
async fn port_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<PortBody>,
) -> ApiResult<axum::Json<Value>> {
    let p = cloud
        .network
        .port_update(&ctx, id, b.port, if_match(&h))
        .await?;
    Ok(axum::Json(json!({"port": view(&p, &ctx)})))
}
async fn port_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.network.port_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- routers ------------------------------------------------------------------------

async fn router_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let items = cloud
        .network
        .router_list(&ctx)
        .await?
        .iter()
        .map(|r| view(r, &ctx))
        .collect();
    Ok(axum::Json(list_body(&h, "routers", items, &query(raw)?)?))
}
async fn router_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(b): Json<RouterBody>,
) -> ApiResult<Response> {
    Ok(created(
        "router",
        view(&cloud.network.router_create(&ctx, b.router).await?, &ctx),
    ))
}
async fn router_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    one(
        "router",
        view(&cloud.network.router_get(&ctx, id).await?, &ctx),
        raw,
    )
}
async fn router_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<RouterBody>,
) -> ApiResult<axum::Json<Value>> {
    let r = cloud
        .network
        .router_update(&ctx, id, b.router, if_match(&h))
        .await?;
    Ok(axum::Json(json!({"router": view(&r, &ctx)})))
}
async fn router_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.network.router_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

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
    Json(b): Json<GroupBody>,
) -> ApiResult<Response> {
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
    Json(b): Json<GroupBody>,
) -> ApiResult<axum::Json<Value>> {
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

async fn security_group_rule_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let items = cloud
        .network
        .security_group_rule_list(&ctx)
        .await?
        .iter()
        .map(|r| view(r, &ctx))
        .collect();
    Ok(axum::Json(list_body(
        &h,
        "security_group_rules",
        items,
        &query(raw)?,
    )?))
}
async fn security_group_rule_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(b): Json<RuleBody>,
) -> ApiResult<Response> {
    Ok(created(
        "security_group_rule",
        view(
            &cloud
                .network
                .security_group_rule_create(&ctx, b.security_group_rule)
                .await?,
            &ctx,
        ),
    ))
}
async fn security_group_rule_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    one(
        "security_group_rule",
        view(
            &cloud.network.security_group_rule_get(&ctx, id).await?,
            &ctx,
        ),
        raw,
    )
}
async fn security_group_rule_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.network.security_group_rule_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tag routes of every taggable collection.
pub fn tag_routes() -> Router<Cloud> {
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
