//! `/v3/groups` and group membership (Identity API v3: Groups).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{created, list_response, no_content, self_link, users};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::identity::model::Group;
use crate::identity::resources::GroupInput;

pub fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/groups", get(group_list).post(group_create))
        .route(
            "/v3/groups/{group_id}",
            get(group_show).patch(group_update).delete(group_delete),
        )
        .route("/v3/groups/{group_id}/users", get(group_users))
        .route(
            "/v3/groups/{group_id}/users/{user_id}",
            put(group_member_add)
                .head(group_member_check)
                .get(group_member_check)
                .delete(group_member_remove),
        )
}

#[derive(Deserialize)]
struct Body {
    group: GroupInput,
}

pub fn view(h: &HeaderMap, g: &Group) -> Value {
    json!({
        "id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description,
        "links": self_link(h, &format!("groups/{}", g.id)),
    })
}

async fn group_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .group_list(&ctx)
        .await?
        .iter()
        .map(|g| view(&h, g))
        .collect();
    list_response(
        &h,
        "groups",
        "groups",
        items,
        &q,
        &["name", "domain_id", "id"],
    )
}

async fn group_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Json(b): Json<Body>,
) -> ApiResult<Response> {
    let g = cloud.identity.group_create(&ctx, b.group).await?;
    Ok(created(json!({"group": view(&h, &g)})))
}

async fn group_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let g = cloud.identity.group_get(&ctx, id).await?;
    Ok(axum::Json(json!({"group": view(&h, &g)})))
}

async fn group_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Body>,
) -> ApiResult<axum::Json<Value>> {
    let g = cloud.identity.group_update(&ctx, id, b.group).await?;
    Ok(axum::Json(json!({"group": view(&h, &g)})))
}

async fn group_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    cloud.identity.group_delete(&ctx, id).await?;
    Ok(no_content())
}

async fn group_users(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .group_users(&ctx, id.clone())
        .await?
        .iter()
        .map(|u| users::view(&h, u))
        .collect();
    list_response(
        &h,
        "users",
        &format!("groups/{id}/users"),
        items,
        &q,
        &["name", "domain_id", "enabled"],
    )
}

async fn group_member_add(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((g, u)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.group_member(&ctx, g, u, Some(true)).await?;
    Ok(no_content())
}

async fn group_member_check(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((g, u)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.group_member(&ctx, g, u, None).await?;
    Ok(no_content())
}

async fn group_member_remove(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((g, u)): Path<(String, String)>,
) -> ApiResult<Response> {
    cloud.identity.group_member(&ctx, g, u, Some(false)).await?;
    Ok(no_content())
}
