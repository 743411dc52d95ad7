//! `/v2/images/{id}/members` and `/v2/tasks` (Image API v2: Image members, Tasks).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::http::RequestId;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::image::TaskCreate;
use crate::image::model::{Member, Task};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/v2/images/{image_id}/members",
            get(member_list).post(member_create),
        )
        .route(
            "/v2/images/{image_id}/members/{member_id}",
            get(member_show).put(member_update).delete(member_delete),
        )
        .route("/v2/images/{image_id}/tasks", get(image_task_list))
        .route("/v2/tasks", get(task_list).post(task_create))
        .route("/v2/tasks/{task_id}", get(task_show))
}

fn member_view(m: &Member) -> Value {
    json!({
        "image_id": m.image_id, "member_id": m.member_id, "status": m.status,
        "created_at": m.created_at, "updated_at": m.updated_at, "schema": "/v2/schemas/member",
    })
}

fn task_view(t: &Task) -> Value {
    json!({
        "id": t.id, "type": t.task_type, "status": t.status, "owner": t.owner, "input": t.input,
        "result": t.result, "message": t.message, "image_id": t.image_id,
        "created_at": t.created_at, "updated_at": t.updated_at, "expires_at": t.expires_at,
        "request_id": t.request_id, "user_id": t.user_id,
        "self": format!("/v2/tasks/{}", t.id), "schema": "/v2/schemas/task",
    })
}

#[derive(Deserialize)]
struct CreateBody {
    member: String,
}

#[derive(Deserialize)]
struct UpdateBody {
    status: String,
}

async fn member_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let list = cloud.image.member_list(&ctx, id).await?;
    Ok(axum::Json(
        json!({"members": list.iter().map(member_view).collect::<Vec<_>>(), "schema": "/v2/schemas/members"}),
    ))
}

async fn member_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(b): Json<CreateBody>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(member_view(
        &cloud.image.member_create(&ctx, id, b.member).await?,
    )))
}

async fn member_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, member)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(member_view(
        &cloud.image.member_get(&ctx, id, member).await?,
    )))
}

async fn member_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, member)): Path<(String, String)>,
    Json(b): Json<UpdateBody>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(member_view(
        &cloud
            .image
            .member_update(&ctx, id, member, b.status)
            .await?,
    )))
}

async fn member_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, member)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud.image.member_delete(&ctx, id, member).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn image_task_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let tasks = cloud.image.task_list(&ctx, Some(id)).await?;
    Ok(axum::Json(
        json!({"tasks": tasks.iter().map(task_view).collect::<Vec<_>>()}),
    ))
}

async fn task_list(State(cloud): State<Cloud>, ctx: Ctx) -> ApiResult<axum::Json<Value>> {
    let tasks = cloud.image.task_list(&ctx, None).await?;
    Ok(axum::Json(
        json!({"tasks": tasks.iter().map(task_view).collect::<Vec<_>>(), "first": "/v2/tasks", "schema": "/v2/schemas/tasks"}),
    ))
}

#[derive(Deserialize)]
struct TaskCreateBody {
    #[serde(rename = "type")]
    task_type: String,
    #[serde(default)]
    input: Value,
}

/// A task body: JSON, with a `type` and the `input` of that type.
fn task_request(headers: &axum::http::HeaderMap, body: &[u8]) -> ApiResult<TaskCreate> {
    crate::http::json::require_json(headers)?;
    let b: TaskCreateBody = crate::http::json::parse(body)?;
    TaskCreate::from_body(&b.task_type, b.input)
}

/// `POST /v2/tasks` (Image API v2: Create task): 201 with the task, which
/// continues in the background.
async fn task_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    RequestId(request_id): RequestId,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    // Glance answers a project member 403 whatever the body (tasks_api_access
    // comes first), so a refused body goes to the service to report after it.
    let req = task_request(&headers, &body);
    let task = cloud.image.task_create(&ctx, req, request_id).await?;
    Ok((StatusCode::CREATED, axum::Json(task_view(&task))))
}

async fn task_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(task_view(
        &cloud.image.task_get(&ctx, id).await?,
    )))
}
