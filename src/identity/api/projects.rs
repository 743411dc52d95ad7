//! `/v3/projects` (Identity API v3: Projects).

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
use crate::identity::model::Project;
use crate::identity::resources::ProjectInput;

pub fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/projects", get(project_list).post(project_create))
        .route(
            "/v3/projects/{project_id}",
            get(project_show)
                .patch(project_update)
                .delete(project_delete),
        )
}

#[derive(Deserialize)]
struct Body {
    project: ProjectInput,
}

/// Top-level projects report their domain as parent, as Keystone does.
pub fn view(h: &HeaderMap, p: &Project) -> Value {
    json!({
        "id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
        "enabled": p.enabled, "parent_id": p.parent_id.clone().unwrap_or_else(|| p.domain_id.clone()),
        "is_domain": false, "tags": p.tags, "options": {},
        "links": self_link(h, &format!("projects/{}", p.id)),
    })
}

async fn project_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let items = cloud
        .identity
        .project_list(&ctx)
        .await?
        .iter()
        .map(|p| view(&h, p))
        .collect();
    list_response(
        &h,
        "projects",
        "projects",
        items,
        &q,
        &[
            "name",
            "domain_id",
            "enabled",
            "parent_id",
            "is_domain",
            "id",
        ],
    )
}

async fn project_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Json(b): Json<Body>,
) -> ApiResult<Response> {
    let p = cloud.identity.project_create(&ctx, b.project).await?;
    Ok(created(json!({"project": view(&h, &p)})))
}

async fn project_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let p = cloud.identity.project_get(&ctx, id).await?;
    Ok(axum::Json(json!({"project": view(&h, &p)})))
}

async fn project_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Body>,
) -> ApiResult<axum::Json<Value>> {
    let p = cloud.identity.project_update(&ctx, id, b.project).await?;
    Ok(axum::Json(json!({"project": view(&h, &p)})))
}

async fn project_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    cloud.identity.project_delete(&ctx, id).await?;
    Ok(no_content())
}
