//! Sub-resources of a server: metadata, tags, instance actions, IP addresses
//! and interfaces (api-ref: compute "Server Metadata", "Server Tags", "Servers
//! Actions", "Servers IPs", "Port Interfaces").

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Microversion;
use crate::cloud::Cloud;
use crate::compute::model::InstanceAction;
use crate::compute::server_meta::MetaOp;
use crate::http::RequestId;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/servers/{id}/metadata",
            get(metadata_list)
                .put(metadata_replace)
                .post(metadata_merge),
        )
        .route(
            "/servers/{id}/metadata/{key}",
            get(metadata_show).put(metadata_set).delete(metadata_delete),
        )
        .route(
            "/servers/{id}/tags",
            get(tags_list).put(tags_replace).delete(tags_clear),
        )
        .route(
            "/servers/{id}/tags/{tag}",
            get(tag_check).put(tag_add).delete(tag_delete),
        )
        .route("/servers/{id}/os-instance-actions", get(actions_list))
        .route(
            "/servers/{id}/os-instance-actions/{request_id}",
            get(action_show),
        )
        .route("/servers/{id}/ips", get(ips_list))
        .route("/servers/{id}/ips/{network}", get(ips_show))
        .route(
            "/servers/{id}/os-interface",
            get(interface_list).post(interface_attach),
        )
        .route(
            "/servers/{id}/os-interface/{port_id}",
            get(interface_show).delete(interface_detach),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetadataBody {
    metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaItemBody {
    meta: BTreeMap<String, String>,
}

async fn metadata_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let m = cloud.compute.server_metadata(&ctx, id, MetaOp::Get).await?;
    Ok(axum::Json(json!({"metadata": m})))
}

async fn metadata_replace(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(b): Json<MetadataBody>,
) -> ApiResult<axum::Json<Value>> {
    let m = cloud
        .compute
        .server_metadata(&ctx, id, MetaOp::Replace(b.metadata))
        .await?;
    Ok(axum::Json(json!({"metadata": m})))
}

async fn metadata_merge(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(b): Json<MetadataBody>,
) -> ApiResult<axum::Json<Value>> {
    let m = cloud
        .compute
        .server_metadata(&ctx, id, MetaOp::Merge(b.metadata))
        .await?;
    Ok(axum::Json(json!({"metadata": m})))
}

async fn metadata_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let m = cloud.compute.server_metadata(&ctx, id, MetaOp::Get).await?;
    let v = m
        .get(&key)
        .ok_or_else(|| ApiError::Missing("Metadata item was not found".into()))?;
    Ok(axum::Json(json!({"meta": {key: v}})))
}

async fn metadata_set(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
    Json(b): Json<MetaItemBody>,
) -> ApiResult<axum::Json<Value>> {
    if b.meta.len() != 1 || !b.meta.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let value = b.meta.get(&key).cloned().unwrap_or_default();
    cloud
        .compute
        .server_metadata(&ctx, id, MetaOp::Merge(b.meta))
        .await?;
    Ok(axum::Json(json!({"meta": {key: value}})))
}

async fn metadata_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud
        .compute
        .server_metadata(&ctx, id, MetaOp::Delete(key))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    tags: Vec<String>,
}

fn need_tags(mv: Microversion) -> ApiResult<()> {
    if mv.at_least(26) {
        Ok(())
    } else {
        Err(ApiError::Missing("The resource could not be found.".into()))
    }
}

async fn tags_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    need_tags(mv)?;
    let s = cloud.compute.server_get(&ctx, id).await?;
    Ok(axum::Json(json!({"tags": s.tags})))
}

async fn tags_replace(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
    Json(b): Json<TagsBody>,
) -> ApiResult<axum::Json<Value>> {
    need_tags(mv)?;
    let tags = cloud
        .compute
        .server_tags(&ctx, id, Some(b.tags), None)
        .await?;
    Ok(axum::Json(json!({"tags": tags})))
}

async fn tags_clear(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    need_tags(mv)?;
    cloud
        .compute
        .server_tags(&ctx, id, Some(vec![]), None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_check(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    need_tags(mv)?;
    let s = cloud.compute.server_get(&ctx, id).await?;
    if s.tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Missing(format!("Tag {tag} could not be found.")))
    }
}

async fn tag_add(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    need_tags(mv)?;
    let had = cloud
        .compute
        .server_get(&ctx, id.clone())
        .await?
        .tags
        .contains(&tag);
    cloud
        .compute
        .server_tags(&ctx, id.clone(), None, Some((tag.clone(), true)))
        .await?;
    if had {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let loc = format!(
        "{}/compute/v2.1/servers/{id}/tags/{tag}",
        crate::http::base_url(&headers)
    );
    Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, loc)]).into_response())
}

async fn tag_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    need_tags(mv)?;
    let s = cloud.compute.server_get(&ctx, id.clone()).await?;
    if !s.tags.contains(&tag) {
        return Err(ApiError::Missing(format!("Tag {tag} could not be found.")));
    }
    cloud
        .compute
        .server_tags(&ctx, id, None, Some((tag, false)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An instance action: `updated_at` from 2.58, events' `host`/`hostId` from 2.62.
fn action_view(a: &InstanceAction, with_events: bool, admin: bool, mv: Microversion) -> Value {
    let mut v = json!({
        "action": a.action,
        "instance_uuid": a.server_id,
        "request_id": a.request_id,
        "user_id": a.user_id,
        "project_id": a.project_id,
        "start_time": a.start_time,
        "message": a.message,
    });
    if mv.at_least(58) {
        v["updated_at"] = json!(a.updated_at);
    }
    if with_events {
        let events: Vec<Value> = a
            .events
            .iter()
            .map(|e| {
                let mut ev = json!({
                    "event": e.event,
                    "start_time": e.start_time,
                    "finish_time": e.finish_time,
                    "result": e.result,
                });
                if admin {
                    ev["traceback"] = e.traceback.clone().into();
                }
                if admin && mv.at_least(62) {
                    ev["host"] = "".into();
                }
                if mv.at_least(62) {
                    ev["hostId"] = "".into();
                }
                if mv.at_least(84) {
                    // 2.84: the fault message of a failed event (the owner sees it;
                    // the traceback stays admin-only).
                    let failed = e.result.as_deref() == Some("Error");
                    ev["details"] = e
                        .traceback
                        .as_deref()
                        .filter(|_| failed)
                        .and_then(|t| t.lines().next())
                        .map(str::to_owned)
                        .into();
                }
                ev
            })
            .collect();
        v["events"] = events.into();
    }
    v
}

async fn actions_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let actions = cloud.compute.server_actions(&ctx, id).await?;
    let list: Vec<Value> = actions
        .iter()
        .map(|a| {
            action_view(
                a,
                false,
                ctx.allowed(crate::http::policy::COMPUTE_ACTION_EVENTS),
                mv,
            )
        })
        .collect();
    Ok(axum::Json(json!({"instanceActions": list})))
}

async fn action_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((id, rid)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let a = cloud.compute.server_action_get(&ctx, id, rid).await?;
    Ok(axum::Json(
        json!({"instanceAction": action_view(&a, true, ctx.allowed(crate::http::policy::COMPUTE_ACTION_EVENTS), mv)}),
    ))
}

async fn ips_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud.compute.server_get(&ctx, id).await?;
    let nics = nic_map(&cloud, &s).await?;
    let addrs = crate::compute::api::view::addresses(&s, &nics);
    Ok(axum::Json(json!({"addresses": addrs})))
}

async fn ips_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path((id, network)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud.compute.server_get(&ctx, id).await?;
    let nics = nic_map(&cloud, &s).await?;
    let addrs = crate::compute::api::view::addresses(&s, &nics);
    let list = addrs
        .get(&network)
        .cloned()
        .ok_or_else(|| ApiError::Missing("There are no instances for that network.".into()))?;
    Ok(axum::Json(json!({ network: list })))
}

async fn nic_map(
    cloud: &Cloud,
    s: &crate::compute::model::Server,
) -> ApiResult<std::collections::HashMap<String, crate::network::instance::InstanceNic>> {
    Ok(cloud
        .compute
        .server_nics(s)
        .await?
        .into_iter()
        .map(|n| (n.port.std.id.clone(), n))
        .collect())
}

fn interface_view(
    nic: &crate::network::instance::InstanceNic,
    tag: Option<&str>,
    mv: Microversion,
) -> Value {
    let mut v = json!({
        "port_state": nic.port.status,
        "fixed_ips": nic.port.fixed_ips.iter().map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address})).collect::<Vec<_>>(),
        "port_id": nic.port.std.id,
        "net_id": nic.port.network_id,
        "mac_addr": nic.port.mac_address,
    });
    if mv.at_least(70) {
        v["tag"] = tag.into();
    }
    v
}

async fn interface_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud.compute.server_get(&ctx, id).await?;
    let nics = cloud.compute.server_nics(&s).await?;
    let list: Vec<Value> = nics
        .iter()
        .map(|n| {
            let tag = s
                .ports
                .iter()
                .find(|p| p.port_id == n.port.std.id)
                .and_then(|p| p.tag.as_deref());
            interface_view(n, tag, mv)
        })
        .collect();
    Ok(axum::Json(json!({"interfaceAttachments": list})))
}

async fn interface_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path((id, port)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud.compute.server_get(&ctx, id).await?;
    let nics = cloud.compute.server_nics(&s).await?;
    let nic = nics
        .iter()
        .find(|n| n.port.std.id == port)
        .ok_or_else(|| ApiError::Missing(format!("Port {port} is not attached")))?;
    let tag = s
        .ports
        .iter()
        .find(|p| p.port_id == port)
        .and_then(|p| p.tag.as_deref());
    Ok(axum::Json(
        json!({"interfaceAttachment": interface_view(nic, tag, mv)}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachBody {
    #[serde(rename = "interfaceAttachment")]
    attachment: crate::compute::interfaces::InterfaceAttach,
}

async fn interface_attach(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RequestId(rid): RequestId,
    Path(id): Path<String>,
    Json(b): Json<AttachBody>,
) -> ApiResult<axum::Json<Value>> {
    let nic = cloud
        .compute
        .interface_attach(&ctx, id, b.attachment, rid)
        .await?;
    Ok(axum::Json(
        json!({"interfaceAttachment": interface_view(&nic, None, mv)}),
    ))
}

async fn interface_detach(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    RequestId(rid): RequestId,
    Path((id, port)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud.compute.interface_detach(&ctx, id, port, rid).await?;
    Ok(StatusCode::ACCEPTED)
}
