//! Software configs and deployments (api-ref: orchestration v1 "Software
//! configuration"): `/software_configs` and `/software_deployments`, with the
//! metadata view a server's agent polls. Heat answers a create with 200.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::orchestration::software::{ConfigCreate, DeploymentInput, config_view, deployment_view};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/software_configs", get(config_list).post(config_create))
        .route(
            "/software_configs/{config_id}",
            get(config_show).delete(config_delete),
        )
        .route(
            "/software_deployments",
            get(deployment_list).post(deployment_create),
        )
        .route(
            "/software_deployments/metadata/{server_id}",
            get(deployment_metadata),
        )
        .route(
            "/software_deployments/{deployment_id}",
            get(deployment_show)
                .put(deployment_update)
                .delete(deployment_delete),
        )
}

type Params = Path<HashMap<String, String>>;

fn param<'a>(p: &'a HashMap<String, String>, k: &str) -> &'a str {
    p.get(k).map(String::as_str).unwrap_or_default()
}

/// `limit` and `marker` over a listing in creation order, as heat-api pages.
fn page<T>(
    mut items: Vec<T>,
    id: impl Fn(&T) -> &str,
    q: &HashMap<String, String>,
) -> ApiResult<Vec<T>> {
    if let Some(m) = q.get("marker") {
        let at = items
            .iter()
            .position(|x| id(x) == m)
            .ok_or_else(|| ApiError::Missing(format!("Software config with id {m} not found")))?;
        items.drain(..=at);
    }
    if let Some(l) = q.get("limit") {
        let l: usize = l.parse().map_err(|_| {
            ApiError::bad_request(format!("Only integer is acceptable by 'limit'. ({l})"))
        })?;
        items.truncate(l);
    }
    Ok(items)
}

/// `POST /software_configs` (200).
async fn config_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(body): Json<ConfigCreate>,
) -> ApiResult<axum::Json<Value>> {
    let sc = cloud.orchestration.config_create(&ctx, body).await?;
    Ok(axum::Json(
        json!({"software_config": config_view(&sc, true)}),
    ))
}

/// `GET /software_configs`: the summaries (no config body).
async fn config_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<axum::Json<Value>> {
    let all = cloud.orchestration.config_list(&ctx).await?;
    let items: Vec<Value> = page(all, |c| c.id.as_str(), &q)?
        .iter()
        .map(|c| config_view(c, false))
        .collect();
    Ok(axum::Json(json!({"software_configs": items})))
}

async fn config_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
) -> ApiResult<axum::Json<Value>> {
    let sc = cloud
        .orchestration
        .config_get(&ctx, param(&p, "config_id"))
        .await?;
    Ok(axum::Json(
        json!({"software_config": config_view(&sc, true)}),
    ))
}

async fn config_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
) -> ApiResult<StatusCode> {
    cloud
        .orchestration
        .config_delete(&ctx, param(&p, "config_id"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /software_deployments` (200).
async fn deployment_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(body): Json<DeploymentInput>,
) -> ApiResult<axum::Json<Value>> {
    let d = cloud.orchestration.deployment_create(&ctx, body).await?;
    Ok(axum::Json(
        json!({"software_deployment": deployment_view(&d)}),
    ))
}

/// `GET /software_deployments` (`server_id` filters).
async fn deployment_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<axum::Json<Value>> {
    let all = cloud
        .orchestration
        .deployment_list(&ctx, q.get("server_id").cloned())
        .await?;
    let items: Vec<Value> = all.iter().map(deployment_view).collect();
    Ok(axum::Json(json!({"software_deployments": items})))
}

async fn deployment_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
) -> ApiResult<axum::Json<Value>> {
    let d = cloud
        .orchestration
        .deployment_get(&ctx, param(&p, "deployment_id"))
        .await?;
    Ok(axum::Json(
        json!({"software_deployment": deployment_view(&d)}),
    ))
}

async fn deployment_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
    Json(body): Json<DeploymentInput>,
) -> ApiResult<axum::Json<Value>> {
    let d = cloud
        .orchestration
        .deployment_update(&ctx, param(&p, "deployment_id"), body)
        .await?;
    Ok(axum::Json(
        json!({"software_deployment": deployment_view(&d)}),
    ))
}

async fn deployment_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
) -> ApiResult<StatusCode> {
    cloud
        .orchestration
        .deployment_delete(&ctx, param(&p, "deployment_id"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /software_deployments/metadata/{server}`.
async fn deployment_metadata(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(p): Params,
) -> ApiResult<axum::Json<Value>> {
    let items = cloud
        .orchestration
        .deployment_metadata(&ctx, param(&p, "server_id"))
        .await?;
    Ok(axum::Json(json!({"metadata": items})))
}
