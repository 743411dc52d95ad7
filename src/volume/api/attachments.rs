//! Attachments (api-ref: block storage v3 "Attachments", 3.27+): how a consumer
//! (Nova) reserves, connects, completes and removes its hold on a volume.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Mv, envelope, parse_bool, query};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::volume::model::Attachment;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/attachments", get(list).post(create))
        .route("/attachments/detail", get(list_detail))
        .route("/attachments/{id}", get(show).put(update).delete(delete))
        .route("/attachments/{id}/action", post(action))
}

/// Attachments exist from 3.27; earlier versions see no such resource.
fn need(mv: Mv, minor: u32) -> ApiResult<()> {
    if mv.at_least(minor) {
        Ok(())
    } else {
        Err(ApiError::Missing("The resource could not be found.".into()))
    }
}

fn summary(a: &Attachment) -> Value {
    json!({
        "id": a.id,
        "status": a.status,
        "instance": a.instance_uuid,
        "volume_id": a.volume_id,
    })
}

fn detail(a: &Attachment, connection_info: Option<Value>) -> Value {
    json!({
        "id": a.id,
        "status": a.status,
        "instance": a.instance_uuid,
        "volume_id": a.volume_id,
        "attached_at": a.attached_at,
        "detached_at": null,
        "attach_mode": a.attach_mode,
        "connection_info": connection_info.unwrap_or_else(|| json!({})),
    })
}

fn all_projects(q: &HashMap<String, String>) -> ApiResult<bool> {
    match q.get("all_tenants").or_else(|| q.get("all_projects")) {
        Some(v) => parse_bool("all_tenants", v),
        None => Ok(false),
    }
}

async fn listing(cloud: &Cloud, ctx: &Ctx, raw: Option<String>) -> ApiResult<Vec<Attachment>> {
    let q = query(raw)?;
    let mut out = cloud.volume.attachment_list(ctx, all_projects(&q)?).await?;
    if let Some(v) = q.get("volume_id") {
        out.retain(|a| &a.volume_id == v);
    }
    if let Some(i) = q.get("instance_id") {
        out.retain(|a| a.instance_uuid.as_deref() == Some(i.as_str()));
    }
    if let Some(s) = q.get("status") {
        out.retain(|a| &a.status == s);
    }
    Ok(out)
}

async fn list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    need(mv, 27)?;
    let out = listing(&cloud, &ctx, raw).await?;
    Ok(axum::Json(
        json!({"attachments": out.iter().map(summary).collect::<Vec<_>>()}),
    ))
}

async fn list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    need(mv, 27)?;
    let mut views = Vec::new();
    for a in listing(&cloud, &ctx, raw).await? {
        let info = cloud.volume.attachment_connection_info(&a).await?;
        views.push(detail(&a, info));
    }
    Ok(axum::Json(json!({"attachments": views})))
}

async fn show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    need(mv, 27)?;
    let a = cloud.volume.attachment_get(&ctx, id).await?;
    let info = cloud.volume.attachment_connection_info(&a).await?;
    Ok(axum::Json(json!({"attachment": detail(&a, info)})))
}

fn opt_str(m: &serde_json::Map<String, Value>, k: &str) -> ApiResult<Option<String>> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {k}. Value must be a string."
        ))),
    }
}

fn connector(m: &serde_json::Map<String, Value>) -> ApiResult<Option<Value>> {
    match m.get("connector") {
        None | Some(Value::Null) => Ok(None),
        Some(c @ Value::Object(_)) => Ok(Some(c.clone())),
        Some(_) => Err(ApiError::bad_request(
            "Invalid input for field/attribute connector. Value must be an object.",
        )),
    }
}

async fn create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    need(mv, 27)?;
    let b = envelope(&body, "attachment")?;
    let volume = opt_str(b, "volume_uuid")?.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: Must specify 'volume_uuid'.")
    })?;
    let instance = opt_str(b, "instance_uuid")?;
    if let Some(i) = &instance
        && uuid::Uuid::parse_str(i).is_err()
    {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: Invalid instance_uuid {i}."
        )));
    }
    let mode = opt_str(b, "mode")?;
    if mode.is_some() && !mv.at_least(54) {
        return Err(ApiError::bad_request(
            "Invalid input received: The mode is available from microversion 3.54.",
        ));
    }
    let (a, info) = cloud
        .volume
        .attachment_create(&ctx, volume, instance, connector(b)?, mode)
        .await?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({"attachment": detail(&a, info)})),
    ))
}

async fn update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    need(mv, 27)?;
    let b = envelope(&body, "attachment")?;
    let c = connector(b)?.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: Must specify 'connector'.")
    })?;
    let (a, info) = cloud.volume.attachment_update(&ctx, id, c).await?;
    Ok(axum::Json(json!({"attachment": detail(&a, Some(info))})))
}

async fn delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    need(mv, 27)?;
    cloud.volume.attachment_delete(&ctx, id).await?;
    Ok(axum::Json(json!({"attachments": []})))
}

async fn action(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<StatusCode> {
    need(mv, 44)?;
    match body
        .as_object()
        .and_then(|o| o.keys().next())
        .map(String::as_str)
    {
        Some("os-complete") => {
            cloud.volume.attachment_complete(&ctx, id).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "There is no such action: {other}"
        ))),
        None => Err(ApiError::bad_request("Malformed request body")),
    }
}
