//! Server shares (api-ref: compute "Servers - shares (servers, shares)",
//! microversion 2.97): Manila shares mounted in a guest through virtiofs.
//!
//! Nova attaches a share only on a host reporting `COMPUTE_STORAGE_VIRTIO_FS`
//! (with file-backed or huge-page guest memory); this host runs its guests
//! without virtiofs and does not report the trait, and the cloud has no Manila.
//! So, as Nova answers on such a host, an attach is refused with 409 once the
//! server and its state are checked, no share mapping ever exists, the list is
//! empty and a named mapping is not found.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use super::Microversion;
use super::schema;
use crate::cloud::Cloud;
use crate::compute::model::VmState;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/servers/{id}/shares", get(list).post(create))
        .route("/servers/{id}/shares/{share_id}", get(show).delete(delete))
}

/// The routes exist from 2.97; below, Nova's 404.
fn since_297(mv: Microversion) -> ApiResult<()> {
    if mv.at_least(97) {
        Ok(())
    } else {
        Err(ApiError::Missing("The resource could not be found.".into()))
    }
}

fn share_not_found(share_id: &str) -> ApiError {
    ApiError::Missing(format!("Share {share_id} could not be found."))
}

fn invalid_state(id: &str, state: VmState, method: &str) -> ApiError {
    ApiError::Conflict(format!(
        "Cannot '{method}' instance {id} while it is in vm_state {}",
        state.as_str()
    ))
}

/// List Share Attachments: `GET /servers/{id}/shares`.
async fn list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    since_297(mv)?;
    cloud.compute.server_get(&ctx, id).await?;
    Ok(axum::Json(json!({"shares": []})))
}

/// Show A Share Attachment: `GET /servers/{id}/shares/{share_id}`.
async fn show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((id, share_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    since_297(mv)?;
    cloud.compute.server_get(&ctx, id).await?;
    Err(share_not_found(&share_id))
}

/// Attach A Share: `POST /servers/{id}/shares` (the server must be stopped).
async fn create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    since_297(mv)?;
    let s = cloud.compute.server_get(&ctx, id).await?;
    ctx.require_project_write(&s.project_id)?;
    let o = schema::object(&body, "share", &["share_id", "tag"])?;
    let share_id = schema::required(o, "share_id", 1, 255)?;
    if uuid::Uuid::parse_str(&share_id).is_err() {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute share_id. Value: {share_id}. '{share_id}' is not a 'uuid'"
        )));
    }
    if let Some(tag) = o.get("tag") {
        let tag = schema::string("tag", tag, 1, 255, false)?;
        if !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute tag. Value: {tag}. '{tag}' does not match '^[a-zA-Z0-9-]*$'"
            )));
        }
    }
    if s.vm_state != VmState::Stopped {
        return Err(invalid_state(&s.id, s.vm_state, "create share"));
    }
    Err(ApiError::Conflict(
        "Feature not supported because either compute or instance are not configured correctly."
            .into(),
    ))
}

/// Detach A Share: `DELETE /servers/{id}/shares/{share_id}` (stopped or in error).
async fn delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((id, share_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    since_297(mv)?;
    let s = cloud.compute.server_get(&ctx, id).await?;
    ctx.require_project_write(&s.project_id)?;
    if !matches!(s.vm_state, VmState::Stopped | VmState::Error) {
        return Err(invalid_state(&s.id, s.vm_state, "delete share"));
    }
    Err(share_not_found(&share_id))
}
