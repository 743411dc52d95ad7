//! Assisted volume snapshots (api-ref: compute "Assisted volume snapshots
//! (os-assisted-volume-snapshots)"): the calls a file-based block storage
//! driver makes to have the compute service snapshot an attached volume.
//! Admin or service only (`os_compute_api:os-assisted-volume-snapshots:*`).

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{delete, post};
use serde_json::{Value, json};

use super::schema;
use crate::cloud::Cloud;
use crate::compute::assisted_snapshots::{CreateInfo, DeleteInfo};
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::http::policy::COMPUTE_ASSISTED_VOLUME_SNAPSHOTS as POLICY;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-assisted-volume-snapshots", post(snapshot_create))
        .route(
            "/os-assisted-volume-snapshots/{id}",
            delete(snapshot_delete),
        )
}

/// Create Assisted Volume Snapshots: `POST /os-assisted-volume-snapshots` → 200
/// `{"snapshot": {"id": create_info.id, "volumeId": ...}}`.
async fn snapshot_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    POLICY.enforce(&ctx, None)?;
    let snap = schema::object(&body, "snapshot", &["volume_id", "create_info"])?;
    if let Some(k) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "snapshot"))
    {
        return Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let volume_id = schema::required(snap, "volume_id", 1, 255)?;
    let wrapped = json!({"create_info": snap.get("create_info").cloned().unwrap_or(Value::Null)});
    let ci = schema::object(
        &wrapped,
        "create_info",
        &["snapshot_id", "type", "new_file", "id"],
    )?;
    let snapshot_id = schema::required(ci, "snapshot_id", 1, 255)?;
    let kind = schema::required(ci, "type", 1, 255)?;
    if kind != "qcow2" {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute type. Value: {kind}. '{kind}' is not one of ['qcow2']"
        )));
    }
    let new_file = schema::required(ci, "new_file", 1, 255)?;
    let id = match ci.get("id") {
        None => None,
        Some(v) => Some(schema::string("id", v, 1, 255, false)?),
    };
    let info = CreateInfo {
        snapshot_id,
        new_file,
        id,
    };
    let id = cloud
        .compute
        .assisted_snapshot_create(&ctx, volume_id.clone(), info)
        .await?;
    Ok(axum::Json(
        json!({"snapshot": {"id": id, "volumeId": volume_id}}),
    ))
}

/// Delete Assisted Volume Snapshot:
/// `DELETE /os-assisted-volume-snapshots/{id}?delete_info=<json>` → 204.
async fn snapshot_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    POLICY.enforce(&ctx, None)?;
    let q = super::params::query(raw)?;
    let raw_info = q
        .get("delete_info")
        .ok_or_else(|| ApiError::bad_request("'delete_info'"))?;
    let info: Value = serde_json::from_str(raw_info)
        .map_err(|e| ApiError::bad_request(format!("Expecting value: {e}")))?;
    let volume_id = info
        .get("volume_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("'volume_id'"))?
        .to_owned();
    let text = |k: &str| info.get(k).and_then(Value::as_str).map(str::to_owned);
    let delete_info = DeleteInfo {
        volume_id,
        kind: text("type"),
        file_to_merge: text("file_to_merge"),
        merge_target_file: info
            .get("merge_target_file")
            .map(|v| v.as_str().map(str::to_owned)),
    };
    cloud
        .compute
        .assisted_snapshot_delete(&ctx, id, delete_info)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
