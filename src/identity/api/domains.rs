//! `/v3/domains` (Identity API v3: Domains).

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
use crate::identity::model::Domain;
use crate::identity::resources::DomainInput;

pub fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/domains", get(domain_list).post(domain_create))
        .route(
            "/v3/domains/{domain_id}",
            get(domain_show).patch(domain_update).delete(domain_delete),
        )
}

#[derive(Deserialize)]
struct Body {
    domain: DomainInput,
}

pub fn view(h: &HeaderMap, d: &Domain) -> Value {
    json!({
        "id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
        "tags": d.tags, "options": {}, "links": self_link(h, &format!("domains/{}", d.id)),
    })
}

async fn domain_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .domain_list(&ctx)
        .await?
        .iter()
        .map(|d| view(&h, d))
        .collect();
    list_response(
        &h,
        "domains",
        "domains",
        items,
        &q,
        &["name", "enabled", "id"],
    )
}

async fn domain_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Json(b): Json<Body>,
) -> ApiResult<Response> {
    let d = cloud.identity.domain_create(&ctx, b.domain).await?;
    Ok(created(json!({"domain": view(&h, &d)})))
}

async fn domain_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let d = cloud.identity.domain_get(&ctx, id).await?;
    Ok(axum::Json(json!({"domain": view(&h, &d)})))
}

async fn domain_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Body>,
) -> ApiResult<axum::Json<Value>> {
    let d = cloud.identity.domain_update(&ctx, id, b.domain).await?;
    Ok(axum::Json(json!({"domain": view(&h, &d)})))
}

async fn domain_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    cloud.identity.domain_delete(&ctx, id).await?;
    Ok(no_content())
}
