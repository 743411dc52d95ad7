//! Subnet pool routes (`/v2.0/subnetpools`, and the subnetpool-prefix-ops actions).

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::resources::{created, if_match, one, query};
use super::view::{list_body, view};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::network::subnetpools::SubnetPoolInput;

pub fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/v2.0/subnetpools",
            get(subnetpool_list).post(subnetpool_create),
        )
        .route(
            "/v2.0/subnetpools/{id}",
            get(subnetpool_show)
                .put(subnetpool_update)
                .delete(subnetpool_delete),
        )
        .route(
            "/v2.0/subnetpools/{id}/add_prefixes",
            put(subnetpool_add_prefixes),
        )
        .route(
            "/v2.0/subnetpools/{id}/remove_prefixes",
            put(subnetpool_remove_prefixes),
        )
}

#[derive(Deserialize)]
struct SubnetPoolBody {
    subnetpool: SubnetPoolInput,
}

/// `{"prefixes": [...]}`, the body of both prefix actions and of their answers.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefixesBody {
    #[serde(default)]
    prefixes: Vec<String>,
}

/// `GET /v2.0/subnetpools` (List subnet pools).
async fn subnetpool_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let items = cloud
        .network
        .subnetpool_list(&ctx)
        .await?
        .iter()
        .map(|p| view(p, &ctx))
        .collect();
    Ok(axum::Json(list_body(
        &h,
        "subnetpools",
        items,
        &query(raw)?,
    )?))
}

/// `POST /v2.0/subnetpools` (Create subnet pool).
async fn subnetpool_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(b): Json<SubnetPoolBody>,
) -> ApiResult<Response> {
    let p = cloud.network.subnetpool_create(&ctx, b.subnetpool).await?;
    Ok(created("subnetpool", view(&p, &ctx)))
}

/// `GET /v2.0/subnetpools/{id}` (Show subnet pool).
async fn subnetpool_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let p = cloud.network.subnetpool_get(&ctx, id).await?;
    one("subnetpool", view(&p, &ctx), raw)
}

/// `PUT /v2.0/subnetpools/{id}` (Update subnet pool), honouring `If-Match`.
async fn subnetpool_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<SubnetPoolBody>,
) -> ApiResult<axum::Json<Value>> {
    let p = cloud
        .network
        .subnetpool_update(&ctx, id, b.subnetpool, if_match(&h))
        .await?;
    Ok(axum::Json(json!({"subnetpool": view(&p, &ctx)})))
}

/// `DELETE /v2.0/subnetpools/{id}` (Delete subnet pool).
async fn subnetpool_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.network.subnetpool_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v2.0/subnetpools/{id}/add_prefixes` (Add prefixes).
async fn subnetpool_add_prefixes(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(b): Json<PrefixesBody>,
) -> ApiResult<axum::Json<Value>> {
    let prefixes = cloud
        .network
        .subnetpool_add_prefixes(&ctx, id, b.prefixes)
        .await?;
    Ok(axum::Json(json!({ "prefixes": prefixes })))
}

/// `PUT /v2.0/subnetpools/{id}/remove_prefixes` (Remove prefixes).
async fn subnetpool_remove_prefixes(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(b): Json<PrefixesBody>,
) -> ApiResult<axum::Json<Value>> {
    let prefixes = cloud
        .network
        .subnetpool_remove_prefixes(&ctx, id, b.prefixes)
        .await?;
    Ok(axum::Json(json!({ "prefixes": prefixes })))
}
