//! `/v3/regions`, `/v3/services`, `/v3/endpoints` (Identity API v3: Service catalog).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{created, list_response, no_content, self_link};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::identity::catalog::{EndpointInput, RegionInput, ServiceInput};
use crate::identity::model::{Endpoint, Region, Service};

pub fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/regions", get(region_list).post(region_create))
        .route(
            "/v3/regions/{region_id}",
            get(region_show).patch(region_update).delete(region_delete),
        )
        .route("/v3/services", get(service_list).post(service_create))
        .route(
            "/v3/services/{service_id}",
            get(service_show)
                .patch(service_update)
                .delete(service_delete),
        )
        .route("/v3/endpoints", get(endpoint_list).post(endpoint_create))
        .route(
            "/v3/endpoints/{endpoint_id}",
            get(endpoint_show)
                .patch(endpoint_update)
                .delete(endpoint_delete),
        )
}

#[derive(Deserialize)]
struct RegionBody {
    region: RegionInput,
}
#[derive(Deserialize)]
struct ServiceBody {
    service: ServiceInput,
}
#[derive(Deserialize)]
struct EndpointBody {
    endpoint: EndpointInput,
}

fn region_view(h: &HeaderMap, r: &Region) -> Value {
    json!({"id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
           "links": self_link(h, &format!("regions/{}", r.id))})
}

fn service_view(h: &HeaderMap, s: &Service) -> Value {
    json!({"id": s.id, "type": s.service_type, "name": s.name, "description": s.description,
           "enabled": s.enabled, "links": self_link(h, &format!("services/{}", s.id))})
}

fn endpoint_view(h: &HeaderMap, e: &Endpoint) -> Value {
    json!({"id": e.id, "service_id": e.service_id, "interface": e.interface, "region": e.region_id,
           "region_id": e.region_id, "url": e.url, "enabled": e.enabled,
           "links": self_link(h, &format!("endpoints/{}", e.id))})
}

async fn region_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .region_list(&ctx)
        .await?
        .iter()
        .map(|r| region_view(&h, r))
        .collect();
    list_response(
        &h,
        "regions",
        "regions",
        items,
        &q,
        &["parent_region_id", "id"],
    )
}

async fn region_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Json(b): Json<RegionBody>,
) -> ApiResult<Response> {
    let r = cloud.identity.region_create(&ctx, b.region).await?;
    Ok(created(json!({"region": region_view(&h, &r)})))
}

async fn region_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let r = cloud.identity.region_get(&ctx, id).await?;
    Ok(axum::Json(json!({"region": region_view(&h, &r)})))
}

async fn region_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<RegionBody>,
) -> ApiResult<axum::Json<Value>> {
    let r = cloud.identity.region_update(&ctx, id, b.region).await?;
    Ok(axum::Json(json!({"region": region_view(&h, &r)})))
}

async fn region_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    cloud.identity.region_delete(&ctx, id).await?;
    Ok(no_content())
}

async fn service_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .service_list(&ctx)
        .await?
        .iter()
        .map(|s| service_view(&h, s))
        .collect();
    list_response(
        &h,
        "services",
        "services",
        items,
        &q,
        &["type", "name", "enabled", "id"],
    )
}

async fn service_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Json(b): Json<ServiceBody>,
) -> ApiResult<Response> {
    let s = cloud.identity.service_create(&ctx, b.service).await?;
    Ok(created(json!({"service": service_view(&h, &s)})))
}

async fn service_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud.identity.service_get(&ctx, id).await?;
    Ok(axum::Json(json!({"service": service_view(&h, &s)})))
}

async fn service_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<ServiceBody>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud.identity.service_update(&ctx, id, b.service).await?;
    Ok(axum::Json(json!({"service": service_view(&h, &s)})))
}

async fn service_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    cloud.identity.service_delete(&ctx, id).await?;
    Ok(no_content())
}

async fn endpoint_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .endpoint_list(&ctx)
        .await?
        .iter()
        .map(|e| endpoint_view(&h, e))
        .collect();
    list_response(
        &h,
        "endpoints",
        "endpoints",
        items,
        &q,
        &["interface", "service_id", "region_id", "enabled", "id"],
    )
}

async fn endpoint_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Json(b): Json<EndpointBody>,
) -> ApiResult<Response> {
    let e = cloud.identity.endpoint_create(&ctx, b.endpoint).await?;
    Ok(created(json!({"endpoint": endpoint_view(&h, &e)})))
}

async fn endpoint_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let e = cloud.identity.endpoint_get(&ctx, id).await?;
    Ok(axum::Json(json!({"endpoint": endpoint_view(&h, &e)})))
}

async fn endpoint_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<EndpointBody>,
) -> ApiResult<axum::Json<Value>> {
    let e = cloud.identity.endpoint_update(&ctx, id, b.endpoint).await?;
    Ok(axum::Json(json!({"endpoint": endpoint_view(&h, &e)})))
}

async fn endpoint_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    cloud.identity.endpoint_delete(&ctx, id).await?;
    Ok(no_content())
}
