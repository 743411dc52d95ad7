//! Server groups (api-ref: compute "Server groups (os-server-groups)"): routes and
//! views (`policies` + `metadata` below 2.64, `policy` + `rules` from 2.64).

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use super::Microversion;
use super::params::{flag, query};
use crate::cloud::Cloud;
use crate::compute::server_groups::{self, GroupView};
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/os-server-groups",
            get(server_group_list).post(server_group_create),
        )
        .route(
            "/os-server-groups/{id}",
            get(server_group_show).delete(server_group_delete),
        )
}

fn view(g: &GroupView, mv: Microversion) -> Value {
    let sg = &g.group;
    let mut v = json!({"id": sg.id, "name": sg.name, "members": g.members});
    if mv.at_least(64) {
        v["policy"] = json!(sg.policy);
        v["rules"] = match sg.max_server_per_host {
            Some(n) => json!({"max_server_per_host": n}),
            None => json!({}),
        };
    } else {
        v["policies"] = json!([sg.policy]);
        v["metadata"] = json!({});
    }
    if mv.at_least(13) {
        v["project_id"] = json!(sg.project_id);
        v["user_id"] = json!(sg.user_id);
    }
    v
}

fn non_negative(
    q: &std::collections::HashMap<String, String>,
    key: &str,
) -> ApiResult<Option<usize>> {
    q.get(key)
        .map(|v| {
            v.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid input for query parameters {key}. Value: {v}."
                ))
            })
        })
        .transpose()
}

/// List Server Groups: `GET /os-server-groups` (limit/offset paging).
async fn server_group_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let q = query(raw)?;
    let limit = non_negative(&q, "limit")?;
    let offset = non_negative(&q, "offset")?.unwrap_or(0);
    let all = cloud
        .compute
        .server_group_list(&ctx, flag(&q, "all_projects"))
        .await?;
    let list: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .map(|g| view(g, mv))
        .collect();
    Ok(axum::Json(json!({"server_groups": list})))
}

/// Create Server Group: `POST /os-server-groups` -> 200.
async fn server_group_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    let req = server_groups::parse_create(&body, mv.1)?;
    let g = cloud.compute.server_group_create(&ctx, req).await?;
    Ok(axum::Json(json!({"server_group": view(&g, mv)})))
}

/// Show Server Group Details: `GET /os-server-groups/{server_group_id}`.
async fn server_group_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let g = cloud.compute.server_group_show(&ctx, id).await?;
    Ok(axum::Json(json!({"server_group": view(&g, mv)})))
}

/// Delete Server Group -> 204.
async fn server_group_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.compute.server_group_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
