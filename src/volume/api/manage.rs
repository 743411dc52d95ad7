//! Manage existing volumes and snapshots (api-ref: block storage v3 "Volume manage
//! extension (os-volume-manage)", "Snapshot manage extension (os-snapshot-manage)",
//! and their 3.8 forms `manageable_volumes` / `manageable_snapshots`), admin only.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::view::volume_detail;
use super::{Mv, UrlProject, envelope, json_bool, opt_string, string_map, v3_root};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::volume::manage::{ManageSnapshot, ManageVolume};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-volume-manage", post(manage_volume))
        .route("/manageable_volumes", post(manage_volume))
        .route("/os-snapshot-manage", post(manage_snapshot))
        .route("/manageable_snapshots", post(manage_snapshot))
}

type Proj = Option<axum::Extension<UrlProject>>;

/// `ref: {"source-name": ...}`, the one reference form the file backend knows.
fn source_name(v: &serde_json::Map<String, Value>) -> ApiResult<String> {
    v.get("ref")
        .and_then(|r| r.get("source-name"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input received: the reference must be {\"source-name\": <name>}.",
            )
        })
}

async fn manage_volume(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    h: HeaderMap,
    p: Proj,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    ctx.require_admin()?;
    let v = envelope(&body, "volume")?;
    let host = opt_string("host", v.get("host"))?
        .ok_or_else(|| ApiError::bad_request("Invalid input received: host is required."))?;
    let req = ManageVolume {
        host,
        source_name: source_name(v)?,
        name: opt_string("name", v.get("name"))?,
        description: opt_string("description", v.get("description"))?,
        volume_type: opt_string("volume_type", v.get("volume_type"))?,
        availability_zone: opt_string("availability_zone", v.get("availability_zone"))?,
        bootable: match v.get("bootable") {
            None | Some(Value::Null) => false,
            Some(b) => json_bool("bootable", b)?,
        },
        metadata: string_map("metadata", v.get("metadata"))?,
    };
    let vol = cloud.volume.volume_manage(&ctx, req).await?;
    let root = v3_root(&h, &p.map(|e| e.0));
    let body = json!({"volume": volume_detail(&root, &vol, mv, &ctx, &cloud.volume.volume_host())});
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

async fn manage_snapshot(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    ctx.require_admin()?;
    let s = envelope(&body, "snapshot")?;
    let volume_id = opt_string("volume_id", s.get("volume_id"))?
        .ok_or_else(|| ApiError::bad_request("Invalid input received: volume_id is required."))?;
    let req = ManageSnapshot {
        volume_id,
        source_name: source_name(s)?,
        name: opt_string("name", s.get("name"))?,
        description: opt_string("description", s.get("description"))?,
        metadata: string_map("metadata", s.get("metadata"))?,
    };
    let snap = cloud.volume.snapshot_manage(&ctx, req).await?;
    let body = json!({"snapshot": {
        "id": snap.id,
        "name": snap.name,
        "description": snap.description,
        "status": snap.status.as_str(),
        "size": snap.size,
        "volume_id": snap.volume_id,
        "metadata": snap.metadata,
        "created_at": snap.created_at,
        "updated_at": snap.updated_at,
    }});
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}
