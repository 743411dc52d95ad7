//! `/v3/roles`, implied roles and `/v3/role_inferences` (Identity API v3: Roles).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{created, list_response, no_content, self_link, v3_url};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::identity::model::Role;
use crate::identity::resources::RoleInput;

pub fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/roles", get(role_list).post(role_create))
        .route(
            "/v3/roles/{role_id}",
            get(role_show).patch(role_update).delete(role_delete),
        )
        .route("/v3/roles/{prior_role_id}/implies", get(implied_role_list))
        .route(
            "/v3/roles/{prior_role_id}/implies/{implied_role_id}",
            get(implied_role_show)
                .head(implied_role_check)
                .put(implied_role_create)
                .delete(implied_role_delete),
        )
        .route("/v3/role_inferences", get(role_inference_list))
}

#[derive(Deserialize)]
struct Body {
    role: RoleInput,
}

pub fn view(h: &HeaderMap, r: &Role) -> Value {
    json!({
        "id": r.id, "name": r.name, "domain_id": r.domain_id, "description": r.description,
        "options": {}, "links": self_link(h, &format!("roles/{}", r.id)),
    })
}

fn brief(h: &HeaderMap, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "links": self_link(h, &format!("roles/{}", r.id))})
}

async fn role_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .role_list(&ctx)
        .await?
        .iter()
        .map(|r| view(&h, r))
        .collect();
    list_response(
        &h,
        "roles",
        "roles",
        items,
        &q,
        &["name", "domain_id", "id"],
    )
}

async fn role_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Json(b): Json<Body>,
) -> ApiResult<Response> {
    let r = cloud.identity.role_create(&ctx, b.role).await?;
    Ok(created(json!({"role": view(&h, &r)})))
}

async fn role_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let r = cloud.identity.role_get(&ctx, id).await?;
    Ok(axum::Json(json!({"role": view(&h, &r)})))
}

async fn role_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Body>,
) -> ApiResult<axum::Json<Value>> {
    let r = cloud.identity.role_update(&ctx, id, b.role).await?;
    Ok(axum::Json(json!({"role": view(&h, &r)})))
}

async fn role_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    cloud.identity.role_delete(&ctx, id).await?;
    Ok(no_content())
}

fn inference_view(h: &HeaderMap, prior: &Role, implies: Value) -> Value {
    json!({
        "role_inference": {"prior_role": brief(h, prior), "implies": implies},
        "links": {"self": format!("{}/roles/{}/implies", v3_url(h), prior.id)},
    })
}

async fn implied_role_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(prior): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let rules = cloud
        .identity
        .role_inferences(&ctx, Some(prior.clone()))
        .await?;
    let prior_role = cloud.identity.role_get(&ctx, prior).await?;
    let implies: Vec<Value> = rules
        .iter()
        .flat_map(|(_, list)| list.iter().map(|r| brief(&h, r)))
        .collect();
    Ok(axum::Json(inference_view(&h, &prior_role, json!(implies))))
}

async fn implied_role_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((p, i)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let (prior, implied) = cloud.identity.implied_role(&ctx, p, i, None).await?;
    Ok(axum::Json(inference_view(&h, &prior, brief(&h, &implied))))
}

async fn implied_role_check(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((p, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.implied_role(&ctx, p, i, None).await?;
    Ok(no_content())
}

async fn implied_role_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path((p, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (prior, implied) = cloud.identity.implied_role(&ctx, p, i, Some(true)).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(inference_view(&h, &prior, brief(&h, &implied))),
    )
        .into_response())
}

async fn implied_role_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((p, i)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.implied_role(&ctx, p, i, Some(false)).await?;
    Ok(no_content())
}

async fn role_inference_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    let rules = cloud.identity.role_inferences(&ctx, None).await?;
    let list: Vec<Value> = rules
        .iter()
        .map(|(p, implied)| json!({"prior_role": brief(&h, p), "implies": implied.iter().map(|r| brief(&h, r)).collect::<Vec<_>>()}))
        .collect();
    Ok(axum::Json(
        json!({"role_inferences": list, "links": {"self": format!("{}/role_inferences", v3_url(&h))}}),
    ))
}
