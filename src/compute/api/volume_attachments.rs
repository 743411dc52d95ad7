//! Servers with volume attachments (api-ref: compute "Servers with volume
//! attachments (servers, os-volume_attachments)").

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Microversion;
use crate::cloud::Cloud;
use crate::compute::volume_attachments::{AttachmentChange, ServerVolume};
use crate::http::RequestId;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/servers/{id}/os-volume_attachments",
            get(attachment_list).post(attachment_create),
        )
        .route(
            "/servers/{id}/os-volume_attachments/{volume_id}",
            get(attachment_show)
                .put(attachment_update)
                .delete(attachment_delete),
        )
}

fn view(a: &ServerVolume, mv: Microversion) -> Value {
    let mut v = json!({
        "device": a.device,
        "serverId": a.server_id,
        "volumeId": a.volume_id,
    });
    if !mv.at_least(89) {
        v["id"] = json!(a.volume_id);
    }
    if mv.at_least(70) {
        v["tag"] = Value::Null;
    }
    if mv.at_least(79) {
        v["delete_on_termination"] = json!(a.delete_on_termination);
    }
    if mv.at_least(89) {
        v["attachment_id"] = json!(a.attachment_id);
        v["bdm_uuid"] = json!(
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, a.attachment_id.as_bytes()).to_string()
        );
    }
    v
}

async fn attachment_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let list = cloud.compute.volume_attachment_list(&ctx, id).await?;
    let out: Vec<Value> = list.iter().map(|a| view(a, mv)).collect();
    Ok(axum::Json(json!({"volumeAttachments": out})))
}

async fn attachment_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((id, volume_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let a = cloud
        .compute
        .volume_attachment_get(&ctx, id, volume_id)
        .await?;
    Ok(axum::Json(json!({"volumeAttachment": view(&a, mv)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachArgs {
    #[serde(rename = "volumeId")]
    volume_id: String,
    device: Option<String>,
    tag: Option<String>,
    delete_on_termination: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachBody {
    #[serde(rename = "volumeAttachment")]
    attachment: AttachArgs,
}

async fn attachment_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
    Json(b): Json<AttachBody>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let a = b.attachment;
    if a.tag.is_some() && !mv.at_least(49) {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute volumeAttachment. Additional properties are not allowed ('tag' was unexpected)",
        ));
    }
    if a.delete_on_termination.is_some() && !mv.at_least(79) {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute volumeAttachment. Additional properties are not allowed ('delete_on_termination' was unexpected)",
        ));
    }
    if uuid::Uuid::parse_str(&a.volume_id).is_err() {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute volumeId. Value: {}. '{}' is not a 'uuid'",
            a.volume_id, a.volume_id
        )));
    }
    let att = cloud
        .compute
        .volume_attach(
            &ctx,
            id,
            a.volume_id,
            a.device,
            rid,
            mv.at_least(20),
            a.delete_on_termination.unwrap_or(false),
        )
        .await?;
    // 2.101: 202 and no body; the caller watches the volume's state.
    if mv.at_least(101) {
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    Ok(axum::Json(json!({"volumeAttachment": view(&att, mv)})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateArgs {
    #[serde(rename = "volumeId")]
    volume_id: String,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    device: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    tag: Option<Option<String>>,
    delete_on_termination: Option<bool>,
    #[serde(rename = "serverId")]
    server_id: Option<String>,
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(rename = "volumeAttachment")]
    attachment: UpdateArgs,
}

/// Update a volume attachment: from 2.85 with the attached volume's own id it
/// changes `delete_on_termination`; a different `volumeId` (and any PUT below
/// 2.85) asks for a swap, which is not offered: this cloud has one volume
/// backend and no volume migration.
async fn attachment_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((id, volume_id)): Path<(String, String)>,
    Json(b): Json<UpdateBody>,
) -> ApiResult<StatusCode> {
    let a = b.attachment;
    let extra = [
        ("device", a.device.is_some()),
        ("tag", a.tag.is_some()),
        ("delete_on_termination", a.delete_on_termination.is_some()),
        ("serverId", a.server_id.is_some()),
        ("id", a.id.is_some()),
    ];
    if !mv.at_least(85)
        && let Some((field, _)) = extra.iter().find(|(_, given)| *given)
    {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute volumeAttachment. Additional properties are not allowed ('{field}' was unexpected)"
        )));
    }
    if mv.at_least(85) && a.volume_id == volume_id {
        cloud
            .compute
            .volume_attachment_update(
                &ctx,
                id,
                volume_id,
                AttachmentChange {
                    id: a.id,
                    server_id: a.server_id,
                    device: a.device,
                    tag: a.tag,
                    delete_on_termination: a.delete_on_termination,
                },
            )
            .await?;
        return Ok(StatusCode::ACCEPTED);
    }
    cloud
        .compute
        .volume_attachment_get(&ctx, id, volume_id)
        .await?;
    Err(ApiError::NotImplemented(
        "Swapping the volume of an attachment is not implemented.".into(),
    ))
}

async fn attachment_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RequestId(rid): RequestId,
    Path((id, volume_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud
        .compute
        .volume_detach(&ctx, id, volume_id, rid, mv.at_least(20))
        .await?;
    Ok(StatusCode::ACCEPTED)
}
