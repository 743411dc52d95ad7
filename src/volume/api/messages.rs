//! User messages (api-ref: block storage v3 "Messages (messages)", 3.3 or later).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};

use super::{Mv, UrlProject, v3_root};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::volume::model::Message;

/// The microversion that adds messages.
const MESSAGES: u32 = 3;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/messages", get(list))
        .route("/messages/{id}", get(show).delete(delete))
}

type Proj = Option<axum::Extension<UrlProject>>;

fn check(mv: Mv) -> ApiResult<()> {
    if mv.at_least(MESSAGES) {
        Ok(())
    } else {
        Err(ApiError::Missing("The resource could not be found.".into()))
    }
}

fn view(root: &str, m: &Message) -> Value {
    let mut v = json!({
        "id": m.id,
        "request_id": m.request_id,
        "message_level": m.message_level,
        "event_id": m.event_id,
        "user_message": m.user_message,
        "resource_type": m.resource_type,
        "resource_uuid": m.resource_uuid,
        "created_at": m.created_at,
        "links": super::view::links(root, "messages", &m.id),
    });
    if let Some(e) = &m.expires_at {
        v["guaranteed_until"] = json!(e);
    }
    v
}

async fn list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
) -> ApiResult<axum::Json<Value>> {
    check(mv)?;
    let root = v3_root(&h, &p.map(|e| e.0));
    let ms = cloud.volume.message_list(&ctx).await?;
    Ok(axum::Json(
        json!({"messages": ms.iter().map(|m| view(&root, m)).collect::<Vec<_>>()}),
    ))
}

async fn show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    check(mv)?;
    let root = v3_root(&h, &p.map(|e| e.0));
    let m = cloud.volume.message_get(&ctx, id).await?;
    Ok(axum::Json(json!({"message": view(&root, &m)})))
}

async fn delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    check(mv)?;
    cloud.volume.message_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
